package shard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/evict"
	"github.com/fluxmap/fluxmap/internal/errs"
)

func memTStartShard(t *testing.T, cfg Memory[string]) (*Shard[string], *fakeClock) {
	t.Helper()
	return startWith(t, func(c *Config[string]) { c.Memory = cfg })
}

// rejectShard starts a shard whose Reject budget holds one 1000-byte value
// but not two.
func rejectShard(t *testing.T) *Shard[string] {
	t.Helper()
	s, _ := memTStartShard(t, Memory[string]{
		Budget:    1500,
		Policy:    evict.Reject,
		ValueSize: func(_ string, v string) int64 { return int64(len(v)) },
	})
	return s
}

// do sends one request of kind k for writes of key = big and returns it.
func do(t *testing.T, s *Shard[string], r *Request[string], k Kind, ts uint64, key string) *Request[string] {
	t.Helper()
	if r == nil {
		r = NewRequest[string]()
		r.Writes = []Write[string]{{Key: key, Value: strings.Repeat("x", 1000)}}
		r.Participants = []uint32{0}
	}
	r.Kind, r.TS = k, ts
	if k == KindCommit {
		CommitGroup([]*Request[string]{r})
	}
	s.Do(r)
	return r
}

func shardBytes(t *testing.T, s *Shard[string]) int64 {
	t.Helper()
	r := NewRequest[string]()
	r.Kind = KindStats
	s.Do(r)
	return r.Stats.Bytes
}

// TestMemRejectReservesPreparedRoom: under Reject, a prepared transaction
// reserves the room its writes will take, so a second one that fits only
// without the first is refused at prepare, and the reservation is given
// back when the first aborts or commits.
func TestMemRejectReservesPreparedRoom(t *testing.T) {
	s := rejectShard(t)
	a := do(t, s, nil, KindPrepare, 0, "a")
	require.NoError(t, a.Err)
	b := do(t, s, nil, KindPrepare, 0, "b")
	require.ErrorIs(t, b.Err, errs.ErrMemoryLimit, "a's reservation leaves no room for b")

	do(t, s, a, KindAbort, 0, "")
	b = do(t, s, nil, KindPrepare, 0, "b")
	require.NoError(t, b.Err, "the abort gave a's room back")
	do(t, s, b, KindCommit, 10, "")
	require.NoError(t, b.Err)
	require.LessOrEqual(t, shardBytes(t, s), int64(1500))

	c := do(t, s, nil, KindPrepare, 0, "c")
	require.ErrorIs(t, c.Err, errs.ErrMemoryLimit, "b's bytes are installed now")
}

// TestMemRejectFastPathCountsPrepared: a fast-path commit counts the room
// a prepared transaction holds but has not installed yet.
func TestMemRejectFastPathCountsPrepared(t *testing.T) {
	s := rejectShard(t)
	a := do(t, s, nil, KindPrepare, 0, "a")
	require.NoError(t, a.Err)
	f := NewRequest[string]()
	f.Kind, f.Blind, f.Writes = KindCommitOne, true, []Write[string]{{Key: "f", Value: strings.Repeat("x", 1000)}}
	s.Do(f)
	require.ErrorIs(t, f.Err, errs.ErrMemoryLimit)
	do(t, s, a, KindCommit, 100, "")
	require.NoError(t, a.Err)
	require.LessOrEqual(t, shardBytes(t, s), int64(1500))
}
