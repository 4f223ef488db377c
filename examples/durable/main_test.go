package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestRun runs the example in its default temporary directory.
func TestRun(t *testing.T) {
	const want = `wrote user:ada visits=1
wrote user:grace visits=1
closed
reopened: 2 users
  user:ada = {Name:ada Visits:1}
  user:grace = {Name:grace Visits:1}
`
	var out bytes.Buffer
	if err := run(&out, ""); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}

// TestRunTwiceInOneDir runs the example twice on a directory it keeps: the
// second run starts from the first run's data.
func TestRunTwiceInOneDir(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	for range 2 {
		if err := run(&out, dir); err != nil {
			t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
		}
	}
	if got, want := out.String(), "  user:grace = {Name:grace Visits:2}\n"; !strings.HasSuffix(got, want) {
		t.Errorf("second run printed:\n%s\nwant it to end with:\n%s", got, want)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
		t.Errorf("directory %s: %d entries, err %v; want the database's files", dir, len(entries), err)
	}
}
