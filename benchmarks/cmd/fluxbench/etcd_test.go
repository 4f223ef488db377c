package main

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fluxmap/fluxmap/benchmarks/internal/cli"
)

// etcdbenchOutput is what fluxetcd's cmd/etcdbench prints with --json.
const etcdbenchOutput = `[
  {"system": "fluxmap-portable", "workload": "bank", "dist": "uniform", "durability": "mem", "shards": 0, "clients": 8,
   "ops": 600000, "elapsed_ns": 3000000000, "ops_per_sec": 200000, "p50_ns": 6000, "p99_ns": 40000, "p999_ns": 200000,
   "abort_pct": 0.1, "retries_per_op": 0.001, "errors": 0},
  {"system": "fluxmap-etcd", "workload": "bank", "dist": "uniform", "durability": "raft x3, fsync", "shards": 0, "clients": 8,
   "ops": 1500, "elapsed_ns": 3000000000, "ops_per_sec": 500, "p50_ns": 3500000, "p99_ns": 8000000, "p999_ns": 17000000,
   "abort_pct": 2.5, "retries_per_op": 0.026, "errors": 0, "note": "median of 3 (480..530 ops/s)"}
]`

func TestParseEtcdRows(t *testing.T) {
	rows, err := parseEtcdRows([]byte(etcdbenchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	e := rows[1]
	if e.System != cli.EtcdSystem || e.Workload != "bank" || e.Clients != 8 || e.OpsPerSec != 500 ||
		e.P50 != 3500*time.Microsecond || e.P999 != 17*time.Millisecond || e.AbortPct != 2.5 ||
		e.Durability != "raft x3, fsync" || e.Note == "" {
		t.Errorf("row read wrong: %+v", e)
	}
	for _, bad := range []string{"", "not json", "[]", `[{"system": "fluxmap-etcd"}]`} {
		if _, err := parseEtcdRows([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestEtcdArgs(t *testing.T) {
	cfg, err := cli.Parse([]string{"--systems", "fluxmap,fluxmap-etcd", "--duration", "3s", "--repeat", "3", "--keys", "10000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Etcd || !slices.Equal(cfg.Systems, []string{"fluxmap"}) {
		t.Fatalf("--systems read as %v, etcd %v", cfg.Systems, cfg.Etcd)
	}
	args := etcdArgs(cfg, []string{"ycsb-a"}, 8)
	for _, want := range [][2]string{{"--clients", "8"}, {"--duration", "3s"}, {"--repeat", "3"}, {"--keys", "10000"}, {"--workloads", "ycsb-a"}} {
		i := slices.Index(args, want[0])
		if i < 0 || i+1 >= len(args) || args[i+1] != want[1] {
			t.Errorf("args %v lack %s %s", args, want[0], want[1])
		}
	}
	if !slices.Contains(args, "--json") || !slices.Contains(args, "--fsync=false") {
		t.Errorf("args %v: want --json and, in memory mode, --fsync=false", args)
	}
}

// TestEtcdOnlyNAForOtherWorkloads checks that workloads the driver does
// not define are reported as n/a without running anything.
func TestEtcdOnlyNAForOtherWorkloads(t *testing.T) {
	cfg, err := cli.Parse([]string{"--systems", "fluxmap-etcd", "--workloads", "ycsb-c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := etcdRows(cfg)
	if err != nil || len(rows) != 1 || rows[0].NA == "" {
		t.Fatalf("rows %+v, err %v: want one n/a row", rows, err)
	}
}

func TestFindFluxetcd(t *testing.T) {
	dir, err := findFluxetcd()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.Abs("../../../fluxetcd"); dir != want {
		t.Errorf("found %s, want %s", dir, want)
	}
}
