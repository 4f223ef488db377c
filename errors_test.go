package fluxmap_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// TestErrorMessagesHaveOnePrefix: the errors of common misuses start with
// "fluxmap: " once, not once per layer that wrapped them, and still wrap
// their sentinel.
func TestErrorMessagesHaveOnePrefix(t *testing.T) {
	ctx := context.Background()
	type named struct {
		what     string
		err      error
		sentinel error
	}
	var got []named
	add := func(what string, sentinel, err error) {
		got = append(got, named{what, err, sentinel})
	}

	db := build(t, fluxmap.New[string, int64]().Shards(2).MaxKeySize(8).MaxValueSize(8).MaxTxnWrites(1))

	// A finished transaction, used again.
	tx := begin(t, db)
	require.NoError(t, tx.Commit())
	_, _, err := tx.Get("a")
	add("Tx.Get after Commit", fluxmap.ErrTxnDone, err)
	add("Tx.Insert after Commit", fluxmap.ErrTxnDone, tx.Insert("a", 1))
	_, _, err = tx.Remove("a")
	add("Tx.Remove after Commit", fluxmap.ErrTxnDone, err)
	add("Tx.GetMany after Commit", fluxmap.ErrTxnDone, tx.GetMany([]string{"a"}, make([]int64, 1), make([]bool, 1)))
	_, err = tx.Range("a", "b")
	add("Tx.Range after Commit", fluxmap.ErrTxnDone, err)
	add("Tx.Commit twice", fluxmap.ErrTxnDone, tx.Commit())
	add("Tx.Rollback after Commit", fluxmap.ErrTxnDone, tx.Rollback())

	// Arguments out of bounds.
	add("DB.Insert key too large", fluxmap.ErrKeyTooLarge, db.Insert(ctx, "123456789", 1))
	tx = begin(t, db)
	add("Tx.Insert key too large", fluxmap.ErrKeyTooLarge, tx.Insert("123456789", 1))
	require.NoError(t, tx.Insert("a", 1))
	add("Tx.Insert past MaxTxnWrites", fluxmap.ErrTxnTooLarge, tx.Insert("b", 1))
	add("Tx.GetMany short result slices", fluxmap.ErrInvalidArgument, tx.GetMany([]string{"a", "b"}, make([]int64, 1), make([]bool, 2)))
	require.NoError(t, tx.Rollback())
	sdb := build(t, fluxmap.New[string, string]().Shards(1).MaxValueSize(2))
	add("DB.Insert value too large", fluxmap.ErrValueTooLarge, sdb.Insert(ctx, "k", "long"))
	add("DB.InsertWithTTL zero ttl", fluxmap.ErrInvalidArgument, db.InsertWithTTL(ctx, "a", 1, 0))
	add("DB.Transaction nil fn", fluxmap.ErrInvalidArgument, db.Transaction(ctx, nil))
	add("DB.View nil fn", fluxmap.ErrInvalidArgument, db.View(ctx, nil))

	// Writes in a read-only transaction.
	add("Tx.Insert in View", fluxmap.ErrReadOnly, db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		return tx.Insert("a", 1)
	}))

	// A lost conflict.
	require.NoError(t, db.Insert(ctx, "c", 0))
	loser := begin(t, db)
	_, _, err = loser.Get("c")
	require.NoError(t, err)
	require.NoError(t, loser.Insert("c", 1))
	require.NoError(t, db.Insert(ctx, "c", 2))
	add("Tx.Commit conflict", fluxmap.ErrConflict, loser.Commit())

	// A transaction whose context ends while it retries conflicts.
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	add("DB.Transaction giving up", fluxmap.ErrConflict, db.Transaction(tctx, func(tx *fluxmap.Tx[string, int64]) error {
		if _, _, err := tx.Get("c"); err != nil {
			return err
		}
		if err := tx.Insert("c", 3); err != nil {
			return err
		}
		// Another writer of c commits first, every time.
		done := make(chan error)
		go func() { done <- db.Insert(ctx, "c", 4) }()
		return <-done
	}))

	// Zero values.
	var zdb fluxmap.DB[string, int64]
	_, _, err = zdb.Get(ctx, "a")
	add("zero DB.Get", fluxmap.ErrInvalidArgument, err)
	var ztx fluxmap.Tx[string, int64]
	add("zero Tx.Commit", fluxmap.ErrInvalidArgument, ztx.Commit())
	add("zero Tx.Rollback", fluxmap.ErrInvalidArgument, ztx.Rollback())

	// Configuration.
	_, err = fluxmap.New[string, int64]().Shards(0).Build(ctx)
	add("Build with 0 shards", fluxmap.ErrConfig, err)

	// A closed database.
	cdb, err := fluxmap.New[string, int64]().Shards(1).Build(ctx)
	require.NoError(t, err)
	openTx := begin(t, cdb)
	require.NoError(t, cdb.Close())
	add("DB.Insert after Close", fluxmap.ErrClosed, cdb.Insert(ctx, "a", 1))
	_, _, err = cdb.Get(ctx, "a")
	add("DB.Get after Close", fluxmap.ErrClosed, err)
	_, err = cdb.Stats()
	add("DB.Stats after Close", fluxmap.ErrClosed, err)
	add("Tx.Insert after Close", fluxmap.ErrClosed, openTx.Insert("a", 1))

	for _, g := range got {
		require.ErrorIs(t, g.err, g.sentinel, g.what)
		msg := g.err.Error()
		require.True(t, strings.HasPrefix(msg, "fluxmap: "), "%s: %q", g.what, msg)
		require.Equal(t, 1, strings.Count(msg, "fluxmap: "), "%s: the prefix repeats in %q", g.what, msg)
	}
}
