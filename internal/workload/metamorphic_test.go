package workload_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/workload"
)

// TestMetamorphic runs one seeded sequence of 5,000 operations under every
// configuration of workload.MetaMatrix (durable ones closed and reopened
// along the way, vacuumed ones vacuumed between and inside transactions)
// and requires each to produce exactly the reference model's results.
func TestMetamorphic(t *testing.T) {
	steps := workload.GenerateMetamorphic(42, 5000)
	want := workload.ReferenceMetamorphic(steps)

	// The sequence must exercise what it claims to: every kind of
	// operation, with results that are not all empty.
	ops := 0
	for _, s := range steps {
		ops += len(s.Ops)
	}
	require.GreaterOrEqual(t, ops, 5000)
	for _, frag := range []string{
		"get ", "insert ", "remove ", "range ", "prefix ", "commit: ok", "rollback: ok", "view: ok",
		" true", " false", "=", // found and missing keys, non-empty scans
	} {
		require.True(t, strings.Contains(strings.Join(want, "\n"), frag), "no result line with %q", frag)
	}

	for _, cfg := range workload.MetaMatrix() {
		t.Run(cfg.Name, func(t *testing.T) {
			got, err := workload.RunMetamorphicConfig(context.Background(), cfg, t.TempDir(), steps)
			require.NoError(t, err)
			require.NoError(t, workload.CompareMetamorphic(steps, got, want))
		})
	}
}
