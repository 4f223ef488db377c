package main

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestRunSmoke runs both workloads on both systems briefly, one client, on
// a one-member cluster, through the --json output: every row ran, without
// errors, and the bank kept its total.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	cfg, asJSON, err := parse([]string{"--json", "--clients", "1", "--duration", "300ms", "--warmup", "50ms",
		"--keys", "200", "--members", "1", "--fsync=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runMain(cfg, asJSON, &out); err != nil {
		t.Fatal(err)
	}
	var rows []Row
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("output is not the JSON rows: %v\n%s", err, out.String())
	}
	if len(rows) != 4 {
		t.Fatalf("want 4 rows (2 workloads x 2 systems), got %d", len(rows))
	}
	for _, r := range rows {
		if r.Ops == 0 || r.OpsPerSec <= 0 || r.P50 <= 0 || r.P999 < r.P50 || r.Errors != 0 || r.Note != "" || r.Clients != 1 {
			t.Errorf("%s %s: implausible row %+v", r.System, r.Workload, r)
		}
	}
}

func TestParseRefusesUnknownNames(t *testing.T) {
	for _, args := range [][]string{{"--systems", "etcd"}, {"--workloads", "ycsb-b"}, {"--dist", "latest"}, {"--clients", "0"}} {
		if _, _, err := parse(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {0.999, 999 * time.Microsecond}} {
		got := h.quantile(c.q)
		if diff := float64(got-c.want) / float64(c.want); diff < -0.04 || diff > 0.04 {
			t.Errorf("quantile %v = %v, want %v within 4%%", c.q, got, c.want)
		}
	}
}
