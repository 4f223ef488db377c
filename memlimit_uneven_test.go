package fluxmap

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMemLimitUnevenShardsUseTheBudget writes keys that nearly all hash to
// one of four shards: a quarter of the limit each would leave that shard
// evicting while three quarters of the budget sat empty. The shards share
// the limit, so the busy one holds most of it while the total stays near
// the limit; once the others fill their shares again, it gives back.
func TestMemLimitUnevenShardsUseTheBudget(t *testing.T) {
	ctx := context.Background()
	const limit = 1 << 20
	val := strings.Repeat("u", 200)
	db, err := New[string, string]().Shards(4).MaxMemory(limit).Build(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	// keys returns n keys of shard want (or of any other shard, for want < 0).
	next := 0
	keys := func(n, want int) []string {
		var ks []string
		for len(ks) < n {
			k := fmt.Sprintf("u%08d", next)
			next++
			if sh := db.coord.ShardOf(k); sh == want || (want < 0 && sh != 0) {
				ks = append(ks, k)
			}
		}
		return ks
	}
	// What a key costs, from the estimate of the first thousand.
	first := keys(1000, 0)
	for _, k := range first {
		require.NoError(t, db.Insert(ctx, k, val))
	}
	keyCost := db.MemoryInfo().Current / 1000
	fits := int(limit / keyCost)

	// 95% of the writes go to shard 0.
	for i, k := range keys(8*fits, 0) {
		require.NoError(t, db.Insert(ctx, k, val))
		if i%19 == 0 {
			require.NoError(t, db.Insert(ctx, keys(1, -1)[0], val))
		}
	}
	mi := db.MemoryInfo()
	require.LessOrEqual(t, mi.Current, int64(limit*11/10), "the total stays near the limit")
	require.GreaterOrEqual(t, db.Len(), fits*9/10, "live keys fill the limit (estimate %d)", mi.Current)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Greater(t, st.Shards[0].Bytes, int64(limit/2), "the busy shard holds more than its quarter")

	// The other shards now take a fifth of the limit, less than their
	// shares, while the busy one gets no writes: they must ask it to give
	// back what it borrowed.
	for _, k := range keys(fits/5, -1) {
		require.NoError(t, db.Insert(ctx, k, val))
	}
	require.Eventually(t, func() bool { return db.MemoryInfo().Current <= limit*11/10 }, 5*time.Second, time.Millisecond,
		"the total comes back near the limit with no write to the busy shard")
	require.GreaterOrEqual(t, db.Len(), fits*9/10, "live keys fill the limit (estimate %d)", db.MemoryInfo().Current)
}
