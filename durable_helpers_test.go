package fluxmap_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

// durableLong reports whether the long durability runs were asked for
// (FLUXMAP_LONG=1), which multiply the seeds, rounds and fault points.
func durableLong() bool { return os.Getenv("FLUXMAP_LONG") == "1" }

// durableCount picks a repetition count: short under -short, ci by
// default, long with FLUXMAP_LONG=1.
func durableCount(short, ci, long int) int {
	switch {
	case durableLong():
		return long
	case testing.Short():
		return short
	}
	return ci
}

// durableState reads the whole database with one scan.
func durableState[V any](t testing.TB, db *fluxmap.DB[string, V]) map[string]V {
	t.Helper()
	entries, err := db.PrefixScan(context.Background(), "")
	require.NoError(t, err)
	m := make(map[string]V, len(entries))
	for _, e := range entries {
		m[e.Key] = e.Value
	}
	require.Len(t, m, len(entries), "a scan returned a key twice")
	return m
}

// probeKey sorts after every workload key, so workload scans can skip it.
const probeKey = "~probe"

// recoveredTS returns the last commit timestamp a freshly opened database
// recovered (its next commit gets the one after). It commits probeKey, so
// read the state first.
func recoveredTS[V any](t testing.TB, db *fluxmap.DB[string, V], v V) uint64 {
	t.Helper()
	tx, err := db.Begin(context.Background())
	require.NoError(t, err)
	require.NoError(t, tx.Insert(probeKey, v))
	ts, err := txhook.CommitTS(tx)
	require.NoError(t, err, "a commit on a freshly recovered database failed")
	require.NotZero(t, ts)
	return ts - 1
}
