package fluxetcd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/fluxetcd"
	"github.com/fluxmap/fluxmap/fluxetcd/internal/loopback"
)

func openWith[K, V any](t *testing.T, cli *clientv3.Client, opts fluxetcd.Options[K, V]) *fluxetcd.DB[K, V] {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = testPrefix(t)
	}
	db, err := fluxetcd.Open(ctxFor(t, defaultWait), cli, opts)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenRefusesBadOptions(t *testing.T) {
	ctx := ctxFor(t, defaultWait)
	_, err := fluxetcd.Open[string, int64](ctx, nil, fluxetcd.Options[string, int64]{})
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	cli := shared.client(t)
	_, err = fluxetcd.Open(ctx, cli, fluxetcd.Options[string, int64]{MaxTxnOps: -1})
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	require.ErrorContains(t, err, "MaxTxnOps")
	type order struct{ ID int }
	_, err = fluxetcd.Open(ctx, cli, fluxetcd.Options[string, order]{})
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	require.ErrorContains(t, err, "ValueCodec")
	_, err = fluxetcd.Open(ctx, cli, fluxetcd.Options[string, order]{ValueCodec: fluxmap.JSONCodec[order]()})
	require.NoError(t, err)
}

func TestAutocommitAndKeyOrder(t *testing.T) {
	ctx := ctxFor(t, defaultWait)
	db := openWith(t, shared.client(t), fluxetcd.Options[int64, string]{PageSize: 3})
	for i := int64(-5); i < 5; i++ {
		require.NoError(t, db.Insert(ctx, i, fmt.Sprint(i)))
	}
	rows, err := db.Range(ctx, -3, 3)
	require.NoError(t, err)
	var keys []int64
	for _, r := range rows {
		keys = append(keys, r.Key)
		require.Equal(t, fmt.Sprint(r.Key), r.Value)
	}
	require.Equal(t, []int64{-3, -2, -1, 0, 1, 2}, keys, "integer keys in numeric order, across pages")
	old, existed, err := db.Remove(ctx, 0)
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, "0", old)
	_, ok, err := db.Get(ctx, 0)
	require.NoError(t, err)
	require.False(t, ok)
	_, existed, err = db.Remove(ctx, 0)
	require.NoError(t, err)
	require.False(t, existed)
	rows, err = db.Range(ctx, 3, -3)
	require.NoError(t, err)
	require.Empty(t, rows)
}

// TestTxStreamMergesWrites checks a paged Tx stream against the
// transaction's own writes: inserted, overwritten and deleted keys on both
// sides of page boundaries, and a loop that writes and stops early.
func TestTxStreamMergesWrites(t *testing.T) {
	ctx := ctxFor(t, defaultWait)
	db := openWith(t, shared.client(t), fluxetcd.Options[string, int64]{PageSize: 2})
	for i := range 7 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("s/%d", 2*i), int64(2*i))) // 0 2 4 ... 12
	}
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback()
	require.NoError(t, tx.Insert("s/1", 1))
	require.NoError(t, tx.Insert("s/4", 40))
	_, _, err = tx.Remove("s/6")
	require.NoError(t, err)
	require.NoError(t, tx.Insert("s/99", 99))
	var got []string
	s := tx.PrefixStream("s/")
	for k, v := range s.All() {
		got = append(got, fmt.Sprintf("%s=%d", k, v))
		require.NoError(t, tx.Insert("seen/"+k, v)) // the Tx is usable inside the loop
	}
	require.NoError(t, s.Err())
	require.Equal(t, []string{"s/0=0", "s/1=1", "s/10=10", "s/12=12", "s/2=2", "s/4=40", "s/8=8", "s/99=99"}, got)
	n := 0
	for range s.All() {
		if n++; n == 3 {
			break
		}
	}
	require.NoError(t, s.Err())
	require.NoError(t, tx.Commit())
	v, ok, err := db.Get(ctx, "seen/s/99")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(99), v)
}

// TestTxnTooLarge checks that transactions etcd would refuse are refused
// before anything is sent, and that a refusal by the cluster itself (here
// a client configured above the server's limit) maps the same way.
func TestTxnTooLarge(t *testing.T) {
	ctx := ctxFor(t, defaultWait)
	cli := shared.client(t)
	db := openWith(t, cli, fluxetcd.Options[string, string]{})

	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	for i := range fluxetcd.DefaultMaxTxnOps {
		require.NoError(t, tx.Insert(fmt.Sprint(i), "v"))
	}
	require.ErrorIs(t, tx.Insert("one more", "v"), fluxmap.ErrTxnTooLarge)
	require.NoError(t, tx.Insert("0", "overwrite is no new op"))
	require.NoError(t, tx.Rollback())

	tx, err = db.Begin(ctx)
	require.NoError(t, err)
	for i := range fluxetcd.DefaultMaxTxnOps + 1 {
		_, _, err := tx.Get(fmt.Sprint(i))
		require.NoError(t, err)
	}
	require.NoError(t, tx.Insert("x", "v"))
	require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnTooLarge)

	tx, err = db.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Insert("big", strings.Repeat("x", fluxetcd.DefaultMaxRequestBytes)))
	require.ErrorIs(t, tx.Commit(), fluxmap.ErrTxnTooLarge)

	over := openWith(t, cli, fluxetcd.Options[string, string]{Prefix: testPrefix(t) + "over/", MaxTxnOps: 1000})
	err = over.Transaction(ctx, func(tx *fluxetcd.Tx[string, string]) error {
		for i := range 200 {
			if err := tx.Insert(fmt.Sprint(i), "v"); err != nil {
				return err
			}
		}
		return nil
	})
	require.ErrorIs(t, err, fluxmap.ErrTxnTooLarge)
	require.NotErrorIs(t, err, fluxmap.ErrCommitUnknown)
	rows, err := over.PrefixScan(ctx, "")
	require.NoError(t, err)
	require.Empty(t, rows)
}

// TestClosedClient checks that a DB whose etcd client was closed fails
// every call with ErrClosed.
func TestClosedClient(t *testing.T) {
	ctx := ctxFor(t, defaultWait)
	cli := shared.client(t)
	db := openWith(t, cli, fluxetcd.Options[string, int64]{})
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, cli.Close())
	_, _, err = db.Get(ctx, "a")
	require.ErrorIs(t, err, fluxmap.ErrClosed)
	require.ErrorIs(t, db.Insert(ctx, "a", 1), fluxmap.ErrClosed)
	_, _, err = tx.Get("a")
	require.ErrorIs(t, err, fluxmap.ErrClosed)
	_, err = db.Begin(ctx)
	require.ErrorIs(t, err, fluxmap.ErrClosed)
}

// TestUnavailable checks that calls on a cluster that cannot answer fail
// with ErrUnavailable within their context's deadline, and that writes
// say their outcome is unknown.
func TestUnavailable(t *testing.T) {
	c := startCluster(t, 1, nil)
	ctx := ctxFor(t, defaultWait)
	cli := c.client(t)
	db := openWith(t, cli, fluxetcd.Options[string, int64]{})
	require.NoError(t, db.Insert(ctx, "a", 1))
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	_, _, err = tx.Get("a")
	require.NoError(t, err)
	require.NoError(t, tx.Insert("a", 2))
	c.Stop(0)

	const deadline = 500 * time.Millisecond
	within := func(name string, call func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		err := call(ctx)
		require.Less(t, time.Since(start), deadline+2*time.Second, "%s did not honour its deadline", name)
		require.ErrorIs(t, err, fluxetcd.ErrUnavailable, "%s", name)
		return err
	}
	within("get", func(ctx context.Context) error { _, _, err := db.Get(ctx, "a"); return err })
	err = within("insert", func(ctx context.Context) error { return db.Insert(ctx, "a", 3) })
	require.ErrorIs(t, err, fluxmap.ErrCommitUnknown)
	within("scan", func(ctx context.Context) error { _, err := db.PrefixScan(ctx, ""); return err })
	within("transaction", func(ctx context.Context) error {
		return db.Transaction(ctx, func(tx *fluxetcd.Tx[string, int64]) error { _, _, err := tx.Get("a"); return err })
	})
	// A Tx's requests run under Begin's context: its deadline bounds the
	// commit.
	dctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	dtx, err := db.Begin(dctx)
	require.NoError(t, err)
	require.NoError(t, dtx.Insert("b", 1))
	err = dtx.Commit()
	require.ErrorIs(t, err, fluxetcd.ErrUnavailable)
	require.ErrorIs(t, err, fluxmap.ErrCommitUnknown)
	require.NoError(t, tx.Rollback())

	within("open", func(ctx context.Context) error {
		_, err := fluxetcd.Open[string, int64](ctx, cli, fluxetcd.Options[string, int64]{})
		return err
	})
}

// TestOpenUnreachable checks that Open against an address where no etcd
// listens fails within its deadline with ErrUnavailable.
func TestOpenUnreachable(t *testing.T) {
	port, err := loopback.FreePort()
	require.NoError(t, err)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{fmt.Sprintf("http://127.0.0.1:%d", port)},
		DialTimeout: time.Second,
		Logger:      zap.NewNop(),
	})
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = fluxetcd.Open[string, int64](ctx, cli, fluxetcd.Options[string, int64]{})
	require.ErrorIs(t, err, fluxetcd.ErrUnavailable)
	require.ErrorContains(t, err, "no connection to any endpoint")
	require.Less(t, time.Since(start), 3*time.Second)
}
