package fluxetcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// defaultWait bounds every call of the fast tests: a hang fails the test
// instead of the run.
const defaultWait = 30 * time.Second

// anomalies is the shared isolation table: each case sets up data, runs
// interleaved transactions and checks which commits succeed. Every case
// runs on the embedded engine and on etcd, so the two are held to the same
// semantics.
var anomalies = []struct {
	name string
	seed map[string]int64
	run  func(t *testing.T, ctx context.Context, b *backend)
}{
	{
		// Two doctors on call each check that the other stays on call,
		// then leave: serializable refuses the second.
		name: "write skew",
		seed: map[string]int64{"oncall/a": 1, "oncall/b": 1},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			t1, t2 := mustBegin(t, ctx, b), mustBegin(t, ctx, b)
			require.Equal(t, int64(2), sum(t, t1, "oncall/a", "oncall/b"))
			require.Equal(t, int64(2), sum(t, t2, "oncall/a", "oncall/b"))
			require.NoError(t, t1.Insert("oncall/a", 0))
			require.NoError(t, t2.Insert("oncall/b", 0))
			require.NoError(t, t1.Commit())
			require.ErrorIs(t, t2.Commit(), fluxmap.ErrConflict)
			requireValues(t, ctx, b, map[string]int64{"oncall/a": 0, "oncall/b": 1})
		},
	},
	{
		name: "lost update",
		seed: map[string]int64{"counter": 10},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			t1, t2 := mustBegin(t, ctx, b), mustBegin(t, ctx, b)
			v1 := mustGet(t, t1, "counter")
			v2 := mustGet(t, t2, "counter")
			require.NoError(t, t1.Insert("counter", v1+1))
			require.NoError(t, t2.Insert("counter", v2+1))
			require.NoError(t, t1.Commit())
			require.ErrorIs(t, t2.Commit(), fluxmap.ErrConflict)
			requireValues(t, ctx, b, map[string]int64{"counter": 11})
		},
	},
	{
		// Both see the key absent and claim it: only one may.
		name: "insert if absent",
		run: func(t *testing.T, ctx context.Context, b *backend) {
			t1, t2 := mustBegin(t, ctx, b), mustBegin(t, ctx, b)
			for i, tx := range []txn{t1, t2} {
				_, ok, err := tx.Get("lock")
				require.NoError(t, err)
				require.False(t, ok)
				require.NoError(t, tx.Insert("lock", int64(i+1)))
			}
			require.NoError(t, t1.Commit())
			require.ErrorIs(t, t2.Commit(), fluxmap.ErrConflict)
			requireValues(t, ctx, b, map[string]int64{"lock": 1})
		},
	},
	{
		// A transfer commits between a reader's two reads: the reader
		// still sees the total of its snapshot, and cannot commit a write
		// based on it.
		name: "read skew",
		seed: map[string]int64{"x": 50, "y": 50},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			t1 := mustBegin(t, ctx, b)
			x := mustGet(t, t1, "x")
			require.NoError(t, b.transaction(ctx, func(tx fluxmap.ReadWriteTx[string, int64]) error {
				if err := tx.Insert("x", 40); err != nil {
					return err
				}
				return tx.Insert("y", 60)
			}))
			y := mustGet(t, t1, "y")
			require.Equal(t, int64(100), x+y, "reads came from two states")
			require.NoError(t, t1.Insert("total", x+y))
			require.ErrorIs(t, t1.Commit(), fluxmap.ErrConflict)
			// A read-only view reads one state whatever commits meanwhile.
			require.NoError(t, b.view(ctx, func(tx fluxmap.ReadTx[string, int64]) error {
				x, _, err := tx.Get("x")
				require.NoError(t, err)
				require.NoError(t, b.insert(ctx, "y", 0))
				y, _, err := tx.Get("y")
				require.NoError(t, err)
				require.Equal(t, int64(100), x+y)
				return nil
			}))
		},
	},
	{
		name: "phantom in Range",
		seed: map[string]int64{"row/1": 1, "row/2": 2},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			phantom(t, ctx, b, func(tx txn) ([]fluxmap.Entry[string, int64], error) { return tx.Range("row/", "row0") },
				func(tx fluxmap.ReadWriteTx[string, int64]) error { return tx.Insert("row/3", 3) })
		},
	},
	{
		name: "phantom in PrefixScan",
		seed: map[string]int64{"row/1": 1, "row/2": 2},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			phantom(t, ctx, b, func(tx txn) ([]fluxmap.Entry[string, int64], error) { return tx.PrefixScan("row/") },
				func(tx fluxmap.ReadWriteTx[string, int64]) error { return tx.Insert("row/3", 3) })
		},
	},
	{
		// A row leaving the scanned range invalidates the scan as much as
		// one entering it.
		name: "phantom by delete",
		seed: map[string]int64{"row/1": 1, "row/2": 2},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			phantom(t, ctx, b, func(tx txn) ([]fluxmap.Entry[string, int64], error) { return tx.PrefixScan("row/") },
				func(tx fluxmap.ReadWriteTx[string, int64]) error { _, _, err := tx.Remove("row/1"); return err })
		},
	},
	{
		// Writes outside everything a transaction read do not conflict
		// with it.
		name: "disjoint commits both succeed",
		seed: map[string]int64{"row/1": 1, "other": 0},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			t1 := mustBegin(t, ctx, b)
			rows, err := t1.PrefixScan("row/")
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.NoError(t, t1.Insert("summary", 1))
			require.NoError(t, b.insert(ctx, "other", 5))
			require.NoError(t, b.insert(ctx, "rox", 5)) // just past the prefix
			require.NoError(t, t1.Commit())
			requireValues(t, ctx, b, map[string]int64{"summary": 1, "other": 5})
		},
	},
	{
		name: "read your writes",
		seed: map[string]int64{"k/1": 1, "k/2": 2},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			tx := mustBegin(t, ctx, b)
			require.NoError(t, tx.Insert("k/3", 3))
			require.NoError(t, tx.Insert("k/1", 10))
			require.Equal(t, int64(3), mustGet(t, tx, "k/3"))
			old, existed, err := tx.Remove("k/2")
			require.NoError(t, err)
			require.True(t, existed)
			require.Equal(t, int64(2), old)
			_, ok, err := tx.Get("k/2")
			require.NoError(t, err)
			require.False(t, ok)
			rows, err := tx.PrefixScan("k/")
			require.NoError(t, err)
			require.Equal(t, []fluxmap.Entry[string, int64]{{Key: "k/1", Value: 10}, {Key: "k/3", Value: 3}}, rows)
			rows, err = tx.Range("k/2", "k/4")
			require.NoError(t, err)
			require.Equal(t, []fluxmap.Entry[string, int64]{{Key: "k/3", Value: 3}}, rows)
			// Nobody else sees them before the commit.
			_, ok, err = b.get(ctx, "k/3")
			require.NoError(t, err)
			require.False(t, ok)
			require.NoError(t, tx.Commit())
			requireValues(t, ctx, b, map[string]int64{"k/1": 10, "k/3": 3})
			_, ok, err = b.get(ctx, "k/2")
			require.NoError(t, err)
			require.False(t, ok)
		},
	},
	{
		name: "lifecycle errors",
		seed: map[string]int64{"a": 1},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			tx := mustBegin(t, ctx, b)
			require.NoError(t, tx.Insert("a", 2))
			require.NoError(t, tx.Commit())
			require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnDone)
			require.ErrorIs(t, tx.Rollback(), fluxmap.ErrTxnDone)
			_, _, err := tx.Get("a")
			require.ErrorIs(t, err, fluxmap.ErrTxnDone)

			tx = mustBegin(t, ctx, b)
			require.NoError(t, tx.Insert("a", 3))
			require.NoError(t, tx.Rollback())
			require.ErrorIs(t, tx.Insert("a", 4), fluxmap.ErrTxnDone)
			require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnDone)
			requireValues(t, ctx, b, map[string]int64{"a": 2})

			err = b.view(ctx, func(tx fluxmap.ReadTx[string, int64]) error {
				return tx.(fluxmap.ReadWriteTx[string, int64]).Insert("a", 5)
			})
			require.ErrorIs(t, err, fluxmap.ErrReadOnly)

			cctx, cancel := context.WithCancel(ctx)
			tx = mustBegin(t, cctx, b)
			require.NoError(t, tx.Insert("a", 6))
			cancel()
			require.ErrorIs(t, tx.Commit(), context.Canceled)
			requireValues(t, ctx, b, map[string]int64{"a": 2})

			tx = mustBegin(t, ctx, b)
			require.NoError(t, b.close())
			require.ErrorIs(t, tx.Insert("a", 7), fluxmap.ErrClosed)
			_, err = b.begin(ctx)
			require.ErrorIs(t, err, fluxmap.ErrClosed)
			require.ErrorIs(t, b.insert(ctx, "a", 8), fluxmap.ErrClosed)
		},
	},
	{
		// Transaction retries conflicts until every increment lands once.
		name: "concurrent increments",
		seed: map[string]int64{"n": 0},
		run: func(t *testing.T, ctx context.Context, b *backend) {
			const workers, each = 4, 10
			errs := make(chan error, workers)
			for range workers {
				go func() {
					var err error
					for range each {
						if err = b.transaction(ctx, func(tx fluxmap.ReadWriteTx[string, int64]) error {
							n, _, err := tx.Get("n")
							if err != nil {
								return err
							}
							return tx.Insert("n", n+1)
						}); err != nil {
							break
						}
					}
					errs <- err
				}()
			}
			for range workers {
				require.NoError(t, <-errs)
			}
			requireValues(t, ctx, b, map[string]int64{"n": workers * each})
		},
	},
}

func TestAnomalies(t *testing.T) {
	for _, c := range anomalies {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b *backend) {
				ctx := ctxFor(t, defaultWait)
				for k, v := range c.seed {
					require.NoError(t, b.insert(ctx, k, v))
				}
				c.run(t, ctx, b)
			})
		})
	}
}

// phantom checks that a transaction that scanned with scan and wrote
// cannot commit after another commits change inside the scanned range.
func phantom(t *testing.T, ctx context.Context, b *backend, scan func(txn) ([]fluxmap.Entry[string, int64], error), change func(fluxmap.ReadWriteTx[string, int64]) error) {
	t1 := mustBegin(t, ctx, b)
	rows, err := scan(t1)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.NoError(t, t1.Insert("count", int64(len(rows))))
	require.NoError(t, b.transaction(ctx, change))
	require.ErrorIs(t, t1.Commit(), fluxmap.ErrConflict)
	_, ok, err := b.get(ctx, "count")
	require.NoError(t, err)
	require.False(t, ok, "the refused commit wrote")
}

func mustBegin(t *testing.T, ctx context.Context, b *backend) txn {
	t.Helper()
	tx, err := b.begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

func mustGet(t *testing.T, tx txn, key string) int64 {
	t.Helper()
	v, ok, err := tx.Get(key)
	require.NoError(t, err)
	require.True(t, ok, "%s absent", key)
	return v
}

func sum(t *testing.T, tx txn, keys ...string) int64 {
	t.Helper()
	var s int64
	for _, k := range keys {
		s += mustGet(t, tx, k)
	}
	return s
}

func requireValues(t *testing.T, ctx context.Context, b *backend, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		got, ok, err := b.get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, "%s absent", k)
		require.Equal(t, v, got, "%s", k)
	}
}
