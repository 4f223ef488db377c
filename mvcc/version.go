package mvcc

import "sync/atomic"

// Version is one committed state of a key: a value, or a tombstone for a
// delete. Once published (Install) a Version is immutable to readers: TS,
// Value and expiry never change, and the link to the next older version
// changes only by an atomic store (vacuum cutting the chain's tail). charge
// is the shard's bookkeeping and readers never look at it.
type Version[V any] struct {
	TS    uint64 // commit timestamp
	Value V      // zero for a tombstone
	// charge is the bytes charged against the memory limit for this
	// version plus every older version in its chain: a running total, so
	// that vacuum learns what a dropped tail was charged by reading the
	// tail's first version only, instead of visiting every dropped version.
	// Owned by the shard through SetCharge, Prune and ReleaseCharges.
	charge int64
	// expiry is the wall-clock deadline (Unix nanoseconds) after which the
	// value reads as absent, 0 for none, or tombstone for a delete (a
	// tombstone has no deadline, so the flag needs no field of its own).
	expiry int64
	older  atomic.Pointer[Version[V]]
}

// tombstone marks a delete in Version.expiry.
const tombstone = -1

// Tombstone reports whether v is a delete.
func (v *Version[V]) Tombstone() bool { return v.expiry == tombstone }

// Expiry returns v's wall-clock deadline (Unix nanoseconds), 0 if none.
func (v *Version[V]) Expiry() int64 { return max(v.expiry, 0) }

// LiveAt reports whether v is a value (not a tombstone) that has not
// expired at wall-clock time now (Unix nanoseconds).
func (v *Version[V]) LiveAt(now int64) bool {
	return v.expiry == 0 || (v.expiry > 0 && now < v.expiry)
}

// Older returns the next older version, or nil. Safe for any goroutine.
func (v *Version[V]) Older() *Version[V] { return v.older.Load() }

// Newest returns the newest installed version, or nil when the node has none
// (it exists only to hold locks). Safe for any goroutine.
func (n *Node[V]) Newest() *Version[V] { return n.head.Load() }

// NewestTS returns the commit timestamp of the newest version, or 0. Safe
// for any goroutine.
func (n *Node[V]) NewestTS() uint64 {
	if v := n.head.Load(); v != nil {
		return v.TS
	}
	return 0
}

// At returns the newest version visible at ts (TS <= ts), or nil. Safe for
// any goroutine; a reader that needs versions vacuum may cut must hold a
// snapshot at or below ts (DESIGN.md §4a).
func (n *Node[V]) At(ts uint64) *Version[V] {
	v := n.head.Load()
	for v != nil && v.TS > ts {
		v = v.older.Load()
	}
	return v
}

// Install publishes a version committed at ts: a tombstone, or value with
// the wall-clock deadline expiry (Unix nanoseconds, 0 for none; a negative
// one reads as long expired). ts must exceed the newest version's
// timestamp; the caller (the shard) guarantees it. The version is built
// whole before the atomic store that publishes it. It is charged nothing of
// its own until SetCharge. Owner only.
func (n *Node[V]) Install(ts uint64, value V, tomb bool, expiry int64) {
	switch {
	case tomb:
		expiry = tombstone
	case expiry < 0:
		expiry = 1 // expired since 1970; -1 would read as a tombstone
	}
	v := &Version[V]{TS: ts, Value: value, expiry: expiry}
	if older := n.head.Load(); older != nil {
		v.charge = older.charge
		v.older.Store(older)
	}
	n.head.Store(v)
	n.versions++
}

// SetCharge records that the newest version is charged c bytes of its own
// against the memory limit (replacing what it was charged before). Owner
// only.
func (n *Node[V]) SetCharge(c int64) {
	v := n.head.Load()
	if v == nil {
		return
	}
	var older int64
	if o := v.older.Load(); o != nil {
		older = o.charge
	}
	v.charge = older + c
}

// VersionCharge returns the bytes charged for all of n's versions. Owner
// only.
func (n *Node[V]) VersionCharge() int64 {
	if v := n.head.Load(); v != nil {
		return v.charge
	}
	return 0
}

// ReleaseCharges returns the bytes charged for all of n's versions and
// clears those charges, so a later Prune un-charges nothing twice. Owner
// only.
func (n *Node[V]) ReleaseCharges() int64 {
	c := n.VersionCharge()
	if c != 0 {
		for v := n.head.Load(); v != nil; v = v.older.Load() {
			v.charge = 0
		}
	}
	return c
}

// Versions reports how many versions the chain holds. Owner only.
func (n *Node[V]) Versions() int { return int(n.versions) }

// Unused reports whether the node holds neither versions nor locks, so the
// shard may unlink it. Owner only.
func (n *Node[V]) Unused() bool {
	return n.versions == 0 && n.WriteLock == 0 && n.ReadLocks == 0
}

// Prune drops every version that no reader at or above horizon can see:
// it keeps the newest version with TS <= horizon and everything newer, and
// cuts the chain after it with one atomic store, so a reader at or above
// horizon never notices. It returns how many versions it dropped and what
// they were charged, which it learns without visiting them: the count from
// the chain's length, the bytes from the first dropped version's running
// total. Owner only.
func (n *Node[V]) Prune(horizon uint64) (dropped int, charge int64) {
	top := n.head.Load()
	if top == nil {
		return 0, 0
	}
	kept := 1
	v := top
	for v.TS > horizon && v.older.Load() != nil {
		v = v.older.Load()
		kept++
	}
	cut := v.older.Load()
	if v.TS > horizon || cut == nil {
		return 0, 0 // every version is newer than horizon, or none is older than v
	}
	charge = cut.charge
	v.older.Store(nil)
	for x := top; ; x = x.older.Load() {
		x.charge -= charge
		if x == v {
			break
		}
	}
	dropped = int(n.versions) - kept
	n.versions = int32(kept)
	return dropped, charge
}
