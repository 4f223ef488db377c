package coordinator

import (
	"sync"
	"sync/atomic"

	"github.com/fluxmap/fluxmap/shard"
)

// FeedConfig turns on the change feed: every shard keeps its share of
// Window installed writes (see shard.Feed), and of MaxRetained for
// registered readers.
type FeedConfig struct {
	Window, MaxRetained int
}

// Signal wakes goroutines waiting for commits to become visible. Shards
// call notify after marking timestamps done; while nobody waits that costs
// one atomic load.
type Signal struct {
	waiting atomic.Int32
	mu      sync.Mutex
	ch      chan struct{}
	closed  bool
}

func newSignal() *Signal { return &Signal{ch: make(chan struct{})} }

// Wait registers a waiter and returns the channel that the next notify (or
// close) closes. The caller checks for progress after Wait and before it
// blocks, so a commit done in between is not missed; it calls done when it
// stops waiting.
func (s *Signal) Wait() (ch <-chan struct{}, done func()) {
	s.waiting.Add(1)
	s.mu.Lock()
	ch = s.ch
	s.mu.Unlock()
	return ch, func() { s.waiting.Add(-1) }
}

func (s *Signal) notify() {
	if s.waiting.Load() == 0 {
		return
	}
	s.mu.Lock()
	if !s.closed {
		close(s.ch)
		s.ch = make(chan struct{})
	}
	s.mu.Unlock()
}

// close wakes every waiter for good.
func (s *Signal) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	s.mu.Unlock()
}

// Feeds returns the shards' change feeds, nil without FeedConfig.
func (c *Coordinator[V]) Feeds() []*shard.Feed[V] { return c.feeds }

// CommitSignal returns the signal shards notify after commits are done.
func (c *Coordinator[V]) CommitSignal() *Signal { return c.signal }

// loadHistory gives a shard's feed the commits recovery read from its log.
func loadHistory[V any](f *shard.Feed[V], recs []logRecord[V]) {
	for _, r := range recs {
		for i, w := range r.writes {
			fr := shard.FeedRecord[V]{TS: r.ts, Key: w.Key, Value: w.Value, Expiry: w.Expiry, Tombstone: w.Tombstone}
			if r.causes != nil {
				fr.Cause = r.causes[i]
			}
			f.Append(fr)
		}
	}
	f.Trim()
}
