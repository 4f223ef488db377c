package fluxetcd_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/examples/transfer/bank"
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
		leader := c.Leader()
		c.Stop(leader)
		stopped <- leader
	}()
	res := runBank(t, ctx, b, 0, 3, 60, fluxetcd.ErrUnavailable)
	leader := <-stopped
	require.NotEmpty(t, res.acked, "no transfer committed around the leader's loss")

	// The cluster still commits with two members.
	more := runBank(t, ctx, b, len(res.moves), 2, 10, nil)
	maps.Copy(res.moves, more.moves)
	maps.Copy(res.acked, more.acked)
	require.NoError(t, c.StartMember(leader))
	applied := checkBank(t, ctx, b, res)
	t.Logf("leader m%d stopped mid-run: %d transfers attempted, %d acknowledged, %d applied", leader, len(res.moves), len(res.acked), len(applied))
}

// TestBankSurvivesQuorumLoss runs the bank on a 3-member cluster and stops
// two members while transfers run, leaving no quorum. Every call must then
// fail with ErrUnavailable within its context's deadline (a commit or
// write also with fluxmap.ErrCommitUnknown), never hang. Once the members
// restart, nothing may be half-applied and every acknowledged transfer
// must be there; the same must hold after all three members stop and
// restart from their data directories, with exactly the same transfers
// applied as before.
func TestBankSurvivesQuorumLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member cluster")
	}
	const (
		callDeadline = 500 * time.Millisecond
		// slack is how late past its deadline a call may return on a
		// loaded machine (race detector, shared cores) without counting as
		// a hang.
		slack = 2 * time.Second
	)
	c := startCluster(t, 3, nil)
	ctx := ctxFor(t, 2*defaultWait)
	db := openEtcdDB(t, c)
	b := etcdBackend(t, db)
	seedBank(t, ctx, b)
	res := runBank(t, ctx, b, 0, 2, 5, nil)

	// within runs call under a context that ends after callDeadline and
	// returns how long it took and its error.
	within := func(call func(ctx context.Context) error) (time.Duration, error) {
		cctx, cancel := context.WithTimeout(ctx, callDeadline)
		defer cancel()
		start := time.Now()
		err := call(cctx)
		return time.Since(start), err
	}

	// A transaction that read and wrote before the loss commits after it.
	pctx, cancel := context.WithTimeout(ctx, 4*callDeadline)
	defer cancel()
	pending, err := db.Begin(pctx)
	require.NoError(t, err)
	_, _, err = pending.Get("probe/pending")
	require.NoError(t, err)
	require.NoError(t, pending.Insert("probe/pending", 1))

	// Transfers run on three workers, each call under its own deadline,
	// until the members have been down for a while.
	var (
		mu       sync.Mutex // guards the moves and acks of res
		nextID   atomic.Int64
		failed   atomic.Int64 // calls that failed with ErrUnavailable
		unknown  atomic.Int64 // of those, calls that say the outcome is unknown
		done     = make(chan struct{})
		workers  sync.WaitGroup
		workErrs = make(chan error, 3)
	)
	nextID.Store(int64(len(res.moves)))
	for w := range 3 {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for {
				select {
				case <-done:
					workErrs <- nil
					return
				default:
				}
				id, m := int(nextID.Add(1)-1), randomMove(r)
				mu.Lock()
				res.moves[id] = m
				mu.Unlock()
				took, err := within(func(ctx context.Context) error { return transfer(ctx, b, id, m) })
				if took > callDeadline+slack {
					workErrs <- fmt.Errorf("transfer %d returned after %v, past its %v deadline: %v", id, took, callDeadline, err)
					return
				}
				switch {
				case err == nil:
					mu.Lock()
					res.acked[id] = true
					mu.Unlock()
				case errors.Is(err, bank.ErrInsufficientFunds):
				case errors.Is(err, fluxetcd.ErrUnavailable):
					failed.Add(1)
					if errors.Is(err, fluxmap.ErrCommitUnknown) {
						unknown.Add(1)
					}
				default:
					workErrs <- fmt.Errorf("transfer %d: %w", id, err)
					return
				}
			}
		})
	}

	time.Sleep(200 * time.Millisecond)
	// The two followers stop, which is quick (a stopping leader first
	// tries to hand over its leadership); the leader is left alone.
	leader := c.Leader()
	down := []int{(leader + 1) % 3, (leader + 2) % 3}
	var stops sync.WaitGroup
	for _, i := range down {
		stops.Go(func() { c.Stop(i) })
	}
	stops.Wait()

	// With one member of three left, every kind of call fails, in time;
	// first the commit, whose context (Begin's) is running out.
	start := time.Now()
	err = pending.Commit()
	require.Less(t, time.Since(start), 4*callDeadline+slack, "commit did not honour Begin's deadline")
	require.ErrorIs(t, err, fluxetcd.ErrUnavailable)
	require.ErrorIs(t, err, fluxmap.ErrCommitUnknown)

	for _, call := range []struct {
		name           string
		mayHaveWritten bool
		call           func(ctx context.Context) error
	}{
		{"get", false, func(ctx context.Context) error { _, _, err := db.Get(ctx, account(0)); return err }},
		{"scan", false, func(ctx context.Context) error { _, err := db.PrefixScan(ctx, "acct/"); return err }},
		{"view", false, func(ctx context.Context) error {
			return b.view(ctx, func(tx fluxmap.ReadTx[string, int64]) error { _, err := tx.PrefixScan("acct/"); return err })
		}},
		{"insert", true, func(ctx context.Context) error { return db.Insert(ctx, "probe/insert", 1) }},
		{"remove", true, func(ctx context.Context) error { _, _, err := db.Remove(ctx, "probe/insert"); return err }},
	} {
		took, err := within(call.call)
		require.Less(t, took, callDeadline+slack, "%s did not honour its deadline", call.name)
		require.ErrorIs(t, err, fluxetcd.ErrUnavailable, "%s", call.name)
		require.NotContains(t, err.Error(), "no connection to any endpoint", "%s: the client is connected to the remaining member", call.name)
		if call.mayHaveWritten {
			require.ErrorIs(t, err, fluxmap.ErrCommitUnknown, "%s", call.name)
		} else {
			require.NotErrorIs(t, err, fluxmap.ErrCommitUnknown, "%s", call.name)
		}
	}

	time.Sleep(callDeadline)
	close(done)
	workers.Wait()
	for range 3 {
		require.NoError(t, <-workErrs)
	}
	require.Positive(t, failed.Load(), "no transfer failed while the cluster had no quorum")

	// The two members come back: the cluster commits again, and the
	// database holds exactly the transfers that took effect.
	require.NoError(t, c.StartAll(down...))
	checkBank(t, ctx, b, res)
	more := runBank(t, ctx, b, int(nextID.Load()), 2, 5, nil)
	maps.Copy(res.moves, more.moves)
	maps.Copy(res.acked, more.acked)
	applied := checkBank(t, ctx, b, res)

	// All three stop and restart from their data directories.
	c.StopAll()
	require.NoError(t, c.StartAll())
	require.Equal(t, applied, checkBank(t, ctx, b, res), "a full restart changed which transfers are applied")
	t.Logf("m%d and m%d stopped mid-run: %d transfers attempted, %d acknowledged, %d applied; %d calls failed unavailable, %d of them with the outcome unknown",
		down[0], down[1], len(res.moves), len(res.acked), len(applied), failed.Load(), unknown.Load())
}
