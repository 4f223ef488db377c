// Command durable writes to a database with DurabilityFull, closes it,
// reopens the same directory (with a different shard count, which is
// allowed) and finds its data there. Values are structs, so the database
// needs a value codec to write them to its log: JSONCodec.
//
// Run it from the repository root:
//
//	go run ./examples/durable               # in a temporary directory, removed afterwards
//	go run ./examples/durable -dir /tmp/fm  # keeps the data: run it twice
package main
