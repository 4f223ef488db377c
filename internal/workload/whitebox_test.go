package workload_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	hc "github.com/fluxmap/fluxmap/internal/histcheck"
	"github.com/fluxmap/fluxmap/internal/workload"
)

func txnAt(start, commit uint64, ops ...hc.Op) hc.Txn {
	return hc.Txn{Status: hc.Committed, StartTS: start, CommitTS: commit, Ops: ops}
}

// TestWhiteBoxHandBuilt checks the replayer on small histories, each with
// at most one thing wrong.
func TestWhiteBoxHandBuilt(t *testing.T) {
	ok := hc.History{Model: hc.ListAppend, Txns: []hc.Txn{
		txnAt(0, 1, hc.Read("x"), hc.Append("x", 1)),
		txnAt(1, 2, hc.Read("x", 1), hc.Append("x", 2), hc.Read("x", 1, 2)),
		txnAt(1, 0, hc.Read("x", 1), hc.Scan("a", "z", hc.Entry{Key: "x", List: []int{1}})), // read-only at 1
		{Status: hc.Aborted, Ops: []hc.Op{hc.Read("x", 7)}},                                 // ignored
		txnAt(2, 0, hc.Scan("a", "z", hc.Entry{Key: "x", List: []int{1, 2}})),
	}}
	require.Empty(t, workload.WhiteBox(ok, true))

	cases := map[string]struct {
		want string
		h    hc.History
	}{
		"stale_read": {"the serial state has [1]", hc.History{Model: hc.ListAppend, Txns: []hc.Txn{
			txnAt(0, 1, hc.Append("x", 1)),
			txnAt(0, 2, hc.Read("x"), hc.Append("y", 2)), // commits after 1 but missed it
		}}},
		"read_only_sees_future": {"the serial state has nil", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(0, 0, hc.ReadReg("x", 1)),
		}}},
		"scan_misses_key": {"the serial state has scan", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(1, 0, hc.Scan("a", "z")),
		}}},
		"own_write_not_seen": {"the serial state has 1", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1), hc.ReadAbsent("x")),
		}}},
		"duplicate_commit_ts": {"also given to", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(0, 1, hc.Write("y", 2)),
		}}},
		"sparse_commit_ts": {"not dense", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 2, hc.Write("x", 1)),
		}}},
		"commit_ts_not_after_start": {"not above start", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(2, 2, hc.Write("y", 1)),
		}}},
		"writes_without_commit_ts": {"commit timestamp 0", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 0, hc.Write("x", 1)),
		}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			vs := workload.WhiteBox(c.h, true)
			require.NotEmpty(t, vs)
			require.Contains(t, vs[0].String(), c.want)
		})
	}
}

func TestCompareMetamorphicReportsFirstDifference(t *testing.T) {
	steps := workload.GenerateMetamorphic(1, 50)
	want := workload.ReferenceMetamorphic(steps)
	require.NoError(t, workload.CompareMetamorphic(steps, want, want))
	got := append([]string(nil), want...)
	got[10] += " (changed)"
	err := workload.CompareMetamorphic(steps, got, want)
	require.ErrorContains(t, err, "line 10")
	require.Error(t, workload.CompareMetamorphic(steps, got[:20], want))
}
