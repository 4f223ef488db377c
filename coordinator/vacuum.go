package coordinator

import (
	"time"

	"github.com/fluxmap/fluxmap/shard"
)

// Vacuum runs one pass on every shard at the current horizon (the oldest
// live snapshot, or visible) and returns what it removed. Shards vacuum in
// parallel, each in bounded slices between its other requests.
func (c *Coordinator[V]) Vacuum() (shard.VacuumStats, error) {
	var total shard.VacuumStats
	g, err := c.enter()
	if err != nil {
		return total, err
	}
	defer c.gate.exit(g)
	h := c.oracle.Horizon()
	reqs := make([]*shard.Request[V], len(c.shards))
	for i, s := range c.shards {
		r := c.getReq()
		r.Kind, r.TS = shard.KindVacuum, h
		reqs[i] = r
		s.Send(r)
	}
	for i, s := range c.shards {
		s.Wait(reqs[i])
		v := reqs[i].Vacuumed
		total.Versions += v.Versions
		total.Keys += v.Keys
		c.putReq(reqs[i])
	}
	total.Passes = 1
	return total, nil
}

// ShardStats returns every shard's counters, asked of each shard.
func (c *Coordinator[V]) ShardStats() ([]shard.Stats, error) {
	g, err := c.enter()
	if err != nil {
		return nil, err
	}
	defer c.gate.exit(g)
	out := make([]shard.Stats, len(c.shards))
	reqs := make([]*shard.Request[V], len(c.shards))
	for i, s := range c.shards {
		r := c.getReq()
		r.Kind = shard.KindStats
		reqs[i] = r
		s.Send(r)
	}
	for i, s := range c.shards {
		s.Wait(reqs[i])
		out[i] = reqs[i].Stats
		c.putReq(reqs[i])
	}
	return out, nil
}

// backgroundLoop runs fn every interval on its own goroutine until stop is
// closed; the returned channel is closed when the goroutine has exited.
func backgroundLoop(interval time.Duration, stop <-chan struct{}, fn func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return done
}

// Len returns the number of live keys as of each shard's last batch.
func (c *Coordinator[V]) Len() int64 {
	var n int64
	for _, s := range c.shards {
		n += s.Live()
	}
	return n
}

// MemorySplit returns the bytes of old versions and of tombstones in the
// shards' estimates, as of each one's last batch.
func (c *Coordinator[V]) MemorySplit() (old, tombstones int64) {
	for _, s := range c.shards {
		o, t := s.MemorySplit()
		old += o
		tombstones += t
	}
	return old, tombstones
}

// MemoryUsed returns the estimated bytes held by all shards, as of each
// shard's last batch.
func (c *Coordinator[V]) MemoryUsed() int64 {
	var n int64
	for _, s := range c.shards {
		n += s.MemoryUsed()
	}
	return n
}

// WALStats sums the shards' WAL sizes and fsync counts and merges their
// latency histograms (see shard.SyncStats). ok is false in memory.
func (c *Coordinator[V]) WALStats() (bytes, syncs int64, buckets []int64, ok bool) {
	for _, s := range c.shards {
		st := s.SyncStats()
		if st == nil {
			return 0, 0, nil, false
		}
		if buckets == nil {
			buckets = make([]int64, len(st.Buckets))
		}
		bytes += s.WALSize()
		syncs += st.Count.Load()
		for i := range st.Buckets {
			buckets[i] += st.Buckets[i].Load()
		}
	}
	return bytes, syncs, buckets, true
}
