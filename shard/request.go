package shard

import (
	"sync/atomic"

	"github.com/fluxmap/fluxmap/mvcc"
)

// Kind says what a Request asks of the shard.
type Kind uint8

// Reads are no Kind: they run on the caller's goroutine (read.go).
const (
	// KindCommitOne is the single-shard fast path: validate against TS (the
	// start timestamp), allocate a commit timestamp, install, acknowledge.
	KindCommitOne Kind = iota + 1
	// KindPrepare is phase one of two-phase commit: validate against TS and
	// take locks for Txn, or vote no.
	KindPrepare
	// KindCommit is phase two: install Writes at TS and release Txn's locks.
	// It is sent with the same Request that carried KindPrepare.
	KindCommit
	// KindAbort releases the locks a successful prepare took.
	KindAbort
	// KindSync is a durability barrier: answered once every commit record
	// the shard handed to its WAL before it is fsynced.
	KindSync
	// KindRecycle lets the WAL recycle segments whose records all have
	// timestamps <= TS (a checkpoint at TS covers them).
	KindRecycle
	// KindVacuum drops versions no reader at or above the horizon TS can
	// see, in bounded slices between other requests, and answers with the
	// counts in Vacuumed when the whole shard has been visited.
	KindVacuum
	// KindStats answers with the shard's counters in Stats.
	KindStats
	// KindDrain moves the reads readers logged into the eviction order; a
	// reader sends the shard's one drain request, unanswered, when it finds
	// the read log full.
	KindDrain
)

// Write is one buffered write of a transaction. Key must be a string the
// shard may keep (not aliasing reusable memory).
type Write[V any] struct {
	Key       string
	Value     V
	Tombstone bool
	// Expiry is the value's wall-clock deadline (Unix nanoseconds), 0 none.
	Expiry int64
}

// Span is the half-open key range [Lo, Hi); with HiInf set it is unbounded
// above.
type Span struct {
	Lo, Hi string
	HiInf  bool
}

// Contains reports whether key lies in the span.
func (s Span) Contains(key string) bool {
	return key >= s.Lo && (s.HiInf || key < s.Hi)
}

// Overlaps reports whether the spans share a key.
func (s Span) Overlaps(o Span) bool {
	return (s.HiInf || o.Lo < s.Hi) && (o.HiInf || s.Lo < o.Hi)
}

// ReadResult is the answer for one key of a multi-key read.
type ReadResult[V any] struct {
	Value V
	Found bool
}

// Request is the one message type a shard accepts. Callers pool and reuse
// Requests: the done channel is allocated once per Request, never per
// operation.
type Request[V any] struct {
	Kind Kind
	// TS is the read timestamp (Get, Scan), the start timestamp (Prepare,
	// CommitOne) or the commit timestamp (Commit).
	TS uint64
	// Txn identifies the lock owner; the shard sets it.
	Txn uint64
	// Now is the wall-clock time (Unix nanoseconds) of the sender's
	// snapshot, 0 for none. Validation (KindPrepare, KindCommitOne) refuses
	// a version whose liveness at the shard's clock differs from its
	// liveness at Now (see validate); without Now it skips that check.
	Now int64

	Reads  []string   // keys read, validated under Serializable
	Ranges []Span     // spans scanned, validated under Serializable
	Writes []Write[V] // buffered writes
	// Participants lists every shard a two-phase commit touches; the WAL
	// record carries it so recovery can tell a complete transaction from a
	// partial one.
	Participants []uint32
	// Blind marks an autocommit write: it has no snapshot, so only locks
	// are checked; its writes serialize at the shard.
	Blind bool
	// WantOld asks a blind CommitOne for the value Writes[0] replaced.
	WantOld bool
	// Evict marks a blind CommitOne delete as an eviction: the key's bytes
	// are released at once and it counts in the eviction statistics.
	Evict bool
	// Cond, if set, makes a blind CommitOne of one write conditional: the
	// shard calls it with the key's live value (found false if it has none)
	// and installs the write only if it returns true; otherwise it commits
	// nothing and reports CondFailed, with the value in Old and OldFound
	// and in CommitTS the timestamp of the key's newest version (0 if
	// none), which the caller must wait to be visible before it answers.
	// It runs on the shard goroutine and must not panic or block.
	Cond       func(old V, found bool) bool
	CondFailed bool
	CommitTS   uint64 // KindCommitOne
	Old        V
	OldFound   bool
	Vacuumed   VacuumStats // KindVacuum
	Stats      Stats       // KindStats
	Err        error       // a vote no (wraps ErrConflict) or another failure

	internal bool  // the shard's own commit (eviction, expiry); nobody waits
	cause    Cause // why an internal commit deletes (CauseEvict, CauseExpire)

	// nodes[i] is Writes[i]'s node (nil: absent), found by the shard when it
	// validated r, so that locking, installing and releasing do not look
	// each key up again. Only the shard goroutine touches it. A prepared
	// request's nodes are write-locked, and a locked node is never
	// unlinked, so they stay valid until commit or abort.
	nodes []*mvcc.Node[V]

	// room is what r's writes will add to the shard's memory estimate, as
	// checkRoom found it; a prepared request holds that much of the Reject
	// budget reserved until its commit or abort. Shard goroutine only.
	room int64

	// group, on a KindCommit, is the first request of its transaction's
	// commit messages (see CommitGroup); pending, on that first request,
	// counts the participants that have not installed their part yet.
	group   *Request[V]
	pending atomic.Int32

	done chan struct{}
}

// CommitGroup ties the KindCommit requests of one transaction (one per
// participant shard) together: each shard counts the group down once its
// part is installed, and durable if the database is, and the last one marks
// the commit timestamp done on the Clock. Without a group a KindCommit
// leaves that to the caller.
//
// Marking done in the shard that finishes last, rather than in the caller
// once every answer reached it, keeps the watermark from waiting until
// the caller's goroutine is scheduled again: every commit behind this one
// in timestamp order waits for the watermark (measured: 37% of bank
// commits found it behind their timestamp, for 6.9 µs on average).
//
// The count is an atomic read-modify-write, so each participant's install
// happens before the last decrement, which happens before Done.
func CommitGroup[V any](rs []*Request[V]) {
	rs[0].pending.Store(int32(len(rs)))
	for _, r := range rs {
		r.group = rs[0]
	}
}

// lastOfGroup counts r's commit group down and reports whether r was the
// last participant to finish.
func (r *Request[V]) lastOfGroup() bool {
	return r.group != nil && r.group.pending.Add(-1) == 0
}

// crossShard reports whether r is one of several messages a caller sent to
// different shards at once and waits on together: a phase of a two-phase
// commit.
func (r *Request[V]) crossShard() bool {
	switch r.Kind {
	case KindPrepare, KindCommit, KindAbort:
		return true
	}
	return false
}

// NewRequest returns an empty, reusable Request.
func NewRequest[V any]() *Request[V] {
	return &Request[V]{done: make(chan struct{}, 1)}
}

// Reset clears the request for reuse, keeping its buffers.
func (r *Request[V]) Reset() {
	var zero V
	clear(r.Reads)
	clear(r.Ranges)
	clear(r.Writes)
	clear(r.nodes)
	*r = Request[V]{
		Participants: r.Participants[:0],
		Reads:        r.Reads[:0],
		Ranges:       r.Ranges[:0],
		Writes:       r.Writes[:0],
		nodes:        r.nodes[:0],
		Old:          zero,
		done:         r.done,
	}
}

// causeOf says why r's tombstones are written.
func (r *Request[V]) causeOf() Cause {
	if r.Evict {
		return CauseEvict
	}
	return r.cause
}
