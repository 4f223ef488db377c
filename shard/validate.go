package shard

import (
	"fmt"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/mvcc"
)

// validate applies the serializable checks of DESIGN.md §4 to r against its
// start timestamp r.TS. It reads shard state only; prepare takes the locks
// afterwards, in the same step, so nothing can slip in between.
//
// A TTL deadline that passed between the snapshot's time r.Now and this
// validation counts as a commit after the snapshot: it is the committed
// delete vacuum will make of the expiry (vacuumSlice), and a read, scanned
// range or written key it touches conflicts whether or not vacuum has run
// yet. So a transaction that read a key live commits only if the key is
// still live now, before its commit timestamp is allocated.
//
// A vote no is an error wrapping ErrConflict, with the Reason it counts
// under in Stats.ConflictsBy.
func (s *Shard[V]) validate(r *Request[V]) (Reason, error) {
	if why, err := s.checkWriteLocks(r, true); err != nil {
		return why, err
	}
	var now int64 // the shard's clock, read at most once, when a deadline needs it
	for _, k := range r.Reads {
		n := s.list.Find(k)
		if n == nil {
			continue // absent then, absent now, and nobody is writing it
		}
		if w := s.writeLocker(n); w != 0 && w != r.Txn {
			return ReasonLocked, conflictLocked(k, r.TS)
		}
		if ts := n.NewestTS(); ts > r.TS {
			return ReasonStaleRead, conflictNewer(ReasonStaleRead, k, ts, r.TS)
		}
		if s.expiredSince(n, r, &now) {
			return ReasonStaleRead, conflictExpired(ReasonStaleRead, k, r.TS)
		}
	}
	for _, sp := range r.Ranges {
		hp := mvcc.PrefixOf(sp.Hi)
		for n := s.list.Seek(sp.Lo); n != nil && (sp.HiInf || n.Before(sp.Hi, hp)); n = n.Next() {
			if w := s.writeLocker(n); w != 0 && w != r.Txn {
				return ReasonLocked, conflict(ReasonLocked, n.Key(), 0, r.TS,
					"range %s: key %q is being written by an in-flight transaction", sp, n.Key())
			}
			if ts := n.NewestTS(); ts > r.TS {
				return ReasonPhantom, conflict(ReasonPhantom, n.Key(), ts, r.TS,
					"range %s: key %q changed by commit %d after snapshot %d", sp, n.Key(), ts, r.TS)
			}
			if s.expiredSince(n, r, &now) {
				return ReasonPhantom, conflict(ReasonPhantom, n.Key(), 0, r.TS,
					"range %s: key %q reached its TTL deadline after snapshot %d", sp, n.Key(), r.TS)
			}
		}
	}
	return 0, nil
}

// checkWriteLocks votes no if a write key of r is locked by another
// transaction or lies in a range another transaction scanned; with
// versions set it also enforces first-committer-wins against r.TS.
//
// It records each write key's node in r.nodes for the steps that follow.
func (s *Shard[V]) checkWriteLocks(r *Request[V], versions bool) (Reason, error) {
	r.nodes = r.nodes[:0]
	var now int64
	for i := range r.Writes {
		k := r.Writes[i].Key
		n := s.list.Find(k)
		r.nodes = append(r.nodes, n)
		if n != nil {
			if err := s.lockedByOther(n, r.Txn, r.TS); err != nil {
				return ReasonLocked, err
			}
			if ts := n.NewestTS(); versions && ts > r.TS {
				return ReasonWriteWrite, conflictNewer(ReasonWriteWrite, k, ts, r.TS)
			}
			if versions && s.expiredSince(n, r, &now) {
				return ReasonWriteWrite, conflictExpired(ReasonWriteWrite, k, r.TS)
			}
		}
		for _, rl := range s.ranges {
			if rl.txn != r.Txn && rl.span.Contains(k) {
				return ReasonLocked, conflict(ReasonLocked, k, 0, r.TS,
					"key %q lies in range %s read by an in-flight transaction", k, rl.span)
			}
		}
	}
	return 0, nil
}

// expiredSince reports whether n's newest version reads differently at the
// shard's clock than at r's snapshot time r.Now: its deadline passed in
// between (or, should the clock have stepped back, un-passed). Call it only
// once n.NewestTS() <= r.TS is checked, so the newest version is the one
// the snapshot read. *now caches the shard's clock across calls; it is read
// only when a version has a deadline, so keys without TTLs cost nothing.
func (s *Shard[V]) expiredSince(n *mvcc.Node[V], r *Request[V], now *int64) bool {
	v := n.Newest()
	if r.Now == 0 || v == nil || v.Expiry() == 0 {
		return false
	}
	if *now == 0 {
		*now = s.now()
	}
	return v.LiveAt(r.Now) != v.LiveAt(*now)
}

// conflict returns a vote no for why, about key (encoded), with the commit
// that changed it (0 if none did) and the voter's snapshot; format and
// args say it in words.
func conflict(why Reason, key string, commit, snapshot uint64, format string, args ...any) error {
	return &errs.Conflict{Reason: why.String(), Key: key, Commit: commit, Snapshot: snapshot,
		Err: errs.Errorf("%w: "+format, append([]any{errs.ErrConflict}, args...)...)}
}

func conflictExpired(why Reason, k string, start uint64) error {
	return conflict(why, k, 0, start, "key %q reached its TTL deadline after snapshot %d", k, start)
}

// lockedByOther refuses a write to n if another transaction holds its
// write lock or any transaction holds a read lock on it.
func (s *Shard[V]) lockedByOther(n *mvcc.Node[V], txn, snapshot uint64) error {
	if l := s.lockOf(n); (l.write != 0 && l.write != txn) || l.reads > 0 {
		return conflictLocked(n.Key(), snapshot)
	}
	return nil
}

func conflictLocked(k string, start uint64) error {
	return conflict(ReasonLocked, k, 0, start, "key %q is locked by an in-flight transaction", k)
}

func conflictNewer(why Reason, k string, ts, start uint64) error {
	return conflict(why, k, ts, start, "key %q written by commit %d after snapshot %d", k, ts, start)
}

// String formats the span for error messages.
func (s Span) String() string {
	if s.HiInf {
		return fmt.Sprintf("[%q, +inf)", s.Lo)
	}
	return fmt.Sprintf("[%q, %q)", s.Lo, s.Hi)
}

// Reason classifies a failed validation, for statistics.
type Reason uint8

const (
	// ReasonLocked: a key or range was locked by an in-flight transaction.
	ReasonLocked Reason = iota
	// ReasonStaleRead: a key read at the snapshot was overwritten since.
	ReasonStaleRead
	// ReasonPhantom: a scanned range changed since the snapshot.
	ReasonPhantom
	// ReasonWriteWrite: a written key was committed by another since the
	// snapshot (first committer wins).
	ReasonWriteWrite
	// NumReasons is the number of reasons.
	NumReasons
)

// String returns the reason's name.
func (r Reason) String() string {
	switch r {
	case ReasonLocked:
		return "locked"
	case ReasonStaleRead:
		return "stale-read"
	case ReasonPhantom:
		return "phantom"
	case ReasonWriteWrite:
		return "write-write"
	}
	return "unknown"
}

// inLockedRange reports whether key lies in a range a prepared transaction
// scanned. The shard's own deletes (evictions, expiries) must skip such keys
// just as user writes vote no on them: deleting one would be a phantom for
// a transaction that is about to commit.
func (s *Shard[V]) inLockedRange(key string) bool {
	for _, rl := range s.ranges {
		if rl.span.Contains(key) {
			return true
		}
	}
	return false
}
