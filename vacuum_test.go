package fluxmap_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

func totalVersions(t *testing.T, db *fluxmap.DB[string, int64]) (keys, versions int) {
	t.Helper()
	st, err := db.Stats()
	require.NoError(t, err)
	for _, s := range st.Shards {
		keys += s.Keys
		versions += s.Versions
	}
	return keys, versions
}

func TestVacuumKeepsPinnedSnapshots(t *testing.T) {
	forEachShardCount(t, func(t *testing.T, shards int) {
		ctx := context.Background()
		db := build(t, fluxmap.New[string, int64]().Shards(shards))
		require.NoError(t, db.Insert(ctx, "k", 1))
		require.NoError(t, db.Insert(ctx, "gone", 1))
		old, err := db.Begin(ctx) // pins k=1, gone=1
		require.NoError(t, err)
		defer old.Rollback()
		require.NoError(t, db.Insert(ctx, "k", 2))
		_, _, err = db.Remove(ctx, "gone")
		require.NoError(t, err)
		mid, err := db.Begin(ctx) // pins k=2, gone absent
		require.NoError(t, err)
		defer mid.Rollback()
		for i := 3; i < 50; i++ {
			require.NoError(t, db.Insert(ctx, "k", int64(i)))
			_, err := db.Vacuum(ctx)
			require.NoError(t, err)
		}
		v, ok, err := old.Get("k")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, int64(1), v)
		v, ok, err = old.Get("gone")
		require.NoError(t, err)
		require.True(t, ok, "the older snapshot still sees the deleted key")
		require.Equal(t, int64(1), v)
		v, _, err = mid.Get("k")
		require.NoError(t, err)
		require.Equal(t, int64(2), v)
		_, ok, err = mid.Get("gone")
		require.NoError(t, err)
		require.False(t, ok)
		st, err := db.Stats()
		require.NoError(t, err)
		require.Greater(t, st.OldestSnapshotAge, time.Duration(0))

		require.NoError(t, old.Rollback())
		require.NoError(t, mid.Rollback())
		vs, err := db.Vacuum(ctx)
		require.NoError(t, err)
		require.Positive(t, vs.Versions)
		require.Equal(t, uint64(1), vs.Keys, "the deleted key is removed once nobody can read it")
		keys, versions := totalVersions(t, db)
		require.Equal(t, 1, keys)
		require.Equal(t, 1, versions, "one live version is all that is left")
		v, ok, err = db.Get(ctx, "k")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, int64(49), v)
		_, ok, err = db.Get(ctx, "gone")
		require.NoError(t, err)
		require.False(t, ok, "vacuum never resurrects a deleted key")
	})
}

func TestVacuumNeverResurrectsRolledBackOrDeleted(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int64]().Shards(4))
	for i := range 100 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%03d", i), int64(i)))
	}
	for i := 0; i < 100; i += 2 {
		_, _, err := db.Remove(ctx, fmt.Sprintf("k%03d", i))
		require.NoError(t, err)
	}
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Insert("rolled-back", 1))
	require.NoError(t, tx.Rollback())
	for range 3 {
		_, err := db.Vacuum(ctx)
		require.NoError(t, err)
	}
	es, err := db.PrefixScan(ctx, "")
	require.NoError(t, err)
	require.Len(t, es, 50)
	for _, e := range es {
		require.Equal(t, int64(1), e.Value%2, "only odd keys survive: %v", e)
	}
	keys, versions := totalVersions(t, db)
	require.Equal(t, 50, keys)
	require.Equal(t, 50, versions)
}

// TestVacuumConcurrentWithReaders runs auto vacuum aggressively while
// writers overwrite keys and readers check that a snapshot is stable.
func TestVacuumConcurrentWithReaders(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int64]().Shards(4).AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond}))
	const n = 64
	for i := range n {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%02d", i), 0))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Go(func() {
			for i := int64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Every key holds the same value after each commit.
				require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
					for k := range n {
						if err := tx.Insert(fmt.Sprintf("k%02d", k), i*10+int64(w)); err != nil {
							return err
						}
					}
					return nil
				}))
			}
		})
	}
	for range 30 {
		require.NoError(t, db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			first, _, err := tx.Get("k00")
			require.NoError(t, err)
			time.Sleep(2 * time.Millisecond) // let vacuum run while the snapshot is open
			es, err := tx.PrefixScan("k")
			require.NoError(t, err)
			require.Len(t, es, n)
			for _, e := range es {
				require.Equal(t, first, e.Value, "snapshot torn by vacuum at %s", e.Key)
			}
			return nil
		}))
	}
	close(stop)
	wg.Wait()
	st, err := db.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Vacuum.Passes)
}
