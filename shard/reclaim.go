package shard

import "github.com/fluxmap/fluxmap/mvcc"

// A shard with a memory limit takes back, by itself, the memory that
// otherwise only vacuum frees: every install that leaves a key with a
// version under its newest one, or with a tombstone on top (a delete or an
// eviction), queues the key with the install's timestamp, and once the
// horizon has passed that timestamp (no snapshot can read under it) the
// shard prunes the chain and unlinks the key if it is deleted. A cache
// that evicts keeps no tombstones once no snapshot needs them, so the
// budget holds live data (DESIGN.md §7).

const (
	// reclaimBatch is how many keys may wait before the shard looks for
	// the horizon while it is under budget; over budget it looks every
	// batch. The horizon visits every snapshot stripe, so it is not read
	// for every install.
	reclaimBatch = 256
	// reclaimSlice bounds the keys one batch reclaims, so a long queue
	// (left by a snapshot held open a long time) is worked off across
	// batches without stalling the inbox.
	reclaimSlice = 4096
)

type reclaimEntry[V any] struct {
	n  *mvcc.Node[V]
	ts uint64 // the install that queued n; reclaim once the horizon passes it
}

// reclaimQueue holds keys in the order their installs queued them, which
// is nearly timestamp order: the shard's own commits take increasing
// timestamps, and a two-phase commit's may arrive a little late. An entry
// waits until the horizon passes it, and those behind it with it.
type reclaimQueue[V any] struct {
	buf  []reclaimEntry[V]
	head int
}

func (q *reclaimQueue[V]) len() int { return len(q.buf) - q.head }

// push queues n unless it is queued already: the later install's versions
// are looked at when n is reclaimed, and n is queued again if any remain.
func (q *reclaimQueue[V]) push(n *mvcc.Node[V], ts uint64) {
	if n.Queued {
		return
	}
	n.Queued = true
	q.buf = append(q.buf, reclaimEntry[V]{n: n, ts: ts})
}

func (q *reclaimQueue[V]) front() reclaimEntry[V] { return q.buf[q.head] }

func (q *reclaimQueue[V]) pop() *mvcc.Node[V] {
	n := q.buf[q.head].n
	q.buf[q.head] = reclaimEntry[V]{}
	q.head++
	switch {
	case q.head == len(q.buf):
		q.buf, q.head = q.buf[:0], 0
	case q.head >= 1024 && 2*q.head >= len(q.buf):
		k := copy(q.buf, q.buf[q.head:])
		clear(q.buf[k:])
		q.buf, q.head = q.buf[:k], 0
	}
	n.Queued = false
	return n
}

// reclaim collects the queued keys whose installs the horizon has passed.
func (s *Shard[V]) reclaim() {
	m := s.mem
	q := &m.reclaim
	if q.len() == 0 || (q.len() < reclaimBatch && !m.overBudget()) {
		return
	}
	if q.front().ts > s.clock.Visible() {
		return // the horizon is at most visible: nothing is ready
	}
	h := s.clock.Horizon()
	if q.front().ts > h {
		return
	}
	if h > s.floor.Load() {
		s.floor.Store(h) // before anything is cut: see ReadLatest
	}
	var again []*mvcc.Node[V]
	for i := 0; i < reclaimSlice && q.len() > 0 && q.front().ts <= h; i++ {
		n := q.pop()
		if s.list.Find(n.Key()) != n {
			continue // vacuum unlinked it meanwhile
		}
		if _, keys := s.collect(n, h); keys == 0 && (n.Versions() > 1 || n.Newest().Tombstone()) {
			// Written again since it was queued, or locked: look again
			// later.
			again = append(again, n)
		}
	}
	for _, n := range again {
		q.push(n, n.NewestTS())
	}
}
