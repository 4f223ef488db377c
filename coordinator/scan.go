package coordinator

import (
	"container/heap"

	"github.com/fluxmap/fluxmap/shard"
)

// scanChunk is how many entries one shard returns per scan request: it
// bounds a stream's memory at shards × scanChunk entries.
const scanChunk = 256

// Scanner merges the per-shard streams of one span at one timestamp into
// key order. It pulls chunks from a shard only when that shard's previous
// chunk is used up. A Scanner is used by one goroutine.
type Scanner[V any] struct {
	c       *Coordinator[V]
	ts      uint64
	now     int64 // the snapshot's wall-clock time for TTL deadlines
	cursors cursorHeap[V]
	err     error
	started bool
	span    shard.Span
}

type cursor[V any] struct {
	sh  *shard.Shard[V]
	req *shard.Request[V]
	pos int
}

func (cu *cursor[V]) key() string { return cu.req.Entries[cu.pos].Key }

// NewScanner returns a scanner over span at ts that evaluates TTL
// deadlines at wall-clock time now (the snapshot's, from SnapshotTime), so
// every chunk it fetches agrees on which keys have expired. Nothing is sent
// until the first Next. The caller must keep a snapshot at ts registered
// while it scans, and must Close the scanner.
func (c *Coordinator[V]) NewScanner(span shard.Span, ts uint64, now int64) *Scanner[V] {
	return &Scanner[V]{c: c, ts: ts, now: now, span: span}
}

func (s *Scanner[V]) start() {
	s.started = true
	if !s.span.HiInf && s.span.Lo >= s.span.Hi {
		return
	}
	g, err := s.c.enter()
	if err != nil {
		s.err = err
		return
	}
	pending := make([]*cursor[V], 0, len(s.c.shards))
	for _, sh := range s.c.shards {
		cu := &cursor[V]{sh: sh, req: s.c.getReq()}
		s.fill(cu, s.span.Lo)
		sh.Send(cu.req)
		pending = append(pending, cu)
	}
	for _, cu := range pending {
		cu.sh.Wait(cu.req)
	}
	s.c.gate.exit(g)
	for _, cu := range pending {
		if s.skipEmpty(cu) {
			s.cursors = append(s.cursors, cu)
		}
	}
	heap.Init(&s.cursors)
}

// skipEmpty refills cu while its chunk is empty but the shard has more (a
// stretch of invisible versions or tombstones). It reports whether cu has
// an entry; if not, cu's request went back to the pool.
func (s *Scanner[V]) skipEmpty(cu *cursor[V]) bool {
	for len(cu.req.Entries) == 0 {
		if !cu.req.More || s.err != nil {
			s.c.putReq(cu.req)
			return false
		}
		if err := s.refill(cu); err != nil {
			s.err = err
			s.c.putReq(cu.req)
			return false
		}
	}
	return true
}

// refill asks cu's shard for the chunk after the current one.
func (s *Scanner[V]) refill(cu *cursor[V]) error {
	g, err := s.c.enter()
	if err != nil {
		return err
	}
	s.fill(cu, cu.req.Resume)
	cu.sh.Do(cu.req)
	s.c.gate.exit(g)
	return nil
}

func (s *Scanner[V]) fill(cu *cursor[V], lo string) {
	r := cu.req
	r.Reset()
	r.Kind = shard.KindScan
	r.TS, r.Now = s.ts, s.now
	r.Span = shard.Span{Lo: lo, Hi: s.span.Hi, HiInf: s.span.HiInf}
	r.Limit = scanChunk
	cu.pos = 0
}

// Next returns the next entry in key order; ok is false at the end or on
// error (see Err).
func (s *Scanner[V]) Next() (key string, val V, ok bool) {
	if !s.started {
		s.start()
	}
	for s.err == nil && len(s.cursors) > 0 {
		cu := s.cursors[0]
		if cu.pos < len(cu.req.Entries) {
			e := cu.req.Entries[cu.pos]
			cu.pos++
			s.advance(cu)
			return e.Key, e.Value, true
		}
		s.advance(cu)
	}
	return key, val, false
}

// advance restores heap order after the top cursor moved, refilling it
// from its shard when its chunk is used up.
func (s *Scanner[V]) advance(cu *cursor[V]) {
	if cu.pos < len(cu.req.Entries) {
		heap.Fix(&s.cursors, 0)
		return
	}
	if cu.req.More {
		if err := s.refill(cu); err != nil {
			s.err = err
			heap.Pop(&s.cursors)
			s.c.putReq(cu.req)
			return
		}
		if s.skipEmpty(cu) {
			heap.Fix(&s.cursors, 0)
			return
		}
		heap.Pop(&s.cursors)
		return
	}
	heap.Pop(&s.cursors)
	s.c.putReq(cu.req)
}

// Err returns the error that ended the scan early, if any.
func (s *Scanner[V]) Err() error { return s.err }

// Close returns the scanner's buffers. It is safe to call more than once.
func (s *Scanner[V]) Close() {
	for _, cu := range s.cursors {
		s.c.putReq(cu.req)
	}
	s.cursors = nil
	s.started = true
}

type cursorHeap[V any] []*cursor[V]

func (h cursorHeap[V]) Len() int           { return len(h) }
func (h cursorHeap[V]) Less(i, j int) bool { return h[i].key() < h[j].key() }
func (h cursorHeap[V]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap[V]) Push(x any)        { *h = append(*h, x.(*cursor[V])) }
func (h *cursorHeap[V]) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}
