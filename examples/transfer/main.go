package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/examples/transfer/bank"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

type store = fluxmap.DB[string, int64]

// transfer runs bank.Transfer in a transaction of its own: it moves amount
// from one account to another, or nothing at all. fluxetcd's transfer
// example runs the same bank.Transfer against an etcd cluster.
func transfer(ctx context.Context, d *store, from, to string, amount int64) error {
	return d.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		return bank.Transfer(tx, from, to, amount)
	})
}

// printBalances reads both accounts from one snapshot with a read-only
// transaction, so the total is never caught halfway through a transfer.
func printBalances(ctx context.Context, w io.Writer, d *store, label string) error {
	return d.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		b, err := bank.Balances(tx, "alice", "bob")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: alice=%d bob=%d total=%d\n", label, b[0], b[1], b[0]+b[1])
		return nil
	})
}

// run is the whole example; main_test.go checks everything it prints.
func run(w io.Writer) (err error) {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	for name, balance := range map[string]int64{"alice": 100, "bob": 50} {
		if err := db.Insert(ctx, name, balance); err != nil {
			return fmt.Errorf("open account %s: %w", name, err)
		}
	}
	if err := printBalances(ctx, w, db, "start"); err != nil {
		return err
	}

	for _, t := range []struct {
		from, to string
		amount   int64
	}{
		{"alice", "bob", 30},
		{"bob", "alice", 500},
	} {
		fmt.Fprintf(w, "transfer %d %s -> %s: ", t.amount, t.from, t.to)
		err := transfer(ctx, db, t.from, t.to, t.amount)
		switch {
		case err == nil:
			fmt.Fprintln(w, "committed")
		case errors.Is(err, bank.ErrInsufficientFunds):
			fmt.Fprintf(w, "rolled back (%v)\n", err)
		default:
			return fmt.Errorf("transfer: %w", err)
		}
		if err := printBalances(ctx, w, db, "balances"); err != nil {
			return err
		}
	}
	return nil
}
