package fluxmap_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// TestDurableConfigErrors: Build refuses an invalid durable configuration
// with ErrConfig naming the setting, before it touches the directory.
func TestDurableConfigErrors(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db") // must not come into existence
	opts := fluxmap.PersistenceOptions{Dir: dir}
	for _, tc := range []struct {
		name  string
		b     *fluxmap.Builder[string, int64]
		field string
	}{
		{"relaxed without flush trigger", fluxmap.New[string, int64]().DurabilityRelaxed(opts), "DurabilityRelaxed"},
		{"full with empty dir", fluxmap.New[string, int64]().DurabilityFull(fluxmap.PersistenceOptions{}), "PersistenceOptions.Dir"},
		{"relaxed with empty dir", fluxmap.New[string, int64]().
			DurabilityRelaxed(fluxmap.PersistenceOptions{}).FlushAfterCommits(1), "PersistenceOptions.Dir"},
		{"segment below 4 KiB", fluxmap.New[string, int64]().
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4095}), "PersistenceOptions.SegmentSize"},
		{"negative pool", fluxmap.New[string, int64]().
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, PoolSize: -1}), "PersistenceOptions.PoolSize"},
		{"negative flush interval", fluxmap.New[string, int64]().DurabilityRelaxed(opts).FlushInterval(-1), "FlushInterval"},
		{"negative flush commits", fluxmap.New[string, int64]().DurabilityRelaxed(opts).
			FlushInterval(time.Millisecond).FlushAfterCommits(-1), "FlushAfterCommits"},
		{"negative flush bytes", fluxmap.New[string, int64]().DurabilityRelaxed(opts).
			FlushInterval(time.Millisecond).FlushAfterBytes(-1), "FlushAfterBytes"},
		{"negative checkpoint bytes", fluxmap.New[string, int64]().DurabilityFull(opts).CheckpointAfterBytes(-1), "CheckpointAfterBytes"},
		{"segment above 4 GiB", fluxmap.New[string, int64]().
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4<<30 + 1}), "PersistenceOptions.SegmentSize"},
		{"value limit beyond a WAL record", fluxmap.New[string, int64]().DurabilityFull(opts).MaxValueSize(256 << 20), "MaxValueSize"},
		{"file mode beyond 0o777", fluxmap.New[string, int64]().
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, FileMode: os.ModeSetuid | 0o600}), "PersistenceOptions.FileMode"},
		{"file mode the owner cannot write", fluxmap.New[string, int64]().
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, FileMode: 0o444}), "PersistenceOptions.FileMode"},
		{"full and relaxed", fluxmap.New[string, int64]().DurabilityFull(opts).DurabilityRelaxed(opts).FlushAfterCommits(1),
			"DurabilityFull, DurabilityRelaxed"},
		{"relaxed and full", fluxmap.New[string, int64]().DurabilityRelaxed(opts).FlushAfterCommits(1).DurabilityFull(opts),
			"DurabilityFull, DurabilityRelaxed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := tc.b.Build(ctx)
			require.ErrorIs(t, err, fluxmap.ErrConfig)
			require.ErrorContains(t, err, tc.field)
			require.Nil(t, db)
		})
	}

	type noCodec struct{ A chan int }
	for _, full := range []bool{true, false} {
		b := fluxmap.New[string, noCodec]()
		if full {
			b.DurabilityFull(opts)
		} else {
			b.DurabilityRelaxed(opts).FlushInterval(time.Millisecond)
		}
		db, err := b.Build(ctx)
		require.ErrorIs(t, err, fluxmap.ErrConfig, "a durable database needs a value codec")
		require.ErrorContains(t, err, "ValueCodec")
		require.Nil(t, db)
	}
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "a refused configuration created its directory")

	// The same value type is fine in memory, where nothing is encoded.
	db := build(t, fluxmap.New[string, noCodec]())
	require.NoError(t, db.Insert(ctx, "k", noCodec{A: make(chan int)}))
}

// TestDurableUnencodableValue: with JSONCodec, a value JSON cannot encode
// (a NaN float) is refused by Insert, in autocommit and in a transaction,
// and nothing is lost or poisoned: earlier values stay, the transaction's
// other writes commit, later commits work and everything survives a
// reopen.
func TestDurableUnencodableValue(t *testing.T) {
	type reading struct{ F float64 }
	ctx := context.Background()
	for _, full := range []bool{true, false} {
		t.Run(map[bool]string{true: "Full", false: "Relaxed"}[full], func(t *testing.T) {
			dir := t.TempDir()
			open := func() *fluxmap.DB[string, reading] {
				b := fluxmap.New[string, reading]().Shards(4).ValueCodec(fluxmap.JSONCodec[reading]())
				if full {
					b.DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 64 << 10})
				} else {
					b.DurabilityRelaxed(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 64 << 10}).FlushInterval(time.Millisecond)
				}
				db, err := b.Build(ctx)
				require.NoError(t, err)
				return db
			}
			db := open()
			require.NoError(t, db.Insert(ctx, "a", reading{1}))

			var unsupported *json.UnsupportedValueError
			err := db.Insert(ctx, "a", reading{math.NaN()})
			require.ErrorAs(t, err, &unsupported)
			require.NotErrorIs(t, err, fluxmap.ErrPoisoned)
			err = db.Insert(ctx, "b", reading{math.Inf(1)})
			require.ErrorAs(t, err, &unsupported)

			require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, reading]) error {
				require.ErrorAs(t, tx.Insert("c", reading{math.NaN()}), &unsupported)
				return tx.Insert("d", reading{4})
			}))
			require.NoError(t, db.Insert(ctx, "e", reading{5}))
			want := map[string]reading{"a": {1}, "d": {4}, "e": {5}}
			require.Equal(t, want, durableState(t, db))
			require.NoError(t, db.Close())

			db = open()
			require.Equal(t, want, durableState(t, db))
			require.NoError(t, db.Close())
		})
	}
}
