package shard

import "github.com/fluxmap/fluxmap/mvcc"

// vacuumSlice is how many nodes one slice of a vacuum pass visits before
// the shard looks at its inbox again.
const vacuumSlice = 256

// vacuumTask is a vacuum pass in progress: it walks the list in key order,
// a slice at a time, resuming at the first key it has not visited.
type vacuumTask[V any] struct {
	reqs    []*Request[V] // answered together when the pass ends
	horizon uint64
	resume  string
	counts  VacuumStats
}

// startVacuum begins a pass at horizon r.TS, or queues r behind the pass
// in progress. Every request queued meanwhile is then served by one pass
// at the newest of their horizons: a request's horizon was valid when it
// was sent and horizons only grow, so the newest covers them all, and N
// queued requests cost one pass, not N.
func (s *Shard[V]) startVacuum(r *Request[V]) {
	if s.vacuum != nil {
		s.queued = append(s.queued, r)
		return
	}
	s.beginPass([]*Request[V]{r})
}

func (s *Shard[V]) beginPass(reqs []*Request[V]) {
	var h uint64
	for _, r := range reqs {
		h = max(h, r.TS)
	}
	if h > s.floor.Load() {
		s.floor.Store(h) // before the pass cuts anything: see ReadLatest
	}
	s.vacuum = &vacuumTask[V]{reqs: reqs, horizon: h}
}

// vacuumSlice visits up to vacuumSlice nodes: it prunes versions no reader
// at or above the horizon can see, and unlinks keys whose only version left
// is a tombstone at or below the horizon (and that nobody has locked).
func (s *Shard[V]) vacuumSlice() {
	t := s.vacuum
	now := s.now()
	var expired *Request[V]
	n := s.list.Seek(t.resume)
	for i := 0; n != nil && i < vacuumSlice; i++ {
		next := n.Next()
		s.vacuumNode(n, t)
		if v := n.Newest(); v != nil && !v.Tombstone() && v.Expiry() != 0 && now >= v.Expiry() &&
			!n.Locked && !s.inLockedRange(n.Key()) &&
			s.mem.internal.Load() < maxInternalInFlight {
			// An expired value becomes a committed delete, so transactions
			// that read it conflict and a restart agrees.
			expired = addInternalDelete(expired, n.Key(), CauseExpire)
		}
		n = next
	}
	if expired != nil {
		s.mem.expirations += uint64(len(expired.Writes))
		s.commitInternal(expired)
	}
	if n != nil {
		t.resume = n.Key()
		return
	}
	t.counts.Passes = 1
	s.stats.Vacuum.Passes++
	for _, r := range t.reqs {
		r.Vacuumed = t.counts
		reply(r)
	}
	s.vacuum = nil
	if len(s.queued) > 0 {
		next := s.queued
		s.queued = nil
		s.beginPass(next)
	}
}

func (s *Shard[V]) vacuumNode(n *mvcc.Node[V], t *vacuumTask[V]) {
	versions, keys := s.collect(n, t.horizon)
	t.counts.Versions += uint64(versions)
	t.counts.Keys += uint64(keys)
	s.stats.Vacuum.Versions += uint64(versions)
	s.stats.Vacuum.Keys += uint64(keys)
}

// collect drops what no reader at or above horizon can see of n: the
// versions under its newest one at or below horizon, and n itself when
// that version is a tombstone and nobody has locked the key. It returns
// how many versions and keys it dropped. The caller must have published a
// floor at or above horizon (see ReadLatest).
func (s *Shard[V]) collect(n *mvcc.Node[V], horizon uint64) (versions, keys int) {
	s.mem.account(n, -1)
	dropped, charge := n.Prune(horizon)
	s.mem.bytes -= charge
	s.mem.account(n, 1)
	s.stats.Versions -= dropped
	v := n.Newest()
	if v == nil || !v.Tombstone() || v.TS() > horizon || n.Locked {
		return dropped, 0
	}
	s.releaseNode(n)
	s.list.Delete(n.Key())
	s.stats.Versions--
	s.stats.Keys--
	if n.Deadlined {
		m := s.mem
		if m.deadDeadlines++; m.deadDeadlines > 64 && 2*m.deadDeadlines > len(m.deadlines) {
			m.deadlines.rebuild(s.list)
			m.deadDeadlines = 0
		}
	}
	return dropped + 1, 1
}
