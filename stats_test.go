package fluxmap_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

func TestStatsCountsConflictsRetriesAndWAL(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int64]().Shards(2).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()}))
	require.NoError(t, db.Insert(ctx, "x", 1))
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	_, _, err = tx.Get("x")
	require.NoError(t, err)
	require.NoError(t, tx.Insert("x", 2))
	require.NoError(t, db.Insert(ctx, "x", 3)) // commits first
	require.ErrorIs(t, tx.Commit(), fluxmap.ErrConflict)

	attempts := 0
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		attempts++
		v, _, err := tx.Get("x")
		if err != nil {
			return err
		}
		if attempts == 1 {
			require.NoError(t, db.Insert(ctx, "x", 10)) // forces one retry
		}
		return tx.Insert("x", v+1)
	}))

	st, err := db.Stats()
	require.NoError(t, err)
	require.Len(t, st.Shards, 2)
	require.GreaterOrEqual(t, st.Conflicts, uint64(2))
	require.Equal(t, st.Conflicts, st.ConflictsBy["stale-read"]+st.ConflictsBy["write-write"]+
		st.ConflictsBy["locked"]+st.ConflictsBy["phantom"])
	require.Equal(t, uint64(1), st.Retries)
	require.NotNil(t, st.WAL)
	require.Positive(t, st.WAL.Bytes)
	require.GreaterOrEqual(t, st.WAL.Syncs, int64(4), "Full durability fsyncs every commit's batch")
	require.Positive(t, st.WAL.SyncP50)
	require.LessOrEqual(t, st.WAL.SyncP50, st.WAL.SyncP99)
	require.LessOrEqual(t, st.WAL.SyncP99, st.WAL.SyncP999)

	mem := build(t, fluxmap.New[string, int64]().Shards(2))
	st, err = mem.Stats()
	require.NoError(t, err)
	require.Nil(t, st.WAL, "no WAL in memory")
	require.NoError(t, mem.Close())
	_, err = mem.Stats()
	require.ErrorIs(t, err, fluxmap.ErrClosed)
}
