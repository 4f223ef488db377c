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
		fmt.Fprintln(os.Stderr, "prefix:", err)
		os.Exit(1)
	}
}

// run is the whole example; main_test.go checks everything it prints.
func run(w io.Writer) (err error) {
	ctx := context.Background()
	db, err := fluxmap.New[string, string]().Build(ctx)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	// One transaction writes all records: a reader sees all or none.
	// Zero-padded numbers keep numeric order under bytewise comparison.
	records := []fluxmap.Entry[string, string]{
		{Key: "user:ada", Value: "Ada Lovelace"},
		{Key: "user:grace", Value: "Grace Hopper"},
		{Key: "user:alan", Value: "Alan Turing"},
		{Key: "order:grace:0002", Value: "compiler"},
		{Key: "order:ada:0001", Value: "analytical engine"},
		{Key: "order:ada:0010", Value: "punched cards"},
		{Key: "order:alan:0003", Value: "bombe"},
	}
	err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
		for _, r := range records {
			if err := tx.Insert(r.Key, r.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}

	for _, prefix := range []string{"user:", "order:", "order:ada:", "invoice:"} {
		entries, err := db.PrefixScan(ctx, prefix)
		if err != nil {
			return fmt.Errorf("prefix scan %q: %w", prefix, err)
		}
		printEntries(w, fmt.Sprintf("prefix %q", prefix), entries)
	}

	// Range is [lo, hi): "user:b" is not a key, only a bound.
	entries, err := db.Range(ctx, "user:a", "user:b")
	if err != nil {
		return fmt.Errorf("range: %w", err)
	}
	printEntries(w, `range ["user:a", "user:b")`, entries)
	return nil
}

func printEntries(w io.Writer, label string, entries []fluxmap.Entry[string, string]) {
	fmt.Fprintf(w, "%s: %d keys\n", label, len(entries))
	for _, e := range entries {
		fmt.Fprintf(w, "  %s = %s\n", e.Key, e.Value)
	}
}
