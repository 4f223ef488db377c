// Command stream scans a large keyspace without collecting it: PrefixStream
// yields the entries one at a time, in key order, from one snapshot, while
// holding only a bounded buffer per shard, so counting and summing 100,000
// entries needs no slice of 100,000 entries. Breaking out of the loop ends
// the scan early and releases its snapshot.
//
// Run it from the repository root:
//
//	go run ./examples/stream
package main
