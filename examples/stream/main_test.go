package main

import (
	"bytes"
	"testing"
)

// TestRun checks every line the example prints: the full stream sees each
// item once (0 + 1 + ... + 99,999), the early break stops at the first
// match, and the range stream ends at the prefix's last key.
func TestRun(t *testing.T) {
	const want = `loaded 100000 items
streamed 100000 items, sum 4999950000
first multiple of 9973: item:009973 after 9974 items
  item:099997 = 99997
  item:099998 = 99998
  item:099999 = 99999
`
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}
