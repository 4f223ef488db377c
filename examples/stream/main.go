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
		fmt.Fprintln(os.Stderr, "stream:", err)
		os.Exit(1)
	}
}

const numItems = 100_000

func itemKey(i int) string { return fmt.Sprintf("item:%06d", i) }

// run is the whole example; main_test.go checks everything it prints.
func run(w io.Writer) (err error) {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	// Load commits the items in a few large transactions rather than
	// 100,000 autocommits.
	items := func(yield func(string, int64) bool) {
		for i := range numItems {
			if !yield(itemKey(i), int64(i)) {
				return
			}
		}
	}
	if _, err := db.Load(ctx, items, fluxmap.LoadOptions{}); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	// A key just past the prefix, which the scans below must not reach.
	if err := db.Insert(ctx, "other:total", -1); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	fmt.Fprintf(w, "loaded %d items\n", numItems)

	// Count and sum everything under the prefix. Check Err after the loop:
	// a scan that fails (say, its context ends) just stops yielding.
	s := db.PrefixStream(ctx, "item:")
	var count, sum int64
	for _, v := range s.All() {
		count++
		sum += v
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	fmt.Fprintf(w, "streamed %d items, sum %d\n", count, sum)

	// Stop at the first match. Ranging over All again takes a fresh
	// snapshot; break ends the scan, and nothing after the match is read.
	visited := 0
	var found string
	for k, v := range s.All() {
		visited++
		if v > 0 && v%9973 == 0 {
			found = k
			break
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	fmt.Fprintf(w, "first multiple of 9973: %s after %d items\n", found, visited)

	// A range stream works the same way: [lo, hi) in key order.
	r := db.RangeStream(ctx, itemKey(99_997), "item:~")
	for k, v := range r.All() {
		fmt.Fprintf(w, "  %s = %d\n", k, v)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("range: %w", err)
	}
	return nil
}
