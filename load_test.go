package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

func loadKey(i int) string { return fmt.Sprintf("load:%06d", i) }

// loadSeq yields loadKey(i) = i for i in [0, n).
func loadSeq(n int) iter.Seq2[string, int64] {
	return func(yield func(string, int64) bool) {
		for i := range n {
			if !yield(loadKey(i), int64(i)) {
				return
			}
		}
	}
}

// requireLoadedPrefix checks that the database holds loadKey(i) = i for
// exactly the i in [0, n), and nothing else under "load:".
func requireLoadedPrefix(t *testing.T, db *fluxmap.DB[string, int64], n int) {
	t.Helper()
	got, err := db.PrefixScan(context.Background(), "load:")
	require.NoError(t, err)
	require.Len(t, got, n, "the database should hold exactly the reported prefix")
	for i, e := range got {
		require.Equal(t, loadKey(i), e.Key)
		require.Equal(t, int64(i), e.Value)
	}
}

func buildLoadDB[V any](t *testing.T, b *fluxmap.Builder[string, V]) *fluxmap.DB[string, V] {
	t.Helper()
	db, err := b.Build(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

func loadStats[V any](t *testing.T, db *fluxmap.DB[string, V]) fluxmap.Stats {
	t.Helper()
	st, err := db.Stats()
	require.NoError(t, err)
	return st
}

// requireLoadError checks that err is a *LoadError at entry loaded whose
// cause is target.
func requireLoadError(t *testing.T, err error, loaded int, key any, target error) *fluxmap.LoadError {
	t.Helper()
	var le *fluxmap.LoadError
	require.ErrorAs(t, err, &le)
	require.ErrorIs(t, err, target)
	require.Equal(t, loaded, le.Loaded, "LoadError.Loaded")
	require.Equal(t, key, le.Key, "LoadError.Key")
	require.True(t, strings.HasPrefix(err.Error(), "fluxmap: load: "), err.Error())
	require.Equal(t, 1, strings.Count(err.Error(), "fluxmap: "), err.Error())
	return le
}

func TestLoadCommitsEveryEntryInBatches(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n, batch   int
		maxTxn     int
		wantCommit int // batches, hence commits on one shard
	}{
		{name: "default batch", n: 25_000, wantCommit: 3},
		{name: "batch divides n", n: 100, batch: 10, wantCommit: 10},
		{name: "last batch short", n: 105, batch: 10, wantCommit: 11},
		{name: "batch above MaxTxnWrites", n: 100, batch: 50, maxTxn: 20, wantCommit: 5},
		{name: "empty sequence", n: 0, wantCommit: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fluxmap.New[string, int64]().Shards(1)
			if tc.maxTxn > 0 {
				b.MaxTxnWrites(tc.maxTxn)
			}
			db := buildLoadDB(t, b)
			var progress []int
			n, err := db.Load(context.Background(), loadSeq(tc.n), fluxmap.LoadOptions{
				BatchKeys: tc.batch,
				Progress:  func(loaded int) { progress = append(progress, loaded) },
			})
			require.NoError(t, err)
			require.Equal(t, tc.n, n)
			requireLoadedPrefix(t, db, tc.n)
			require.Equal(t, uint64(tc.wantCommit), loadStats(t, db).Commits, "one commit per batch")
			require.Len(t, progress, tc.wantCommit, "one progress call per batch")
			if tc.n > 0 {
				require.Equal(t, tc.n, progress[len(progress)-1])
			}
		})
	}
}

func TestLoadBatchBytesBoundsBatches(t *testing.T) {
	db := buildLoadDB(t, fluxmap.New[string, string]().Shards(1))
	val := strings.Repeat("v", 1000)
	seq := func(yield func(string, string) bool) {
		for i := range 100 {
			if !yield(loadKey(i), val) {
				return
			}
		}
	}
	// Four entries fit, with up to 64 bytes of overhead each; five do not.
	entry := int64(len(loadKey(0)) + len(val))
	n, err := db.Load(context.Background(), seq, fluxmap.LoadOptions{BatchBytes: 4 * (entry + 64)})
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.Equal(t, uint64(25), loadStats(t, db).Commits)
}

func TestLoadLaterDuplicateWins(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			b := fluxmap.New[string, int64]().Shards(4)
			if durable {
				b.DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()})
			}
			db := buildLoadDB(t, b)
			// Every entry writes "dup" too, so every batch shares it with
			// the one before (within a batch, and across batches that a
			// durable Load keeps in flight together).
			const n = 2000
			seq := func(yield func(string, int64) bool) {
				for i := range n {
					if !yield(loadKey(i), int64(i)) || !yield("dup", int64(i)) {
						return
					}
				}
			}
			got, err := db.Load(context.Background(), seq, fluxmap.LoadOptions{BatchKeys: 7})
			require.NoError(t, err)
			require.Equal(t, 2*n, got)
			v, ok, err := db.Get(context.Background(), "dup")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, int64(n-1), v, "the last entry for a key wins")
		})
	}
}

func TestLoadStopsAtBadEntryAfterCommittingThoseBefore(t *testing.T) {
	db := buildLoadDB(t, fluxmap.New[string, int64]().MaxKeySize(32))
	big := strings.Repeat("k", 33)
	seq := func(yield func(string, int64) bool) {
		for i := range 25 {
			if !yield(loadKey(i), int64(i)) {
				return
			}
		}
		if !yield(big, 25) {
			return
		}
		t.Error("Load read past the entry it could not take")
	}
	n, err := db.Load(context.Background(), seq, fluxmap.LoadOptions{BatchKeys: 10})
	require.Equal(t, 25, n)
	requireLoadError(t, err, 25, big, fluxmap.ErrKeyTooLarge)
	requireLoadedPrefix(t, db, 25)
}

// failingCodec encodes int64 values, except failValue.
type failingCodec struct{}

const failValue = -1

func (failingCodec) AppendValue(dst []byte, v int64) ([]byte, error) {
	if v == failValue {
		return dst, errors.New("cannot encode the failing value")
	}
	return fmt.Appendf(dst, "%d", v), nil
}

func (failingCodec) DecodeValue(enc []byte) (int64, error) {
	var v int64
	_, err := fmt.Sscanf(string(enc), "%d", &v)
	return v, err
}

func TestLoadDurableValueCodecFailure(t *testing.T) {
	dir := t.TempDir()
	open := func() *fluxmap.DB[string, int64] {
		db, err := fluxmap.New[string, int64]().Shards(2).ValueCodec(failingCodec{}).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).Build(context.Background())
		require.NoError(t, err)
		return db
	}
	db := open()
	seq := func(yield func(string, int64) bool) {
		for i := range 37 {
			if !yield(loadKey(i), int64(i)) {
				return
			}
		}
		yield("bad", failValue)
	}
	n, err := db.Load(context.Background(), seq, fluxmap.LoadOptions{BatchKeys: 5})
	require.Equal(t, 37, n)
	requireLoadError(t, err, 37, "bad", fluxmap.ErrInvalidArgument)
	requireLoadedPrefix(t, db, 37)
	require.NoError(t, db.Close(), "a refused value must not poison the database")

	db = open()
	defer func() { require.NoError(t, db.Close()) }()
	requireLoadedPrefix(t, db, 37)
}

func TestLoadDurableSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() *fluxmap.DB[string, int64] {
		db, err := fluxmap.New[string, int64]().Shards(4).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).Build(context.Background())
		require.NoError(t, err)
		return db
	}
	db := open()
	const n = 25_000
	got, err := db.Load(context.Background(), loadSeq(n), fluxmap.LoadOptions{})
	require.NoError(t, err)
	require.Equal(t, n, got)
	require.NoError(t, db.Close())

	db = open()
	defer func() { require.NoError(t, db.Close()) }()
	requireLoadedPrefix(t, db, n)
}

func TestLoadMemoryLimitLeavesExactPrefix(t *testing.T) {
	db := buildLoadDB(t, fluxmap.New[string, int64]().Shards(2).MaxMemory(64<<10).EvictionPolicy(fluxmap.Reject))
	const batch = 50
	n, err := db.Load(context.Background(), loadSeq(100_000), fluxmap.LoadOptions{BatchKeys: batch})
	require.Positive(t, n, "some batches fit under the limit")
	require.Zero(t, n%batch, "a failed batch commits nothing")
	requireLoadError(t, err, n, loadKey(n), fluxmap.ErrMemoryLimit)
	requireLoadedPrefix(t, db, n)
}

func TestLoadContextCancelStopsBetweenBatches(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			b := fluxmap.New[string, int64]().Shards(4)
			if durable {
				b.DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()})
			}
			db := buildLoadDB(t, b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const batch = 10
			// Read the entries lazily: the sequence cancels once Load asks
			// for entry 35, so batches up to 30 were sent before it.
			seq := func(yield func(string, int64) bool) {
				for i := range 1000 {
					if i == 35 {
						cancel()
					}
					if !yield(loadKey(i), int64(i)) {
						return
					}
				}
			}
			n, err := db.Load(ctx, seq, fluxmap.LoadOptions{BatchKeys: batch})
			if !durable {
				// Entries [30, 40) form the batch being assembled when ctx
				// ended: it is not committed (its Begin sees ctx done), and
				// no batch after it starts.
				require.Equal(t, 30, n)
				requireLoadError(t, err, 30, loadKey(30), context.Canceled)
				requireLoadedPrefix(t, db, 30)
				return
			}
			// A durable Load may still have had batch [20, 30) committing
			// when ctx ended, and it may fail too.
			require.Contains(t, []int{20, 30}, n)
			requireLoadError(t, err, n, loadKey(n), context.Canceled)
			for i := range n {
				v, ok, err := db.Get(context.Background(), loadKey(i))
				require.NoError(t, err)
				require.True(t, ok, "entry %d of the committed prefix", i)
				require.Equal(t, int64(i), v)
			}
			for i := 30; i < 1000; i++ {
				_, ok, err := db.Get(context.Background(), loadKey(i))
				require.NoError(t, err)
				require.False(t, ok, "entry %d was never in a batch that committed", i)
			}
		})
	}
}

func TestLoadCancelFromProgressStopsBeforeNextBatch(t *testing.T) {
	db := buildLoadDB(t, fluxmap.New[string, int64]().Shards(4))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls, read int
	seq := func(yield func(string, int64) bool) {
		for k, v := range loadSeq(1000) {
			read++
			if !yield(k, v) {
				return
			}
		}
	}
	n, err := db.Load(ctx, seq, fluxmap.LoadOptions{BatchKeys: 10, Progress: func(loaded int) {
		calls++
		if loaded == 30 {
			cancel()
		}
	}})
	require.Equal(t, 30, n)
	require.Equal(t, 3, calls)
	require.Equal(t, 31, read, "Load checks ctx on the first entry of a batch, before reading the rest")
	requireLoadError(t, err, 30, loadKey(30), context.Canceled)
	requireLoadedPrefix(t, db, 30)
}

func TestLoadBadArguments(t *testing.T) {
	ctx := context.Background()
	db := buildLoadDB(t, fluxmap.New[string, int64]())
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	closed, err := fluxmap.New[string, int64]().Build(ctx)
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	var zero fluxmap.DB[string, int64]

	for _, tc := range []struct {
		name   string
		load   func() (int, error)
		target error
	}{
		{"nil sequence", func() (int, error) { return db.Load(ctx, nil, fluxmap.LoadOptions{}) }, fluxmap.ErrInvalidArgument},
		{"negative BatchKeys", func() (int, error) { return db.Load(ctx, loadSeq(5), fluxmap.LoadOptions{BatchKeys: -1}) }, fluxmap.ErrInvalidArgument},
		{"negative BatchBytes", func() (int, error) { return db.Load(ctx, loadSeq(5), fluxmap.LoadOptions{BatchBytes: -1}) }, fluxmap.ErrInvalidArgument},
		{"negative TTL", func() (int, error) { return db.Load(ctx, loadSeq(5), fluxmap.LoadOptions{TTL: -time.Second}) }, fluxmap.ErrInvalidArgument},
		{"context done", func() (int, error) { return db.Load(cancelled, loadSeq(5), fluxmap.LoadOptions{}) }, context.Canceled},
		{"closed database", func() (int, error) { return closed.Load(ctx, loadSeq(5), fluxmap.LoadOptions{}) }, fluxmap.ErrClosed},
		{"zero DB", func() (int, error) { return zero.Load(ctx, loadSeq(5), fluxmap.LoadOptions{}) }, fluxmap.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.load()
			require.Zero(t, n)
			requireLoadError(t, err, 0, nil, tc.target)
		})
	}
	requireLoadedPrefix(t, db, 0)
}

func TestLoadTTL(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	b := fluxmap.New[string, int64]()
	txhook.SetClock(b, func() time.Time { return time.Unix(0, now.Load()) })
	db := buildLoadDB(t, b)
	ctx := context.Background()
	_, err := db.Load(ctx, loadSeq(30), fluxmap.LoadOptions{BatchKeys: 10, TTL: time.Minute})
	require.NoError(t, err)
	requireLoadedPrefix(t, db, 30)
	now.Add(int64(2 * time.Minute))
	got, err := db.PrefixScan(ctx, "load:")
	require.NoError(t, err)
	require.Empty(t, got, "every entry expires after the TTL")
}

// TestLoadWithConcurrentTransactions loads keys that other goroutines keep
// rewriting in serializable transactions: Load's batches lose conflicts
// and must retry them rather than fail, and every key ends up written.
func TestLoadWithConcurrentTransactions(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			b := fluxmap.New[string, int64]().Shards(4)
			if durable {
				b.DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()})
			}
			db := buildLoadDB(t, b)
			ctx := context.Background()
			const keys = 20
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 3 {
				wg.Go(func() {
					for i := w; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
							for j := range 3 {
								k := loadKey((i + j) % keys)
								v, _, err := tx.Get(k)
								if err != nil {
									return err
								}
								if err := tx.Insert(k, v+1_000_000); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			// The sequence cycles over the writers' keys.
			seq := func(yield func(string, int64) bool) {
				for i := range 3000 {
					if !yield(loadKey(i%keys), int64(i)) {
						return
					}
				}
			}
			before := loadStats(t, db).Retries
			n, err := db.Load(ctx, seq, fluxmap.LoadOptions{BatchKeys: 5})
			close(stop)
			wg.Wait()
			require.NoError(t, err)
			require.Equal(t, 3000, n)
			t.Logf("retries during the load (Load's and the writers'): %d", loadStats(t, db).Retries-before)
			got, err := db.PrefixScan(ctx, "load:")
			require.NoError(t, err)
			require.Len(t, got, keys)
		})
	}
}

// TestLoadNestedInTransactionEnds: a Load inside a Transaction function,
// of a key the transaction reads and writes, makes every commit conflict;
// like a nested Insert it must be refused after a few attempts, in a
// durable database too, where its batches commit on other goroutines.
func TestLoadNestedInTransactionEnds(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			b := fluxmap.New[string, int64]().Shards(2)
			if durable {
				b.DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()})
			}
			db := buildLoadDB(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			attempts := 0
			err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
				attempts++
				if _, _, err := tx.Get(loadKey(0)); err != nil {
					return err
				}
				if _, err := db.Load(ctx, loadSeq(1), fluxmap.LoadOptions{}); err != nil {
					return err
				}
				return tx.Insert(loadKey(0), 3)
			})
			require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
			require.ErrorContains(t, err, "inside a DB.Transaction function")
			require.NoError(t, ctx.Err(), "Transaction ran until its context ended")
			require.Less(t, attempts, 10)
		})
	}
}
