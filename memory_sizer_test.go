package fluxmap_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// memTHugeSized is a value whose MemSize reports an absurd size.
type memTHugeSized struct{ n int }

func (h memTHugeSized) MemSize() int { return h.n }

// TestMemHugeMemSizeSaturates: a MemSizer reporting a huge size
// (math.MaxInt) counts as a capped size; it must not wrap the estimate
// negative, which would stop eviction and let Reject admit anything.
func TestMemHugeMemSizeSaturates(t *testing.T) {
	ctx := context.Background()
	for _, p := range []fluxmap.EvictionPolicy{fluxmap.LRU, fluxmap.Reject} {
		t.Run(p.String(), func(t *testing.T) {
			db := build(t, fluxmap.New[string, memTHugeSized]().Shards(1).MaxMemory(1<<20).EvictionPolicy(p))
			err := db.Insert(ctx, "k", memTHugeSized{n: math.MaxInt})
			cur := db.MemoryInfo().Current
			st, serr := db.Stats()
			require.NoError(t, serr)
			t.Logf("Insert err=%v MemoryInfo.Current=%d Stats.Memory.Current=%d", err, cur, st.Memory.Current)
			require.GreaterOrEqual(t, cur, int64(0), "memory estimate went negative")
			if p == fluxmap.Reject {
				require.ErrorIs(t, err, fluxmap.ErrMemoryLimit, "a value reporting MaxInt bytes must not fit a 1 MiB limit")
			}
		})
	}
}

// TestMemLargeMemSizesDoNotWrap: two values whose sizes each fit an
// int64 but whose sum does not wrap the per-shard total.
func TestMemLargeMemSizesDoNotWrap(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, memTHugeSized]().Shards(1))
	require.NoError(t, db.Insert(ctx, "a", memTHugeSized{n: math.MaxInt / 2}))
	require.NoError(t, db.Insert(ctx, "b", memTHugeSized{n: math.MaxInt / 2}))
	cur := db.MemoryInfo().Current
	t.Logf("MemoryInfo.Current=%d", cur)
	require.GreaterOrEqual(t, cur, int64(0), "memory estimate wrapped negative")
}

// TestMemHugeSizerSaturates: same through Builder.Sizer.
func TestMemHugeSizerSaturates(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int64]().Shards(1).MaxMemory(1<<20).EvictionPolicy(fluxmap.Reject).
		Sizer(func(string, int64) int { return math.MaxInt }))
	err := db.Insert(ctx, "k", 1)
	cur := db.MemoryInfo().Current
	t.Logf("Insert err=%v MemoryInfo.Current=%d", err, cur)
	require.GreaterOrEqual(t, cur, int64(0), "memory estimate went negative")
	require.ErrorIs(t, err, fluxmap.ErrMemoryLimit)
}

// memTSizedIface is an interface value type whose dynamic values report their
// size.
type memTSizedIface interface{ MemSize() int }

type memTBigBlob struct{ b []byte }

func (b *memTBigBlob) MemSize() int { return len(b.b) + 32 }

// TestMemInterfaceValueMemSizerCounted: when V is an interface type, the
// values' dynamic types may implement MemSizer (the zero V, a nil
// interface, says nothing), and those values must be counted by it.
func TestMemInterfaceValueMemSizerCounted(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, memTSizedIface]().Shards(1))
	require.NoError(t, db.Insert(ctx, "k", &memTBigBlob{b: make([]byte, 1<<20)}))
	cur := db.MemoryInfo().Current
	t.Logf("MemoryInfo.Current=%d for a value reporting %d bytes", cur, 1<<20+32)
	require.GreaterOrEqual(t, cur, int64(1<<20), "a MemSizer value held in an interface-typed V is not sized")
}

// memTNode is a pointer value whose MemSize reads its receiver, so a nil
// *memTNode panics in MemSize.
type memTNode struct{ payload []byte }

func (n *memTNode) MemSize() int { return len(n.payload) + 24 }

// TestMemSizerPanicDoesNotCrash: value sizes are estimated on the shard
// goroutine, where a panic would kill the process; a MemSize (or Sizer)
// that panics, here on a nil value, counts as size 0 instead.
func TestMemSizerPanicDoesNotCrash(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, *memTNode]().Shards(1))
	require.NoError(t, db.Insert(ctx, "nil", nil))
	require.NoError(t, db.Insert(ctx, "big", &memTNode{payload: make([]byte, 1000)}))
	v, ok, err := db.Get(ctx, "nil")
	require.NoError(t, err)
	require.True(t, ok)
	require.Nil(t, v)
	require.Greater(t, db.MemoryInfo().Current, int64(1000), "the non-nil value is still counted by MemSize")

	sdb := build(t, fluxmap.New[string, int64]().Shards(1).Sizer(func(string, int64) int { panic("sizer bug") }))
	require.NoError(t, sdb.Insert(ctx, "k", 1))
	requireValue(t, sdb, "k", int64(1))
}
