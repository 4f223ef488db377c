package coordinator

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/mvcc"
)

// ringBits sizes the oracle's rings. The admission bound (maxInFlight)
// keeps every allocated-but-not-visible timestamp within one ring length of
// visible, so slot t&ringMask is never needed by two live timestamps.
const (
	ringBits    = 16
	ringSize    = 1 << ringBits
	ringMask    = ringSize - 1
	maxInFlight = ringSize / 2
	// maxCommitTS is where Admit stops admitting commits, far enough below
	// mvcc.MaxTS (a version's timestamp field) for every commit admitted
	// before and the shards' own commits; recovery refuses anything beyond
	// it as corrupt. At a billion commits a second it is 146 years away.
	maxCommitTS = mvcc.MaxTS - 1<<20
)

// Oracle hands out commit timestamps and tracks which are visible.
//
// Invariants:
//   - Timestamps are dense: Next is called only for a transaction that will
//     install (every participant voted yes), so every allocated timestamp is
//     eventually marked Done (or the database is closed or poisoned).
//   - visible is the largest T with every timestamp <= T done; it only grows.
//     A new snapshot reads at visible, so it is a prefix of commit order.
//   - At most maxInFlight commits hold admission, and a commit holds it until
//     it has seen visible pass its timestamp (or learned that it never
//     will), so next - visible <= maxInFlight < ringSize. That is what makes
//     the rings below safe.
//   - After a durability failure (Poison), a timestamp a WAL could not log
//     is never done; Fail records it instead, so every allocated timestamp
//     ends up done or failed and every waiter learns its commit's fate.
//     visible stops below the first failed timestamp.
//
// No mutex sits on the commit path: allocation is one atomic add, Done is a
// store plus a CAS loop that any goroutine may run to push visible forward,
// and waiters park on their own channel in a ring slot keyed by timestamp.
// The simpler design — a mutex-guarded heap of pending timestamps, as in
// Badger's watermark goroutine — costs a lock or a channel hop per commit,
// which is what DESIGN.md §3 warns about on 16 cores.
//
// All methods are safe for concurrent use.
type Oracle struct {
	next     atomic.Uint64 // last allocated commit timestamp
	_        [56]byte
	visible  atomic.Uint64
	_        [56]byte
	inFlight atomic.Int64
	_        [56]byte
	closed   atomic.Bool
	poison   atomic.Pointer[error] // set once by Poison
	// lostFrom and unknownFrom are the smallest failed timestamps (see
	// Fail) whose commit certainly did not, or may have, reached the log;
	// noTS when there is none.
	lostFrom    atomic.Uint64
	unknownFrom atomic.Uint64

	done    [ringSize]atomic.Uint64 // done[t&ringMask] == t once t is done
	waiters [ringSize]atomic.Pointer[Waiter]

	snapshots snapshotRegistry
}

// Waiter parks one goroutine until a timestamp becomes visible. A Waiter is
// reused across commits by its owner; it is not shared between goroutines.
type Waiter struct {
	// ts is read by other goroutines that find this Waiter in a ring slot
	// (possibly a stale one, after the owner has moved on to its next
	// wait), so it is atomic.
	ts atomic.Uint64
	ch chan struct{}
}

// NewWaiter returns a Waiter ready for use.
func NewWaiter() *Waiter { return &Waiter{ch: make(chan struct{}, 1)} }

// NewOracle returns an oracle whose first commit gets timestamp start+1 and
// whose initial visible watermark is start.
func NewOracle(start uint64) *Oracle {
	o := &Oracle{}
	o.next.Store(start)
	o.visible.Store(start)
	o.lostFrom.Store(noTS)
	o.unknownFrom.Store(noTS)
	o.snapshots.init()
	return o
}

// Visible returns the visibility watermark: every commit at or below it is
// installed everywhere.
func (o *Oracle) Visible() uint64 { return o.visible.Load() }

// Admit reserves room for one commit. Every successful Admit must be paired
// with Release once the commit has finished (visible or failed).
func (o *Oracle) Admit() error {
	for spins := 0; ; spins++ {
		if o.closed.Load() {
			return errs.ErrClosed
		}
		if p := o.poison.Load(); p != nil {
			return *p
		}
		if o.next.Load() >= maxCommitTS {
			return errs.Errorf("commit timestamps exhausted at %d: %w", o.next.Load(), errs.ErrClosed)
		}
		if o.inFlight.Add(1) <= maxInFlight {
			return nil
		}
		o.inFlight.Add(-1)
		if spins < 16 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// Release returns the room taken by Admit.
func (o *Oracle) Release() { o.inFlight.Add(-1) }

// Next allocates a commit timestamp. Call it only for a commit that will be
// installed (all votes yes) and that holds admission.
func (o *Oracle) Next() uint64 { return o.next.Add(1) }

// Done marks ts installed (and durable to the configured level) on all its
// shards and advances visible as far as the done timestamps allow.
func (o *Oracle) Done(ts uint64) {
	o.done[ts&ringMask].Store(ts)
	for {
		v := o.visible.Load()
		if o.done[(v+1)&ringMask].Load() != v+1 {
			// Whoever marks v+1 done will continue from here: it stores
			// before it loads visible, we loaded done after our store.
			return
		}
		if o.visible.CompareAndSwap(v, v+1) {
			o.wake(v + 1)
		}
	}
}

func (o *Oracle) wake(ts uint64) {
	slot := &o.waiters[ts&ringMask]
	if w := slot.Load(); w != nil && w.ts.Load() == ts && slot.CompareAndSwap(w, nil) {
		w.ch <- struct{}{}
	}
}

// WaitVisible blocks until the fate of the commit at ts, which is done, is
// known: it returns nil once visible >= ts, and ErrClosed if the oracle
// closes first. On a poisoned oracle it returns the poisoning error, which
// wraps ErrPoisoned, once a failed timestamp at or below ts certainly did
// not reach its log (ts can then never be visible nor recovered), or an
// error wrapping ErrCommitUnknown as well once one may have (recovery keeps
// ts if that record survived). w must not be in use by another call.
func (o *Oracle) WaitVisible(ts uint64, w *Waiter) error {
	w.ts.Store(ts)
	slot := &o.waiters[ts&ringMask]
	for {
		if done, err := o.fate(ts); done {
			return err
		}
		o.register(slot, w)
		if done, _ := o.fate(ts); done {
			if !slot.CompareAndSwap(w, nil) {
				<-w.ch // whoever removed w is about to signal it
			}
			continue
		}
		// Whoever signals w (the advancer past ts, or Close) has removed it
		// from the slot first.
		<-w.ch
	}
}

// fate reports whether the outcome of the done commit at ts is decided,
// and the error WaitVisible returns for it.
func (o *Oracle) fate(ts uint64) (bool, error) {
	if o.visible.Load() >= ts {
		return true, nil
	}
	if o.closed.Load() {
		return true, errs.ErrClosed
	}
	p := o.poison.Load()
	switch {
	case p == nil:
		return false, nil
	case o.lostFrom.Load() <= ts:
		return true, *p
	case o.unknownFrom.Load() <= ts:
		return true, errs.CommitUnknown(*p)
	}
	// Every timestamp below ts is still on its way to done or failed.
	return false, nil
}

// register puts w into its slot. A slot still holding an older waiter
// means that waiter's wake-up is in progress or pending; it is visible
// already (the admission bound keeps live timestamps within one ring), so
// we hand it its signal ourselves rather than overwrite it.
func (o *Oracle) register(slot *atomic.Pointer[Waiter], w *Waiter) {
	for !slot.CompareAndSwap(nil, w) {
		old := slot.Load()
		if old != nil {
			ots := old.ts.Load()
			if ots < w.ts.Load() && o.visible.Load() >= ots && slot.CompareAndSwap(old, nil) {
				old.ch <- struct{}{}
				continue
			}
		}
		runtime.Gosched()
	}
}

// Close wakes every waiter; their WaitVisible returns ErrClosed unless the
// timestamp became visible. Later Admit calls fail.
func (o *Oracle) Close() {
	o.closed.Store(true)
	o.wakeAll()
}

// Poison records a durability failure (err wraps ErrPoisoned): every later
// Admit gets err, and waiters learn their commit's fate from Fail. Only the
// first call counts.
func (o *Oracle) Poison(err error) {
	o.poison.CompareAndSwap(nil, &err)
}

// noTS stands for "no failed timestamp" in lostFrom and unknownFrom.
const noTS = ^uint64(0)

// Fail records that the commit at ts will never be marked done because a
// participant's WAL failed it after Poison: mayBeLogged says whether that
// WAL had taken its record (the outcome is then unknown: the record may
// survive, and recovery keep it) or had refused it (the commit can never be
// recovered, as recovery needs it from every participant). A participant
// calls it before it answers the commit, and may call it more than once
// for one timestamp.
func (o *Oracle) Fail(ts uint64, mayBeLogged bool) {
	from := &o.lostFrom
	if mayBeLogged {
		from = &o.unknownFrom
	}
	for {
		cur := from.Load()
		if cur <= ts {
			return // no waiter's fate changes
		}
		if from.CompareAndSwap(cur, ts) {
			o.wakeAll()
			return
		}
	}
}

// Poisoned returns the error Poison recorded, or nil.
func (o *Oracle) Poisoned() error {
	if p := o.poison.Load(); p != nil {
		return *p
	}
	return nil
}

func (o *Oracle) wakeAll() {
	for i := range o.waiters {
		if w := o.waiters[i].Load(); w != nil && o.waiters[i].CompareAndSwap(w, nil) {
			w.ch <- struct{}{}
		}
	}
}

// Snapshot is a registered read timestamp. While it is held, Horizon is at
// most its timestamp, so vacuum keeps what it can read.
type Snapshot struct {
	TS     uint64
	stripe *snapshotStripe
}

// Acquire registers a snapshot at the current visible timestamp.
func (o *Oracle) Acquire(hint uint64) Snapshot {
	st := &o.snapshots.stripes[hint%snapshotStripes]
	for {
		ts := o.visible.Load()
		st.mu.Lock()
		e := st.counts[ts]
		if e.n == 0 {
			e.since = time.Now()
		}
		e.n++
		st.counts[ts] = e
		st.live.Add(1) // before the floor check below: see Horizon
		st.mu.Unlock()
		// A horizon computed concurrently may have missed this stripe;
		// horizonFloor tells us whether that could matter.
		if ts >= o.snapshots.horizonFloor.Load() {
			return Snapshot{TS: ts, stripe: st}
		}
		st.release(ts)
	}
}

// Release unregisters s.
func (s Snapshot) Release() {
	if s.stripe != nil {
		s.stripe.release(s.TS)
	}
}

// Horizon returns the oldest timestamp any live snapshot reads at (or
// visible, if none is live). Versions a reader at or above it needs must be
// kept. Intended for vacuum; it visits every stripe.
func (o *Oracle) Horizon() uint64 {
	h := o.visible.Load()
	o.snapshots.raiseFloor(h)
	for i := range o.snapshots.stripes {
		st := &o.snapshots.stripes[i]
		// A stripe with no live snapshot needs no lock. An Acquire racing
		// this call adds to live before it checks the floor raised above,
		// so either this load sees it (and the lock below waits for its
		// entry) or that check sees the floor and the Acquire retries at a
		// newer visible.
		if st.live.Load() == 0 {
			continue
		}
		st.mu.Lock()
		for ts := range st.counts {
			if ts < h {
				h = ts
			}
		}
		st.mu.Unlock()
	}
	return h
}

// OldestSnapshot returns the timestamp of the oldest live snapshot and
// whether there is one.
func (o *Oracle) OldestSnapshot() (uint64, bool) {
	ts, _, ok := o.oldest()
	return ts, ok
}

// OldestSnapshotSince returns when the longest-held live snapshot was
// taken, and whether there is one.
func (o *Oracle) OldestSnapshotSince() (time.Time, bool) {
	_, since, ok := o.oldest()
	return since, ok
}

func (o *Oracle) oldest() (uint64, time.Time, bool) {
	found := false
	var oldest uint64
	var since time.Time
	for i := range o.snapshots.stripes {
		st := &o.snapshots.stripes[i]
		st.mu.Lock()
		for ts, e := range st.counts {
			if !found || ts < oldest {
				oldest, found = ts, true
			}
			if since.IsZero() || e.since.Before(since) {
				since = e.since
			}
		}
		st.mu.Unlock()
	}
	return oldest, since, found
}

const snapshotStripes = 32

type snapshotRegistry struct {
	stripes      [snapshotStripes]snapshotStripe
	horizonFloor atomic.Uint64 // largest visible any Horizon call started from
}

type snapshotStripe struct {
	mu     sync.Mutex
	counts map[uint64]snapshotEntry // Protected by mu.
	// live counts the snapshots in counts; written under mu, read by
	// Horizon without it.
	live atomic.Int64
	_    [32]byte
}

// snapshotEntry counts the live snapshots at one timestamp and remembers
// when the first of them was taken.
type snapshotEntry struct {
	n     int
	since time.Time
}

func (r *snapshotRegistry) init() {
	for i := range r.stripes {
		r.stripes[i].counts = make(map[uint64]snapshotEntry)
	}
}

func (r *snapshotRegistry) raiseFloor(h uint64) {
	for {
		f := r.horizonFloor.Load()
		if f >= h || r.horizonFloor.CompareAndSwap(f, h) {
			return
		}
	}
}

func (st *snapshotStripe) release(ts uint64) {
	st.mu.Lock()
	if e := st.counts[ts]; e.n <= 1 {
		delete(st.counts, ts)
	} else {
		e.n--
		st.counts[ts] = e
	}
	st.live.Add(-1)
	st.mu.Unlock()
}
