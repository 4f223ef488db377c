// Package mvcc holds the data structure one shard owns: a single-threaded
// skiplist whose nodes carry MVCC version chains, newest first.
//
// # Ownership
//
// Nothing in this package is safe for concurrent use, and nothing needs to
// be: a List and every Node and Version reachable from it belong to exactly
// one shard goroutine (see package shard). There are no locks and no atomics
// here on purpose; the shard's inbox channel is the only synchronization.
// Values handed out of the shard are immutable Versions or copies.
//
// # Versions
//
// A Node's chain is ordered by commit timestamp, newest first; a delete is a
// tombstone Version. A reader at timestamp ts sees the newest Version with
// TS <= ts. Installing requires a timestamp larger than the chain's newest,
// which the coordinator's dense, monotonic commit timestamps and the shard's
// write locks guarantee.
//
// # Lookups
//
// Besides the skiplist, a List keeps a hash index from key to node: a point
// lookup is one hash probe instead of a descent with a cache miss per level
// (it was 47% of a Get's CPU), and nodes store their key's first 8 bytes so
// ordered descents rarely load key bytes. The index (index.go) is an
// open-addressing table of node pointers, 8 bytes a slot, rather than a
// map[string]*Node: with the node layout packed (136 bytes, the eviction
// links allocated only when a limit tracks the node) it took resident
// memory from 1.69x to 1.37x badger's per key. DESIGN.md asks for a skiplist;
// the index is an addition for speed, not a replacement (scans and
// validation walk the skiplist).
//
// # Locks
//
// Nodes also carry the commit-time locks of the two-phase commit protocol
// (a write-lock owner and a read-lock count). They live on the node so that
// range validation can find keys locked by in-flight transactions, including
// keys that have no committed version yet, in one ordered walk.
//
// This package is internal to FluxMap's design and carries no compatibility
// promise.
package mvcc
