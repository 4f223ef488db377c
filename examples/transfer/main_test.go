package main

import (
	"bytes"
	"testing"
)

// TestRun checks every line the example prints: the committed transfer
// moves money, the overdraft changes nothing.
func TestRun(t *testing.T) {
	const want = `start: alice=100 bob=50 total=150
transfer 30 alice -> bob: committed
balances: alice=70 bob=80 total=150
transfer 500 bob -> alice: rolled back (insufficient funds: bob has 80, needs 500)
balances: alice=70 bob=80 total=150
`
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}
