package mvcc

// Version is one committed state of a key: a value, or a tombstone for a
// delete. The newest version lives inline in its Node (one cache line fewer
// per read); installing a newer one moves it to the heap. So a *Version
// from Newest or At is valid only until the next Install on that node:
// copy what you need before the shard moves on.
type Version[V any] struct {
	TS        uint64 // commit timestamp
	Value     V      // zero for a tombstone
	Tombstone bool
	// Size is the bytes this version is charged against the memory limit
	// (0 once they were released, e.g. by eviction). Owned by the shard.
	Size int32
	// Expiry is the wall-clock deadline (Unix nanoseconds) after which the
	// value reads as absent; 0 means none.
	Expiry int64
	older  *Version[V]
}

// LiveAt reports whether v is a value (not a tombstone) that has not
// expired at wall-clock time now (Unix nanoseconds).
func (v *Version[V]) LiveAt(now int64) bool {
	return !v.Tombstone && (v.Expiry == 0 || now < v.Expiry)
}

// Older returns the next older version, or nil.
func (v *Version[V]) Older() *Version[V] { return v.older }

// Newest returns the newest installed version, or nil when the node has none
// (it exists only to hold locks).
func (n *Node[V]) Newest() *Version[V] {
	if n.versions == 0 {
		return nil
	}
	return &n.top
}

// NewestTS returns the commit timestamp of the newest version, or 0.
func (n *Node[V]) NewestTS() uint64 {
	if n.versions == 0 {
		return 0
	}
	return n.top.TS
}

// At returns the newest version visible at ts (TS <= ts), or nil.
func (n *Node[V]) At(ts uint64) *Version[V] {
	if n.versions == 0 {
		return nil
	}
	v := &n.top
	for v != nil && v.TS > ts {
		v = v.older
	}
	return v
}

// Install prepends a version committed at ts. ts must exceed the newest
// version's timestamp; the caller (the shard) guarantees it.
func (n *Node[V]) Install(ts uint64, value V, tombstone bool) {
	var older *Version[V]
	if n.versions > 0 {
		older = new(Version[V])
		*older = n.top
	}
	n.top = Version[V]{TS: ts, Value: value, Tombstone: tombstone, older: older}
	n.versions++
}

// Versions reports how many versions the chain holds.
func (n *Node[V]) Versions() int { return int(n.versions) }

// Unused reports whether the node holds neither versions nor locks, so the
// shard may unlink it.
func (n *Node[V]) Unused() bool {
	return n.versions == 0 && n.WriteLock == 0 && n.ReadLocks == 0
}

// Prune drops every version that no reader at or above horizon can see:
// it keeps the newest version with TS <= horizon and everything newer. It
// returns how many versions were dropped.
func (n *Node[V]) Prune(horizon uint64) int { return n.PruneFunc(horizon, nil) }

// PruneFunc is Prune that also hands each dropped version to fn (if not
// nil) before it is unlinked.
func (n *Node[V]) PruneFunc(horizon uint64, fn func(*Version[V])) int {
	v := n.At(^uint64(0))
	for v != nil && v.TS > horizon {
		v = v.older
	}
	if v == nil || v.older == nil {
		return 0
	}
	dropped := 0
	for o := v.older; o != nil; o = o.older {
		if fn != nil {
			fn(o)
		}
		dropped++
	}
	v.older = nil
	n.versions -= int32(dropped)
	return dropped
}

// Each calls fn for every version, newest first.
func (n *Node[V]) Each(fn func(*Version[V])) {
	for v := n.At(^uint64(0)); v != nil; v = v.older {
		fn(v)
	}
}
