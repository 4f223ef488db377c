package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fluxmap/fluxmap"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

// errInsufficientFunds is the application's own error: returned from the
// transaction's function, it rolls the transaction back and comes out of
// db.Transaction unchanged, so errors.Is finds it.
var errInsufficientFunds = errors.New("insufficient funds")

type bank = fluxmap.DB[string, int64]

// transfer moves amount from one account to another, or nothing at all.
func transfer(ctx context.Context, db *bank, from, to string, amount int64) error {
	return db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		src, _, err := tx.Get(from)
		if err != nil {
			return err
		}
		dst, _, err := tx.Get(to)
		if err != nil {
			return err
		}
		// Write first, check after: the writes are only buffered in tx, so
		// returning an error below discards them.
		if err := tx.Insert(from, src-amount); err != nil {
			return err
		}
		if err := tx.Insert(to, dst+amount); err != nil {
			return err
		}
		if src < amount {
			return fmt.Errorf("%w: %s has %d, needs %d", errInsufficientFunds, from, src, amount)
		}
		return nil
	})
}

// printBalances reads both accounts from one snapshot with a read-only
// transaction, so the total is never caught halfway through a transfer.
func printBalances(ctx context.Context, w io.Writer, db *bank, label string) error {
	return db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		alice, _, err := tx.Get("alice")
		if err != nil {
			return err
		}
		bob, _, err := tx.Get("bob")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: alice=%d bob=%d total=%d\n", label, alice, bob, alice+bob)
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
		case errors.Is(err, errInsufficientFunds):
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
