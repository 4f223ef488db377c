package mvcc

// Version is one committed state of a key: a value, or a tombstone for a
// delete. The newest version lives inline in its Node (one cache line fewer
// per read); installing a newer one moves it to the heap. So a *Version
// from Newest or At is valid only until the next Install on that node:
// copy what you need before the shard moves on.
type Version[V any] struct {
	TS    uint64 // commit timestamp
	Value V      // zero for a tombstone
	// charge is the bytes charged against the memory limit for this
	// version plus every older version in its chain: a running total, so
	// that vacuum learns what a dropped tail was charged by reading the
	// tail's first version only, instead of visiting every dropped version
	// (a cache miss each: it was 4% of an update load's CPU). Owned by the
	// shard through SetCharge, Prune and ReleaseCharges.
	charge int64
	// expiry is the wall-clock deadline (Unix nanoseconds) after which the
	// value reads as absent, 0 for none, or tombstone for a delete (a
	// tombstone has no deadline, so the flag costs no field of its own: for
	// values of 8 bytes or more the struct is as small as it was with a
	// 32-bit charge and a separate flag; for 1- and 2-byte values it grew
	// by 8 bytes).
	expiry int64
	older  *Version[V]
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

// Install prepends a version committed at ts: a tombstone, or value with
// the wall-clock deadline expiry (Unix nanoseconds, 0 for none; a negative
// one reads as long expired). ts must exceed the newest version's
// timestamp; the caller (the shard) guarantees it. The new version is
// charged nothing of its own until SetCharge.
func (n *Node[V]) Install(ts uint64, value V, tomb bool, expiry int64) {
	var older *Version[V]
	var charge int64
	if n.versions > 0 {
		older = new(Version[V])
		*older = n.top
		charge = older.charge
	}
	switch {
	case tomb:
		expiry = tombstone
	case expiry < 0:
		expiry = 1 // expired since 1970; -1 would read as a tombstone
	}
	n.top = Version[V]{TS: ts, Value: value, charge: charge, expiry: expiry, older: older}
	n.versions++
}

// SetCharge records that the newest version is charged c bytes of its own
// against the memory limit (replacing what it was charged before).
func (n *Node[V]) SetCharge(c int64) {
	if n.versions == 0 {
		return
	}
	var older int64
	if n.top.older != nil {
		older = n.top.older.charge
	}
	n.top.charge = older + c
}

// VersionCharge returns the bytes charged for all of n's versions.
func (n *Node[V]) VersionCharge() int64 {
	if n.versions == 0 {
		return 0
	}
	return n.top.charge
}

// ReleaseCharges returns the bytes charged for all of n's versions and
// clears those charges, so a later Prune un-charges nothing twice.
func (n *Node[V]) ReleaseCharges() int64 {
	c := n.VersionCharge()
	if c != 0 {
		for v := n.Newest(); v != nil; v = v.older {
			v.charge = 0
		}
	}
	return c
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
// returns how many versions it dropped and what they were charged, which it
// learns without visiting them: the count from the chain's length, the
// bytes from the first dropped version's running total.
func (n *Node[V]) Prune(horizon uint64) (dropped int, charge int64) {
	if n.versions == 0 {
		return 0, 0
	}
	kept := 1
	v := &n.top
	for v.TS > horizon && v.older != nil {
		v = v.older
		kept++
	}
	if v.TS > horizon || v.older == nil {
		return 0, 0 // every version is newer than horizon, or none is older than v
	}
	charge = v.older.charge
	v.older = nil
	for x := &n.top; ; x = x.older {
		x.charge -= charge
		if x == v {
			break
		}
	}
	dropped = int(n.versions) - kept
	n.versions = int32(kept)
	return dropped, charge
}
