package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// Misuse and edge inputs a demanding user will try: each gets a clear
// error wrapping a sentinel, loses nothing, and never panics.

func TestTTLBeyond2262NeverExpires(t *testing.T) {
	ctx := context.Background()
	db := newStringDB(t, 2)
	for _, ttl := range []time.Duration{250 * 365 * 24 * time.Hour, math.MaxInt64} {
		require.NoError(t, db.InsertWithTTL(ctx, "k", 7, ttl))
		requireValue(t, db, "k", 7) // a wrapped deadline would read as long expired
	}
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		return tx.InsertWithTTL("t", 8, math.MaxInt64)
	}))
	requireValue(t, db, "t", 8)
	_, err := db.Vacuum(ctx)
	require.NoError(t, err)
	requireValue(t, db, "t", 8)
}

func TestTTLNotPositiveIsInvalidArgument(t *testing.T) {
	ctx := context.Background()
	db := newStringDB(t, 2)
	for _, ttl := range []time.Duration{0, -time.Second} {
		require.ErrorIs(t, db.InsertWithTTL(ctx, "k", 1, ttl), fluxmap.ErrInvalidArgument)
		tx := begin(t, db)
		require.ErrorIs(t, tx.InsertWithTTL("k", 1, ttl), fluxmap.ErrInvalidArgument)
		require.NoError(t, tx.Rollback())
	}
	_, ok, err := db.Get(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok)
}

// A Tx stream ends with ErrTxnDone once its transaction ends inside the
// loop: its snapshot is released, so later entries could come from
// versions vacuum already dropped.
func TestTxStreamEndsWithItsTx(t *testing.T) {
	ctx := context.Background()
	db := newStringDB(t, 1)
	const n = 600 // more than one chunk of the shard's scan
	for i := range n {
		dbInsert(t, db, fmt.Sprintf("k%03d", i), int64(i))
	}
	for _, end := range []string{"commit", "rollback"} {
		t.Run(end, func(t *testing.T) {
			tx := begin(t, db)
			s := tx.PrefixStream("k")
			seen := 0
			for range s.All() {
				seen++
				if seen == 1 {
					if end == "commit" {
						require.NoError(t, tx.Commit())
					} else {
						require.NoError(t, tx.Rollback())
					}
					for i := range n {
						dbInsert(t, db, fmt.Sprintf("k%03d", i), int64(-i))
					}
					_, err := db.Vacuum(ctx)
					require.NoError(t, err)
				}
			}
			require.Equal(t, 1, seen)
			require.ErrorIs(t, s.Err(), fluxmap.ErrTxnDone)
		})
	}
}

// A Tx whose context ends reports the context's error; one that ended
// first (committed) keeps reporting ErrTxnDone whatever its context does.
func TestTxEndedStaysEndedAfterCancel(t *testing.T) {
	db := newStringDB(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Insert("a", 1))
	require.NoError(t, tx.Commit())
	cancel()
	_, _, err = tx.Get("a")
	require.ErrorIs(t, err, fluxmap.ErrTxnDone)
	require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnDone)
	requireValue(t, db, "a", 1)

	ctx, cancel = context.WithCancel(context.Background())
	tx, err = db.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Insert("b", 2))
	cancel()
	require.Eventually(t, func() bool {
		_, _, err := tx.Get("b")
		return err != nil
	}, time.Second, time.Millisecond)
	_, _, err = tx.Get("b")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, tx.Commit(), context.Canceled)
	_, ok, err := db.Get(context.Background(), "b")
	require.NoError(t, err)
	require.False(t, ok, "a cancelled transaction's write became visible")
}

// Transaction returns nil when fn committed the transaction itself, so a
// caller that retries on error does not apply it twice.
func TestTransactionFnCommitsItself(t *testing.T) {
	ctx := context.Background()
	db := newStringDB(t, 2)
	runs := 0
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		runs++
		if err := tx.Insert("x", 1); err != nil {
			return err
		}
		return tx.Commit()
	}))
	require.Equal(t, 1, runs)
	requireValue(t, db, "x", 1)
}

func TestZeroValuesAndNilFunctions(t *testing.T) {
	ctx := context.Background()
	var zdb fluxmap.DB[string, int64]
	_, _, err := zdb.Get(ctx, "a")
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	require.ErrorIs(t, zdb.Insert(ctx, "a", 1), fluxmap.ErrInvalidArgument)
	_, err = zdb.Begin(ctx)
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	_, err = zdb.PrefixScan(ctx, "")
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	_, err = zdb.Stats()
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	require.Equal(t, fluxmap.MemoryInfo{}, zdb.MemoryInfo())
	require.ErrorIs(t, zdb.Close(), fluxmap.ErrInvalidArgument)
	var nilDB *fluxmap.DB[string, int64]
	_, _, err = nilDB.Get(ctx, "a")
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)

	var ztx fluxmap.Tx[string, int64]
	_, _, err = ztx.Get("a")
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	require.ErrorIs(t, ztx.Insert("a", 1), fluxmap.ErrInvalidArgument)
	require.ErrorIs(t, ztx.Commit(), fluxmap.ErrInvalidArgument)
	require.ErrorIs(t, ztx.Rollback(), fluxmap.ErrInvalidArgument)
	_, err = ztx.PrefixScan("")
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)

	var zs fluxmap.Stream[string, int64]
	for range zs.All() {
		t.Fatal("a zero Stream yielded")
	}
	require.ErrorIs(t, zs.Err(), fluxmap.ErrInvalidArgument)

	db := newStringDB(t, 2)
	require.ErrorIs(t, db.Transaction(ctx, nil), fluxmap.ErrInvalidArgument)
	require.ErrorIs(t, db.View(ctx, nil), fluxmap.ErrInvalidArgument)
}

func TestDurableValueCodecFailureIsInvalidArgument(t *testing.T) {
	ctx := context.Background()
	type rec struct{ F float64 }
	db := build(t, fluxmap.New[string, rec]().Shards(2).ValueCodec(fluxmap.JSONCodec[rec]()).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()}))
	require.ErrorIs(t, db.Insert(ctx, "nan", rec{F: math.NaN()}), fluxmap.ErrInvalidArgument)
	_, ok, err := db.Get(ctx, "nan")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, db.Insert(ctx, "one", rec{F: 1}), "a refused value must not poison the database")
}

func TestDurableLockedDirectoryIsErrLocked(t *testing.T) {
	dir := t.TempDir()
	build(t, fluxmap.New[string, int64]().Shards(1).DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}))
	_, err := fluxmap.New[string, int64]().Shards(1).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).Build(context.Background())
	require.ErrorIs(t, err, fluxmap.ErrLocked)
}

// A durable transaction whose WAL record on one shard would exceed the
// log's 256 MiB record limit is refused at Commit with ErrTxnTooLarge,
// before anything is installed: the log would refuse the record only after
// the install, and a commit that cannot be logged poisons the database.
func TestDurableTxnOverRecordLimitRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("buffers 300 MiB of values")
	}
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(1).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()}))
	big := strings.Repeat("x", 60<<20) // within the default MaxValueSize
	err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
		for i := range 5 { // 300 MiB on one shard
			if err := tx.Insert(fmt.Sprintf("k%d", i), big); err != nil {
				return err
			}
		}
		return nil
	})
	require.ErrorIs(t, err, fluxmap.ErrTxnTooLarge)
	_, ok, err := db.Get(ctx, "k0")
	require.NoError(t, err)
	require.False(t, ok, "a refused transaction wrote")
	require.NoError(t, db.Insert(ctx, "small", "v"), "the database must not be poisoned")

	// Rewriting one key many times buffers one write: the bound that
	// triggers the exact check counts all five, the check itself passes.
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
		for range 5 {
			if err := tx.Insert("k", big); err != nil {
				return err
			}
		}
		return nil
	}))
	v, ok, err := db.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, v, len(big))
}

func TestDurableValueLimitMustFitARecord(t *testing.T) {
	_, err := fluxmap.New[string, string]().MaxValueSize(300 << 20).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()}).Build(context.Background())
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	db := build(t, fluxmap.New[string, string]().MaxValueSize(300<<20)) // in memory: no log
	require.NoError(t, db.Insert(context.Background(), "k", "v"))
}

// pauseCodec is a string key codec that runs a hook, once, while a key is
// encoded: a deterministic place to act between a Tx method's entry checks
// and its read from the shards.
type pauseKey string

type pauseCodec struct{ hook *atomic.Pointer[func()] }

func (c pauseCodec) AppendKey(dst []byte, k pauseKey) []byte {
	if f := c.hook.Swap(nil); f != nil {
		(*f)()
	}
	return append(dst, k...)
}

func (pauseCodec) DecodeKey(enc []byte) (pauseKey, error) { return pauseKey(enc), nil }

// A context that ends while its transaction's read is in flight releases
// the snapshot the read runs at; vacuum may then prune the version the
// read needs. The read's result must be discarded, not returned as a
// state that never existed.
func TestCancelDuringReadDiscardsResult(t *testing.T) {
	bg := context.Background()
	hook := new(atomic.Pointer[func()])
	db := build(t, fluxmap.New[pauseKey, string]().Shards(1).KeyCodec(pauseCodec{hook}))
	for _, method := range []string{"get", "getmany", "remove"} {
		t.Run(method, func(t *testing.T) {
			// A key of its own: the only version vacuum can prune is v1,
			// and only once the snapshot that reads it is released.
			k := pauseKey(method)
			require.NoError(t, db.Insert(bg, k, "v1"))
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			tx, err := db.Begin(ctx)
			require.NoError(t, err)
			require.NoError(t, db.Insert(bg, k, "v2"))
			pruned := false
			f := func() {
				// The AfterFunc releases the snapshot, then vacuum passes it.
				cancel()
				require.Eventually(t, func() bool {
					st, err := db.Vacuum(bg)
					require.NoError(t, err)
					pruned = pruned || st.Versions > 0
					return pruned
				}, 5*time.Second, time.Millisecond)
			}
			hook.Store(&f)
			var v string
			var ok bool
			switch method {
			case "get":
				v, ok, err = tx.Get(k)
			case "getmany":
				vals, found := make([]string, 1), make([]bool, 1)
				err = tx.GetMany([]pauseKey{k}, vals, found)
				v, ok = vals[0], found[0]
			case "remove":
				v, ok, err = tx.Remove(k)
			}
			require.True(t, pruned)
			require.ErrorIs(t, err, context.Canceled, "the read returned (%q, %v)", v, ok)
			require.ErrorIs(t, tx.Rollback(), fluxmap.ErrTxnDone)
			requireValue(t, db, k, "v2")
		})
	}
}

// A nil *Tx's scans and a nil *Stream return ErrInvalidArgument too.
func TestNilTxScansAndNilStream(t *testing.T) {
	noPanic := func(name string, f func() error) {
		t.Helper()
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panicked: %v", r)
				}
			}()
			err = f()
		}()
		require.ErrorIs(t, err, fluxmap.ErrInvalidArgument, name)
	}
	var tx *fluxmap.Tx[string, int64]
	noPanic("nil Tx Get", func() error { _, _, err := tx.Get("a"); return err })
	noPanic("nil Tx Range", func() error { _, err := tx.Range("a", "b"); return err })
	noPanic("nil Tx PrefixScan", func() error { _, err := tx.PrefixScan(""); return err })
	var s *fluxmap.Stream[string, int64]
	noPanic("nil Stream", func() error {
		for range s.All() {
		}
		return s.Err()
	})
}

// pickyCodec is a string codec whose DecodeKey refuses keys starting with
// "bad" (standing in for a user codec that meets an encoding it cannot
// read).
type pickyCodec struct{}

func (pickyCodec) AppendKey(dst []byte, k string) []byte { return append(dst, k...) }
func (pickyCodec) DecodeKey(enc []byte) (string, error) {
	if strings.HasPrefix(string(enc), "bad") {
		return "", errors.New("undecodable key")
	}
	return string(enc), nil
}

// A DB Stream takes a fresh snapshot each time All is ranged over, and Err
// reports what ended the last iteration: an iteration that failed (here on
// a key the codec cannot decode) does not stop the next one.
func TestStreamRerunsAfterFailedIteration(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int]().Shards(4).KeyCodec(pickyCodec{}))
	require.NoError(t, db.Insert(ctx, "a", 1))
	require.NoError(t, db.Insert(ctx, "bad", 2))

	s := db.PrefixStream(ctx, "")
	for range s.All() {
	}
	require.Error(t, s.Err(), "first iteration meets the undecodable key")

	_, _, err := db.Remove(ctx, "bad")
	require.NoError(t, err)

	var got []string
	for k := range s.All() { // a fresh snapshot, per the doc
		got = append(got, k)
	}
	require.NoError(t, s.Err(), "the second iteration ran to the end; Err must not report the first one's error")
	require.Equal(t, []string{"a"}, got)
}

// TestTxSharedByTwoGoroutines: a Tx whose methods two goroutines call at
// once refuses the overlapping call with ErrInvalidArgument instead of
// corrupting its buffers (which kills the process with "concurrent map
// writes"), and stays usable by its owner afterwards.
func TestTxSharedByTwoGoroutines(t *testing.T) {
	db := newStringDB(t, 4)
	tx := begin(t, db)
	var refused atomic.Int64
	deadline := time.Now().Add(10 * time.Second)
	hammer := func(g int) error {
		for i := 0; ; i++ {
			if refused.Load() > 100 || time.Now().After(deadline) {
				return nil
			}
			key := fmt.Sprintf("k%d-%d", g, i%64)
			var err error
			switch i % 5 {
			case 0:
				err = tx.Insert(key, int64(i))
			case 1:
				_, _, err = tx.Get(key)
			case 2:
				err = tx.GetMany([]string{key, "x"}, make([]int64, 2), make([]bool, 2))
			case 3:
				_, _, err = tx.Remove(key)
			case 4:
				_, err = tx.PrefixScan(key)
			}
			if errors.Is(err, fluxmap.ErrInvalidArgument) {
				refused.Add(1)
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	errc := make(chan error, 2)
	for g := range 2 {
		go func() { errc <- hammer(g) }()
	}
	require.NoError(t, <-errc)
	require.NoError(t, <-errc)
	require.Positive(t, refused.Load(), "no call overlapped another in 10 s")

	require.NoError(t, tx.Insert("after", 1), "a refused call must leave the Tx usable")
	require.NoError(t, tx.Commit())
	requireValue(t, db, "after", 1)
}

// TestTransactionNestedWriteEnds: a write through the DB inside a
// Transaction function, to a key the transaction touches, makes every
// commit conflict; instead of retrying until the context ends, the nested
// write is refused with ErrInvalidArgument after a few attempts and
// Transaction returns that.
func TestTransactionNestedWriteEnds(t *testing.T) {
	db := newStringDB(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, nested := range []struct {
		name  string
		write func() error
	}{
		{"Insert", func() error { return db.Insert(ctx, "k", 1) }},
		{"Begin", func() error {
			tx, err := db.Begin(ctx)
			if err != nil {
				return err
			}
			if err := tx.Insert("k", 2); err != nil {
				return err
			}
			return tx.Commit()
		}},
		{"Transaction", func() error {
			return db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error { return tx.Insert("k", 2) })
		}},
	} {
		t.Run(nested.name, func(t *testing.T) {
			attempts := 0
			err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
				attempts++
				if _, _, err := tx.Get("k"); err != nil {
					return err
				}
				if err := nested.write(); err != nil {
					return err
				}
				return tx.Insert("k", 3)
			})
			require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
			require.ErrorContains(t, err, "inside a DB.Transaction function")
			require.NoError(t, ctx.Err(), "Transaction ran until its context ended")
			require.Less(t, attempts, 10)
		})
	}
	// The probe ended with the Transaction: a plain write passes again.
	require.NoError(t, db.Insert(ctx, "k", 4))
}
