package fluxetcd_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/examples/transfer/bank"
)

const (
	bankAccounts = 8
	bankBalance  = 100
)

func account(i int) string { return fmt.Sprintf("acct/%02d", i) }

// TestBank runs concurrent transfers (the transfer example's own
// bank.Transfer) against snapshot readers on each backend. Readers must
// always see the initial total, and at the end every account must hold its
// initial balance plus the transfers that were acknowledged, each once.
func TestBank(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := ctxFor(t, 2*defaultWait)
		seedBank(t, ctx, b)
		want := runBank(t, ctx, b, 4, 40, nil)
		checkBank(t, ctx, b, want)
	})
}

func seedBank(t *testing.T, ctx context.Context, b *backend) {
	t.Helper()
	for i := range bankAccounts {
		require.NoError(t, b.insert(ctx, account(i), bankBalance))
	}
}

// runBank runs workers goroutines of n transfers each while two readers
// check totals, and returns the balances the acknowledged transfers imply.
// A transfer whose commit returned an error wrapping allowed (if not nil)
// is counted as not acknowledged instead of failing the test.
func runBank(t *testing.T, ctx context.Context, b *backend, workers, n int, allowed error) []int64 {
	t.Helper()
	want := make([]int64, bankAccounts)
	for i := range want {
		want[i] = bankBalance
	}
	var mu sync.Mutex // guards want
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readErrs := make(chan error, 2)
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					readErrs <- nil
					return
				default:
				}
				err := b.view(ctx, func(tx fluxmap.ReadTx[string, int64]) error {
					rows, err := tx.PrefixScan("acct/")
					if err != nil {
						return err
					}
					var total int64
					for _, r := range rows {
						total += r.Value
					}
					if len(rows) != bankAccounts || total != bankAccounts*bankBalance {
						return fmt.Errorf("snapshot shows %d accounts totalling %d", len(rows), total)
					}
					return nil
				})
				if err != nil && (allowed == nil || !errors.Is(err, allowed)) {
					readErrs <- err
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	writeErrs := make(chan error, workers)
	for w := range workers {
		writers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range n {
				from, to := r.IntN(bankAccounts), r.IntN(bankAccounts-1)
				if to >= from {
					to++
				}
				amount := int64(r.IntN(40))
				err := b.transaction(ctx, func(tx fluxmap.ReadWriteTx[string, int64]) error {
					return bank.Transfer(tx, account(from), account(to), amount)
				})
				switch {
				case err == nil:
					mu.Lock()
					want[from] -= amount
					want[to] += amount
					mu.Unlock()
				case errors.Is(err, bank.ErrInsufficientFunds):
				case allowed != nil && errors.Is(err, allowed):
				default:
					writeErrs <- err
					return
				}
			}
			writeErrs <- nil
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	for range workers {
		require.NoError(t, <-writeErrs)
	}
	for range 2 {
		require.NoError(t, <-readErrs)
	}
	return want
}

// checkBank checks that every account holds what the acknowledged
// transfers imply.
func checkBank(t *testing.T, ctx context.Context, b *backend, want []int64) {
	t.Helper()
	rows, err := b.prefixScan(ctx, "acct/")
	require.NoError(t, err)
	require.Len(t, rows, bankAccounts)
	for i, r := range rows {
		require.Equal(t, account(i), r.Key)
		require.Equal(t, want[i], r.Value, "%s", r.Key)
	}
}
