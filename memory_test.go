package fluxmap_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

// TestMemoryLimitSeedExample is the seed's example: two long values, touch
// key1, insert key3: key2 (least recently used) is gone, key1 stays.
func TestMemoryLimitSeedExample(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("x", 1000)
	// One shard, so the whole limit is one budget: room for two entries of
	// ~1.2 KiB each (value, key, node and version overhead), not three.
	db := build(t, fluxmap.New[string, string]().Shards(1).MaxMemory(3000))
	require.NoError(t, db.Insert(ctx, "key1", long))
	require.NoError(t, db.Insert(ctx, "key2", long))
	_, ok, err := db.Get(ctx, "key1") // key1 is now the most recently used
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, db.Insert(ctx, "key3", long))
	_, ok, err = db.Get(ctx, "key2")
	require.NoError(t, err)
	require.False(t, ok, "key2 was the least recently used")
	for _, k := range []string{"key1", "key3"} {
		_, ok, err = db.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, k)
	}
	mi := db.MemoryInfo()
	require.Equal(t, int64(3000), mi.Max)
	require.LessOrEqual(t, mi.Current, mi.Max)
	require.Positive(t, mi.Current)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Evictions)
}

func TestMemoryLimitLFU(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("x", 1000)
	db := build(t, fluxmap.New[string, string]().Shards(1).MaxMemory(3000).EvictionPolicy(fluxmap.LFU))
	require.NoError(t, db.Insert(ctx, "hot", long))
	require.NoError(t, db.Insert(ctx, "cold", long))
	for range 5 {
		_, _, err := db.Get(ctx, "hot")
		require.NoError(t, err)
	}
	_, _, err := db.Get(ctx, "cold") // most recent, but used less often
	require.NoError(t, err)
	require.NoError(t, db.Insert(ctx, "new", long))
	_, ok, err := db.Get(ctx, "cold")
	require.NoError(t, err)
	require.False(t, ok, "LFU evicts the least frequently used key")
	_, ok, err = db.Get(ctx, "hot")
	require.NoError(t, err)
	require.True(t, ok)
}

func TestMemoryLimitRejectChangesNothing(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("x", 1000)
	db := build(t, fluxmap.New[string, string]().Shards(1).MaxMemory(3000).EvictionPolicy(fluxmap.Reject))
	require.NoError(t, db.Insert(ctx, "key1", long))
	require.NoError(t, db.Insert(ctx, "key2", long))
	before := db.MemoryInfo().Current
	require.ErrorIs(t, db.Insert(ctx, "key3", long), fluxmap.ErrMemoryLimit)
	err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
		if err := tx.Insert("key1", "small"); err != nil {
			return err
		}
		return tx.Insert("key4", long)
	})
	require.ErrorIs(t, err, fluxmap.ErrMemoryLimit)
	require.NotErrorIs(t, err, fluxmap.ErrConflict, "not retried as a conflict")
	es, err := db.PrefixScan(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []fluxmap.Entry[string, string]{{Key: "key1", Value: long}, {Key: "key2", Value: long}}, es)
	require.Equal(t, before, db.MemoryInfo().Current)
	// Overwriting with something smaller still fits.
	require.NoError(t, db.Insert(ctx, "key1", "small"))
}

func TestEvictByHandAndSnapshots(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int64]().Shards(4))
	require.NoError(t, db.Insert(ctx, "k", 1))
	snap, err := db.Begin(ctx)
	require.NoError(t, err)
	defer snap.Rollback()
	_, _, err = snap.Get("k")
	require.NoError(t, err)
	require.NoError(t, snap.Insert("other", 1))

	ok, err := db.Evict(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = db.Evict(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok, "already gone")
	_, ok, err = db.Get(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok)
	v, ok, err := snap.Get("k")
	require.NoError(t, err)
	require.True(t, ok, "an open snapshot still reads the evicted key")
	require.Equal(t, int64(1), v)
	require.ErrorIs(t, snap.Commit(), fluxmap.ErrConflict, "a transaction that read an evicted key conflicts")
}

// TestMemoryLimitSteadyState runs the bank workload under a tight limit
// with auto vacuum: the sum is preserved for the accounts that were never
// evicted... so instead each transfer moves value between two keys that it
// writes fresh, and the check is on the estimate staying near the limit.
func TestMemoryLimitSteadyState(t *testing.T) {
	ctx := context.Background()
	const limit = 64 << 10
	db := build(t, fluxmap.New[string, string]().Shards(4).MaxMemory(limit).
		AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond}))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 1500 {
				k := fmt.Sprintf("w%d-%d", w, i%700)
				require.NoError(t, db.Insert(ctx, k, strings.Repeat("v", 100)))
			}
		})
	}
	wg.Wait()
	_, err := db.Vacuum(ctx)
	require.NoError(t, err)
	mi := db.MemoryInfo()
	require.LessOrEqual(t, mi.Current, int64(limit*11/10), "estimate stays within 10%% of the limit")
	st, err := db.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Evictions)
	keys := 0
	for _, s := range st.Shards {
		keys += s.Keys
	}
	require.Positive(t, keys)
}

func TestTTL(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := fluxmap.New[string, int64]().Shards(4)
	txhook.SetClock(b, clock)
	db := build(t, b)
	require.NoError(t, db.InsertWithTTL(ctx, "short", 1, time.Second))
	require.NoError(t, db.InsertWithTTL(ctx, "long", 2, time.Hour))
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		return tx.InsertWithTTL("tx", 3, time.Second)
	}))
	require.Error(t, db.InsertWithTTL(ctx, "bad", 1, 0))
	es, err := db.PrefixScan(ctx, "")
	require.NoError(t, err)
	require.Len(t, es, 3)
	advance(2 * time.Second)
	for _, k := range []string{"short", "tx"} {
		_, ok, err := db.Get(ctx, k)
		require.NoError(t, err)
		require.False(t, ok, "%s expired", k)
	}
	es, err = db.PrefixScan(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []fluxmap.Entry[string, int64]{{Key: "long", Value: 2}}, es)
	_, err = db.Vacuum(ctx) // turns the expired values into committed deletes
	require.NoError(t, err)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(2), st.Expirations)
	_, err = db.Vacuum(ctx) // and then removes them
	require.NoError(t, err)
	keys := 0
	for _, s := range st.Shards {
		keys += s.Keys
	}
	st, err = db.Stats()
	require.NoError(t, err)
	keys = 0
	for _, s := range st.Shards {
		keys += s.Keys
	}
	require.Equal(t, 1, keys)
}

func TestEvictionAndTTLSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Unix(2_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	open := func() *fluxmap.DB[string, string] {
		b := fluxmap.New[string, string]().Shards(1).MaxMemory(3000).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir})
		txhook.SetClock(b, clock)
		db, err := b.Build(ctx)
		require.NoError(t, err)
		return db
	}
	long := strings.Repeat("x", 1000)
	db := open()
	require.NoError(t, db.Insert(ctx, "key1", long))
	require.NoError(t, db.Insert(ctx, "key2", long))
	require.NoError(t, db.Insert(ctx, "key3", long)) // evicts key1
	require.NoError(t, db.InsertWithTTL(ctx, "ttl", "v", time.Minute))
	_, ok, err := db.Get(ctx, "key1")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, db.Close())

	db = open()
	_, ok, err = db.Get(ctx, "key1")
	require.NoError(t, err)
	require.False(t, ok, "an evicted key stays gone after a restart")
	v, ok, err := db.Get(ctx, "ttl")
	require.NoError(t, err)
	require.True(t, ok, "the TTL has not passed yet")
	require.Equal(t, "v", v)
	require.NoError(t, db.Close())

	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	db = open()
	defer func() { require.NoError(t, db.Close()) }()
	_, ok, err = db.Get(ctx, "ttl")
	require.NoError(t, err)
	require.False(t, ok, "the deadline is absolute and survives a restart")
}
