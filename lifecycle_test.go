package fluxmap_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// requireTxDone asserts that every Tx method reports ErrTxnDone and that
// none of the attempted writes lands.
func requireTxDone(t *testing.T, db *fluxmap.DB[string, int64], tx *fluxmap.Tx[string, int64]) {
	t.Helper()
	_, _, err := tx.Get("x")
	require.ErrorIs(t, err, fluxmap.ErrTxnDone, "Get")
	require.ErrorIs(t, tx.Insert("after-done", 1), fluxmap.ErrTxnDone, "Insert")
	_, _, err = tx.Remove("x")
	require.ErrorIs(t, err, fluxmap.ErrTxnDone, "Remove")
	_, err = tx.Range("a", "z")
	require.ErrorIs(t, err, fluxmap.ErrTxnDone, "Range")
	_, err = tx.PrefixScan("")
	require.ErrorIs(t, err, fluxmap.ErrTxnDone, "PrefixScan")

	rs := tx.RangeStream("a", "z")
	require.Empty(t, collect(rs), "RangeStream yields nothing")
	require.ErrorIs(t, rs.Err(), fluxmap.ErrTxnDone, "RangeStream.Err")
	ps := tx.PrefixStream("")
	require.Empty(t, collect(ps), "PrefixStream yields nothing")
	require.ErrorIs(t, ps.Err(), fluxmap.ErrTxnDone, "PrefixStream.Err")

	require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnDone, "Commit")
	require.ErrorIs(t, tx.Rollback(), fluxmap.ErrTxnDone, "Rollback")

	requireAbsent(t, db, "after-done")
	requireValue(t, db, "x", 10) // Remove after done did nothing
}

func TestLifecycleTxDone(t *testing.T) {
	finishes := []struct {
		name   string
		finish func(t *testing.T, tx *fluxmap.Tx[string, int64])
	}{
		{"commit_read_only", func(t *testing.T, tx *fluxmap.Tx[string, int64]) {
			txGet(t, tx, "x")
			require.NoError(t, tx.Commit())
		}},
		{"commit_with_writes", func(t *testing.T, tx *fluxmap.Tx[string, int64]) {
			txInsert(t, tx, "written", 5)
			require.NoError(t, tx.Commit())
		}},
		{"rollback", func(t *testing.T, tx *fluxmap.Tx[string, int64]) {
			txInsert(t, tx, "rolled-back", 5)
			require.NoError(t, tx.Rollback())
		}},
	}
	for _, f := range finishes {
		t.Run(f.name, func(t *testing.T) {
			db := newStringDB(t, 4)
			dbInsert(t, db, "x", 10)
			tx := begin(t, db)
			f.finish(t, tx)
			requireTxDone(t, db, tx)
			requireAbsent(t, db, "rolled-back")
			if f.name == "commit_with_writes" {
				requireValue(t, db, "written", 5)
			}
		})
	}

	t.Run("commit_twice_and_rollback_after_commit", func(t *testing.T) {
		db := newStringDB(t, 4)
		tx := begin(t, db)
		txInsert(t, tx, "k", 1)
		require.NoError(t, tx.Commit())
		require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnDone)
		require.ErrorIs(t, tx.Rollback(), fluxmap.ErrTxnDone)
		requireValue(t, db, "k", 1) // the late Rollback did not undo it
	})

	t.Run("rollback_twice_and_commit_after_rollback", func(t *testing.T) {
		db := newStringDB(t, 4)
		tx := begin(t, db)
		txInsert(t, tx, "k", 1)
		require.NoError(t, tx.Rollback())
		require.ErrorIs(t, tx.Rollback(), fluxmap.ErrTxnDone)
		require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnDone)
		requireAbsent(t, db, "k")
	})

	// Transactions reuse pooled internals: a finished Tx must reach none of
	// its successor's state, and the successor must start empty.
	t.Run("finished_tx_and_its_successor", func(t *testing.T) {
		db := newStringDB(t, 4)
		dbInsert(t, db, "x", 10)
		for _, finish := range []string{"commit", "rollback"} {
			old := begin(t, db)
			txInsert(t, old, "old-write", 1)
			txGet(t, old, "x")
			if finish == "commit" {
				require.NoError(t, old.Commit())
			} else {
				require.NoError(t, old.Rollback())
			}
			next := begin(t, db)
			txInsert(t, next, "next-write", 2)
			requireTxDone(t, db, old)
			_, found, err := next.Get("old-write")
			require.NoError(t, err)
			require.Equal(t, finish == "commit", found, "%s: next sees old-write only if it committed", finish)
			require.NoError(t, next.Commit())
			requireValue(t, db, "next-write", 2)
			_, _, err = db.Remove(t.Context(), "old-write")
			require.NoError(t, err)
		}
	})

	t.Run("tx_escaping_view_and_transaction", func(t *testing.T) {
		db := newStringDB(t, 4)
		dbInsert(t, db, "x", 10)
		var leaked *fluxmap.Tx[string, int64]
		require.NoError(t, db.View(t.Context(), func(tx *fluxmap.Tx[string, int64]) error {
			leaked = tx
			return nil
		}))
		_, _, err := leaked.Get("x")
		require.ErrorIs(t, err, fluxmap.ErrTxnDone)
		require.NoError(t, db.Transaction(t.Context(), func(tx *fluxmap.Tx[string, int64]) error {
			leaked = tx
			return tx.Insert("y", 1)
		}))
		require.ErrorIs(t, leaked.Insert("z", 1), fluxmap.ErrTxnDone)
		require.ErrorIs(t, leaked.Commit(), fluxmap.ErrTxnDone)
		requireValue(t, db, "y", 1)
		requireAbsent(t, db, "z")
	})
}

func TestLifecycleViewIsReadOnly(t *testing.T) {
	db := newStringDB(t, 4)
	dbInsert(t, db, "x", 10)
	errFromFn := errors.New("from fn")
	var insertErr, removeErr error
	err := db.View(t.Context(), func(tx *fluxmap.Tx[string, int64]) error {
		insertErr = tx.Insert("x", 11)
		_, _, removeErr = tx.Remove("x")
		// Reads still work after the refused writes and see no change.
		v, ok, err := tx.Get("x")
		if err != nil {
			return err
		}
		if !ok || v != 10 {
			return fmt.Errorf("View read x=%d,%v after refused writes", v, ok)
		}
		return nil
	})
	require.NoError(t, err)
	require.ErrorIs(t, insertErr, fluxmap.ErrReadOnly)
	require.ErrorIs(t, removeErr, fluxmap.ErrReadOnly)
	requireValue(t, db, "x", 10)

	// View returns fn's error as is.
	err = db.View(t.Context(), func(*fluxmap.Tx[string, int64]) error { return errFromFn })
	require.ErrorIs(t, err, errFromFn)
}

func TestLifecycleClose(t *testing.T) {
	db, err := fluxmap.New[string, int64]().Shards(4).Build(context.Background())
	require.NoError(t, err)
	require.NoError(t, db.Insert(t.Context(), "x", 10))
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "second Close returns nil")

	ctx := t.Context()
	_, _, err = db.Get(ctx, "x")
	require.ErrorIs(t, err, fluxmap.ErrClosed, "Get")
	require.ErrorIs(t, db.Insert(ctx, "y", 1), fluxmap.ErrClosed, "Insert")
	_, _, err = db.Remove(ctx, "x")
	require.ErrorIs(t, err, fluxmap.ErrClosed, "Remove")
	_, err = db.Range(ctx, "a", "z")
	require.ErrorIs(t, err, fluxmap.ErrClosed, "Range")
	_, err = db.PrefixScan(ctx, "")
	require.ErrorIs(t, err, fluxmap.ErrClosed, "PrefixScan")
	rs := db.RangeStream(ctx, "a", "z")
	require.Empty(t, collect(rs))
	require.ErrorIs(t, rs.Err(), fluxmap.ErrClosed, "RangeStream")
	ps := db.PrefixStream(ctx, "")
	require.Empty(t, collect(ps))
	require.ErrorIs(t, ps.Err(), fluxmap.ErrClosed, "PrefixStream")
	called := false
	err = db.Transaction(ctx, func(*fluxmap.Tx[string, int64]) error { called = true; return nil })
	require.ErrorIs(t, err, fluxmap.ErrClosed, "Transaction")
	err = db.View(ctx, func(*fluxmap.Tx[string, int64]) error { called = true; return nil })
	require.ErrorIs(t, err, fluxmap.ErrClosed, "View")
	require.False(t, called, "fn must not run on a closed DB")
	tx, err := db.Begin(ctx)
	require.ErrorIs(t, err, fluxmap.ErrClosed, "Begin")
	require.Nil(t, tx)
}

func TestLifecycleBuildConfig(t *testing.T) {
	ctx := context.Background()
	bad := []struct {
		name string
		b    *fluxmap.Builder[string, int64]
	}{
		{"Shards(0)", fluxmap.New[string, int64]().Shards(0)},
		{"Shards(-1)", fluxmap.New[string, int64]().Shards(-1)},
		{"Shards(1025)", fluxmap.New[string, int64]().Shards(1025)},
		{"SkiplistP(0)", fluxmap.New[string, int64]().SkiplistP(0)},
		{"SkiplistP(1)", fluxmap.New[string, int64]().SkiplistP(1)},
		{"SkiplistP(-0.5)", fluxmap.New[string, int64]().SkiplistP(-0.5)},
		{"SkiplistP(1.5)", fluxmap.New[string, int64]().SkiplistP(1.5)},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			db, err := c.b.Build(ctx)
			require.ErrorIs(t, err, fluxmap.ErrConfig)
			require.Nil(t, db)
		})
	}

	t.Run("valid_edges", func(t *testing.T) {
		for _, b := range []*fluxmap.Builder[string, int64]{
			fluxmap.New[string, int64]().Shards(1),
			fluxmap.New[string, int64]().Shards(1024),
			fluxmap.New[string, int64]().SkiplistP(0.5),
			fluxmap.New[string, int64](), // defaults
		} {
			db := build(t, b)
			dbInsert(t, db, "k", 1)
			requireValue(t, db, "k", 1)
		}
	})

	t.Run("struct_key_without_codec", func(t *testing.T) {
		db, err := fluxmap.New[pointKey, string]().Build(ctx)
		require.ErrorIs(t, err, fluxmap.ErrConfig)
		require.Nil(t, db)
	})
}

// pointKey is a key type with no built-in codec.
type pointKey struct{ A int }

// pointCodec orders pointKey by A, negatives first: big-endian with the sign
// bit flipped.
type pointCodec struct{}

func (pointCodec) AppendKey(dst []byte, k pointKey) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(k.A)^(1<<63))
}

func (pointCodec) DecodeKey(enc []byte) (pointKey, error) {
	if len(enc) != 8 {
		return pointKey{}, fmt.Errorf("pointCodec: %d bytes", len(enc))
	}
	return pointKey{A: int(binary.BigEndian.Uint64(enc) ^ (1 << 63))}, nil
}

func TestLifecycleCustomKeyCodec(t *testing.T) {
	db := build(t, fluxmap.New[pointKey, string]().Shards(4).KeyCodec(pointCodec{}))
	ctx := t.Context()
	for _, a := range []int{5, -3, 0, 42, -100} {
		require.NoError(t, db.Insert(ctx, pointKey{a}, fmt.Sprint(a)))
	}
	v, ok, err := db.Get(ctx, pointKey{-3})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "-3", v)
	es, err := db.Range(ctx, pointKey{-50}, pointKey{42})
	require.NoError(t, err)
	require.Equal(t, []fluxmap.Entry[pointKey, string]{
		{Key: pointKey{-3}, Value: "-3"},
		{Key: pointKey{0}, Value: "0"},
		{Key: pointKey{5}, Value: "5"},
	}, es)
	old, existed, err := db.Remove(ctx, pointKey{42})
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, "42", old)
}

func TestLifecycleLimits(t *testing.T) {
	ctx := context.Background()

	t.Run("key_too_large", func(t *testing.T) {
		db := build(t, fluxmap.New[string, int64]().Shards(4).MaxKeySize(8))
		dbInsert(t, db, "12345678", 8) // exactly the limit is fine
		require.ErrorIs(t, db.Insert(ctx, "123456789", 9), fluxmap.ErrKeyTooLarge)

		tx := begin(t, db)
		txInsert(t, tx, "small", 1)
		require.ErrorIs(t, tx.Insert("123456789", 9), fluxmap.ErrKeyTooLarge)
		// Whether a refused write ends the tx is not specified, but the
		// outcome must be all or nothing and never include the big key.
		if err := tx.Commit(); err == nil {
			requireValue(t, db, "small", 1)
		} else {
			requireAbsent(t, db, "small")
		}

		requireValue(t, db, "12345678", 8)
		// Reading an over-long key either finds nothing or is refused.
		if _, ok, err := db.Get(ctx, "123456789"); err != nil {
			require.ErrorIs(t, err, fluxmap.ErrKeyTooLarge)
		} else {
			require.False(t, ok)
		}
		dbInsert(t, db, "after", 2)
		requireValue(t, db, "after", 2)
	})

	t.Run("value_too_large", func(t *testing.T) {
		db := build(t, fluxmap.New[string, string]().Shards(4).MaxValueSize(16))
		ok16 := strings.Repeat("v", 16)
		require.NoError(t, db.Insert(ctx, "a", ok16))
		require.ErrorIs(t, db.Insert(ctx, "b", ok16+"v"), fluxmap.ErrValueTooLarge)
		require.ErrorIs(t, db.Insert(ctx, "a", ok16+"v"), fluxmap.ErrValueTooLarge)
		err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
			if err := tx.Insert("c", "fine"); err != nil {
				return err
			}
			return tx.Insert("d", ok16+"v")
		})
		require.ErrorIs(t, err, fluxmap.ErrValueTooLarge)

		v, ok, err := db.Get(ctx, "a")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, ok16, v, "the refused overwrite lost nothing")
		for _, k := range []string{"b", "c", "d"} {
			_, ok, err := db.Get(ctx, k)
			require.NoError(t, err)
			require.Falsef(t, ok, "%s must be absent", k)
		}
		require.NoError(t, db.Insert(ctx, "e", "works"))
	})

	t.Run("txn_too_large", func(t *testing.T) {
		db := build(t, fluxmap.New[string, int64]().Shards(4).MaxTxnWrites(3))
		dbInsert(t, db, "keep", 1)

		// Exactly the limit commits.
		tx := begin(t, db)
		for i := range 3 {
			txInsert(t, tx, fmt.Sprintf("ok%d", i), int64(i))
		}
		require.NoError(t, tx.Commit())

		// One more is refused, either at the fourth write or at Commit.
		tx = begin(t, db)
		for i := range 3 {
			txInsert(t, tx, fmt.Sprintf("big%d", i), int64(i))
		}
		err := tx.Insert("big3", 3)
		if err == nil {
			err = tx.Commit()
		} else {
			// Whether the refused write also ended the tx is not specified.
			_ = tx.Rollback()
		}
		require.ErrorIs(t, err, fluxmap.ErrTxnTooLarge)

		err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			for i := range 4 {
				if err := tx.Insert(fmt.Sprintf("big%d", i), int64(i)); err != nil {
					return err
				}
			}
			return nil
		})
		require.ErrorIs(t, err, fluxmap.ErrTxnTooLarge)

		for i := range 4 {
			requireAbsent(t, db, fmt.Sprintf("big%d", i))
		}
		for i := range 3 {
			requireValue(t, db, fmt.Sprintf("ok%d", i), int64(i))
		}
		requireValue(t, db, "keep", 1)
		dbInsert(t, db, "after", 2)
		requireValue(t, db, "after", 2)
	})
}

func TestLifecycleCancelledContext(t *testing.T) {
	db := newStringDB(t, 4)
	dbInsert(t, db, "x", 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, _, err := db.Get(ctx, "x")
	require.ErrorIs(t, err, context.Canceled, "Get")
	require.ErrorIs(t, db.Insert(ctx, "y", 1), context.Canceled, "Insert")
	_, _, err = db.Remove(ctx, "x")
	require.ErrorIs(t, err, context.Canceled, "Remove")
	_, err = db.Range(ctx, "a", "z")
	require.ErrorIs(t, err, context.Canceled, "Range")
	_, err = db.PrefixScan(ctx, "")
	require.ErrorIs(t, err, context.Canceled, "PrefixScan")
	err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error { return tx.Insert("z", 1) })
	require.ErrorIs(t, err, context.Canceled, "Transaction")
	err = db.View(ctx, func(*fluxmap.Tx[string, int64]) error { return nil })
	require.ErrorIs(t, err, context.Canceled, "View")
	tx, err := db.Begin(ctx)
	require.ErrorIs(t, err, context.Canceled, "Begin")
	require.Nil(t, tx)

	// None of the cancelled writes happened.
	requireValue(t, db, "x", 10)
	requireAbsent(t, db, "y")
	requireAbsent(t, db, "z")

	// A deadline that passed works the same way.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer dcancel()
	<-dctx.Done()
	_, _, err = db.Get(dctx, "x")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestLifecycleBeginContextCancel(t *testing.T) {
	db := newStringDB(t, 4)
	dbInsert(t, db, "x", 10)

	ctx, cancel := context.WithCancel(context.Background())
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	txInsert(t, tx, "buffered", 1)
	txInsert(t, tx, "x", 11)
	require.Equal(t, int64(11), txMustGet(t, tx, "x"))
	cancel()

	_, _, err = tx.Get("x")
	require.ErrorIs(t, err, context.Canceled, "Get")
	require.ErrorIs(t, tx.Insert("more", 2), context.Canceled, "Insert")
	_, _, err = tx.Remove("x")
	require.ErrorIs(t, err, context.Canceled, "Remove")
	_, err = tx.Range("a", "z")
	require.ErrorIs(t, err, context.Canceled, "Range")
	_, err = tx.PrefixScan("")
	require.ErrorIs(t, err, context.Canceled, "PrefixScan")
	s := tx.PrefixStream("")
	require.Empty(t, collect(s))
	require.ErrorIs(t, s.Err(), context.Canceled, "PrefixStream")
	require.ErrorIs(t, tx.Commit(), context.Canceled, "Commit")
	// What Rollback reports after the cancel is not specified; it must not
	// make anything visible.
	_ = tx.Rollback()

	requireAbsent(t, db, "buffered")
	requireAbsent(t, db, "more")
	requireValue(t, db, "x", 10)

	// The cancelled tx holds nothing: another tx writes the same keys.
	tx2 := begin(t, db)
	txInsert(t, tx2, "x", 12)
	txInsert(t, tx2, "buffered", 3)
	require.NoError(t, tx2.Commit())
	requireValue(t, db, "x", 12)
	requireValue(t, db, "buffered", 3)
}

func TestLifecycleTransactionFnError(t *testing.T) {
	db := newStringDB(t, 4)
	dbInsert(t, db, "x", 10)
	errBoom := errors.New("boom")
	calls := 0
	err := db.Transaction(t.Context(), func(tx *fluxmap.Tx[string, int64]) error {
		calls++
		if err := tx.Insert("x", 11); err != nil {
			return err
		}
		if err := tx.Insert("new", 1); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	require.ErrorIs(t, err, errBoom)
	require.NotErrorIs(t, err, fluxmap.ErrConflict)
	require.Equal(t, 1, calls, "a non-conflict error is not retried")
	requireValue(t, db, "x", 10)
	requireAbsent(t, db, "new")
}

func TestLifecycleTransactionPanic(t *testing.T) {
	db := newStringDB(t, 4)
	dbInsert(t, db, "x", 10)
	require.PanicsWithValue(t, "boom", func() {
		_ = db.Transaction(t.Context(), func(tx *fluxmap.Tx[string, int64]) error {
			if err := tx.Insert("x", 11); err != nil {
				return err
			}
			if err := tx.Insert("new", 1); err != nil {
				return err
			}
			panic("boom")
		})
	})
	requireValue(t, db, "x", 10)
	requireAbsent(t, db, "new")

	// The DB still works, and the panicking tx left no locks behind.
	require.NoError(t, db.Transaction(t.Context(), func(tx *fluxmap.Tx[string, int64]) error {
		v, _, err := tx.Get("x")
		if err != nil {
			return err
		}
		if err := tx.Insert("new", 2); err != nil {
			return err
		}
		return tx.Insert("x", v+1)
	}))
	requireValue(t, db, "x", 11)
	requireValue(t, db, "new", 2)

	// View re-raises panics too and still works afterwards.
	require.Panics(t, func() {
		_ = db.View(t.Context(), func(*fluxmap.Tx[string, int64]) error { panic("view boom") })
	})
	requireValue(t, db, "x", 11)
}

func TestLifecycleTransactionRetriesConflict(t *testing.T) {
	db := newStringDB(t, 4)
	dbInsert(t, db, "ctr", 0)
	ctx := t.Context()
	var seen []int64
	err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		v, ok, err := tx.Get("ctr")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("ctr missing")
		}
		seen = append(seen, v)
		if len(seen) == 1 {
			// Commit a conflicting write to a key this attempt already
			// read; this attempt's Commit must fail and fn run again.
			if err := db.Insert(ctx, "ctr", v+100); err != nil {
				return err
			}
		}
		return tx.Insert("ctr", v+1)
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(seen), 2, "fn must be retried after ErrConflict")
	require.Equal(t, int64(0), seen[0])
	require.Equal(t, int64(100), seen[len(seen)-1], "the retry reads a fresh snapshot")
	requireValue(t, db, "ctr", 101)
}

func TestLifecycleTransactionRetryStopsWithContext(t *testing.T) {
	db := newStringDB(t, 4)
	dbInsert(t, db, "ctr", 0)
	// The context ends during the third attempt, not on a timer, so that a
	// slow machine cannot make the test see a single attempt.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	attempts, bumps := 0, 0
	err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		attempts++
		v, _, err := tx.Get("ctr")
		if err != nil {
			return err
		}
		// Every attempt is beaten by an autocommit write, so it never
		// commits; Transaction must give up once ctx ends.
		if err := db.Insert(context.Background(), "ctr", v+1000); err != nil {
			return err
		}
		bumps++
		if attempts == 3 {
			cancel()
		}
		return tx.Insert("ctr", v+1)
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3, attempts, "fn is retried until the context ends, then not again")
	v, ok := dbGet(t, db, "ctr")
	require.True(t, ok)
	require.Zero(t, v%1000, "no attempt's +1 may have committed, got %d", v)
	require.Equal(t, int64(bumps)*1000, v)
}

func TestLifecycleAutocommitOldValues(t *testing.T) {
	db := newStringDB(t, 4)
	ctx := t.Context()

	old, existed, err := db.Remove(ctx, "absent")
	require.NoError(t, err)
	require.False(t, existed)
	require.Zero(t, old)

	dbInsert(t, db, "a", 1)
	dbInsert(t, db, "a", 2) // overwrite
	requireValue(t, db, "a", 2)
	old, existed, err = db.Remove(ctx, "a")
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, int64(2), old)
	requireAbsent(t, db, "a")
	old, existed, err = db.Remove(ctx, "a")
	require.NoError(t, err)
	require.False(t, existed, "removing twice")
	require.Zero(t, old)
	dbInsert(t, db, "a", 3) // re-insert after delete
	requireValue(t, db, "a", 3)

	// Tx.Remove reports the value from the snapshot or from the buffer.
	tx := begin(t, db)
	old, existed, err = tx.Remove("a")
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, int64(3), old)
	old, existed, err = tx.Remove("a")
	require.NoError(t, err)
	require.False(t, existed, "already removed in this tx")
	require.Zero(t, old)
	txInsert(t, tx, "b", 7)
	old, existed, err = tx.Remove("b")
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, int64(7), old)
	require.NoError(t, tx.Commit())
	requireAbsent(t, db, "a")
	requireAbsent(t, db, "b")
}

func TestLifecycleBytesCopied(t *testing.T) {
	db := build(t, fluxmap.New[[]byte, []byte]().Shards(4))
	ctx := t.Context()
	key := []byte("key")
	val := []byte("value")
	require.NoError(t, db.Insert(ctx, key, val))
	key[0] = 'X'
	val[0] = 'X'
	got, ok, err := db.Get(ctx, []byte("key"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("value"), got)
	_, ok, err = db.Get(ctx, []byte("Xey"))
	require.NoError(t, err)
	require.False(t, ok)

	// The same holds for a buffered write in a Tx.
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	k2, v2 := []byte("k2"), []byte("v2")
	require.NoError(t, tx.Insert(k2, v2))
	k2[0], v2[0] = 'X', 'X'
	require.NoError(t, tx.Commit())
	got, ok, err = db.Get(ctx, []byte("k2"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("v2"), got)
}

// Transactions whose contexts are cancelled while they run or commit (so
// the context's goroutine may roll them back) must never disturb the
// pooled state of the transactions that follow: money is conserved, and
// every transfer either commits whole or not at all.
func TestLifecycleCancelRacesPooledTxns(t *testing.T) {
	const accounts, start, workers, rounds = 16, 100, 8, 300
	db := newStringDB(t, 4)
	acct := func(i int) string { return fmt.Sprintf("a%02d", i) }
	for i := range accounts {
		dbInsert(t, db, acct(i), start)
	}
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- func() error {
				for i := range rounds {
					from, to := acct((w+i)%accounts), acct((w+3*i+1)%accounts)
					if from == to {
						continue
					}
					ctx, cancel := context.WithCancel(context.Background())
					tx, err := db.Begin(ctx)
					if err != nil {
						cancel()
						return err
					}
					if i%2 == 0 {
						go cancel() // races with everything below
					}
					err = transferIn(tx, from, to)
					if err == nil {
						err = tx.Commit()
					} else {
						_ = tx.Rollback()
					}
					if i%3 == 0 {
						cancel() // after the end: the context hook must be gone
					}
					switch {
					case err == nil, errors.Is(err, fluxmap.ErrConflict),
						errors.Is(err, context.Canceled), errors.Is(err, fluxmap.ErrTxnDone):
					default:
						cancel()
						return fmt.Errorf("round %d: %w", i, err)
					}
					cancel()
					// A fresh transaction right after, likely on the state the
					// last one released.
					if err := db.Transaction(context.Background(), func(tx *fluxmap.Tx[string, int64]) error {
						return transferIn(tx, to, from)
					}); err != nil {
						return fmt.Errorf("round %d, follow-up: %w", i, err)
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	var total int64
	for i := range accounts {
		v, ok, err := db.Get(context.Background(), acct(i))
		require.NoError(t, err)
		require.True(t, ok)
		total += v
	}
	require.Equal(t, int64(accounts*start), total, "money is conserved")
}

// transferIn moves 1 from one account to another inside tx, reading both
// with one GetMany (a fanned-out read when they live on different shards).
func transferIn(tx *fluxmap.Tx[string, int64], from, to string) error {
	var bal [2]int64
	var found [2]bool
	if err := tx.GetMany([]string{from, to}, bal[:], found[:]); err != nil {
		return err
	}
	if err := tx.Insert(from, bal[0]-1); err != nil {
		return err
	}
	return tx.Insert(to, bal[1]+1)
}
