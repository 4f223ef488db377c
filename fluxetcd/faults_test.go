package fluxetcd_test

import (
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/fluxetcd"
)

// TestBankSurvivesLeaderLoss runs the bank on a 3-member cluster and stops
// the leader while transfers run: the remaining two keep quorum, so
// transfers go on committing, readers never see a wrong total, and every
// acknowledged transfer is there afterwards. Calls caught by the election
// may fail with ErrUnavailable (their outcome unknown); the transfer
// markers say which of those took effect, and the balances must match
// exactly the transfers that did.
func TestBankSurvivesLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member cluster")
	}
	c := startCluster(t, 3, nil)
	ctx := ctxFor(t, 2*defaultWait)
	b := etcdBackend(t, openEtcdDB(t, c))
	seedBank(t, ctx, b)

	stopped := make(chan int, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		leader := c.leader()
		c.stop(leader)
		stopped <- leader
	}()
	res := runBank(t, ctx, b, 0, 3, 60, fluxetcd.ErrUnavailable)
	leader := <-stopped
	require.NotEmpty(t, res.acked, "no transfer committed around the leader's loss")

	// The cluster still commits with two members.
	more := runBank(t, ctx, b, len(res.moves), 2, 10, nil)
	maps.Copy(res.moves, more.moves)
	maps.Copy(res.acked, more.acked)
	require.NoError(t, c.start(leader))
	applied := checkBank(t, ctx, b, res)
	t.Logf("leader m%d stopped mid-run: %d transfers attempted, %d acknowledged, %d applied", leader, len(res.moves), len(res.acked), len(applied))
}
