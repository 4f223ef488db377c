package histcheck_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	hc "github.com/fluxmap/fluxmap/internal/histcheck"
)

func committed(ops ...hc.Op) hc.Txn { return hc.Txn{Status: hc.Committed, Ops: ops} }
func aborted(ops ...hc.Op) hc.Txn   { return hc.Txn{Status: hc.Aborted, Ops: ops} }
func unknown(ops ...hc.Op) hc.Txn   { return hc.Txn{Status: hc.Unknown, Ops: ops} }

// at gives a register transaction its commit timestamp.
func at(ts uint64, t hc.Txn) hc.Txn { t.CommitTS = ts; return t }

func list(txns ...hc.Txn) hc.History { return hc.History{Model: hc.ListAppend, Txns: txns} }
func reg(txns ...hc.Txn) hc.History  { return hc.History{Model: hc.Register, Txns: txns} }

func e(key string, l ...int) hc.Entry { return hc.Entry{Key: key, List: l} }

// requireAnomaly checks that Check reports kind, and for a cycle kind that
// the evidence is a real cycle through exactly the transactions want.
func requireAnomaly(t *testing.T, h hc.History, kind hc.Kind, want ...int) hc.Anomaly {
	t.Helper()
	res := hc.Check(h)
	for _, a := range res.Anomalies {
		if a.Kind != kind {
			continue
		}
		if len(a.Cycle) > 0 {
			for i, e := range a.Cycle {
				require.Equal(t, e.To, a.Cycle[(i+1)%len(a.Cycle)].From, "cycle %v is not closed", a)
			}
		}
		if want != nil {
			got := slices.Clone(a.Txns)
			slices.Sort(got)
			require.Equal(t, want, got, "%s", a)
		}
		return a
	}
	require.Failf(t, "anomaly not reported", "want %s, got:\n%s", kind, res.Report(h, 0))
	return hc.Anomaly{}
}

func requireOK(t *testing.T, h hc.History) {
	t.Helper()
	res := hc.Check(h)
	require.True(t, res.OK(), "%s", res.Report(h, 0))
}

func TestSerializableListHistories(t *testing.T) {
	cases := map[string]hc.History{
		"chain": list(
			committed(hc.Append("x", 1)),
			committed(hc.Read("x", 1), hc.Append("x", 2)),
			committed(hc.Read("x", 1, 2), hc.Read("y")),
		),
		"aborted_unseen": list(
			aborted(hc.Append("x", 9)),
			committed(hc.Read("x")),
		),
		"read_only_between_writers": list(
			committed(hc.Append("x", 1), hc.Append("y", 1)),
			committed(hc.Read("x", 1), hc.Read("y", 1)),
			committed(hc.Read("x", 1), hc.Append("x", 2), hc.Read("y", 1), hc.Append("y", 2)),
		),
		"scans": list(
			committed(hc.Append("a", 1)),
			committed(hc.Scan("a", "c", e("a", 1)), hc.Append("b", 2)),
			committed(hc.Scan("a", "c", e("a", 1), e("b", 2)), hc.Scan("c", "d")),
		),
		"own_writes": list(
			committed(hc.Read("x"), hc.Append("x", 1), hc.Read("x", 1), hc.Append("x", 2),
				hc.Scan("a", "z", e("x", 1, 2))),
			committed(hc.Append("x", 3), hc.Read("x", 1, 2, 3)),
		),
		"unknown_seen_counts_as_committed": list(
			unknown(hc.Append("x", 1)),
			committed(hc.Read("x", 1)),
		),
		"unknown_unseen_is_left_out": list(
			unknown(hc.Append("x", 1)),
			committed(hc.Read("x")),
		),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) { requireOK(t, h) })
	}
}

func TestSerializableRegisterHistories(t *testing.T) {
	cases := map[string]hc.History{
		"chain": reg(
			committed(hc.Write("x", 1)),
			committed(hc.ReadReg("x", 1), hc.Write("x", 2)),
			committed(hc.ReadReg("x", 2), hc.ReadAbsent("y")),
		),
		"own_writes": reg(
			committed(hc.ReadAbsent("x"), hc.Write("x", 1), hc.ReadReg("x", 1), hc.Write("x", 2), hc.ReadReg("x", 2)),
		),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) { requireOK(t, h) })
		t.Run(name+"/ordered", func(t *testing.T) {
			h := hc.History{Model: h.Model, Txns: slices.Clone(h.Txns), OrderByCommitTS: true}
			for i := range h.Txns {
				h.Txns[i].CommitTS = uint64(i + 1)
			}
			requireOK(t, h)
		})
	}
}

func TestG0(t *testing.T) {
	// T0 and T1 both append to x and y, in opposite orders.
	requireAnomaly(t, list(
		committed(hc.Append("x", 1), hc.Append("y", 2)),
		committed(hc.Append("x", 3), hc.Append("y", 4)),
		committed(hc.Read("x", 1, 3), hc.Read("y", 4, 2)),
	), hc.G0, 0, 1)
}

func TestG1a(t *testing.T) {
	requireAnomaly(t, list(
		aborted(hc.Append("x", 1)),
		committed(hc.Read("x", 1)),
	), hc.G1a, 0, 1)
	requireAnomaly(t, reg(
		aborted(hc.Write("x", 1)),
		committed(hc.ReadReg("x", 1)),
	), hc.G1a, 0, 1)
	// A scan can read an aborted write too.
	requireAnomaly(t, list(
		committed(hc.Append("x", 1)),
		aborted(hc.Read("x", 1), hc.Append("x", 2)),
		committed(hc.Scan("a", "z", e("x", 1, 2))),
	), hc.G1a, 1, 2)
	// An aborted reader of an aborted write is no anomaly.
	requireOK(t, list(aborted(hc.Append("x", 1)), aborted(hc.Read("x", 1))))
}

func TestG1b(t *testing.T) {
	requireAnomaly(t, list(
		committed(hc.Append("x", 1), hc.Append("x", 2)),
		committed(hc.Read("x", 1)),
	), hc.G1b, 0, 1)
	requireAnomaly(t, reg(
		committed(hc.Write("x", 1), hc.Write("x", 2)),
		committed(hc.ReadReg("x", 1)),
	), hc.G1b, 0, 1)
}

func TestG1c(t *testing.T) {
	// Each reads the other's write: circular information flow.
	requireAnomaly(t, list(
		committed(hc.Append("x", 1), hc.Read("y", 2)),
		committed(hc.Append("y", 2), hc.Read("x", 1)),
	), hc.G1c, 0, 1)
	requireAnomaly(t, reg(
		committed(hc.Write("x", 1), hc.ReadReg("y", 2)),
		committed(hc.Write("y", 2), hc.ReadReg("x", 1)),
	), hc.G1c, 0, 1)
}

func TestGSingle(t *testing.T) {
	// Read skew: T1 sees T0's y but not its x.
	a := requireAnomaly(t, list(
		committed(hc.Append("x", 1), hc.Append("y", 2)),
		committed(hc.Read("x"), hc.Read("y", 2)),
	), hc.GSingle, 0, 1)
	require.Len(t, a.Cycle, 2)
	deps := []hc.Dep{a.Cycle[0].Dep, a.Cycle[1].Dep}
	require.ElementsMatch(t, []hc.Dep{hc.RW, hc.WR}, deps)
	require.False(t, hc.Check(list(
		committed(hc.Append("x", 1), hc.Append("y", 2)),
		committed(hc.Read("x"), hc.Read("y", 2)),
	)).Has(hc.G2Item), "a G-single component is not also reported as G2-item")
}

func TestG2Item(t *testing.T) {
	// Write skew: each reads both keys absent and writes one of them.
	skew := []hc.Txn{
		committed(hc.Read("x"), hc.Read("y"), hc.Append("x", 1)),
		committed(hc.Read("x"), hc.Read("y"), hc.Append("y", 2)),
	}
	t.Run("observed", func(t *testing.T) {
		a := requireAnomaly(t, list(append(slices.Clone(skew), committed(hc.Read("x", 1), hc.Read("y", 2)))...), hc.G2Item, 0, 1)
		for _, e := range a.Cycle {
			require.Equal(t, hc.RW, e.Dep)
		}
	})
	t.Run("unobserved_writes_come_last", func(t *testing.T) {
		requireAnomaly(t, list(skew...), hc.G2Item, 0, 1)
	})
	t.Run("register_by_commit_ts", func(t *testing.T) {
		h := reg(
			at(1, committed(hc.ReadAbsent("x"), hc.ReadAbsent("y"), hc.Write("x", 1))),
			at(2, committed(hc.ReadAbsent("x"), hc.ReadAbsent("y"), hc.Write("y", 2))),
		)
		h.OrderByCommitTS = true
		requireAnomaly(t, h, hc.G2Item, 0, 1)
		// Without a version order a register history cannot show it.
		h.OrderByCommitTS = false
		requireOK(t, h)
	})
}

func TestG2Predicate(t *testing.T) {
	// Phantom write skew: each scans a range, sees nothing, and creates a
	// key in the other's range.
	a := requireAnomaly(t, list(
		committed(hc.Scan("a", "m"), hc.Append("n", 1)),
		committed(hc.Scan("m", "z"), hc.Append("b", 2)),
	), hc.G2, 0, 1)
	for _, e := range a.Cycle {
		require.Equal(t, hc.RWPredicate, e.Dep)
	}
	// Phantom read skew: a scan sees one of a transaction's new keys but
	// misses the other.
	requireAnomaly(t, list(
		committed(hc.Append("a", 1), hc.Append("b", 2)),
		committed(hc.Scan("a", "c", e("b", 2))),
	), hc.G2, 0, 1)
	// Prefix scans are ranges.
	lo, hi := hc.PrefixRange("k1")
	require.Equal(t, "k1", lo)
	require.Equal(t, "k2", hi)
	requireAnomaly(t, list(
		committed(hc.Append("k10", 1), hc.Append("k11", 2)),
		committed(hc.Scan(lo, hi, e("k11", 2))),
	), hc.G2, 0, 1)
	// A key outside the range is no phantom.
	requireOK(t, list(
		committed(hc.Append("k10", 1), hc.Append("k20", 2)),
		committed(hc.Scan(lo, hi, e("k10", 1))),
	))
}

func TestLostUpdate(t *testing.T) {
	h := list(
		committed(hc.Read("x"), hc.Append("x", 1)),
		committed(hc.Read("x"), hc.Append("x", 2)),
		committed(hc.Read("x", 1, 2)),
	)
	requireAnomaly(t, h, hc.LostUpdate, 0, 1)
	requireAnomaly(t, h, hc.GSingle, 0, 1)
	requireAnomaly(t, reg(
		committed(hc.ReadReg("x", 5), hc.Write("x", 6)),
		committed(hc.ReadReg("x", 5), hc.Write("x", 7)),
		committed(hc.Write("x", 5)),
	), hc.LostUpdate, 0, 1)
}

func TestInternal(t *testing.T) {
	requireAnomaly(t, list(committed(hc.Append("x", 1), hc.Read("x"))), hc.Internal, 0)
	requireAnomaly(t, list(
		committed(hc.Append("x", 5)),
		committed(hc.Read("x", 5), hc.Append("x", 6), hc.Read("x", 5)),
	), hc.Internal, 1)
	requireAnomaly(t, list(
		committed(hc.Append("x", 5)),
		aborted(hc.Read("x"), hc.Read("x", 5)), // non-repeatable read, even aborted
	), hc.Internal, 1)
	requireAnomaly(t, list(committed(hc.Append("a", 1), hc.Scan("a", "b"))), hc.Internal, 0)
	requireAnomaly(t, reg(
		committed(hc.Write("x", 2)),
		committed(hc.Write("x", 1), hc.ReadReg("x", 2)),
	), hc.Internal, 1)
}

func TestGarbageReads(t *testing.T) {
	requireAnomaly(t, list(committed(hc.Read("x", 42))), hc.GarbageRead, 0)
	requireAnomaly(t, list(
		committed(hc.Append("y", 1)),
		committed(hc.Read("x", 1)), // 1 was written to y, not x
	), hc.GarbageRead, 1)
	requireAnomaly(t, reg(committed(hc.ReadReg("x", 99))), hc.GarbageRead, 0)
	requireAnomaly(t, list(
		committed(hc.Append("c", 1)),
		committed(hc.Scan("a", "b", e("c", 1))),
	), hc.GarbageRead, 1)
}

func TestDuplicateElements(t *testing.T) {
	requireAnomaly(t, list(committed(hc.Append("x", 1)), committed(hc.Read("x", 1, 1))), hc.DuplicateElements, 1)
}

func TestIncompatibleOrder(t *testing.T) {
	requireAnomaly(t, list(
		committed(hc.Append("x", 1)),
		committed(hc.Append("x", 2)),
		committed(hc.Read("x", 1, 2)),
		committed(hc.Read("x", 2, 1)),
	), hc.IncompatibleOrder)
}

func TestReportMentionsEvidence(t *testing.T) {
	h := list(
		committed(hc.Append("x", 1), hc.Append("y", 2)),
		committed(hc.Read("x"), hc.Read("y", 2)),
	)
	s := hc.Check(h).Report(h, 0)
	require.Contains(t, s, "G-single: T")
	require.Contains(t, s, "-rw(x)->")
	require.Contains(t, s, "-wr(y)->")
	require.Contains(t, s, "T1: p0 committed [r x nil, r y [2]]")
}

// TestSerialHistoriesPass runs random transactions one at a time against a
// model and checks that the checker finds nothing in the result: a guard
// against false positives in the inference rules.
func TestSerialHistoriesPass(t *testing.T) {
	for seed := range uint64(200) {
		h := serialHistory(rand.New(rand.NewPCG(seed, 7)))
		res := hc.Check(h)
		require.True(t, res.OK(), "seed %d:\n%s", seed, res.Report(h, 5))
	}
}

func serialHistory(r *rand.Rand) hc.History {
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	state := map[string][]int{}
	next := 0
	var h hc.History
	h.Model = hc.ListAppend
	for range 40 {
		own := map[string][]int{}
		view := func(k string) []int {
			if l, ok := own[k]; ok {
				return l
			}
			return state[k]
		}
		var ops []hc.Op
		for range 1 + r.IntN(5) {
			k := keys[r.IntN(len(keys))]
			switch r.IntN(4) {
			case 0, 1:
				next++
				own[k] = append(slices.Clone(view(k)), next)
				ops = append(ops, hc.Append(k, next))
			case 2:
				ops = append(ops, hc.Read(k, slices.Clone(view(k))...))
			case 3:
				lo := keys[r.IntN(len(keys))]
				hi := fmt.Sprint(lo, "~")
				if r.IntN(2) == 0 {
					hi = "k~"
				}
				var ents []hc.Entry
				for _, kk := range keys {
					if l := view(kk); kk >= lo && kk < hi && len(l) > 0 {
						ents = append(ents, e(kk, slices.Clone(l)...))
					}
				}
				ops = append(ops, hc.Scan(lo, hi, ents...))
			}
		}
		st := hc.Committed
		if r.IntN(5) == 0 {
			st = hc.Aborted
		} else {
			for k, l := range own {
				state[k] = l
			}
		}
		h.Txns = append(h.Txns, hc.Txn{Status: st, Ops: ops})
	}
	return h
}
