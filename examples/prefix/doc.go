// Command prefix shows how to lay out several kinds of records in one
// keyspace with key prefixes ("user:", "order:") and read each kind back
// with a prefix scan. String keys sort bytewise, so a prefix scan returns
// its matches in key order, from one consistent snapshot, whatever shard
// each key lives on; nested prefixes ("order:ada:") narrow a scan further,
// and Range reads a half-open interval of keys.
//
// Run it from the repository root:
//
//	go run ./examples/prefix
package main
