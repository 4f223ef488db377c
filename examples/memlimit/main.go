package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fluxmap/fluxmap"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "memlimit:", err)
		os.Exit(1)
	}
}

// run is the whole example; main_test.go checks everything it prints.
func run(w io.Writer) (err error) {
	ctx := context.Background()
	// The limit is split evenly across shards; with one shard the whole
	// 3000 bytes is one budget, which makes the example exact.
	db, err := fluxmap.New[string, string]().
		Shards(1).
		MaxMemory(3000).
		EvictionPolicy(fluxmap.LRU). // the default once a limit is set
		Build(ctx)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	fmt.Fprintf(w, "limit %d bytes\n", db.MemoryInfo().Max)

	value := strings.Repeat("x", 1000)
	insert := func(key string) error {
		if err := db.Insert(ctx, key, value); err != nil {
			return fmt.Errorf("insert %s: %w", key, err)
		}
		fmt.Fprintf(w, "insert %s (%d bytes)\n", key, len(value))
		return nil
	}

	if err := insert("key1"); err != nil {
		return err
	}
	if err := insert("key2"); err != nil {
		return err
	}
	// A read counts as a use: key1 is now more recently used than key2.
	if _, _, err := db.Get(ctx, "key1"); err != nil {
		return fmt.Errorf("get key1: %w", err)
	}
	fmt.Fprintln(w, "get key1")
	if err := insert("key3"); err != nil { // over the limit: evicts key2
		return err
	}

	for _, key := range []string{"key1", "key2", "key3"} {
		_, ok, err := db.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		state := "present"
		if !ok {
			state = "evicted"
		}
		fmt.Fprintf(w, "%s: %s\n", key, state)
	}

	st, err := db.Stats()
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	fmt.Fprintf(w, "evictions: %d (policy %v)\n", st.Evictions, st.Policy)
	fmt.Fprintf(w, "memory within limit: %t\n", st.Memory.Current <= st.Memory.Max)
	return nil
}
