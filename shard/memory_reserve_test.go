package shard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/evict"
)

func memTStartShard(t *testing.T, cfg Memory[string]) (*Shard[string], *fakeClock) {
	t.Helper()
	return startWith(t, func(s *Shard[string]) { s.SetMemory(cfg) })
}

// TestMemRejectReservesPreparedRoom: under Reject, a prepared transaction
// reserves the room its writes will take, so a second one that fits only
// without the first is refused at prepare, and the reservation is given
// back when the first commits or aborts.
func TestMemRejectReservesPreparedRoom(t *testing.T) {
	big := strings.Repeat("x", 1000)
	s, _ := memTStartShard(t, Memory[string]{
		Budget:    1500, // one big entry fits, two do not
		Policy:    evict.Reject,
		ValueSize: func(_ string, v string) int64 { return int64(len(v)) },
	})

	a, b := NewRequest[string](), NewRequest[string]()
	a.Kind, a.TS, a.Writes = KindPrepare, 0, []Write[string]{{Key: "a", Value: big}}
	b.Kind, b.TS, b.Writes = KindPrepare, 0, []Write[string]{{Key: "b", Value: big}}
	s.Do(a)
	require.NoError(t, a.Err)
	s.Do(b)
	if b.Err != nil {
		// Correct behaviour: the second prepare is refused.
		require.ErrorContains(t, b.Err, "memory")
		return
	}
	a.Kind, a.TS = KindCommit, 10
	b.Kind, b.TS = KindCommit, 11
	a.Participants, b.Participants = []uint32{0}, []uint32{0}
	CommitGroup([]*Request[string]{a})
	CommitGroup([]*Request[string]{b})
	s.Do(a)
	s.Do(b)
	require.NoError(t, a.Err)
	require.NoError(t, b.Err)
	r := NewRequest[string]()
	r.Kind = KindStats
	s.Do(r)
	t.Logf("budget 1500, bytes after both commits %d", r.Stats.Bytes)
	require.LessOrEqual(t, r.Stats.Bytes, int64(1500), "Reject let the shard exceed its budget")
}

// TestMemRejectFastPathCountsPrepared: a fast-path commit counts the room
// a prepared transaction holds but has not installed yet.
func TestMemRejectFastPathCountsPrepared(t *testing.T) {
	big := strings.Repeat("x", 1000)
	s, _ := memTStartShard(t, Memory[string]{
		Budget:    1500,
		Policy:    evict.Reject,
		ValueSize: func(_ string, v string) int64 { return int64(len(v)) },
	})
	a := NewRequest[string]()
	a.Kind, a.TS, a.Writes = KindPrepare, 0, []Write[string]{{Key: "a", Value: big}}
	s.Do(a)
	require.NoError(t, a.Err)
	f := NewRequest[string]()
	f.Kind, f.Blind, f.Writes = KindCommitOne, true, []Write[string]{{Key: "f", Value: big}}
	s.Do(f)
	if f.Err != nil {
		return // refused: correct
	}
	a.Kind, a.TS, a.Participants = KindCommit, 100, []uint32{0}
	CommitGroup([]*Request[string]{a})
	s.Do(a)
	require.NoError(t, a.Err)
	r := NewRequest[string]()
	r.Kind = KindStats
	s.Do(r)
	t.Logf("budget 1500, bytes %d", r.Stats.Bytes)
	require.LessOrEqual(t, r.Stats.Bytes, int64(1500), "Reject let the shard exceed its budget")
}
