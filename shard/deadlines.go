package shard

import (
	"cmp"
	"slices"

	"github.com/fluxmap/fluxmap/mvcc"
)

// A shard that evicts keeps its keys' TTL deadlines in a min-heap, so that
// over budget it deletes what has expired before it evicts a live key
// (evictIfNeeded). A key waits in the heap once, under the deadline it had
// when it was queued; a key rewritten since is looked at again when that
// deadline comes, and queued again under its new one if it has one (a key
// rewritten with an earlier deadline waits for the later one). A key
// unlinked while it waits (deleted, then reclaimed or vacuumed) counts as
// dead, and once dead entries are half the heap it is rebuilt without
// them, so the heap never holds many nodes the list has let go.

type deadline[V any] struct {
	at int64 // Unix nanoseconds
	n  *mvcc.Node[V]
}

type deadlineHeap[V any] []deadline[V]

// push queues n under at unless it is queued already.
func (h *deadlineHeap[V]) push(n *mvcc.Node[V], at int64) {
	if n.Deadlined {
		return
	}
	n.Deadlined = true
	*h = append(*h, deadline[V]{at: at, n: n})
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p].at <= q[i].at {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

// rebuild drops the entries of nodes the list no longer holds or whose
// newest version has no deadline, and restores heap order.
func (h *deadlineHeap[V]) rebuild(l *mvcc.List[V]) {
	q := *h
	kept := q[:0]
	for _, d := range q {
		if v := d.n.Newest(); l.Find(d.n.Key()) == d.n && v != nil && v.Expiry() != 0 {
			kept = append(kept, d)
		} else {
			d.n.Deadlined = false
		}
	}
	clear(q[len(kept):])
	slices.SortFunc(kept, func(a, b deadline[V]) int { return cmp.Compare(a.at, b.at) }) // a sorted slice is a heap
	*h = kept
}

// pop removes and returns the earliest deadline's node.
func (h *deadlineHeap[V]) pop() *mvcc.Node[V] {
	q := *h
	n := q[0].n
	last := len(q) - 1
	q[0] = q[last]
	q[last] = deadline[V]{}
	q = q[:last]
	for i := 0; ; {
		m := 2*i + 1
		if m >= len(q) {
			break
		}
		if r := m + 1; r < len(q) && q[r].at < q[m].at {
			m = r
		}
		if q[i].at <= q[m].at {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	n.Deadlined = false
	return n
}

// expire deletes, as the shard's own commit, the keys whose TTL deadline
// has passed, releasing their bytes at once as eviction does, and reports
// whether it deleted any. Keys locked by in-flight transactions, or inside
// a range one of them scanned, wait for a later batch.
func (s *Shard[V]) expire() bool {
	m := s.mem
	h := &m.deadlines
	if len(*h) == 0 {
		return false
	}
	now := s.now()
	var r *Request[V]
	var again []*mvcc.Node[V]
	for len(*h) > 0 && (*h)[0].at <= now {
		n := h.pop()
		if s.list.Find(n.Key()) != n {
			continue // unlinked meanwhile
		}
		v := n.Newest()
		if v == nil || v.Tombstone() || v.Expiry() == 0 {
			continue // deleted, or rewritten with no deadline
		}
		if v.Expiry() > now {
			again = append(again, n) // rewritten with a later deadline
			continue
		}
		if n.Locked || n.Epoch == m.epoch || s.inLockedRange(n.Key()) {
			again = append(again, n)
			continue
		}
		s.releaseNode(n)
		r = addInternalDelete(r, n.Key(), CauseExpire)
	}
	for _, n := range again {
		h.push(n, n.Newest().Expiry())
	}
	if r == nil {
		return false
	}
	m.expirations += uint64(len(r.Writes))
	s.commitInternal(r)
	return true
}
