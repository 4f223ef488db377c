package shard

import "sync/atomic"

// Pool is a memory limit that shards share. Each shard has its share of
// the limit (Memory.Budget) and may hold more while the shards together
// are under the limit, so a database whose keys hash unevenly still fills
// its budget. When the total passes the limit, the shards over their share
// evict back to it; a shard under its share that sees the total over
// asks them to (Nudge), so an idle shard does not keep what a busy one
// needs. Eviction by Reject stays strict per shard: a refusal must not
// depend on what other shards hold at that moment.
type Pool[V any] struct {
	limit  int64
	used   atomic.Int64 // the shards' published estimates, summed
	shards []*Shard[V]
}

// NewPool returns a pool for a limit of limit bytes.
func NewPool[V any](limit int64) *Pool[V] { return &Pool[V]{limit: limit} }

// Join adds s to the pool. Call it for every shard before any runs.
func (p *Pool[V]) Join(s *Shard[V]) { p.shards = append(p.shards, s) }

// over reports whether a shard holding bytes, which it last published as
// published, takes the pool over its limit.
func (p *Pool[V]) over(bytes, published int64) bool {
	return p.used.Load()+bytes-published > p.limit
}

// nudge asks every shard over its share but s to look at its budget.
func (p *Pool[V]) nudge(s *Shard[V]) {
	for _, o := range p.shards {
		if o != s && o.MemoryUsed() > o.mem.cfg.Budget {
			o.nudgeEvict()
		}
	}
}

// nudgeEvict makes the shard run a batch, and with it its eviction check,
// unless a nudge is already on its way or its inbox is full (then a batch
// is due anyway). Safe from any goroutine.
func (s *Shard[V]) nudgeEvict() {
	if !s.mem.nudged.CompareAndSwap(false, true) {
		return
	}
	select {
	case s.inbox <- s.nudgeReq:
	default:
		s.mem.nudged.Store(false)
	}
}
