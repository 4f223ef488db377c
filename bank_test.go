package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// The bank test: writers move money between accounts in serializable
// transactions while readers take snapshots of all accounts. Money is never
// created or destroyed, so every snapshot must hold exactly bankAccounts
// accounts summing to bankAccounts*bankInitial. A torn snapshot (part of a
// transfer visible), a lost update (two transfers from one balance both
// applied to the old value) or a visibility bug shows up as a wrong sum.
//
// The writers do a fixed number of transfers each, so the work done is the
// same on every run; the readers scan until the writers finish.
const (
	bankAccounts           = 200
	bankInitial            = int64(1000)
	bankWriters            = 6
	bankReaders            = 2
	bankTransfersPerWriter = 300
)

func acct(i int) string { return fmt.Sprintf("acct%04d", i) }

var errMissingAccount = errors.New("account missing")

func TestBank(t *testing.T) {
	forEachShardCount(t, runBank)
}

func runBank(t *testing.T, shards int) {
	db := newStringDB(t, shards)
	ctx := t.Context()

	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		for i := range bankAccounts {
			if err := tx.Insert(acct(i), bankInitial); err != nil {
				return err
			}
		}
		return nil
	}))

	var (
		committed atomic.Int64 // transfers that moved money
		skipped   atomic.Int64 // transfers refused for insufficient funds
		scans     atomic.Int64 // reader snapshots checked
		attempts  atomic.Int64 // runs of a writer's fn, retries included
		writersWG sync.WaitGroup
		readersWG sync.WaitGroup
		done      = make(chan struct{})
	)

	for w := range bankWriters {
		writersWG.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(shards), uint64(w)))
			for range bankTransfersPerWriter {
				from := rng.IntN(bankAccounts)
				to := (from + 1 + rng.IntN(bankAccounts-1)) % bankAccounts
				amount := 1 + rng.Int64N(200)
				moved := false
				err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
					moved = false // fn may run again after a conflict
					attempts.Add(1)
					fb, ok, err := tx.Get(acct(from))
					if err != nil {
						return err
					}
					if !ok {
						return fmt.Errorf("%s: %w", acct(from), errMissingAccount)
					}
					tb, ok, err := tx.Get(acct(to))
					if err != nil {
						return err
					}
					if !ok {
						return fmt.Errorf("%s: %w", acct(to), errMissingAccount)
					}
					if fb < amount {
						return nil
					}
					if err := tx.Insert(acct(from), fb-amount); err != nil {
						return err
					}
					if err := tx.Insert(acct(to), tb+amount); err != nil {
						return err
					}
					moved = true
					return nil
				})
				if err != nil {
					t.Errorf("writer %d: transfer %s -> %s: %v", w, acct(from), acct(to), err)
					return
				}
				if moved {
					committed.Add(1)
				} else {
					skipped.Add(1)
				}
			}
		})
	}

	// checkSnapshot verifies one consistent view of all accounts.
	checkSnapshot := func(what string, es []fluxmap.Entry[string, int64]) bool {
		var sum int64
		for i, e := range es {
			if i > 0 && es[i-1].Key >= e.Key {
				t.Errorf("%s: keys out of order: %q then %q", what, es[i-1].Key, e.Key)
				return false
			}
			if e.Value < 0 {
				t.Errorf("%s: %s has negative balance %d", what, e.Key, e.Value)
				return false
			}
			sum += e.Value
		}
		if len(es) != bankAccounts || sum != bankAccounts*bankInitial {
			t.Errorf("%s: saw %d accounts summing to %d, want %d summing to %d",
				what, len(es), sum, bankAccounts, bankAccounts*bankInitial)
			return false
		}
		scans.Add(1)
		return true
	}

	for r := range bankReaders {
		readersWG.Go(func() {
			for i := 0; ; i++ {
				if i > 0 {
					select {
					case <-done:
						return
					default:
					}
				}
				var es []fluxmap.Entry[string, int64]
				var what string
				var err error
				switch (r + i) % 4 {
				case 0:
					what = "View+PrefixScan"
					err = db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
						es, err = tx.PrefixScan("acct")
						return err
					})
				case 1:
					what = "View+Range"
					err = db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
						es, err = tx.Range(acct(0), acct(bankAccounts))
						return err
					})
				case 2:
					what = "View+PrefixStream"
					err = db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
						s := tx.PrefixStream("acct")
						es = collect(s)
						return s.Err()
					})
				case 3:
					// A manual transaction that only reads never conflicts.
					what = "Begin+PrefixScan+Commit"
					var tx *fluxmap.Tx[string, int64]
					tx, err = db.Begin(ctx)
					if err == nil {
						es, err = tx.PrefixScan("acct")
						if err == nil {
							err = tx.Commit()
						} else {
							_ = tx.Rollback() // the scan error is the one to report
						}
					}
				}
				if err != nil {
					t.Errorf("reader %d: %s: %v", r, what, err)
					return
				}
				if !checkSnapshot(what, es) {
					return
				}
			}
		})
	}

	writersWG.Wait()
	close(done)
	readersWG.Wait()

	total := int64(bankWriters * bankTransfersPerWriter)
	t.Logf("shards=%d: %d moved, %d skipped, %d fn runs (%d retried), %d snapshots checked",
		shards, committed.Load(), skipped.Load(), attempts.Load(), attempts.Load()-total, scans.Load())
	require.Equal(t, total, committed.Load()+skipped.Load(), "every transfer attempt finished")
	require.Greater(t, committed.Load(), total/2, "most transfers should have moved money")
	require.GreaterOrEqual(t, scans.Load(), int64(bankReaders))

	es, err := db.PrefixScan(context.Background(), "acct")
	require.NoError(t, err)
	require.True(t, checkSnapshot("final PrefixScan", es))
	// Autocommit reads agree with the scan.
	var sum int64
	for i := range bankAccounts {
		v, ok := dbGet(t, db, acct(i))
		require.True(t, ok)
		sum += v
	}
	require.Equal(t, bankAccounts*bankInitial, sum)
}
