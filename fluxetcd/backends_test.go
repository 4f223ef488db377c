package fluxetcd_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/fluxetcd"
)

// txn is what the shared tests need of a transaction: the portable
// interface plus the ending calls, which both backends' Tx types have.
type txn interface {
	fluxmap.ReadWriteTx[string, int64]
	Commit() error
	Rollback() error
}

// backend is one database, embedded or on etcd, seen through the calls the
// shared tests make. Each test gets a fresh, empty one.
type backend struct {
	begin       func(context.Context) (txn, error)
	transaction func(context.Context, func(fluxmap.ReadWriteTx[string, int64]) error) error
	view        func(context.Context, func(fluxmap.ReadTx[string, int64]) error) error
	insert      func(context.Context, string, int64) error
	get         func(context.Context, string) (int64, bool, error)
	prefixScan  func(context.Context, string) ([]fluxmap.Entry[string, int64], error)
	close       func() error
}

// backends are the systems the shared tests run on: the embedded engine,
// which defines the semantics, and etcd, which must match it.
var backends = []struct {
	name string
	open func(t *testing.T) *backend
}{
	{"embedded", openEmbedded},
	{"etcd", openEtcd},
}

func openEmbedded(t *testing.T) *backend {
	db, err := fluxmap.New[string, int64]().Build(context.Background())
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &backend{
		begin: func(ctx context.Context) (txn, error) { return db.Begin(ctx) },
		transaction: func(ctx context.Context, fn func(fluxmap.ReadWriteTx[string, int64]) error) error {
			return db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error { return fn(tx) })
		},
		view: func(ctx context.Context, fn func(fluxmap.ReadTx[string, int64]) error) error {
			return db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error { return fn(tx) })
		},
		insert:     db.Insert,
		get:        db.Get,
		prefixScan: db.PrefixScan,
		close:      db.Close,
	}
}

// openEtcd opens a database on the shared cluster under a prefix of the
// test's own.
func openEtcd(t *testing.T) *backend {
	return etcdBackend(t, openEtcdDB(t, shared))
}

func openEtcdDB(t *testing.T, c *testCluster) *fluxetcd.DB[string, int64] {
	t.Helper()
	db, err := fluxetcd.Open[string, int64](ctxFor(t, defaultWait), c.client(t), fluxetcd.Options[string, int64]{
		Prefix: testPrefix(t),
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func etcdBackend(t *testing.T, db *fluxetcd.DB[string, int64]) *backend {
	return &backend{
		begin: func(ctx context.Context) (txn, error) { return db.Begin(ctx) },
		transaction: func(ctx context.Context, fn func(fluxmap.ReadWriteTx[string, int64]) error) error {
			return db.Transaction(ctx, func(tx *fluxetcd.Tx[string, int64]) error { return fn(tx) })
		},
		view: func(ctx context.Context, fn func(fluxmap.ReadTx[string, int64]) error) error {
			return db.View(ctx, func(tx *fluxetcd.Tx[string, int64]) error { return fn(tx) })
		},
		insert:     db.Insert,
		get:        db.Get,
		prefixScan: db.PrefixScan,
		close:      db.Close,
	}
}

// forEachBackend runs test once per backend, each on a fresh database.
func forEachBackend(t *testing.T, test func(t *testing.T, b *backend)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { test(t, be.open(t)) })
	}
}

// prefixes counts the prefixes handed out, so that a test run again in the
// same process (-count) starts on keys of its own in the shared cluster.
var prefixes atomic.Int64

// testPrefix returns a key prefix no other test, or run of it, uses.
func testPrefix(t *testing.T) string {
	return fmt.Sprintf("test/%s/%d/", strings.ReplaceAll(t.Name(), "/", "_"), prefixes.Add(1))
}
