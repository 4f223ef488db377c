package main

import (
	"bytes"
	"testing"
)

// TestRun checks every line the example prints: key2, the least recently
// used key, is the one evicted.
func TestRun(t *testing.T) {
	const want = `limit 3000 bytes
insert key1 (1000 bytes)
insert key2 (1000 bytes)
get key1
insert key3 (1000 bytes)
key1: present
key2: evicted
key3: present
evictions: 1 (policy LRU)
memory within limit: true
`
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}
