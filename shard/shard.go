package shard

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/faults"
	"github.com/fluxmap/fluxmap/internal/idle"
	"github.com/fluxmap/fluxmap/mvcc"
)

// maxBatch bounds how many queued requests one wake-up drains, so a flood
// of reads cannot delay the acknowledgement of commits indefinitely.
const maxBatch = 256

// Clock is the part of the coordinator's oracle a shard may use: the fast
// path allocates a commit timestamp and marks it done, and the last
// participant of a two-phase commit marks that commit's timestamp done.
// Implementations must be safe for concurrent use.
type Clock interface {
	Next() uint64
	Done(ts uint64)
	// Visible returns the visibility watermark (autocommit reads use it).
	Visible() uint64
	// Horizon returns the oldest timestamp a live snapshot reads at, or
	// Visible if none is live: versions no reader at or above it can see
	// may be dropped.
	Horizon() uint64
}

// Config configures a Shard, completely: New wires everything from it.
type Config[V any] struct {
	ID        int
	SkiplistP float64
	Seed      uint64
	Clock     Clock
	// Stop is closed by the owner to end Run.
	Stop <-chan struct{}
	// InboxSize is the inbox channel's buffer; 0 means 1024.
	InboxSize int
	// Memory configures accounting and the shard's share of the limit;
	// a nil ValueSize counts values as 0 bytes.
	Memory Memory[V]
	// Now is the wall clock for TTLs (Unix nanoseconds); nil: time.Now.
	Now func() int64
	// Durability makes the shard log its commits; nil: in memory.
	Durability *Durability[V]
	// Load, if set, is called once by New with a function that installs
	// a recovered version (a value, at timestamp ts, with its deadline).
	// Keys given in ascending order build the list in one pass, with no
	// descent per key; LoadKeys, if known, sizes the index up front.
	Load     func(install func(key string, ts uint64, value V, expiry int64))
	LoadKeys int
	// Feed, if set, receives every write the shard installs (see Feed).
	Feed *Feed[V]
	// OnDone, if set, is called after the shard marks commit timestamps
	// done, from the goroutine that marked them; it must not block.
	OnDone func()
}

// Shard owns one partition. Its exported methods other than Run are safe
// for concurrent use by any goroutine; Run is the shard goroutine's body.
type Shard[V any] struct {
	id     int
	inbox  chan *Request[V]
	stop   <-chan struct{}
	exited chan struct{} // closed when Run returns
	clock  Clock
	wal    *walWriter[V] // nil when in memory
	feed   *Feed[V]      // nil without a change feed
	onDone func()

	// Written by the shard goroutine only; read by any goroutine (read.go).
	list *mvcc.List[V]
	// floor is the highest horizon vacuum or reclaim has used, stored
	// before either cuts anything: versions a reader below it needs may be
	// gone.
	floor     atomic.Uint64
	live      atomic.Int64                             // stats.Live as of the last batch
	reads     *readLog[V]                              // nil without an eviction order
	dirtyView atomic.Pointer[map[string]dirtyWrite[V]] // only with faults.DirtyReads
	nudgeReq  *Request[V]                              // what another shard of the pool sends (see Pool); nil without one
	drainReq  *Request[V]                              // what a reader sends when the read log is full; nil when reads is

	// Owned by the shard goroutine.
	ranges []rangeLock
	locks  map[*mvcc.Node[V]]keyLock // keys' commit-time locks; see lockOf
	dirty  map[string]dirtyWrite[V]  // only with faults.DirtyReads
	batch  []*Request[V]
	acks   []*Request[V] // commits to acknowledge at the end of the batch
	stats  Stats
	hot    hotKeys
	vacuum *vacuumTask[V] // the pass in progress, if any
	queued []*Request[V]  // vacuum requests waiting for the current pass
	mem    *memState[V]
	now    func() int64 // wall clock for TTLs, Unix nanoseconds
	idle   idle.Policy  // how the loop waits for its next request
}

type dirtyWrite[V any] struct {
	w   Write[V]
	txn uint64
}

type rangeLock struct {
	span Span
	txn  uint64
}

// Stats are counters kept by the shard goroutine.
type Stats struct {
	Keys      int    // nodes with at least one version
	Live      int    // keys whose newest version is a value (expired or not)
	Versions  int    // versions in all chains
	Commits   uint64 // commits installed here
	Conflicts uint64 // validation failures (votes no)
	// ConflictsBy splits Conflicts by Reason.
	ConflictsBy [NumReasons]uint64
	// HotKeys are the keys conflicts named most often, most first (see
	// hotKeys); filled in only by KindStats.
	HotKeys []HotKey
	Vacuum  VacuumStats
	// Bytes is the estimated memory held; Evictions and Expirations count
	// keys removed by the memory limit and by TTL.
	Bytes       int64
	OldBytes    int64 // of Bytes, versions under a key's newest one
	TombBytes   int64 // of Bytes, deleted keys and their tombstones
	Evictions   uint64
	Expirations uint64
}

// VacuumStats counts what vacuum removed.
type VacuumStats struct {
	Passes   uint64
	Versions uint64
	Keys     uint64
}

// New returns a shard configured by cfg, holding what cfg.Load installs;
// start it with go s.Run().
func New[V any](cfg Config[V]) *Shard[V] {
	if cfg.InboxSize <= 0 {
		cfg.InboxSize = 1024
	}
	if cfg.Memory.ValueSize == nil {
		cfg.Memory.ValueSize = func(string, V) int64 { return 0 }
	}
	if cfg.Now == nil {
		cfg.Now = func() int64 { return time.Now().UnixNano() }
	}
	s := &Shard[V]{
		id:     cfg.ID,
		inbox:  make(chan *Request[V], cfg.InboxSize),
		stop:   cfg.Stop,
		exited: make(chan struct{}),
		clock:  cfg.Clock,
		list:   mvcc.NewList[V](cfg.SkiplistP, cfg.Seed),
		batch:  make([]*Request[V], 0, maxBatch),
		mem:    newMemState(cfg.Memory),
		now:    cfg.Now,
		idle:   idle.New(),
		feed:   cfg.Feed,
		onDone: cfg.OnDone,
	}
	if cfg.Memory.Pool != nil {
		s.nudgeReq = NewRequest[V]()
		s.nudgeReq.Kind = KindDrain // any request: the batch it ends checks the budget
	}
	if s.mem.tracker != nil {
		s.reads = new(readLog[V])
		s.drainReq = NewRequest[V]()
		s.drainReq.Kind = KindDrain
	}
	if cfg.Durability != nil {
		s.wal = newWALWriter(cfg.Durability, cfg.Clock, cfg.ID)
		s.wal.internal = &s.mem.internal
		s.wal.onDone = cfg.OnDone
	}
	if cfg.Load != nil {
		s.list.Reserve(cfg.LoadKeys)
		cfg.Load(s.load)
	}
	s.publish()
	return s
}

// WALSize returns the bytes in the shard's live WAL segments (0 in memory).
// Safe from any goroutine.
func (s *Shard[V]) WALSize() int64 {
	if s.wal == nil {
		return 0
	}
	return s.wal.size.Load()
}

// WALSinceCheckpoint returns the bytes of WAL written since the last
// checkpoint recycled segments (0 in memory). Safe from any goroutine.
func (s *Shard[V]) WALSinceCheckpoint() int64 {
	if s.wal == nil {
		return 0
	}
	return s.wal.size.Load() - s.wal.kept.Load()
}

// load installs a recovered version (Config.Load).
func (s *Shard[V]) load(key string, ts uint64, value V, expiry int64) {
	n := s.list.Append(key)
	n.Install(ts, value, false, expiry)
	s.charge(n, &Write[V]{Key: key, Value: value, Expiry: expiry})
	s.mem.account(n, 1)
	if s.mem.tracker != nil && expiry != 0 {
		s.mem.deadlines.push(n, max(expiry, 1))
	}
	s.stats.Keys++
	s.stats.Live++
	s.stats.Versions++
}

// ID returns the shard's index.
func (s *Shard[V]) ID() int { return s.id }

// Send queues r; the caller must then Wait before touching r again.
//
// Send and Wait are plain channel operations: the caller must guarantee the
// shard is running until the answer arrives (the coordinator's gate does,
// by keeping Stop unclosed while any request is in flight).
func (s *Shard[V]) Send(r *Request[V]) { s.inbox <- r }

// Wait blocks until the shard has answered r.
func (s *Shard[V]) Wait(r *Request[V]) { <-r.done }

// Do sends r and waits for the answer.
func (s *Shard[V]) Do(r *Request[V]) {
	s.inbox <- r
	<-r.done
}

// Exited is closed when the shard goroutine has returned.
func (s *Shard[V]) Exited() <-chan struct{} { return s.exited }

// Run is the shard goroutine. It returns when Stop is closed, which its
// owner does only when no request is in flight.
func (s *Shard[V]) Run() {
	defer close(s.exited)
	if s.wal != nil {
		go s.wal.run()
		defer func() {
			close(s.wal.jobs) // this goroutine is the only sender
			<-s.wal.exited
		}()
	}
	// The loop receives from the inbox alone: a select that also watched
	// Stop cost every wake-up a second channel lock (selectgo was ~15% of a
	// point-read profile). Stop reaches the loop as a sentinel request
	// instead, sent once Stop is closed, when no caller has a request in
	// flight any more.
	stopReq := new(Request[V])
	go func() {
		<-s.stop
		s.inbox <- stopReq
	}()
	for {
		if s.vacuum != nil {
			// Background work runs in slices, only while no request waits.
			select {
			case r := <-s.inbox:
				s.batch = append(s.batch[:0], r)
			default:
				s.vacuumSlice()
				if s.feed != nil {
					s.feed.trim() // the slice may have committed expiries
				}
				s.publish()
				s.finishBatch() // expiry deletes the slice committed
				continue
			}
		} else {
			s.batch = append(s.batch[:0], idle.Receive(&s.idle, s.inbox))
		}
	drain:
		for len(s.batch) < maxBatch {
			select {
			case r := <-s.inbox:
				s.batch = append(s.batch, r)
			default:
				break drain
			}
		}
		if s.reads != nil {
			// Reads logged before this batch's writes count before them.
			s.drainReads()
		}
		stopping, inTxn := false, false
		for i, r := range s.batch {
			if r == stopReq {
				stopping = true
			} else {
				if r.crossShard() {
					inTxn = true
				}
				s.handle(r)
			}
			s.batch[i] = nil
		}
		s.reclaim()
		s.evictIfNeeded()
		if s.feed != nil {
			s.feed.trim()
		}
		// Publish before acknowledging, so a caller whose commit returned
		// sees it in MemoryInfo.
		s.publish()
		s.finishBatch()
		if stopping {
			return
		}
		// A durable shard always parks: the WAL's group commit wants its
		// batches whole (Full-durability bank lost a third with yields).
		s.idle.Served(inTxn && s.wal == nil)
	}
}

func reply[V any](r *Request[V]) { r.done <- struct{}{} }

func (s *Shard[V]) handle(r *Request[V]) {
	// A transaction sends one request per participant shard and keeps it
	// from prepare until commit or abort, so the request's address names the
	// lock owner on this shard without a shared id counter.
	r.Txn = uint64(uintptr(unsafe.Pointer(r)))
	switch r.Kind {
	case KindDrain:
		if r == s.nudgeReq {
			s.mem.nudged.Store(false)
		}
		if s.reads != nil {
			s.drainReads()
		}
	case KindCommitOne:
		s.commitOne(r)
	case KindPrepare:
		s.prepare(r)
		reply(r)
	case KindCommit:
		s.install(r, r.TS)
		s.release(r)
		s.stats.Commits++
		s.acks = append(s.acks, r)
	case KindAbort:
		s.release(r)
		reply(r)
	case KindVacuum:
		s.startVacuum(r)
	case KindStats:
		r.Stats = s.stats
		r.Stats.Bytes = s.mem.bytes
		r.Stats.OldBytes, r.Stats.TombBytes = s.mem.old, s.mem.tomb
		r.Stats.Evictions = s.mem.evictions
		r.Stats.Expirations = s.mem.expirations
		r.Stats.HotKeys = s.hot.top()
		reply(r)
	case KindSync, KindRecycle:
		if s.wal == nil {
			reply(r)
			return
		}
		s.acks = append(s.acks, r) // ordered behind this batch's commits
	default:
		r.Err = errs.ErrConfig
		reply(r)
	}
}

// finishBatch acknowledges the commits installed in this batch. The WAL's
// group write (and, under Full durability, its single fsync) belongs here,
// before the timestamps are marked done.
func (s *Shard[V]) finishBatch() {
	if len(s.acks) == 0 {
		return
	}
	if s.wal != nil {
		j := s.wal.getJob()
		j.acks = append(j.acks, s.acks...)
		clear(s.acks)
		s.acks = s.acks[:0]
		s.wal.jobs <- j
		return
	}
	// Mark every timestamp done before waking anyone, so a caller whose
	// commit returned also sees the evictions its commit caused.
	for _, r := range s.acks {
		markDone(s.clock, r)
	}
	if s.onDone != nil {
		s.onDone()
	}
	for i, r := range s.acks {
		if !r.internal {
			reply(r)
		}
		s.acks[i] = nil
	}
	s.acks = s.acks[:0]
}

// markDone marks r's commit timestamp done on clock when r is a successful
// fast-path commit or the last participant of its two-phase commit's group
// to finish (CommitGroup). Call it once per acknowledged request, after the
// commit is installed (and logged, when durable), before any reply.
func markDone[V any](clock Clock, r *Request[V]) {
	switch {
	case r.Kind == KindCommitOne && r.Err == nil:
		clock.Done(r.CommitTS)
	case r.Kind == KindCommit && r.lastOfGroup():
		clock.Done(r.TS)
	}
}

func (s *Shard[V]) commitOne(r *Request[V]) {
	var why Reason
	if r.Blind {
		why, r.Err = s.checkWriteLocks(r, false)
	} else {
		why, r.Err = s.validate(r)
		s.idle.NoteVote(r.Err != nil) // blind autocommit writes are not transactions
	}
	if r.Err != nil {
		s.stats.Conflicts++
		s.stats.ConflictsBy[why]++
		s.hot.note(r.Err)
		reply(r)
		return
	}
	if (r.WantOld || r.Cond != nil) && len(r.Writes) > 0 {
		if n := s.list.Find(r.Writes[0].Key); n != nil {
			if v := n.Newest(); v != nil && v.LiveAt(s.now()) {
				r.Old, r.OldFound = v.Value, true
			}
		}
	}
	if r.Cond != nil && len(r.Writes) > 0 && !r.Cond(r.Old, r.OldFound) {
		// The caller saw the key's newest version, which may not be
		// visible yet: it waits for it (CommitTS) before it returns.
		r.CondFailed = true
		if n := s.list.Find(r.Writes[0].Key); n != nil {
			r.CommitTS = n.NewestTS()
		}
		reply(r)
		return
	}
	// Room is checked only for a write that will happen: a condition that
	// fails writes nothing and cannot be over the limit.
	if r.Err = s.checkRoom(r); r.Err != nil {
		reply(r)
		return
	}
	if r.Evict && r.OldFound {
		s.releaseNode(s.list.Find(r.Writes[0].Key))
		s.mem.evictions++
	}
	r.CommitTS = s.clock.Next()
	s.install(r, r.CommitTS)
	s.stats.Commits++
	s.acks = append(s.acks, r)
}

func (s *Shard[V]) prepare(r *Request[V]) {
	var why Reason
	why, r.Err = s.validate(r)
	s.idle.NoteVote(r.Err != nil)
	if r.Err != nil {
		s.stats.Conflicts++
		s.stats.ConflictsBy[why]++
		s.hot.note(r.Err)
		return
	}
	if r.Err = s.checkRoom(r); r.Err != nil {
		return
	}
	s.reserve(r)
	for i := range r.Writes {
		n := r.nodes[i]
		if n == nil {
			n = s.list.Upsert(r.Writes[i].Key)
			r.nodes[i] = n
		}
		l := s.lockOf(n)
		l.write = r.Txn
		s.setLock(n, l)
	}
	if faults.DirtyReads.Load() {
		if s.dirty == nil {
			s.dirty = make(map[string]dirtyWrite[V])
		}
		for _, w := range r.Writes {
			s.dirty[w.Key] = dirtyWrite[V]{w: w, txn: r.Txn}
		}
		s.publishDirty()
	}
	for _, k := range r.Reads {
		n := s.list.Upsert(k)
		l := s.lockOf(n)
		l.reads++
		s.setLock(n, l)
	}
	for _, sp := range r.Ranges {
		s.ranges = append(s.ranges, rangeLock{span: sp, txn: r.Txn})
	}
}

// install writes r's versions at ts. Deleting a key that is already absent
// installs nothing: it changes no reader's result.
func (s *Shard[V]) install(r *Request[V], ts uint64) {
	for i := range r.Writes {
		w := &r.Writes[i]
		if s.feed != nil {
			s.feed.add(FeedRecord[V]{TS: ts, Key: w.Key, Value: w.Value, Expiry: w.Expiry, Tombstone: w.Tombstone, Cause: r.causeOf()})
		}
		n := s.writeNode(r, i)
		if w.Tombstone {
			if n == nil {
				continue
			}
			if v := n.Newest(); v == nil || v.Tombstone() {
				continue
			}
		}
		if n == nil {
			n = s.list.Upsert(w.Key)
		}
		if n.Versions() == 0 {
			s.stats.Keys++
		}
		if v := n.Newest(); v == nil || v.Tombstone() {
			if !w.Tombstone {
				s.stats.Live++
			}
		} else if w.Tombstone {
			s.stats.Live--
		}
		s.mem.account(n, -1)
		n.Install(ts, w.Value, w.Tombstone, w.Expiry)
		s.charge(n, w)
		s.mem.account(n, 1)
		s.stats.Versions++
		if s.mem.cfg.Budget > 0 {
			if w.Tombstone || n.Versions() > 1 {
				s.mem.reclaim.push(n, ts)
			}
			if w.Expiry != 0 && !w.Tombstone && s.mem.tracker != nil {
				s.mem.deadlines.push(n, max(w.Expiry, 1))
			}
		}
	}
}

// writeNode returns r.Writes[i]'s node: the one validation recorded, or,
// when it recorded none (the key was absent then), a lookup.
func (s *Shard[V]) writeNode(r *Request[V], i int) *mvcc.Node[V] {
	if i < len(r.nodes) && r.nodes[i] != nil {
		return r.nodes[i]
	}
	return s.list.Find(r.Writes[i].Key)
}

// release drops the locks a successful prepare of r took.
func (s *Shard[V]) release(r *Request[V]) {
	s.unreserve(r)
	if len(s.dirty) > 0 {
		for k, d := range s.dirty {
			if d.txn == r.Txn {
				delete(s.dirty, k)
			}
		}
		s.publishDirty()
	}
	for i := range r.Writes {
		if n := s.writeNode(r, i); n != nil {
			if l := s.lockOf(n); l.write == r.Txn {
				l.write = 0
				s.setLock(n, l)
				s.dropIfUnused(n)
			}
		}
	}
	for _, k := range r.Reads {
		if n := s.list.Find(k); n != nil {
			if l := s.lockOf(n); l.reads > 0 {
				l.reads--
				s.setLock(n, l)
				s.dropIfUnused(n)
			}
		}
	}
	if len(r.Ranges) > 0 {
		kept := s.ranges[:0]
		for _, rl := range s.ranges {
			if rl.txn != r.Txn {
				kept = append(kept, rl)
			}
		}
		clear(s.ranges[len(kept):])
		s.ranges = kept
	}
}

// publishDirty gives readers a copy of the fault-injected dirty writes.
func (s *Shard[V]) publishDirty() {
	view := make(map[string]dirtyWrite[V], len(s.dirty))
	for k, d := range s.dirty {
		view[k] = d
	}
	s.dirtyView.Store(&view)
}

func (s *Shard[V]) dropIfUnused(n *mvcc.Node[V]) {
	if n.Unused() {
		s.list.Delete(n.Key())
	}
}
