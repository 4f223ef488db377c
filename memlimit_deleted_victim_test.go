package fluxmap_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// TestMemDeletedKeyIsNoEvictionVictim: a deleted key leaves the eviction
// order, and a snapshot that still reads its old value must not put it
// back: otherwise, under LFU, the limit would "evict" a key that no longer
// exists (counting it in Stats.Evictions, logging another tombstone) while
// the live keys stay.
func TestMemDeletedKeyIsNoEvictionVictim(t *testing.T) {
	ctx := context.Background()
	db, _ := fourEntryDB(t, fluxmap.LFU)
	insertBig(t, db, "a", "b", "c", "d")
	getAllFound(t, db, "b", "c", "d")
	getAllFound(t, db, "b", "c", "d") // b, c, d are used three times each

	snap := begin(t, db)
	defer snap.Rollback() //nolint:errcheck // test end
	txMustGet(t, snap, "b")
	_, existed, err := db.Remove(ctx, "a")
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, evictValue, txMustGet(t, snap, "a")) // old value: touches the deleted key

	insertBig(t, db, "e") // over the limit: something is evicted
	settleEvictions(t, db)
	st, err := db.Stats()
	require.NoError(t, err)
	present := keysPresent(t, db)
	t.Logf("evictions %d, keys present %v", st.Evictions, present)
	if st.Evictions > 0 {
		// Whatever was evicted must have been a key that existed.
		require.Less(t, len(present), 4, "an eviction was counted but every live key (b c d e) is still present: the victim was the already-deleted key a")
	}
}
