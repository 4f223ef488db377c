// Package fanout runs bounded background fan-out (recovery of shards in
// parallel, per-shard checkpoints) on an ants goroutine pool.
//
// This package is internal and carries no compatibility promise.
package fanout
