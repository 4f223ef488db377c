// Command manycores runs many concurrent clients against one database: by
// default one shard per GOMAXPROCS, so that each core runs a shard
// goroutine, and four client goroutines per core, each doing random
// transfers between accounts with db.Transaction. Transfers that touch the
// same accounts conflict; Transaction retries them by itself. Afterwards one
// read-only snapshot checks that no money was created or lost.
//
// Run it from the repository root (-v prints timings and counters to stderr):
//
//	go run ./examples/manycores -clients 64 -transfers 2000 -v
package main
