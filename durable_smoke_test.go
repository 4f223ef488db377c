package fluxmap_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/wal"
)

func TestDurableSmokeReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(shards int) *fluxmap.DB[string, int64] {
		db, err := fluxmap.New[string, int64]().Shards(shards).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4096, PoolSize: 2}).
			CheckpointAfterBytes(8192).Build(ctx)
		require.NoError(t, err)
		return db
	}
	db := open(4)
	for i := range 500 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%04d", i), int64(i)))
	}
	for i := 0; i < 500; i += 3 {
		_, ok, err := db.Remove(ctx, fmt.Sprintf("k%04d", i))
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		require.NoError(t, tx.Insert("a", 1))
		return tx.Insert("b", 2)
	}))
	require.NoError(t, db.Checkpoint(ctx))
	require.NoError(t, db.Insert(ctx, "after-ckpt", 7))
	want, err := db.PrefixScan(ctx, "")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	for round, shards := range []int{4, 4, 2, 7} {
		db = open(shards)
		got, err := db.PrefixScan(ctx, "")
		require.NoError(t, err)
		require.Equal(t, want, got, "round %d shards %d", round, shards)
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("r%d", round), int64(round)))
		want, err = db.PrefixScan(ctx, "")
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	db = open(4)
	_, err = fluxmap.New[string, int64]().DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).Build(ctx)
	require.ErrorIs(t, err, wal.ErrLocked, "a directory is open by one database at a time")
	require.NoError(t, db.Close())
}
