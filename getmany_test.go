package fluxmap_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// TestGetManyMatchesGet reads a mix of keys with one GetMany call: keys
// spread over the shards, missing keys, keys the transaction wrote or
// deleted itself, and a repeated key. Every answer must equal Get's, in
// the order of the keys, under shard counts that take both of GetMany's
// bookkeeping paths (up to 16 shards, and more).
func TestGetManyMatchesGet(t *testing.T) {
	for _, shards := range []int{1, 4, 16, 20} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			ctx := context.Background()
			db := newStringDB(t, shards)
			for i := range 40 {
				require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%02d", i), int64(i)))
			}
			tx, err := db.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback()                       //nolint:errcheck // ended by Commit below
			require.NoError(t, tx.Insert("k03", 300)) // own write of an existing key
			require.NoError(t, tx.Insert("new", 7))   // own write of a new key
			_, _, err = tx.Remove("k05")              // own delete
			require.NoError(t, err)

			var keys []string
			for i := range 40 {
				keys = append(keys, fmt.Sprintf("k%02d", i))
			}
			keys = append(keys, "missing", "new", "k07", "k05")
			vals := make([]int64, len(keys))
			found := make([]bool, len(keys))
			require.NoError(t, tx.GetMany(keys, vals, found))
			for i, k := range keys {
				v, ok, err := tx.Get(k)
				require.NoError(t, err)
				require.Equal(t, ok, found[i], "found for %q", k)
				require.Equal(t, v, vals[i], "value for %q", k)
			}
			require.Equal(t, int64(300), vals[3])
			require.False(t, found[5], "the transaction's own delete hides k05")
			require.Equal(t, []bool{false, true, true, false}, found[40:])
			require.NoError(t, tx.Commit())
		})
	}
}

// TestGetManyLargeCall reads more keys than one round carries (several
// rounds, on a database with more shards than GetMany's fixed counters)
// and gets every answer in place.
func TestGetManyLargeCall(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int64]().Shards(20))
	const n = 1000
	keys := make([]string, 0, n)
	for i := range n {
		k := fmt.Sprintf("key%04d", i)
		keys = append(keys, k)
		if i%3 != 0 { // every third key is missing
			require.NoError(t, db.Insert(ctx, k, int64(i)))
		}
	}
	err := db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		vals, found := make([]int64, n), make([]bool, n)
		if err := tx.GetMany(keys, vals, found); err != nil {
			return err
		}
		for i := range n {
			require.Equal(t, i%3 != 0, found[i], "found for %s", keys[i])
			if found[i] {
				require.Equal(t, int64(i), vals[i], "value for %s", keys[i])
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// TestGetManySmallNeedsNoShard covers a call whose keys are all in the
// write set (no shard is asked) and an empty call.
func TestGetManySmallNeedsNoShard(t *testing.T) {
	db := newStringDB(t, 4)
	tx, err := db.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck // only reads
	require.NoError(t, tx.Insert("a", 1))
	vals, found := make([]int64, 2), make([]bool, 2)
	require.NoError(t, tx.GetMany([]string{"a", "a"}, vals, found))
	require.Equal(t, []int64{1, 1}, vals)
	require.Equal(t, []bool{true, true}, found)
	require.NoError(t, tx.GetMany(nil, nil, nil))
}

// TestGetManyBadArguments: result slices of the wrong length, and a
// finished transaction, get clear errors and touch nothing.
func TestGetManyBadArguments(t *testing.T) {
	ctx := context.Background()
	db := newStringDB(t, 4)
	require.NoError(t, db.Insert(ctx, "a", 1))
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	vals := []int64{-1}
	found := []bool{false, false}
	err = tx.GetMany([]string{"a", "b"}, vals, found)
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	require.Equal(t, []int64{-1}, vals, "nothing is written on a bad call")
	require.NoError(t, tx.Commit())
	err = tx.GetMany([]string{"a"}, make([]int64, 1), make([]bool, 1))
	require.ErrorIs(t, err, fluxmap.ErrTxnDone)
}

// TestGetManyRecordsReads: keys read with GetMany are validated at commit
// like keys read with Get, so the classic write skew (each transaction
// reads both keys and writes the other one) commits only one of the two.
func TestGetManyRecordsReads(t *testing.T) {
	ctx := context.Background()
	forEachShardCount(t, func(t *testing.T, shards int) {
		db := newStringDB(t, shards)
		require.NoError(t, db.Insert(ctx, "x", 1))
		require.NoError(t, db.Insert(ctx, "y", 1))
		t1, err := db.Begin(ctx)
		require.NoError(t, err)
		t2, err := db.Begin(ctx)
		require.NoError(t, err)
		vals, found := make([]int64, 2), make([]bool, 2)
		require.NoError(t, t1.GetMany([]string{"x", "y"}, vals, found))
		require.NoError(t, t2.GetMany([]string{"x", "y"}, vals, found))
		require.NoError(t, t1.Insert("x", 0))
		require.NoError(t, t2.Insert("y", 0))
		require.NoError(t, t1.Commit())
		require.ErrorIs(t, t2.Commit(), fluxmap.ErrConflict)
	})
}
