package shard

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// ttlClock is a shard wall clock the test sets, counting how often the
// shard reads it.
type ttlClock struct {
	now   atomic.Int64
	reads atomic.Int64
}

func (c *ttlClock) read() int64 { c.reads.Add(1); return c.now.Load() }

// startTTL runs a shard on a clock at time 50 holding "ttl" (deadline 100)
// and "plain" (no deadline), both committed at timestamp 1 or 2.
func startTTL(t *testing.T) (*Shard[string], *ttlClock, uint64) {
	t.Helper()
	c := &ttlClock{}
	c.now.Store(50)
	s, _ := startWith(t, func(cfg *Config[string]) { cfg.Now = c.read })
	blind(t, s, Write[string]{Key: "ttl", Value: "v", Expiry: 100})
	ts := blind(t, s, put("plain", "p"))
	return s, c, ts
}

// Reads with a snapshot time evaluate deadlines at it; reads without one
// use the shard's clock.
func TestReadsEvaluateDeadlinesAtSnapshotTime(t *testing.T) {
	s, c, ts := startTTL(t)
	c.now.Store(150)
	for _, tc := range []struct {
		now  int64
		live bool
	}{{0, false}, {99, true}, {100, false}} {
		_, found := s.ReadAt("ttl", ts, tc.now)
		require.Equal(t, tc.live, found, "get at snapshot time %d", tc.now)

		now := tc.now
		if now == 0 {
			now = c.now.Load() // a scan evaluates every deadline at one time
		}
		want := 1
		if tc.live {
			want = 2
		}
		var cu Cursor[string]
		got := 0
		for s.Seek(&cu, Span{HiInf: true}, ts, now); cu.Valid(); cu.Next() {
			got++
		}
		require.Equal(t, want, got, "scan at snapshot time %d", tc.now)
	}
}

// Validation refuses a read, scanned range or written key whose deadline
// passed between the snapshot's time and the shard's clock, under the
// reason a committed delete there would have; keys without deadlines never
// make it read the clock.
func TestValidationCountsExpirySinceSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name     string
		now      int64 // the snapshot's time
		shardNow int64
		reads    []string
		ranges   []Span
		writes   []Write[string]
		blind    bool
		reason   Reason // when the commit must be refused
		refused  bool
	}{
		{name: "read-expired", now: 60, shardNow: 100, reads: []string{"ttl"}, reason: ReasonStaleRead, refused: true},
		{name: "read-live", now: 60, shardNow: 99, reads: []string{"ttl"}},
		{name: "read-expired-at-snapshot", now: 100, shardNow: 200, reads: []string{"ttl"}},
		{name: "clock-stepped-back", now: 100, shardNow: 60, reads: []string{"ttl"}, reason: ReasonStaleRead, refused: true},
		{name: "no-snapshot-time", now: 0, shardNow: 200, reads: []string{"ttl"}},
		{name: "range", now: 60, shardNow: 100, ranges: []Span{{Lo: "t", Hi: "u"}}, reason: ReasonPhantom, refused: true},
		{name: "write", now: 60, shardNow: 100, writes: []Write[string]{put("ttl", "w")}, reason: ReasonWriteWrite, refused: true},
		{name: "blind-write", now: 60, shardNow: 100, writes: []Write[string]{put("ttl", "w")}, blind: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, ts := startTTL(t)
			c.now.Store(tc.shardNow)
			r := NewRequest[string]()
			r.Kind, r.TS, r.Now, r.Blind = KindCommitOne, ts, tc.now, tc.blind
			r.Reads, r.Ranges = tc.reads, tc.ranges
			r.Writes = append(tc.writes, put("other", "o"))
			s.Do(r)
			if !tc.refused {
				require.NoError(t, r.Err)
				return
			}
			require.ErrorIs(t, r.Err, errs.ErrConflict)
			require.ErrorContains(t, r.Err, "TTL deadline")
			st := NewRequest[string]()
			st.Kind = KindStats
			s.Do(st)
			require.Equal(t, uint64(1), st.Stats.ConflictsBy[tc.reason])
		})
	}

	t.Run("plain-keys-read-no-clock", func(t *testing.T) {
		s, c, ts := startTTL(t)
		before := c.reads.Load()
		r := NewRequest[string]()
		r.Kind, r.TS, r.Now = KindCommitOne, ts, 60
		r.Reads, r.Ranges = []string{"plain"}, []Span{{Lo: "p", Hi: "q"}}
		r.Writes = []Write[string]{put("plain", "q")}
		s.Do(r)
		require.NoError(t, r.Err)
		require.Equal(t, before, c.reads.Load())
	})
}
