package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/fluxmap/fluxmap"
)

type config struct {
	shards, clients, transfers int
	verbose                    io.Writer // timings and counters
}

func main() {
	cfg := config{verbose: io.Discard}
	flag.IntVar(&cfg.shards, "shards", runtime.GOMAXPROCS(0), "number of shards")
	flag.IntVar(&cfg.clients, "clients", 4*runtime.GOMAXPROCS(0), "concurrent client goroutines")
	flag.IntVar(&cfg.transfers, "transfers", 500, "transfers per client")
	verbose := flag.Bool("v", false, "print timings and counters to stderr")
	flag.Parse()
	if *verbose {
		cfg.verbose = os.Stderr
	}
	if err := run(os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "manycores:", err)
		os.Exit(1)
	}
}

const (
	accounts       = 100
	initialBalance = 1000
)

var errDeclined = errors.New("insufficient funds")

func account(i int) string { return fmt.Sprintf("acct:%04d", i) }

// run prints to w only facts that do not depend on scheduling; main_test.go
// checks them.
func run(w io.Writer, cfg config) (err error) {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Shards(cfg.shards).Build(ctx)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	for i := range accounts {
		if err := db.Insert(ctx, account(i), initialBalance); err != nil {
			return fmt.Errorf("open account: %w", err)
		}
	}
	fmt.Fprintf(w, "%d clients x %d transfers between %d accounts on %d shards\n",
		cfg.clients, cfg.transfers, accounts, cfg.shards)

	errs := make([]error, cfg.clients)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range cfg.clients {
		wg.Go(func() { errs[c] = client(ctx, db, uint64(c), cfg.transfers) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n := cfg.clients * cfg.transfers
	fmt.Fprintf(w, "transfers finished: %d\n", n)

	// One snapshot sees every account as of one instant.
	var total int64
	err = db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		s := tx.PrefixStream("acct:")
		for _, balance := range s.All() {
			total += balance
		}
		return s.Err()
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintf(w, "total: %d (expected %d)\n", total, accounts*initialBalance)

	st, err := db.Stats()
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	fmt.Fprintf(cfg.verbose, "%v, %.0f transfers/s, %d retried after a conflict\n",
		elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), st.Retries)
	return nil
}

// client makes n random transfers; those that would overdraw are declined.
func client(ctx context.Context, db *fluxmap.DB[string, int64], seed uint64, n int) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	for range n {
		// Draw outside the function: Transaction may run it more than once.
		from, to, amount := rng.IntN(accounts), rng.IntN(accounts-1), 1+rng.Int64N(100)
		if to >= from {
			to++ // any account but from
		}
		err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			src, _, err := tx.Get(account(from))
			if err != nil {
				return err
			}
			if src < amount {
				return errDeclined // rolls back; nothing was written anyway
			}
			dst, _, err := tx.Get(account(to))
			if err != nil {
				return err
			}
			if err := tx.Insert(account(from), src-amount); err != nil {
				return err
			}
			return tx.Insert(account(to), dst+amount)
		})
		if err != nil && !errors.Is(err, errDeclined) {
			return err
		}
	}
	return nil
}
