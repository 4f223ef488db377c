package workload_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/fanout"
	"github.com/fluxmap/fluxmap/internal/histcheck"
	"github.com/fluxmap/fluxmap/internal/workload"
)

// TestMain fails the run if a database's goroutines outlive the tests. The
// ants pool library's own default-pool goroutines (started when it is
// imported) are ignored.
func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range fanout.LeakOptions {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}

// Model selects the value model of a history run.
type model int

const (
	listAppend model = iota
	register
)

func (m model) String() string {
	if m == listAppend {
		return "list-append"
	}
	return "rw-register"
}

// runHistory builds a fresh database, runs opt on it in model m, closes it
// and returns the outcome. The run itself must not fail: conflicts are
// outcomes, not errors.
func runHistory(t *testing.T, m model, shards int, iso fluxmap.IsolationLevel, opt workload.Options) workload.Outcome {
	t.Helper()
	ctx := context.Background()
	var out workload.Outcome
	var err error
	switch m {
	case listAppend:
		db, berr := fluxmap.New[string, []int]().Shards(shards).Isolation(iso).Build(ctx)
		require.NoError(t, berr)
		defer db.Close() //nolint:errcheck // checked below; this one runs if a require stops the test
		out, err = workload.RunListAppend(ctx, db, opt)
		require.NoError(t, db.Close())
	default:
		db, berr := fluxmap.New[string, int]().Shards(shards).Isolation(iso).Build(ctx)
		require.NoError(t, berr)
		defer db.Close() //nolint:errcheck // as above
		out, err = workload.RunRegister(ctx, db, opt)
		require.NoError(t, db.Close())
	}
	require.NoError(t, err, "seed %d", opt.Seed)
	return out
}

// requireSerializable runs both checkers on a history that must be clean.
func requireSerializable(t *testing.T, out workload.Outcome, what string) {
	t.Helper()
	h := out.History
	res := histcheck.Check(h)
	require.True(t, res.OK(), "%s: the checker found anomalies:\n%s", what, res.Report(h, 5))
	require.Zero(t, res.Unknown, "%s: transactions with unknown outcome", what)
	vs := workload.WhiteBox(h, true)
	require.Empty(t, vs, "%s: the white-box replay disagrees (first of %d): %v", what, len(vs), first(vs))
}

func first(vs []workload.Violation) any {
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}
