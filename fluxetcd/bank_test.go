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
// initial balance plus exactly the transfers that were acknowledged.
func TestBank(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := ctxFor(t, 2*defaultWait)
		seedBank(t, ctx, b)
		res := runBank(t, ctx, b, 0, 4, 40, nil)
		applied := checkBank(t, ctx, b, res)
		require.Len(t, applied, len(res.acked), "with no failures, exactly the acknowledged transfers are applied")
	})
}

func seedBank(t *testing.T, ctx context.Context, b *backend) {
	t.Helper()
	for i := range bankAccounts {
		require.NoError(t, b.insert(ctx, account(i), bankBalance))
	}
}

// move is one transfer a bank worker attempted.
type move struct {
	from, to int
	amount   int64
}

// bankResult is what the workers did: every transfer attempted, by id,
// and the ids of those whose commit was acknowledged.
type bankResult struct {
	moves map[int]move
	acked map[int]bool
}

// transferKey marks transfer id as applied: each transfer writes it in the
// same transaction as the balances, so that after failures the database
// itself says which transfers took effect.
func transferKey(id int) string { return fmt.Sprintf("xfer/%05d", id) }

// randomMove draws a transfer between two different accounts.
func randomMove(r *rand.Rand) move {
	m := move{from: r.IntN(bankAccounts), to: r.IntN(bankAccounts - 1), amount: int64(r.IntN(40))}
	if m.to >= m.from {
		m.to++
	}
	return m
}

// transfer runs m as transfer id: the example's bank.Transfer and the
// transfer's marker, in one transaction.
func transfer(ctx context.Context, b *backend, id int, m move) error {
	return b.transaction(ctx, func(tx fluxmap.ReadWriteTx[string, int64]) error {
		if err := bank.Transfer(tx, account(m.from), account(m.to), m.amount); err != nil {
			return err
		}
		return tx.Insert(transferKey(id), m.amount)
	})
}

// runBank runs workers goroutines of n transfers each, numbered from base,
// while two readers check totals. A call whose error wraps allowed (if not nil) is counted as
// not acknowledged instead of failing the test.
func runBank(t *testing.T, ctx context.Context, b *backend, base, workers, n int, allowed error) bankResult {
	t.Helper()
	res := bankResult{moves: make(map[int]move), acked: make(map[int]bool)}
	var mu sync.Mutex // guards res
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
			for i := range n {
				id := base + w*n + i
				m := randomMove(r)
				mu.Lock()
				res.moves[id] = m
				mu.Unlock()
				err := transfer(ctx, b, id, m)
				switch {
				case err == nil:
					mu.Lock()
					res.acked[id] = true
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
	return res
}

// checkBank checks that every acknowledged transfer was applied and that
// the accounts hold exactly what the applied transfers imply (nothing
// half-applied), and returns the ids of the applied transfers.
func checkBank(t *testing.T, ctx context.Context, b *backend, res bankResult) map[int]bool {
	t.Helper()
	marks, err := b.prefixScan(ctx, "xfer/")
	require.NoError(t, err)
	applied := make(map[int]bool)
	want := make([]int64, bankAccounts)
	for i := range want {
		want[i] = bankBalance
	}
	for _, e := range marks {
		var id int
		_, err := fmt.Sscanf(e.Key, "xfer/%d", &id)
		require.NoError(t, err)
		m, ok := res.moves[id]
		require.True(t, ok, "unknown transfer %s", e.Key)
		applied[id] = true
		want[m.from] -= m.amount
		want[m.to] += m.amount
	}
	for id := range res.acked {
		require.True(t, applied[id], "acknowledged transfer %d is missing", id)
	}
	rows, err := b.prefixScan(ctx, "acct/")
	require.NoError(t, err)
	require.Len(t, rows, bankAccounts)
	for i, r := range rows {
		require.Equal(t, account(i), r.Key)
		require.Equal(t, want[i], r.Value, "%s", r.Key)
	}
	return applied
}
