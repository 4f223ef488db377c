// Package mvcc holds the data structure one shard owns: a skiplist with one
// writer and lock-free readers, whose nodes carry MVCC version chains,
// newest first.
//
// # Ownership
//
// A List, and every Node and Version reachable from it, is written by one
// goroutine, its owner (the shard). Any goroutine may read it at the same
// time, with no lock: the List's Find, Seek and First, and a Node's Key,
// Prefix, Next, Newest, NewestTS and At. What those read is immutable once
// published or accessed with sync/atomic, and everything is built whole
// before the atomic store that publishes it (DESIGN.md §4a). The other
// fields of a Node (locks, charges, eviction links) are the owner's.
//
// # Versions
//
// A Node's chain is ordered by commit timestamp, newest first, from an
// atomic head pointer; a delete is a tombstone Version. A reader at
// timestamp ts sees the newest Version with TS <= ts. Installing requires a
// timestamp larger than the chain's newest, which the coordinator's dense,
// monotonic commit timestamps and the shard's write locks guarantee.
// Vacuum (Prune) cuts the older end of a chain with one atomic store.
//
// # Lookups
//
// Besides the skiplist, a List keeps a hash index from key to node, so a
// point lookup is one hash probe instead of a descent with a cache miss per
// level. The index (index.go) is an open-addressing table of atomic node
// pointers, 8 bytes a slot, that readers probe while the owner writes.
// Nodes store their key's first 16 bytes as two words, so ordered
// comparisons rarely load key bytes. Scans and validation walk the
// skiplist.
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
