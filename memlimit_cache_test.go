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

// cacheValue is the value every cache test stores.
var cacheValue = strings.Repeat("s", 200)

// cacheKeyCost returns what one key holding cacheValue costs in the
// estimate, as the mean over keys written into a database with no limit.
func cacheKeyCost(t *testing.T, shards int) int64 {
	t.Helper()
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(shards))
	const n = 2000
	for i := range n {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("session%08d", i), cacheValue))
	}
	return db.MemoryInfo().Current / n
}

// checkCacheFull requires what a cache at its limit must show: the
// estimate within 10% above the limit, and live keys filling at least 90%
// of what the limit fits.
func checkCacheFull(t *testing.T, db *fluxmap.DB[string, string], limit, keyCost int64, at string) {
	t.Helper()
	cur := db.MemoryInfo().Current
	require.LessOrEqual(t, cur, limit+limit/10, "%s: the estimate passed the limit by more than 10%%", at)
	fits := limit / keyCost
	live := int64(db.Len())
	require.GreaterOrEqual(t, live, fits*9/10,
		"%s: %d live keys where the limit fits %d (estimate %d of %d)", at, live, fits, cur, limit)
}

// TestMemLimitCacheStaysFull: a cache with a limit, the default LRU policy
// and nothing else configured (no vacuum), given a stream of new keys far
// past what fits. Evicted keys must not leave behind what crowds live keys
// out: sampled through the run, the estimate stays near the limit and live
// keys fill it.
func TestMemLimitCacheStaysFull(t *testing.T) {
	ctx := context.Background()
	const limit = 1 << 20
	keyCost := cacheKeyCost(t, 2)
	fits := int(limit / keyCost)
	db := build(t, fluxmap.New[string, string]().Shards(2).MaxMemory(limit))
	for i := range 15 * fits {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("session%08d", i), cacheValue))
		if i >= 2*fits && i%(fits/4) == 0 {
			checkCacheFull(t, db, limit, keyCost, fmt.Sprintf("after %d inserts", i+1))
		}
	}
}

// TestMemLimitCacheComesBackAfterView holds a View open while the cache
// churns: what the View may read cannot be reclaimed, so the estimate may
// grow while it is open, but once it closes the cache must return to its
// limit, full of live keys, with no vacuum configured.
func TestMemLimitCacheComesBackAfterView(t *testing.T) {
	ctx := context.Background()
	const limit = 1 << 20
	keyCost := cacheKeyCost(t, 2)
	fits := int(limit / keyCost)
	db := build(t, fluxmap.New[string, string]().Shards(2).MaxMemory(limit))
	next := 0
	insert := func(n int) {
		for range n {
			require.NoError(t, db.Insert(ctx, fmt.Sprintf("session%08d", next), cacheValue))
			next++
		}
	}
	insert(2 * fits)
	checkCacheFull(t, db, limit, keyCost, "before the View")

	opened, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- db.View(ctx, func(tx *fluxmap.Tx[string, string]) error {
			close(opened)
			<-release
			// The View still reads its snapshot: the first key it saw.
			_, ok, err := tx.Get(fmt.Sprintf("session%08d", 2*fits-1))
			if err == nil && !ok {
				err = fmt.Errorf("the View lost a key of its snapshot")
			}
			return err
		})
	}()
	<-opened
	insert(3 * fits)
	close(release)
	require.NoError(t, <-done)

	insert(2 * fits)
	checkCacheFull(t, db, limit, keyCost, "after the View closed")
}

// TestMemoryInfoSplit follows the three parts of the estimate and Len
// through overwrites, deletes and a vacuum, against a fresh database that
// holds only the surviving data.
func TestMemoryInfoSplit(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(2))
	for i := range 10 {
		require.NoError(t, db.Insert(ctx, fmt.Sprint("k", i), cacheValue))
	}
	mi := db.MemoryInfo()
	require.Equal(t, fluxmap.MemoryInfo{Current: mi.Current, Live: mi.Current}, mi, "only live data")
	require.Equal(t, 10, db.Len())

	require.NoError(t, db.Insert(ctx, "k0", "short")) // the 200-byte version is now old
	_, _, err := db.Remove(ctx, "k1")
	require.NoError(t, err)
	mi = db.MemoryInfo()
	require.Equal(t, 9, db.Len())
	require.Positive(t, mi.OldVersions)
	require.Positive(t, mi.Tombstones)
	require.Equal(t, mi.Current, mi.Live+mi.OldVersions+mi.Tombstones)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, mi, st.Memory, "Stats and MemoryInfo agree")
	keys, deleted := 0, 0
	for _, s := range st.Shards {
		keys += s.Keys
		deleted += s.Deleted
	}
	require.Equal(t, 9, keys)
	require.Equal(t, 1, deleted)

	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	mi = db.MemoryInfo()
	require.Zero(t, mi.OldVersions)
	require.Zero(t, mi.Tombstones)

	fresh := build(t, fluxmap.New[string, string]().Shards(2))
	require.NoError(t, fresh.Insert(ctx, "k0", "short"))
	for i := 2; i < 10; i++ {
		require.NoError(t, fresh.Insert(ctx, fmt.Sprint("k", i), cacheValue))
	}
	require.Equal(t, fresh.MemoryInfo(), mi, "the same data, estimated the same")
	require.Equal(t, 9, db.Len())
}

// TestMemLimitExpiredGoBeforeLive fills half the limit with keys whose TTL
// then runs out and writes more live keys than the other half holds: the
// shard deletes the expired keys itself, with no vacuum configured, before
// it evicts anything live.
func TestMemLimitExpiredGoBeforeLive(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	b := fluxmap.New[string, string]().Shards(1)
	keyCost := cacheKeyCost(t, 1)
	fits := int(1<<18) / int(keyCost)
	b.MaxMemory(1 << 18)
	txhook.SetClock(b, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	db := build(t, b)
	for i := range fits / 2 {
		require.NoError(t, db.InsertWithTTL(ctx, fmt.Sprintf("session%08d", i), cacheValue, time.Minute))
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	live := fits * 3 / 4
	for i := range live {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("session%08d", fits+i), cacheValue))
	}
	st, err := db.Stats()
	require.NoError(t, err)
	require.Zero(t, st.Evictions, "a live key was evicted while expired ones were held")
	require.Positive(t, st.Expirations)
	require.Equal(t, live, db.Len())
	require.LessOrEqual(t, db.MemoryInfo().Current, int64(1<<18)*11/10)
}
