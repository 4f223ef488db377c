package main

import (
	"bytes"
	"testing"
)

// TestRun checks every line the example prints, including that each scan
// returns exactly its prefix's keys, in key order.
func TestRun(t *testing.T) {
	const want = `prefix "user:": 3 keys
  user:ada = Ada Lovelace
  user:alan = Alan Turing
  user:grace = Grace Hopper
prefix "order:": 4 keys
  order:ada:0001 = analytical engine
  order:ada:0010 = punched cards
  order:alan:0003 = bombe
  order:grace:0002 = compiler
prefix "order:ada:": 2 keys
  order:ada:0001 = analytical engine
  order:ada:0010 = punched cards
prefix "invoice:": 0 keys
range ["user:a", "user:b"): 2 keys
  user:ada = Ada Lovelace
  user:alan = Alan Turing
`
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}
