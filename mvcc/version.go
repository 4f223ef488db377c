package mvcc

import (
	"sync/atomic"
	"unsafe"
)

// Version is one committed state of a key: a value, or a tombstone for a
// delete. Once published (Install) a Version is immutable to readers: its
// timestamp, flags, Value and deadline never change, and the link to the
// next older version changes only by an atomic store (vacuum cutting the
// chain's tail). charge is the shard's bookkeeping and readers never look
// at it.
//
// A version with a TTL deadline is allocated as a versionTTL, the deadline
// following the Version in the same allocation and a flag bit in ts saying
// so: most versions carry no deadline, and without the field a version of
// a []byte value fits the 48-byte size class instead of 64.
type Version[V any] struct {
	// ts is the commit timestamp (below MaxTS) with tombBit and expiryBit
	// above it.
	ts    uint64
	Value V // zero for a tombstone
	// charge is the bytes charged against the memory limit for this
	// version plus every older version in its chain: a running total, so
	// that vacuum learns what a dropped tail was charged by reading the
	// tail's first version only, instead of visiting every dropped version.
	// Owned by the shard through SetCharge, Prune and ReleaseCharges.
	charge int64
	older  atomic.Pointer[Version[V]]
}

// versionTTL is a Version with a wall-clock deadline (Unix nanoseconds,
// positive) after which its value reads as absent.
type versionTTL[V any] struct {
	Version[V]
	expiry int64
}

// DeadlineSize is what a version with a TTL deadline occupies beyond a
// Version: the deadline itself.
const DeadlineSize = int64(unsafe.Sizeof(versionTTL[struct{}]{}) - unsafe.Sizeof(Version[struct{}]{}))

const (
	// MaxTS bounds commit timestamps: the two bits above it are a version's
	// flags. At a billion commits a second it lasts 146 years.
	MaxTS     = 1<<62 - 1
	tombBit   = 1 << 63 // the version is a delete
	expiryBit = 1 << 62 // the version is a versionTTL
)

// TS returns v's commit timestamp.
func (v *Version[V]) TS() uint64 { return v.ts & MaxTS }

// Tombstone reports whether v is a delete.
func (v *Version[V]) Tombstone() bool { return v.ts&tombBit != 0 }

// Expiry returns v's wall-clock deadline (Unix nanoseconds), 0 if none.
func (v *Version[V]) Expiry() int64 {
	if v.ts&expiryBit == 0 {
		return 0
	}
	// The flag says v's allocation is a versionTTL (Install).
	return (*versionTTL[V])(unsafe.Pointer(v)).expiry
}

// LiveAt reports whether v is a value (not a tombstone) that has not
// expired at wall-clock time now (Unix nanoseconds).
func (v *Version[V]) LiveAt(now int64) bool {
	if v.ts&(tombBit|expiryBit) == 0 {
		return true
	}
	return v.ts&tombBit == 0 && now < v.Expiry()
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
		return v.TS()
	}
	return 0
}

// At returns the newest version visible at ts (TS <= ts), or nil. Safe for
// any goroutine; a reader that needs versions vacuum may cut must hold a
// snapshot at or below ts (DESIGN.md §4a).
func (n *Node[V]) At(ts uint64) *Version[V] {
	v := n.head.Load()
	for v != nil && v.ts&MaxTS > ts {
		v = v.older.Load()
	}
	return v
}

// Install publishes a version committed at ts: a tombstone, or value with
// the wall-clock deadline expiry (Unix nanoseconds, 0 for none; a negative
// one reads as long expired). ts must exceed the newest version's
// timestamp and must not exceed MaxTS; the caller (the shard) guarantees
// both. The version is built whole before the atomic store that publishes
// it. It is charged nothing of its own until SetCharge. Owner only.
func (n *Node[V]) Install(ts uint64, value V, tomb bool, expiry int64) {
	var v *Version[V]
	switch {
	case tomb:
		v = &Version[V]{ts: ts | tombBit}
	case expiry == 0:
		v = &Version[V]{ts: ts, Value: value}
	default:
		// A negative deadline becomes 1: expired since 1970.
		x := &versionTTL[V]{Version: Version[V]{ts: ts | expiryBit, Value: value}, expiry: max(expiry, 1)}
		v = &x.Version
	}
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

// NewestCharge returns the bytes charged for n's newest version alone.
// Owner only.
func (n *Node[V]) NewestCharge() int64 {
	v := n.head.Load()
	if v == nil {
		return 0
	}
	c := v.charge
	if o := v.older.Load(); o != nil {
		c -= o.charge
	}
	return c
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
	return n.versions == 0 && !n.Locked
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
	for v.TS() > horizon && v.older.Load() != nil {
		v = v.older.Load()
		kept++
	}
	cut := v.older.Load()
	if v.TS() > horizon || cut == nil {
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
