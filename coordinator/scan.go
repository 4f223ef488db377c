package coordinator

import (
	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/shard"
)

// Scanner merges the shards' ordered cursors over one span at one
// timestamp into key order, on the caller's goroutine (DESIGN.md §4a): a
// k-way merge through a binary heap, by current key, of the cursors
// that have an entry (hand-written: container/heap's interface calls cost
// more than the comparisons). It walks each shard's list only as far as
// the entries it returns, so a scan stopped early costs what it read. A
// Scanner is used by one goroutine.
type Scanner[V any] struct {
	c       *Coordinator[V]
	ts      uint64
	now     int64 // the snapshot's wall-clock time for TTL deadlines
	span    shard.Span
	reverse bool // descending key order
	cursors []shard.Cursor[V]
	heap    []*shard.Cursor[V]
	err     error
	started bool
	buf     [4]shard.Cursor[V] // cursors for up to 4 shards, in the same allocation
	hbuf    [4]*shard.Cursor[V]
}

// NewScanner returns a scanner over span at ts that evaluates TTL
// deadlines at wall-clock time now (the snapshot's, from SnapshotTime), so
// every entry agrees on which keys have expired. Nothing is read until the
// first Next. The caller must keep a snapshot at ts registered while it
// scans, and must Close the scanner once, after its last use: scanners are
// pooled, so a closed one may already serve another scan.
func (c *Coordinator[V]) NewScanner(span shard.Span, ts uint64, now int64, reverse bool) *Scanner[V] {
	s, _ := c.scans.Get().(*Scanner[V])
	if s == nil {
		s = new(Scanner[V])
	}
	s.c, s.ts, s.now, s.span, s.reverse = c, ts, now, span, reverse // the rest is as Close left it
	return s
}

// first reports whether a's entry comes before b's in the scan's order.
func (s *Scanner[V]) first(a, b *shard.Cursor[V]) bool {
	if s.reverse {
		return b.Less(a)
	}
	return a.Less(b)
}

func (s *Scanner[V]) start() {
	s.started = true
	if s.c.gate.closed.Load() {
		s.err = errs.ErrClosed
		return
	}
	n := len(s.c.shards)
	s.cursors, s.heap = s.buf[:0], s.hbuf[:0]
	if n > len(s.buf) {
		s.cursors, s.heap = make([]shard.Cursor[V], 0, n), make([]*shard.Cursor[V], 0, n)
	}
	s.cursors = s.cursors[:n]
	for i, sh := range s.c.shards {
		cu := &s.cursors[i]
		if s.reverse {
			sh.SeekLast(cu, s.span, s.ts, s.now)
		} else {
			sh.Seek(cu, s.span, s.ts, s.now)
		}
		if cu.Valid() {
			s.heap = append(s.heap, cu)
		}
	}
	for i := len(s.heap)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
}

// down restores heap order below i.
func (s *Scanner[V]) down(i int) {
	h := s.heap
	for {
		m := 2*i + 1
		if m >= len(h) {
			return
		}
		if r := m + 1; r < len(h) && s.first(h[r], h[m]) {
			m = r
		}
		if !s.first(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// Next returns the next entry in key order; ok is false at the end or on
// error (see Err).
func (s *Scanner[V]) Next() (key string, val V, ok bool) {
	if !s.started {
		s.start()
	}
	if len(s.heap) == 0 || s.err != nil {
		return key, val, false
	}
	if s.c.gate.closed.Load() {
		s.err = errs.ErrClosed
		return key, val, false
	}
	cu := s.heap[0]
	key, val = cu.Key(), cu.Value()
	cu.Next()
	switch {
	case !cu.Valid():
		last := len(s.heap) - 1
		s.heap[0], s.heap[last] = s.heap[last], nil
		s.heap = s.heap[:last]
		s.down(0)
	case len(s.heap) == 2:
		// Two shards, the common small case: one comparison, no loop.
		if s.first(s.heap[1], cu) {
			s.heap[0], s.heap[1] = s.heap[1], cu
		}
	case len(s.heap) > 2:
		s.down(0)
	}
	return key, val, true
}

// NextWithExpiry is Next that also returns the entry's TTL deadline (Unix
// nanoseconds, 0 for none), for a reader that copies entries elsewhere (a
// backup) and must keep their deadlines. It peeks at the cursor Next is
// about to take, so Next itself, the scans' per-entry step, stays as it is.
func (s *Scanner[V]) NextWithExpiry() (key string, val V, expiry int64, ok bool) {
	if !s.started {
		s.start()
	}
	if len(s.heap) > 0 {
		expiry = s.heap[0].Expiry()
	}
	key, val, ok = s.Next()
	if !ok {
		expiry = 0
	}
	return key, val, expiry, ok
}

// Err returns the error that ended the scan early, if any.
func (s *Scanner[V]) Err() error { return s.err }

// Close ends the scan and returns the scanner to its pool. Call it once;
// the scanner must not be used after it.
func (s *Scanner[V]) Close() {
	c := s.c
	if c == nil {
		return
	}
	// Drop what the cursors point at, so a pooled scanner keeps no nodes,
	// versions or span bounds alive; keep their buffers.
	for i := range s.buf {
		s.buf[i].Release()
	}
	buf := s.buf
	*s = Scanner[V]{buf: buf}
	c.scans.Put(s)
}
