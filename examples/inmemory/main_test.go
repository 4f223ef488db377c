package main

import (
	"bytes"
	"testing"
)

// TestRun runs the example end to end and checks every line it prints, so
// the example cannot silently drift from what the library does.
func TestRun(t *testing.T) {
	const want = `inserted 4 keys
get fruit:apple = "red"
get fruit:durian: not found
remove fruit:banana: existed=true old="yellow"
prefix "fruit:": 2 keys
  fruit:apple = "red"
  fruit:cherry = "dark red"
prefix "": 3 keys
  fruit:apple = "red"
  fruit:cherry = "dark red"
  veg:carrot = "orange"
`
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}
