package shard

import (
	"sync/atomic"
	"unsafe"

	"github.com/fluxmap/fluxmap/evict"
	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/mvcc"
)

// maxInternalInFlight bounds the shard's own commits (evictions, expiry
// deletes) that are allocated but not yet done. The oracle's admission
// bound leaves room for 1024 shards × this many.
const maxInternalInFlight = 8

// Memory configures a shard's memory accounting and limit.
type Memory[V any] struct {
	// Budget is this shard's share of the limit in bytes; 0 means none.
	Budget int64
	// Policy picks victims when a commit leaves the shard over Budget, or
	// (Reject) refuses commits that would.
	Policy evict.Policy
	// ValueSize estimates the bytes a value occupies beyond the version
	// record itself (string and slice contents, MemSize, a user Sizer).
	ValueSize func(key string, v V) int64
	// Pool, if set, is the limit the shards share: the shard may hold more
	// than Budget while the pool is under its limit (see Pool).
	Pool *Pool[V]
}

// memState is the shard goroutine's accounting. bytes is published to
// other goroutines through published after every batch.
type memState[V any] struct {
	cfg   Memory[V]
	bytes int64
	// reserved is what prepared transactions will add when they commit
	// (Reject only): checkRoom counts it, or two transactions that each
	// fit alone could both prepare and together pass the budget.
	reserved      int64
	published     atomic.Int64
	tracker       *evict.Tracker[mvcc.Node[V]]
	lfu           bool // tracker orders by frequency: every read counts
	nodeBase      int64
	versionBase   int64
	evictions     uint64
	expirations   uint64
	epoch         uint32       // batches processed, for Node.Epoch
	internal      atomic.Int32 // own commits not yet done (durable mode)
	reclaim       reclaimQueue[V]
	deadlines     deadlineHeap[V] // keys with TTLs, when evicting (see expire)
	deadDeadlines int             // entries in deadlines of unlinked nodes
	// old and tomb split bytes by what they hold (see account); the rest
	// is live data. Published with bytes.
	old, tomb                   int64
	publishedOld, publishedTomb atomic.Int64
	nudged                      atomic.Bool // a nudge request is in the inbox
}

// overBudget reports whether the shard must give memory back: it is over
// its share, and, when it shares a pool, the pool is over its limit.
func (m *memState[V]) overBudget() bool {
	if m.bytes <= m.cfg.Budget {
		return false
	}
	return m.cfg.Pool == nil || m.cfg.Pool.over(m.bytes, m.published.Load())
}

// account adds sign times n's charges to the split of the estimate: the
// node's own charge and its newest version's count as live data, or as a
// tombstone's when that version is a delete; the versions under it count
// as old versions. Called with -1 before a change to n's charges and +1
// after it, it keeps old and tomb equal to the sums over all nodes.
func (m *memState[V]) account(n *mvcc.Node[V], sign int64) {
	v := n.Newest()
	if v == nil {
		return
	}
	top := n.NewestCharge()
	if v.Tombstone() {
		m.tomb += sign * (top + int64(n.Charge))
	}
	m.old += sign * (n.VersionCharge() - top)
}

// publish makes the batch's accounting visible to other goroutines.
func (s *Shard[V]) publish() {
	m := s.mem
	if p := m.cfg.Pool; p != nil {
		p.used.Add(m.bytes - m.published.Load())
	}
	m.published.Store(m.bytes)
	m.publishedOld.Store(m.old)
	m.publishedTomb.Store(m.tomb)
	s.live.Store(int64(s.stats.Live))
}

// MemorySplit returns the shard's estimate as of its last batch, split into
// old versions and tombstones (with their keys); the rest of MemoryUsed is
// live data. Safe from any goroutine.
func (s *Shard[V]) MemorySplit() (old, tombstones int64) {
	return s.mem.publishedOld.Load(), s.mem.publishedTomb.Load()
}

// Live returns the number of keys whose newest version is a value, as of
// the shard's last batch. Safe from any goroutine.
func (s *Shard[V]) Live() int64 { return s.live.Load() }

func nodeLinks[V any](n *mvcc.Node[V]) *evict.Links[mvcc.Node[V]] {
	if n.Evict == nil {
		n.Evict = new(evict.Links[mvcc.Node[V]])
	}
	return n.Evict
}

func newMemState[V any](cfg Memory[V]) *memState[V] {
	m := &memState[V]{
		cfg: cfg,
		// A node, the tower that follows it in its allocation (1.33 links
		// at p = 1/4), and 40 bytes for its hash-index slot (8 bytes in a
		// table kept between 3/8 and 3/4 full: about 14 a key) and the
		// allocator's rounding of the node, version and key: this errs
		// high by about 20 bytes a key.
		nodeBase:    int64(unsafe.Sizeof(mvcc.Node[V]{})) + 11 + 40,
		versionBase: int64(unsafe.Sizeof(mvcc.Version[V]{})),
	}
	if cfg.Budget > 0 && cfg.Policy != evict.Reject {
		m.tracker = evict.New(cfg.Policy, nodeLinks[V])
		m.lfu = cfg.Policy == evict.LFU
	}
	return m
}

// MemoryUsed returns the shard's estimated bytes as of its last batch.
// Safe from any goroutine.
func (s *Shard[V]) MemoryUsed() int64 { return s.mem.published.Load() }

func (m *memState[V]) versionCost(key string, w *Write[V]) int64 {
	if w.Tombstone {
		return m.versionBase
	}
	c := m.versionBase + m.cfg.ValueSize(key, w.Value)
	if w.Expiry != 0 {
		c += mvcc.DeadlineSize
	}
	return c
}

// charge accounts for a version just installed on n. The node itself is
// charged whenever it holds a value and is not charged yet: when it is new,
// and when a key evicted (whose node charge was released while its tombstone
// kept the node) is written again.
func (s *Shard[V]) charge(n *mvcc.Node[V], w *Write[V]) {
	m := s.mem
	if n.Charge == 0 && !w.Tombstone {
		n.Charge = int32(min(m.nodeBase+int64(len(n.Key())), 1<<31-1))
		m.bytes += int64(n.Charge)
	}
	n.Epoch = m.epoch
	c := m.versionCost(n.Key(), w)
	n.SetCharge(c)
	m.bytes += c
	if m.tracker != nil {
		if w.Tombstone {
			m.tracker.Remove(n) // a deleted key is no eviction candidate
		} else {
			m.tracker.Touch(n)
		}
	}
}

// releaseNode un-charges n and all its versions: the node is being unlinked
// or evicted, so it counts as freed now even if a snapshot still pins old
// versions until vacuum drops them.
func (s *Shard[V]) releaseNode(n *mvcc.Node[V]) {
	s.mem.account(n, -1) // everything is released: nothing to add back
	s.mem.bytes -= n.ReleaseCharges()
	s.mem.bytes -= int64(n.Charge)
	n.Charge = 0
	if s.mem.tracker != nil {
		s.mem.tracker.Remove(n)
	}
}

// checkRoom refuses r under the Reject policy if its writes, on top of
// what the shard holds and what prepared transactions have reserved, would
// take the shard over its budget. Nothing has been applied when it
// refuses; otherwise r.room holds what r will add. Call it after
// validation, which recorded the write keys' nodes.
func (s *Shard[V]) checkRoom(r *Request[V]) error {
	m := s.mem
	if m.cfg.Budget <= 0 || m.cfg.Policy != evict.Reject {
		return nil
	}
	var add int64
	for i := range r.Writes {
		w := &r.Writes[i]
		if w.Tombstone {
			continue
		}
		add += m.versionCost(w.Key, w)
		if n := s.writeNode(r, i); n == nil || n.Charge == 0 {
			add += m.nodeBase + int64(len(w.Key))
		}
	}
	if add > 0 && m.bytes+m.reserved+add > m.cfg.Budget {
		return errs.Errorf("%w: shard %d would hold %d bytes, its share of the limit is %d",
			errs.ErrMemoryLimit, s.id, m.bytes+m.reserved+add, m.cfg.Budget)
	}
	r.room = add
	return nil
}

// reserve holds r's room until r commits or aborts (see release).
func (s *Shard[V]) reserve(r *Request[V]) { s.mem.reserved += r.room }

// unreserve gives back what reserve held for r.
func (s *Shard[V]) unreserve(r *Request[V]) {
	s.mem.reserved -= r.room
	r.room = 0
}

// evictIfNeeded brings the shard back under its budget, least valuable key
// first, as one committed delete with its own timestamp. Keys locked by
// in-flight transactions are skipped. A victim's bytes count as freed at
// once; its versions go when vacuum finds no snapshot needs them.
func (s *Shard[V]) evictIfNeeded() {
	m := s.mem
	defer func() { m.epoch++ }()
	if p := m.cfg.Pool; p != nil && m.bytes <= m.cfg.Budget && p.over(m.bytes, m.published.Load()) {
		p.nudge(s) // under its share itself: the shards over theirs must give back
	}
	if m.tracker == nil || !m.overBudget() || m.internal.Load() >= maxInternalInFlight {
		return
	}
	// What has expired goes before anything live.
	if s.expire() && (!m.overBudget() || m.internal.Load() >= maxInternalInFlight) {
		return
	}
	s.drainReads() // the reads made while this batch ran count before the choice
	var victims []*mvcc.Node[V]
	m.tracker.Candidates(func(n *mvcc.Node[V]) bool {
		if !m.overBudget() {
			return false
		}
		if n.Locked || n.Epoch == m.epoch || s.inLockedRange(n.Key()) {
			return true
		}
		s.releaseNode(n)
		victims = append(victims, n)
		return true
	})
	if len(victims) == 0 {
		return
	}
	var r *Request[V]
	for _, n := range victims {
		r = addInternalDelete(r, n.Key(), CauseEvict)
	}
	m.evictions += uint64(len(victims))
	s.commitInternal(r)
}

// addInternalDelete adds a delete of key to r, the shard's own commit
// (an eviction or an expiry), creating r if it is nil.
func addInternalDelete[V any](r *Request[V], key string, cause Cause) *Request[V] {
	if r == nil {
		r = NewRequest[V]()
		r.Kind, r.internal, r.cause = KindCommitOne, true, cause
	}
	r.Writes = append(r.Writes, Write[V]{Key: key, Tombstone: true})
	return r
}

// commitInternal installs r (the shard's own delete) at a fresh timestamp
// and queues it for the WAL and acknowledgement like any fast-path commit.
func (s *Shard[V]) commitInternal(r *Request[V]) {
	r.CommitTS = s.clock.Next()
	s.install(r, r.CommitTS)
	s.stats.Commits++
	if s.wal != nil {
		s.mem.internal.Add(1)
	}
	s.acks = append(s.acks, r)
}
