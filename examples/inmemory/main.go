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
		fmt.Fprintln(os.Stderr, "inmemory:", err)
		os.Exit(1)
	}
}

// run is the whole example; it is separate from main so that main_test.go
// can check its output. Everything it prints is deterministic: scans return
// keys in order, whatever the number of shards.
func run(w io.Writer) (err error) {
	ctx := context.Background()

	// Defaults: in memory, serializable, one shard per GOMAXPROCS.
	db, err := fluxmap.New[string, string]().Build(ctx)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	// Close stops the shard goroutines; report its error unless an earlier
	// one is already being returned.
	defer func() { err = errors.Join(err, db.Close()) }()

	// Each Insert is its own transaction (autocommit). It never returns
	// fluxmap.ErrConflict: a clash with a concurrent writer is retried inside.
	produce := []fluxmap.Entry[string, string]{
		{Key: "fruit:apple", Value: "red"},
		{Key: "fruit:banana", Value: "yellow"},
		{Key: "fruit:cherry", Value: "dark red"},
		{Key: "veg:carrot", Value: "orange"},
	}
	for _, e := range produce {
		if err := db.Insert(ctx, e.Key, e.Value); err != nil {
			return fmt.Errorf("insert %q: %w", e.Key, err)
		}
	}
	fmt.Fprintf(w, "inserted %d keys\n", len(produce))

	for _, key := range []string{"fruit:apple", "fruit:durian"} {
		v, ok, err := db.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("get %q: %w", key, err)
		}
		if ok {
			fmt.Fprintf(w, "get %s = %q\n", key, v)
		} else {
			fmt.Fprintf(w, "get %s: not found\n", key)
		}
	}

	old, existed, err := db.Remove(ctx, "fruit:banana")
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	fmt.Fprintf(w, "remove fruit:banana: existed=%t old=%q\n", existed, old)

	// A prefix scan reads one consistent snapshot across all shards and
	// returns the matches sorted by key.
	for _, prefix := range []string{"fruit:", ""} {
		entries, err := db.PrefixScan(ctx, prefix)
		if err != nil {
			return fmt.Errorf("prefix scan %q: %w", prefix, err)
		}
		fmt.Fprintf(w, "prefix %q: %d keys\n", prefix, len(entries))
		for _, e := range entries {
			fmt.Fprintf(w, "  %s = %q\n", e.Key, e.Value)
		}
	}
	return nil
}
