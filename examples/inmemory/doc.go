// Command inmemory is the smallest complete FluxMap program: it builds an
// in-memory database of string keys and values, writes a few keys with
// autocommit calls, reads one back, removes one and lists keys by prefix.
//
// Run it from the repository root:
//
//	go run ./examples/inmemory
package main
