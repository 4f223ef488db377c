package workload_test

// Tests of the tester: engines that are broken on purpose must be caught.

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/faults"
	"github.com/fluxmap/fluxmap/internal/histcheck"
	"github.com/fluxmap/fluxmap/internal/workload"
)

// TestSnapshotWriteSkewDetected runs a write-skew-prone workload under
// Snapshot isolation, which allows write skew, and requires the checker
// to report it as G2-item in at least 19 of 20 seeds. Snapshot isolation
// forbids every other anomaly the checker knows, so reporting any other
// kind would be a false positive (or a Snapshot bug). The same workload
// under Serializable isolation must come out clean.
func TestSnapshotWriteSkewDetected(t *testing.T) {
	const seeds = 20
	opt := workload.Options{Workers: historyWorkers, TxnsPerWorker: 25, Workload: workload.WriteSkew(4)}
	detected, whiteBox := 0, 0
	var stats workload.Stats
	for i := range seeds {
		opt.Seed = uint64(500 + i)
		out := runHistory(t, listAppend, 4, fluxmap.Snapshot, opt)
		stats = stats.Add(out.Stats)
		res := histcheck.Check(out.History)
		for _, k := range res.Kinds() {
			require.Contains(t, []histcheck.Kind{histcheck.G2Item, histcheck.G2}, k,
				"seed %d: Snapshot isolation cannot produce %s:\n%s", opt.Seed, k, res.Report(out.History, 3))
		}
		if res.Has(histcheck.G2Item) {
			detected++
		}
		if len(workload.WhiteBox(out.History, true)) > 0 {
			whiteBox++
		}
	}
	msg := fmt.Sprintf("snapshot write skew: G2-item reported in %d/%d seeds, white-box violations in %d/%d; %s",
		detected, seeds, whiteBox, seeds, stats)
	t.Log(msg)
	fmt.Println(msg)
	require.GreaterOrEqual(t, detected, 19)
	require.GreaterOrEqual(t, whiteBox, 19)

	for i := range 3 {
		opt.Seed = uint64(600 + i)
		out := runHistory(t, listAppend, 4, fluxmap.Serializable, opt)
		requireSerializable(t, out, fmt.Sprintf("serializable write-skew workload seed=%d", opt.Seed))
	}
}

// TestDirtyReadsDetected turns on the dirty-read fault (shards answer
// point reads with prepared, uncommitted writes of multi-shard commits)
// and requires the checker to report aborted reads (G1a) or intermediate
// reads (G1b) in every seed.
func TestDirtyReadsDetected(t *testing.T) {
	faults.DirtyReads.Store(true)
	t.Cleanup(func() { faults.DirtyReads.Store(false) })
	const seeds = 5
	opt := workload.Options{Workers: historyWorkers, TxnsPerWorker: 40, Workload: workload.MultiShardWrites(8)}
	detected := 0
	var stats workload.Stats
	for i := range seeds {
		opt.Seed = uint64(700 + i)
		out := runHistory(t, listAppend, 8, fluxmap.Serializable, opt)
		stats = stats.Add(out.Stats)
		res := histcheck.Check(out.History)
		if res.Has(histcheck.G1a) || res.Has(histcheck.G1b) {
			detected++
		}
		t.Logf("seed %d: %v", opt.Seed, res.Kinds())
	}
	msg := fmt.Sprintf("dirty reads: G1a/G1b reported in %d/%d seeds; %s", detected, seeds, stats)
	t.Log(msg)
	fmt.Println(msg)
	require.Equal(t, seeds, detected)
}

// TestSnapshotPhantomDetected is the predicate form of the write-skew
// test: under Snapshot isolation, transactions that scan a group of keys
// and create a key in it must show up as G2 (predicate) cycles.
func TestSnapshotPhantomDetected(t *testing.T) {
	const seeds = 20
	opt := workload.Options{Workers: historyWorkers, TxnsPerWorker: 25, Workload: workload.PhantomSkew(10)}
	detected := 0
	for i := range seeds {
		opt.Seed = uint64(800 + i)
		out := runHistory(t, listAppend, 4, fluxmap.Snapshot, opt)
		res := histcheck.Check(out.History)
		for _, k := range res.Kinds() {
			require.Contains(t, []histcheck.Kind{histcheck.G2Item, histcheck.G2}, k,
				"seed %d: Snapshot isolation cannot produce %s:\n%s", opt.Seed, k, res.Report(out.History, 3))
		}
		if res.Has(histcheck.G2) {
			detected++
		}
	}
	msg := fmt.Sprintf("snapshot phantoms: G2 (predicate) reported in %d/%d seeds", detected, seeds)
	t.Log(msg)
	fmt.Println(msg)
	require.GreaterOrEqual(t, detected, 15)

	for i := range 3 {
		opt.Seed = uint64(900 + i)
		out := runHistory(t, listAppend, 4, fluxmap.Serializable, opt)
		requireSerializable(t, out, fmt.Sprintf("serializable phantom workload seed=%d", opt.Seed))
	}
}
