package main

import (
	"bytes"
	"testing"
)

// TestRun runs many clients on several shards and checks the facts that do
// not depend on scheduling: every transfer finished, committed or declined,
// and the total is what the accounts started with.
func TestRun(t *testing.T) {
	const want = `16 clients x 200 transfers between 100 accounts on 4 shards
transfers finished: 3200
total: 100000 (expected 100000)
`
	var out, verbose bytes.Buffer
	cfg := config{shards: 4, clients: 16, transfers: 200, verbose: &verbose}
	if err := run(&out, cfg); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
	if verbose.Len() == 0 {
		t.Error("nothing printed to the verbose writer")
	}
	t.Log(verbose.String())
}
