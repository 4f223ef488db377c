package shard

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// Log is the part of a wal.Log the shard's writer uses. Only the writer
// goroutine calls it.
type Log interface {
	Append(ts uint64, payload []byte) error
	Flush() error
	Sync() error
	Recycle(upTo uint64) error
	Size() int64
	Close() error
}

// Durability makes a shard log its commits. Nil means in-memory.
type Durability[V any] struct {
	Log Log
	// Full acknowledges a commit only after its record is fsynced.
	// Otherwise (Relaxed) a commit is acknowledged once its record reached
	// the OS, and the log is fsynced when the first of FlushInterval since
	// its last fsync, or FlushCommits commits or FlushBytes bytes written
	// by all the shards of Flush since the last trigger, is reached (zero
	// disables a trigger).
	Full          bool
	FlushInterval time.Duration
	FlushCommits  int
	FlushBytes    int64
	// Flush shares the FlushCommits and FlushBytes counts among the
	// database's shards (Relaxed only; nil: this shard counts alone).
	Flush *FlushGroup
	// EncodeRecord appends the WAL payload of one commit (the wal package's
	// format, values through the database's ValueCodec); cause says why
	// its tombstones were written.
	EncodeRecord func(dst []byte, ts uint64, participants []uint32, writes []Write[V], cause Cause) ([]byte, error)
	// OnPoison is called once, from the writer goroutine, when a write or
	// fsync fails; the error wraps ErrPoisoned and the cause.
	OnPoison func(error)
	// OnFail is called from the writer goroutine, after OnPoison and before
	// the reply, for every commit the log failed: its timestamp is never
	// marked done. mayBeLogged says whether the log took its record before
	// failing (the record may survive; the commit's outcome is unknown) or
	// refused it (the record is nowhere on this shard's log).
	OnFail func(ts uint64, mayBeLogged bool)
	// OnGrow, if set, is called from the writer goroutine when a group it
	// wrote grew the log, with the bytes written since the last Recycle
	// before and after (what Recycle left is not counted: it may be kept
	// for the change feed); it must not block.
	OnGrow func(before, after int64)
}

// FlushGroup makes Relaxed durability's commit and byte triggers count
// across every shard of a database, and fire on all of them at once.
//
// Recovery keeps only the gap-free prefix of commit timestamps, so a single
// unsynced record on a quiet shard would end the recovered state there,
// however often the busy shards synced. So the writers add what they write
// to shared counts, and the writer whose batch reaches a trigger resets the
// counts, syncs its own log and wakes every other writer to sync its log
// too. A power loss then loses only the commits written since the last
// trigger (fewer than FlushCommits), plus those written while the syncs it
// started run. Each writer adds once per batch; no lock is taken.
type FlushGroup struct {
	commits atomic.Int64
	bytes   atomic.Int64
	mu      sync.Mutex                      // serializes join
	wakes   atomic.Pointer[[]chan struct{}] // one per writer; replaced, never modified, by join
}

// NewFlushGroup returns an empty group; each shard writer given it in its
// Durability joins it.
func NewFlushGroup() *FlushGroup { return &FlushGroup{} }

// join adds a writer and returns the channel that wakes it to sync. It is
// buffered, so a wake-up is never lost nor waited for, and never closed
// (its senders are every writer of the group).
func (g *FlushGroup) join() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	var wakes []chan struct{}
	if p := g.wakes.Load(); p != nil {
		wakes = append(wakes, *p...)
	}
	ch := make(chan struct{}, 1)
	wakes = append(wakes, ch)
	g.wakes.Store(&wakes)
	return ch
}

// add counts a batch of commits and bytes a writer just wrote to the OS and
// reports whether that reached a trigger of d, in which case it has woken
// every other writer of the group to sync and the caller must sync its own
// log. The counts a reset discards belong to records written before it,
// which the syncs it causes cover.
func (g *FlushGroup) add(self chan struct{}, commits int, bytes int64, maxCommits int, maxBytes int64) bool {
	c := g.commits.Add(int64(commits))
	b := g.bytes.Add(bytes)
	if (maxCommits <= 0 || c < int64(maxCommits)) && (maxBytes <= 0 || b < maxBytes) {
		return false
	}
	g.commits.Store(0)
	g.bytes.Store(0)
	for _, ch := range *g.wakes.Load() {
		if ch == self {
			continue
		}
		select {
		case ch <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
	return true
}

// walWriter owns one shard's Log on its own goroutine, so the shard never
// blocks on a write or an fsync.
//
// Group commit: the shard hands over one job per batch; the writer takes
// every job queued while it was busy, appends all their records, writes
// them with one Flush and (Full) one Sync, then acknowledges them all. So a
// commit that arrives while an fsync is in flight joins the next one.
type walWriter[V any] struct {
	d      *Durability[V]
	clock  Clock
	self   []uint32 // this shard's id, the participant list of fast-path commits
	jobs   chan *walJob[V]
	exited chan struct{}

	// flush and wake are the Relaxed triggers' group and this writer's
	// wake-up in it (nil under Full, and without a commit or byte trigger).
	flush *FlushGroup
	wake  chan struct{}

	// Owned by the writer goroutine.
	err        error // sticky: first write or fsync failure
	payload    []byte
	unsynced   bool
	batchBytes int64 // record bytes appended by the batch in process
	batch      []*walJob[V]
	size       atomic.Int64  // log size, readable by any goroutine
	free       sync.Pool     // *walJob[V]
	internal   *atomic.Int32 // the shard's count of its own commits in flight
	onDone     func()        // Config.OnDone
	kept       atomic.Int64  // the log's size after the last Recycle
	syncs      SyncStats
}

// syncBuckets is the number of power-of-two latency buckets: bucket i
// counts fsyncs that took [2^i, 2^(i+1)) microseconds.
const syncBuckets = 32

// SyncStats counts a WAL's fsyncs and their latencies. Written by the
// writer goroutine, read by anyone.
type SyncStats struct {
	Count   atomic.Int64
	Buckets [syncBuckets]atomic.Int64
}

func (st *SyncStats) record(d time.Duration) {
	st.Count.Add(1)
	us := max(d.Microseconds(), 1)
	b := min(63-bits.LeadingZeros64(uint64(us)), syncBuckets-1)
	st.Buckets[b].Add(1)
}

// walJob is what a shard hands its writer: the commits of one batch, then
// the control requests (KindSync, KindRecycle) queued behind them.
type walJob[V any] struct {
	acks []*Request[V]
}

func newWALWriter[V any](d *Durability[V], clock Clock, id int) *walWriter[V] {
	w := &walWriter[V]{
		d:      d,
		clock:  clock,
		self:   []uint32{uint32(id)},
		jobs:   make(chan *walJob[V], 1024),
		exited: make(chan struct{}),
	}
	w.size.Store(d.Log.Size())
	if !d.Full && (d.FlushCommits > 0 || d.FlushBytes > 0) {
		if w.flush = d.Flush; w.flush == nil {
			w.flush = NewFlushGroup()
		}
		w.wake = w.flush.join()
	}
	return w
}

func (w *walWriter[V]) getJob() *walJob[V] {
	if j, ok := w.free.Get().(*walJob[V]); ok {
		return j
	}
	return &walJob[V]{}
}

// run is the writer goroutine. It ends when jobs is closed (by the shard
// goroutine, its only sender), after a final fsync.
func (w *walWriter[V]) run() {
	defer close(w.exited)
	var tick <-chan time.Time
	if !w.d.Full && w.d.FlushInterval > 0 {
		t := time.NewTicker(w.d.FlushInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case j, ok := <-w.jobs:
			if !ok {
				w.sync()
				if err := w.d.Log.Close(); err != nil && w.err == nil {
					w.fail(err)
				}
				return
			}
			w.batch = append(w.batch[:0], j)
		drain:
			for {
				select {
				case j, ok := <-w.jobs:
					if !ok {
						break drain
					}
					w.batch = append(w.batch, j)
				default:
					break drain
				}
			}
			w.process()
			// The commits just acknowledged are runnable now, and their
			// callers' next commits would otherwise reach us only after our
			// next fsync began: give them the processor first, so that fsync
			// carries them (bigger groups, DESIGN.md §6).
			runtime.Gosched()
		case <-tick:
			w.sync()
		case <-w.wake: // another shard reached a trigger (nil: never)
			w.sync()
		}
	}
}

func (w *walWriter[V]) fail(err error) {
	if w.err != nil {
		return
	}
	w.err = errs.Errorf("%w: %w", errs.ErrPoisoned, err)
	if w.d.OnPoison != nil {
		w.d.OnPoison(w.err)
	}
}

func (w *walWriter[V]) sync() {
	if w.err != nil || !w.unsynced {
		return
	}
	start := time.Now()
	if err := w.d.Log.Sync(); err != nil {
		w.fail(err)
		return
	}
	w.syncs.record(time.Since(start))
	w.unsynced = false
}

// process logs every commit of the gathered jobs, makes them durable to the
// configured level, then acknowledges them in order.
//
// When the log fails, the batch's commits fail in two ways, and their
// callers must be told which (package coordinator turns it into
// ErrPoisoned or ErrCommitUnknown): those handed to Log.Append may have
// reached the file (an Append can write earlier records, a failed Flush or
// Sync may have written some bytes, Close flushes what is buffered), so
// their outcome is unknown; those that came after the failure were never
// handed over, so this shard's log does not have them. appendCommit stops
// at the first failure, so the handed commits are a prefix of the batch.
func (w *walWriter[V]) process() {
	commits, handed := 0, 0
	w.batchBytes = 0
	for _, j := range w.batch {
		for _, r := range j.acks {
			if r.Kind == KindCommit || r.Kind == KindCommitOne {
				if w.appendCommit(r) {
					handed++
				}
				commits++
			}
		}
	}
	if commits > 0 && w.err == nil {
		if err := w.d.Log.Flush(); err != nil {
			w.fail(err)
		}
		w.unsynced = true
		if w.d.Full || w.relaxedTrigger(commits) {
			w.sync()
		}
	}
	// Timestamps first, replies second: see Shard.finishBatch. The commits'
	// answer is the log's state now: a control request of this batch that
	// fails later (a Recycle, a Relaxed Sync) must not turn commits whose
	// timestamps are already done into failures.
	if w.err == nil {
		for _, j := range w.batch {
			for _, r := range j.acks {
				markDone(w.clock, r)
			}
		}
		if w.onDone != nil {
			w.onDone()
		}
	} else {
		w.failCommits(handed)
	}
	for i, j := range w.batch {
		for k, r := range j.acks {
			w.finish(r)
			j.acks[k] = nil
		}
		j.acks = j.acks[:0]
		w.free.Put(j)
		w.batch[i] = nil
	}
	before, after := w.size.Load(), w.d.Log.Size()
	w.size.Store(after)
	if w.d.OnGrow != nil && after > before {
		kept := w.kept.Load()
		w.d.OnGrow(before-kept, after-kept)
	}
}

// failCommits tells OnFail about every commit of the batch, the first
// handed of which went to Log.Append, and sets their errors: an error
// wrapping ErrCommitUnknown for those, the poisoning error for the rest.
func (w *walWriter[V]) failCommits(handed int) {
	unknown := errs.CommitUnknown(w.err)
	n := 0
	for _, j := range w.batch {
		for _, r := range j.acks {
			if r.Kind != KindCommit && r.Kind != KindCommitOne {
				continue
			}
			mayBeLogged := n < handed
			n++
			r.Err = w.err
			if mayBeLogged {
				r.Err = unknown
			}
			if w.d.OnFail != nil {
				w.d.OnFail(commitTS(r), mayBeLogged)
			}
		}
	}
}

// commitTS returns the commit timestamp of a KindCommit or KindCommitOne.
func commitTS[V any](r *Request[V]) uint64 {
	if r.Kind == KindCommitOne {
		return r.CommitTS
	}
	return r.TS
}

// appendCommit hands r's record to the log and reports whether it did: not
// once the log has failed, nor when the record cannot be encoded.
func (w *walWriter[V]) appendCommit(r *Request[V]) bool {
	if w.err != nil {
		return false
	}
	ts, parts := commitTS(r), r.Participants
	if r.Kind == KindCommitOne {
		parts = w.self
	}
	p, err := w.d.EncodeRecord(w.payload[:0], ts, parts, r.Writes, r.causeOf())
	if err != nil {
		// The commit is already installed in memory, so the only safe
		// answer to a value the codec cannot encode is to stop.
		w.fail(fmt.Errorf("encoding commit %d: %w", ts, err))
		return false
	}
	w.payload = p
	if err := w.d.Log.Append(ts, p); err != nil {
		w.fail(err)
		return true
	}
	w.batchBytes += int64(len(p))
	return true
}

// relaxedTrigger counts the batch's commits and bytes in the group and
// reports whether this log must sync now: a trigger fired, or another
// writer's trigger woke this one while it was busy.
func (w *walWriter[V]) relaxedTrigger(commits int) bool {
	if w.d.FlushCommits <= 0 && w.d.FlushBytes <= 0 {
		return false // only the interval: no writer ever wakes another
	}
	if w.flush.add(w.wake, commits, w.batchBytes, w.d.FlushCommits, w.d.FlushBytes) {
		return true
	}
	select {
	case <-w.wake:
		return true
	default:
		return false
	}
}

// finish acknowledges one request after its batch was logged (a failed
// commit carries its error from failCommits).
func (w *walWriter[V]) finish(r *Request[V]) {
	switch r.Kind {
	case KindCommitOne:
		if r.internal {
			w.internal.Add(-1)
			return // nobody waits for the shard's own commits
		}
	case KindSync:
		w.unsynced = true
		w.sync()
		r.Err = w.err
	case KindRecycle:
		if w.err == nil {
			if err := w.d.Log.Recycle(r.TS); err != nil {
				w.fail(err)
			}
			size := w.d.Log.Size()
			w.size.Store(size)
			w.kept.Store(size)
		}
		r.Err = w.err
	}
	reply(r)
}

// SyncStats returns the shard's WAL fsync counters, or nil in memory. Safe
// from any goroutine.
func (s *Shard[V]) SyncStats() *SyncStats {
	if s.wal == nil {
		return nil
	}
	return &s.wal.syncs
}
