package fluxmap_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// conflictOf requires err to carry a ConflictError and returns it.
func conflictOf(t *testing.T, err error) *fluxmap.ConflictError {
	t.Helper()
	require.ErrorIs(t, err, fluxmap.ErrConflict)
	var ce *fluxmap.ConflictError
	require.True(t, errors.As(err, &ce), "no ConflictError in %v", err)
	return ce
}

func TestConflictErrorWriteWriteAndStaleRead(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[int64, int64]().Shards(4))
	require.NoError(t, db.Insert(ctx, 7, 0))
	require.NoError(t, db.Insert(ctx, 8, 0))

	// Lost update: both read 7 and write it; the second to commit loses.
	t1, err := db.Begin(ctx)
	require.NoError(t, err)
	t2, err := db.Begin(ctx)
	require.NoError(t, err)
	for _, tx := range []*fluxmap.Tx[int64, int64]{t1, t2} {
		_, _, err := tx.Get(7)
		require.NoError(t, err)
		require.NoError(t, tx.Insert(7, 1))
	}
	require.NoError(t, t1.Commit())
	err = t2.Commit()
	ce := conflictOf(t, err)
	require.Equal(t, err.Error(), ce.Error(), "the detail does not change the message")
	require.Contains(t, ce.Error(), "key 7 written by commit")
	require.Equal(t, fluxmap.ConflictWriteWrite, ce.Reason)
	require.Equal(t, int64(7), ce.Key, "the key, decoded to the key type")
	require.Positive(t, ce.Commit)
	require.Less(t, ce.Snapshot, ce.Commit)

	// Write skew's half: t3 read 8 and writes 9; 8 changes meanwhile.
	t3, err := db.Begin(ctx)
	require.NoError(t, err)
	_, _, err = t3.Get(8)
	require.NoError(t, err)
	require.NoError(t, t3.Insert(9, 1))
	require.NoError(t, db.Insert(ctx, 8, 5))
	ce = conflictOf(t, t3.Commit())
	require.Equal(t, fluxmap.ConflictStaleRead, ce.Reason)
	require.Equal(t, int64(8), ce.Key)
	require.Positive(t, ce.Commit)
}

func TestConflictErrorPhantom(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int]().Shards(4))
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	es, err := tx.Range("job/", "job0")
	require.NoError(t, err)
	require.Empty(t, es)
	require.NoError(t, tx.Insert("count", len(es)))
	require.NoError(t, db.Insert(ctx, "job/17", 1))
	ce := conflictOf(t, tx.Commit())
	require.Equal(t, fluxmap.ConflictPhantom, ce.Reason)
	require.Equal(t, "job/17", ce.Key)
}

// TestConflictErrorFromTransaction: Transaction retries conflicts; when
// its context ends it reports the last one, with its detail.
func TestConflictErrorFromTransaction(t *testing.T) {
	db := build(t, fluxmap.New[string, int]().Shards(1))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	read, written := make(chan struct{}, 1), make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { // writes k between every attempt's read and its commit
		for {
			select {
			case <-ctx.Done():
				return
			case <-read:
				if err := db.Insert(context.Background(), "k", 1); err != nil {
					t.Error(err)
					return
				}
				written <- struct{}{} // buffered: never blocks, one per read
			}
		}
	})
	err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int]) error {
		if _, _, err := tx.Get("k"); err != nil {
			return err
		}
		read <- struct{}{}
		select {
		case <-written:
		case <-ctx.Done():
		}
		return tx.Insert("k", 2)
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	ce := conflictOf(t, err)
	require.Equal(t, "k", ce.Key)
	require.Contains(t, []fluxmap.ConflictReason{fluxmap.ConflictWriteWrite, fluxmap.ConflictStaleRead}, ce.Reason)
}

// TestStatsHotKeys makes lost-update conflicts on three keys a known number
// of times each and expects Stats to rank them, decoded to the key type.
func TestStatsHotKeys(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[int64, int64]().Shards(4))
	loseOnce := func(key int64) {
		t1, err := db.Begin(ctx)
		require.NoError(t, err)
		t2, err := db.Begin(ctx)
		require.NoError(t, err)
		for _, tx := range []*fluxmap.Tx[int64, int64]{t1, t2} {
			_, _, err := tx.Get(key)
			require.NoError(t, err)
			require.NoError(t, tx.Insert(key, 1))
		}
		require.NoError(t, t1.Commit())
		conflictOf(t, t2.Commit())
	}
	want := map[int64]uint64{7: 5, 8: 2, 9: 1}
	for k, n := range want {
		for range n {
			loseOnce(k)
		}
	}
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, []fluxmap.HotKey{
		{Key: int64(7), Conflicts: 5},
		{Key: int64(8), Conflicts: 2},
		{Key: int64(9), Conflicts: 1},
	}, st.HotKeys)
}

// TestStatsHotKeysBounded names far more keys in conflicts than the summary
// holds: the list stays at MaxHotKeys, and the hot key, which draws a
// quarter of the conflicts, leads it with a count that bounds the truth.
func TestStatsHotKeysBounded(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[int64, int64]().Shards(1))
	const rounds = 400
	hot := 0
	for i := range rounds {
		key := int64(1000 + i)
		if i%4 == 0 {
			key, hot = 1, hot+1
		}
		t1, err := db.Begin(ctx)
		require.NoError(t, err)
		_, _, err = t1.Get(key)
		require.NoError(t, err)
		require.NoError(t, t1.Insert(key+1_000_000, 1))
		require.NoError(t, db.Insert(ctx, key, int64(i)))
		conflictOf(t, t1.Commit())
	}
	st, err := db.Stats()
	require.NoError(t, err)
	require.Len(t, st.HotKeys, fluxmap.MaxHotKeys)
	top := st.HotKeys[0]
	require.Equal(t, int64(1), top.Key)
	require.GreaterOrEqual(t, top.Conflicts, uint64(hot))
	require.LessOrEqual(t, top.Conflicts-top.Overcount, uint64(hot))
	for _, h := range st.HotKeys[1:] {
		require.LessOrEqual(t, h.Conflicts, top.Conflicts)
	}
}
