package fluxmap_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/fanout"
)

// TestMain fails the run if any goroutine outlives the tests: every DB a
// test builds is closed in t.Cleanup, and Close must wait for all of the
// engine's goroutines (shards, coordinator, stream helpers).
//
// The ants worker-pool library starts two goroutines for its default pool
// when it is imported; they are not the engine's and are ignored.
func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range fanout.LeakOptions {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}

// shardCounts are the configurations the interleaving, bank and scan tests
// run under: one shard (every transaction takes the single-shard fast path)
// and several shards (most multi-key transactions run two-phase commit).
var shardCounts = []int{1, 4, 16}

// forEachShardCount runs fn as one subtest per entry of shardCounts.
func forEachShardCount(t *testing.T, fn func(t *testing.T, shards int)) {
	t.Helper()
	for _, n := range shardCounts {
		t.Run(fmt.Sprintf("shards=%d", n), func(t *testing.T) { fn(t, n) })
	}
}

// build builds b and closes the DB when the test ends. Close must succeed.
func build[K, V any](t testing.TB, b *fluxmap.Builder[K, V]) *fluxmap.DB[K, V] {
	t.Helper()
	db, err := b.Build(context.Background())
	require.NoError(t, err)
	require.NotNil(t, db)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// newStringDB is the DB most tests use: string keys, int64 values.
func newStringDB(t testing.TB, shards int) *fluxmap.DB[string, int64] {
	t.Helper()
	return build(t, fluxmap.New[string, int64]().Shards(shards))
}

// begin starts a manual transaction that the test must finish itself.
func begin[K, V any](t testing.TB, db *fluxmap.DB[K, V]) *fluxmap.Tx[K, V] {
	t.Helper()
	tx, err := db.Begin(context.Background())
	require.NoError(t, err)
	require.NotNil(t, tx)
	return tx
}

// txGet reads key in tx and requires the read to succeed.
func txGet[K, V any](t testing.TB, tx *fluxmap.Tx[K, V], key K) (V, bool) {
	t.Helper()
	v, ok, err := tx.Get(key)
	require.NoError(t, err)
	return v, ok
}

// txMustGet reads a key that must exist in tx's view.
func txMustGet[K, V any](t testing.TB, tx *fluxmap.Tx[K, V], key K) V {
	t.Helper()
	v, ok := txGet(t, tx, key)
	require.Truef(t, ok, "key %v missing in tx", key)
	return v
}

// txInsert buffers a write and requires it to be accepted.
func txInsert[K, V any](t testing.TB, tx *fluxmap.Tx[K, V], key K, val V) {
	t.Helper()
	require.NoError(t, tx.Insert(key, val))
}

// dbGet is an autocommit read that must succeed.
func dbGet[K, V any](t testing.TB, db *fluxmap.DB[K, V], key K) (V, bool) {
	t.Helper()
	v, ok, err := db.Get(context.Background(), key)
	require.NoError(t, err)
	return v, ok
}

// requireValue asserts that key currently holds want.
func requireValue[K, V any](t testing.TB, db *fluxmap.DB[K, V], key K, want V) {
	t.Helper()
	v, ok := dbGet(t, db, key)
	require.Truef(t, ok, "key %v missing", key)
	require.Equalf(t, want, v, "key %v", key)
}

// requireAbsent asserts that key is not present.
func requireAbsent[K, V any](t testing.TB, db *fluxmap.DB[K, V], key K) {
	t.Helper()
	v, ok := dbGet(t, db, key)
	require.Falsef(t, ok, "key %v unexpectedly present with value %v", key, v)
}

// dbInsert is an autocommit write that must succeed.
func dbInsert[K, V any](t testing.TB, db *fluxmap.DB[K, V], key K, val V) {
	t.Helper()
	require.NoError(t, db.Insert(context.Background(), key, val))
}

// collect drains a stream and returns its entries in order.
func collect[K, V any](s *fluxmap.Stream[K, V]) []fluxmap.Entry[K, V] {
	var out []fluxmap.Entry[K, V]
	for k, v := range s.All() {
		out = append(out, fluxmap.Entry[K, V]{Key: k, Value: v})
	}
	return out
}
