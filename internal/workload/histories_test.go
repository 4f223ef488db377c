// The isolation suite: randomized concurrent histories under Serializable
// isolation, checked by the Elle-style checker and the white-box replayer.
//
// CI runs it as part of go test -race ./... (54 histories of 8 x 40
// transactions). The long mode runs 2,004 histories of 8 x 80:
//
//	FLUXMAP_LONG=1 go test -race -count=1 -timeout 0 -run 'TestHistories' -v ./internal/workload/
//
// (or go test ./internal/workload/ -run TestHistories -args -long).
// FLUXMAP_SEED=n sets the base seed of the transaction plans.

package workload_test

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/workload"
)

var longFlag = flag.Bool("long", false, "run the long isolation suite (same as FLUXMAP_LONG=1)")

func longMode() bool { return *longFlag || os.Getenv("FLUXMAP_LONG") == "1" }

// baseSeed is FLUXMAP_SEED, or 1.
func baseSeed(t *testing.T) uint64 {
	s := os.Getenv("FLUXMAP_SEED")
	if s == "" {
		return 1
	}
	n, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err, "FLUXMAP_SEED")
	return n
}

// The CI shape of a history: 8 goroutines over a hot set of 16 keys, 4 to
// 6 operations per transaction.
const (
	historyWorkers = 8
	historyKeys    = 16
	historyMinOps  = 4
	historyMaxOps  = 6
)

// TestHistories runs seeded concurrent histories at 1, 4 and 16 shards, in
// both models, and requires that neither the checker nor the white-box
// replay finds anything, and that the workload was contended (an abort
// rate of at least 5%), so that the absence of anomalies means something.
func TestHistories(t *testing.T) {
	perModel, txnsPerWorker := 9, 40 // 3 shard counts x 2 models x 9 = 54 histories
	if longMode() {
		perModel, txnsPerWorker = 334, 80 // 2,004 histories
	}
	seed := baseSeed(t)
	var all workload.Stats
	histories := 0
	for _, shards := range []int{1, 4, 16} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			var total workload.Stats
			for _, m := range []model{listAppend, register} {
				for i := range perModel {
					opt := workload.Options{
						Workers:       historyWorkers,
						TxnsPerWorker: txnsPerWorker,
						Seed:          seed + uint64(1000*shards+100*int(m)+i),
						Workload:      workload.Mixed(historyKeys, historyMinOps, historyMaxOps),
					}
					out := runHistory(t, m, shards, fluxmap.Serializable, opt)
					requireSerializable(t, out, fmt.Sprintf("%s shards=%d seed=%d", m, shards, opt.Seed))
					total = total.Add(out.Stats)
					histories++
				}
			}
			msg := fmt.Sprintf("histories shards=%d: %d histories, %s; 0 anomalies", shards, 2*perModel, total)
			t.Log(msg)
			fmt.Println(msg)
			require.GreaterOrEqual(t, total.AbortRate(), 0.05, "too little contention to prove anything")
			all = all.Add(total)
		})
	}
	msg := fmt.Sprintf("histories total: %d histories, %s; 0 anomalies (checker and white-box)", histories, all)
	t.Log(msg)
	fmt.Println(msg)
}
