package shard

import (
	"sync/atomic"

	"github.com/fluxmap/fluxmap/mvcc"
)

// Reads run on the caller's goroutine, over the data the shard publishes,
// with no message and no lock (DESIGN.md §4a). The methods in this file are
// the only ones a goroutine other than the shard's may call on its data;
// everything they touch is immutable once published or atomic:
//   - the list (mvcc.List: nodes, towers, version chains, the hash index);
//   - floor, the horizon of the newest vacuum pass, stored before that pass
//     cuts anything;
//   - the read log (readLog), which readers fill and the shard drains;
//   - dirtyView, the fault-injected dirty writes (faults.DirtyReads only);
//   - fields fixed before Run: now, mem (and its tracker), clock.
//
// A read at ts is complete: a shard installs a commit's versions before its
// timestamp is marked done, visible passes a timestamp only once every
// participant marked it, and the reader loaded visible (or holds a snapshot
// at or below it) before it read. Versions newer than ts may be reachable
// too, and are skipped.

// ReadAt returns key's value at ts, with TTL deadlines evaluated at wall-
// clock time now (Unix nanoseconds; 0: the shard's clock, read only if the
// version has a deadline). The caller must hold a registered snapshot at or
// below ts, so vacuum keeps what it reads; ReadLatest needs none. Safe for
// any goroutine; it allocates nothing.
func (s *Shard[V]) ReadAt(key string, ts uint64, now int64) (V, bool) {
	var zero V
	if d := s.dirtyView.Load(); d != nil { // the injected G1a bug; nil when off
		if dw, ok := (*d)[key]; ok {
			return dw.w.Value, !dw.w.Tombstone
		}
	}
	n := s.list.Find(key)
	if n == nil {
		return zero, false
	}
	v := n.At(ts)
	if v == nil || v.Tombstone() {
		return zero, false
	}
	if v.Expiry() != 0 {
		if now == 0 {
			now = s.now()
		}
		if !v.LiveAt(now) {
			return zero, false
		}
	}
	if l := s.reads; l != nil {
		l.note(s, n)
	}
	return v.Value, true
}

// ReadLatest returns key's value at the newest visible timestamp, without a
// registered snapshot: a single-key read at any visible timestamp is
// linearizable. It writes no shared memory (eviction bookkeeping aside).
// Vacuum publishes its horizon in floor before it cuts anything, so if
// floor has not passed the read's timestamp after the read, nothing the
// read needed was cut; otherwise it reads again at a newer one. Only a
// "not found" or a chain that ended early could have been wrong: a
// version found at or below the timestamp is the right one, since vacuum
// cuts only the older end of a chain (or a whole node whose newest version
// is a tombstone at or below the horizon). Safe for any goroutine.
func (s *Shard[V]) ReadLatest(key string) (V, bool) {
	ts := s.clock.Visible()
	for {
		v, ok := s.ReadAt(key, ts, 0)
		f := s.floor.Load()
		if f <= ts {
			return v, ok
		}
		ts = max(f, s.clock.Visible())
	}
}

// Cursor walks one shard's live entries of a span at a timestamp, in key
// order, on the caller's goroutine. The caller must hold a registered
// snapshot at or below the cursor's timestamp while it uses the cursor. A
// Cursor is used by one goroutine.
type Cursor[V any] struct {
	n     *mvcc.Node[V]    // the entry's node; nil at the end
	v     *mvcc.Version[V] // n's version visible at ts
	ts    uint64
	now   int64
	hi    string
	hp    mvcc.Prefix // hi's
	hiInf bool

	// A reverse cursor (SeekLast) walks down in batches: back holds the
	// nodes of the current batch in key order, taken from the end; below
	// is where the next batch ends (exclusive), and done says there is
	// none.
	rev   bool
	list  *mvcc.List[V]
	lo    string
	lp    mvcc.Prefix // lo's
	back  []*mvcc.Node[V]
	below *mvcc.Node[V]
	done  bool
}

// Seek positions c at the first live entry of span at ts (TTL deadlines at
// now, which must not be 0: a scan evaluates every deadline at one time).
// Safe for any goroutine.
func (s *Shard[V]) Seek(c *Cursor[V], span Span, ts uint64, now int64) {
	*c = Cursor[V]{ts: ts, now: now, hi: span.Hi, hiInf: span.HiInf, hp: mvcc.PrefixOf(span.Hi)}
	if !span.HiInf && span.Lo >= span.Hi {
		return
	}
	c.settle(s.list.Seek(span.Lo))
}

// settle moves c to the first node at or after n that holds a live entry
// within the span. The entry is two pointers, so a step stores no key or
// value: a scan's merge reads them from the node and version it is at.
func (c *Cursor[V]) settle(n *mvcc.Node[V]) {
	for ; n != nil; n = n.Next() {
		if !c.hiInf && !n.Before(c.hi, c.hp) {
			break
		}
		if v := n.At(c.ts); v != nil && v.LiveAt(c.now) {
			c.n, c.v = n, v
			return
		}
	}
	c.n, c.v = nil, nil
}

// SeekLast positions c at the last live entry of span at ts, for a walk in
// descending key order (TTL deadlines at now, as for Seek). Safe for any
// goroutine.
func (s *Shard[V]) SeekLast(c *Cursor[V], span Span, ts uint64, now int64) {
	back := c.back[:0] // a reused cursor keeps its batch buffer
	*c = Cursor[V]{ts: ts, now: now, hi: span.Hi, hiInf: span.HiInf, hp: mvcc.PrefixOf(span.Hi),
		rev: true, list: s.list, lo: span.Lo, lp: mvcc.PrefixOf(span.Lo), back: back}
	if !span.HiInf && span.Lo >= span.Hi {
		c.done = true
		return
	}
	c.prev()
}

// prev moves a reverse cursor to the next live entry below where it is,
// refilling its batch as needed.
func (c *Cursor[V]) prev() {
	for {
		for len(c.back) > 0 {
			n := c.back[len(c.back)-1]
			c.back[len(c.back)-1] = nil
			c.back = c.back[:len(c.back)-1]
			if v := n.At(c.ts); v != nil && v.LiveAt(c.now) {
				c.n, c.v = n, v
				return
			}
		}
		if c.done {
			c.n, c.v = nil, nil
			return
		}
		c.refill()
	}
}

// refill collects the batch of nodes in span below c.below (or below the
// span's end, first): from a node SeekBefore finds some way back, forward
// to where the last batch began. Nodes linked after the scan began hold
// only newer versions, which the walk skips like any other.
func (c *Cursor[V]) refill() {
	end, ep, inf := c.hi, c.hp, c.hiInf
	if c.below != nil {
		end, ep, inf = c.below.Key(), c.below.Prefix(), false
	}
	start := c.list.SeekBefore(end, inf)
	if c.back == nil {
		c.back = make([]*mvcc.Node[V], 0, 128) // a batch is 32-64 nodes at p = 1/4
	}
	n := start
	if n == nil {
		n = c.list.First()
		c.done = true // the walk starts at the beginning: this batch is the last
	}
	for ; n != nil && (inf || n.Before(end, ep)); n = n.Next() {
		if n.Before(c.lo, c.lp) {
			c.done = true // the span begins after here: no batch below this one
			continue
		}
		c.back = append(c.back, n)
	}
	c.below = start
}

// Release drops everything c points at but keeps its batch buffer, so a
// pooled cursor reused by SeekLast allocates nothing.
func (c *Cursor[V]) Release() {
	back := c.back[:0]
	clear(back[:cap(back)])
	*c = Cursor[V]{back: back}
}

// Less reports whether c's key sorts before d's. Both must be Valid.
func (c *Cursor[V]) Less(d *Cursor[V]) bool {
	return mvcc.KeyLess(c.n.Key(), c.n.Prefix(), d.n.Key(), d.n.Prefix())
}

// Valid reports whether c is at an entry.
func (c *Cursor[V]) Valid() bool { return c.n != nil }

// Key, Value and Expiry describe the entry c is at.
func (c *Cursor[V]) Key() string   { return c.n.Key() }
func (c *Cursor[V]) Value() V      { return c.v.Value }
func (c *Cursor[V]) Expiry() int64 { return c.v.Expiry() }

// Next moves c to the next live entry: the next larger key, or for a
// cursor from SeekLast the next smaller one.
func (c *Cursor[V]) Next() {
	switch {
	case c.n == nil:
	case c.rev:
		c.prev()
	default:
		c.settle(c.n.Next())
	}
}

const (
	// readLogSize is how many reads a shard's read log holds between
	// drains.
	readLogSize = 2048
	// maxTouches bounds the reads of one key that one drain counts.
	maxTouches = 64
)

// readLog records reads for the eviction order (LRU, LFU), which only the
// shard may edit: a reader adds to the node's Reads count and, if it was the
// first read since the last drain, appends the node to the log; the shard
// drains the log into its tracker, in log order, at the start of every batch
// and before it picks victims (drainReads). So on a quiet database every
// read counts, in the order it happened.
//
// The log is a bounded ring written by many readers and drained by the
// shard: a reader claims the next index by compare-and-swap only while the
// ring has room (so no index is ever claimed and left empty), then stores
// the node in its slot; the drain takes slots in index order and stops at
// one whose reader has not stored yet, resuming there next time. Under
// load the log is lossy by design, as Caffeine's read buffers are: a read
// that finds the ring full is dropped (its node's count reset, so a later
// read can log it again) and asks the shard, once, to drain. Under LRU a
// node's count stops at 1 until the drain, so a hot key costs its readers
// one load, not a write; under LFU every read adds one, and the drain counts
// them (up to maxTouches).
type readLog[V any] struct {
	head  atomic.Uint64 // next index to claim
	_     [56]byte      // head, tail and asked on their own cache lines
	tail  atomic.Uint64 // next index to drain; written by the shard
	_     [56]byte
	asked atomic.Bool // a drain request is on its way
	_     [63]byte
	slots [readLogSize]atomic.Pointer[mvcc.Node[V]]
}

// note records a read of n; see readLog.
func (l *readLog[V]) note(s *Shard[V], n *mvcc.Node[V]) {
	if s.mem.lfu {
		if n.Reads.Add(1) != 1 {
			return
		}
	} else if n.Reads.Load() != 0 || !n.Reads.CompareAndSwap(0, 1) {
		return
	}
	for {
		// tail first: it only grows and never passes head, so t <= i and
		// i-t is the ring's fill, never a wrapped-around difference.
		t := l.tail.Load()
		i := l.head.Load()
		if i-t >= readLogSize {
			n.Reads.Store(0)
			if !l.asked.Load() && l.asked.CompareAndSwap(false, true) {
				select {
				case s.inbox <- s.drainReq:
				default: // the inbox is full: the shard drains at its next batch anyway
					l.asked.Store(false)
				}
			}
			return
		}
		if l.head.CompareAndSwap(i, i+1) {
			l.slots[i%readLogSize].Store(n)
			return
		}
	}
}

// drainReads moves the logged reads into the eviction order. Shard
// goroutine only.
func (s *Shard[V]) drainReads() {
	l := s.reads
	l.asked.Store(false)
	t, end := l.tail.Load(), l.head.Load()
	for ; t < end; t++ {
		n := l.slots[t%readLogSize].Swap(nil)
		if n == nil {
			break // its reader has claimed the index but not stored yet
		}
		k := n.Reads.Swap(0)
		// A deleted or unlinked key is no eviction candidate, however old the
		// snapshot that read it.
		if v := n.Newest(); v == nil || v.Tombstone() || n.Charge == 0 {
			continue
		}
		// Under LFU one drain counts at most maxTouches reads of a key, so a
		// hot key costs the drain a bounded loop.
		for range min(max(k, 1), maxTouches) {
			s.mem.tracker.Touch(n)
		}
	}
	l.tail.Store(t)
}
