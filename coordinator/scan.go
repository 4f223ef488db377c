package coordinator

import (
	"container/heap"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/shard"
)

// Scanner merges the shards' ordered cursors over one span at one
// timestamp into key order, on the caller's goroutine (DESIGN.md §4a): a
// k-way merge through a heap of the cursors that have an entry. It walks
// each shard's list only as far as the entries it returns, so a scan
// stopped early costs what it read. A Scanner is used by one goroutine.
type Scanner[V any] struct {
	c       *Coordinator[V]
	ts      uint64
	now     int64 // the snapshot's wall-clock time for TTL deadlines
	span    shard.Span
	cursors []shard.Cursor[V]
	heap    cursorHeap[V]
	err     error
	started bool
}

// NewScanner returns a scanner over span at ts that evaluates TTL
// deadlines at wall-clock time now (the snapshot's, from SnapshotTime), so
// every entry agrees on which keys have expired. Nothing is read until the
// first Next. The caller must keep a snapshot at ts registered while it
// scans, and must Close the scanner.
func (c *Coordinator[V]) NewScanner(span shard.Span, ts uint64, now int64) *Scanner[V] {
	return &Scanner[V]{c: c, ts: ts, now: now, span: span}
}

func (s *Scanner[V]) start() {
	s.started = true
	if s.c.gate.closed.Load() {
		s.err = errs.ErrClosed
		return
	}
	s.cursors = make([]shard.Cursor[V], len(s.c.shards))
	s.heap = make(cursorHeap[V], 0, len(s.c.shards))
	for i, sh := range s.c.shards {
		cu := &s.cursors[i]
		sh.Seek(cu, s.span, s.ts, s.now)
		if cu.Valid() {
			s.heap = append(s.heap, cu)
		}
	}
	heap.Init(&s.heap)
}

// Next returns the next entry in key order; ok is false at the end or on
// error (see Err).
func (s *Scanner[V]) Next() (key string, val V, ok bool) {
	if !s.started {
		s.start()
	}
	if s.err != nil || len(s.heap) == 0 {
		return key, val, false
	}
	if s.c.gate.closed.Load() {
		s.err = errs.ErrClosed
		return key, val, false
	}
	cu := s.heap[0]
	key, val = cu.Key(), cu.Value()
	cu.Next()
	if cu.Valid() {
		heap.Fix(&s.heap, 0)
	} else {
		heap.Pop(&s.heap)
	}
	return key, val, true
}

// Err returns the error that ended the scan early, if any.
func (s *Scanner[V]) Err() error { return s.err }

// Close ends the scan. It is safe to call more than once.
func (s *Scanner[V]) Close() {
	s.heap, s.cursors = nil, nil
	s.started = true
}

type cursorHeap[V any] []*shard.Cursor[V]

func (h cursorHeap[V]) Len() int           { return len(h) }
func (h cursorHeap[V]) Less(i, j int) bool { return h[i].Key() < h[j].Key() }
func (h cursorHeap[V]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap[V]) Push(x any)        { *h = append(*h, x.(*shard.Cursor[V])) }
func (h *cursorHeap[V]) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}
