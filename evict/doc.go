// Package evict keeps the bookkeeping a shard needs to pick eviction victims
// when the database is over its memory limit: an exact LRU list and an exact
// LFU structure (frequency buckets, each in LRU order), both intrusive and
// O(1) per access. Everything here is owned by one shard goroutine; there
// are no locks.
//
// The shard decides when to evict and what "evicted" means (a committed
// delete with its own timestamp, DESIGN.md §7); this package only orders
// candidates.
//
// This package is internal to FluxMap's design and carries no compatibility
// promise.
package evict
