// Package evict will choose which keys a shard drops when the database is
// over its memory limit: an exact per-shard LRU list (and LFU counts) kept
// on the shard goroutine, so choosing a victim takes no lock. Victims are
// removed as committed deletes with their own timestamps (DESIGN.md §7).
//
// The memory limit and eviction are not implemented yet; until they are,
// nothing imports this package.
//
// This package is internal to FluxMap's design and carries no compatibility
// promise.
package evict
