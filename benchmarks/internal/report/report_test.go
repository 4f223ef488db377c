package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/fluxmap/fluxmap/benchmarks/internal/runner"
)

func sample() []runner.Result {
	row := func(sys string, shards, clients int, ops float64) runner.Result {
		return runner.Result{System: sys, Workload: "ycsb-a", Dist: "zipfian", Durability: "mem", Shards: shards,
			Clients: clients, Ops: uint64(ops), Elapsed: time.Second, OpsPerSec: ops,
			P50: 1234 * time.Nanosecond, P99: 45 * time.Microsecond, P999: 2 * time.Millisecond, AllocsPerOp: 2}
	}
	return []runner.Result{
		row("fluxmap", 2, 8, 3_000_000), row("badger", 0, 8, 1_000_000), row("buntdb", 0, 8, 1_500_000),
		{System: "xsync", Workload: "bank", Dist: "uniform", Durability: "mem", Clients: 8, NA: "no transactions"},
		row("fluxmap", 4, 8, 3_300_000), row("fluxmap", 2, 16, 3_600_000), row("badger", 0, 16, 1_200_000),
		row("floor", 4, 8, 6_600_000),
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"ops/s", "3.00M", "1.23µs", "45.0µs", "2.00ms", "n/a", "no transactions"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 9 {
		t.Fatalf("%d lines, want a header and 8 rows", len(lines))
	}
	// Aligned: every row's ops/s column starts where the header's does.
	col := strings.Index(lines[0], "ops/s")
	if !strings.HasPrefix(lines[1][col:], "3.00M") {
		t.Errorf("ops/s column misaligned:\n%s", out)
	}
}

func TestRatios(t *testing.T) {
	rs := Ratios(sample())
	want := map[string]float64{"badger s=2 c=8": 3, "buntdb s=2 c=8": 2, "badger s=4 c=8": 3.3, "buntdb s=4 c=8": 2.2, "badger s=2 c=16": 3, "floor s=4 c=8": 0.5}
	if len(rs) != len(want) {
		t.Fatalf("%d ratios, want %d: %+v", len(rs), len(want), rs)
	}
	for _, r := range rs {
		key := fmt.Sprintf("%s s=%d c=%d", r.Peer, r.Shards, r.Clients)
		if w, ok := want[key]; !ok || r.Ratio < w-1e-9 || r.Ratio > w+1e-9 {
			t.Errorf("%s: ratio %v, want %v", key, r.Ratio, w)
		}
	}
	var b bytes.Buffer
	WriteRatios(&b, sample())
	if !strings.Contains(b.String(), "ycsb-a/zipfian mem clients=8 shards=2: 3.00x badger, 2.00x buntdb") {
		t.Errorf("ratio lines:\n%s", b.String())
	}
}

func TestCSVAndJSON(t *testing.T) {
	var b bytes.Buffer
	if err := CSV(&b, sample()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 || recs[0][0] != "system" || recs[1][9] != "1234" || recs[4][16] != "no transactions" {
		t.Errorf("csv: %q", recs)
	}
	b.Reset()
	if err := JSON(&b, sample()); err != nil {
		t.Fatal(err)
	}
	var back []runner.Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != 8 || back[0].P99 != 45*time.Microsecond {
		t.Errorf("json round trip: %v, %+v", err, back)
	}
}

func TestPlotWritesPNG(t *testing.T) {
	var b bytes.Buffer
	if err := Plot(&b, sample()); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() < 500 {
		t.Errorf("image %v too small", img.Bounds())
	}
	if err := Plot(&b, nil); err == nil {
		t.Error("Plot of nothing succeeded")
	}
}

func TestPanels(t *testing.T) {
	ps := panels(sample())
	if len(ps) != 1 {
		t.Fatalf("%d panels, want 1 (the n/a bank row has no data)", len(ps))
	}
	p := ps[0]
	if got := p.byClients["fluxmap s=2"]; len(got) != 2 || got[0].X != 8 || got[1].X != 16 {
		t.Errorf("fluxmap s=2 by clients: %v", got)
	}
	if got := p.byShards["fluxmap c=8"]; len(got) != 2 || got[0].X != 2 || got[1].Y != 3_300_000 {
		t.Errorf("fluxmap c=8 by shards: %v", got)
	}
	if _, ok := p.byShards["badger c=8"]; ok {
		t.Error("unsharded badger has a by-shards line")
	}
}

func TestMemTable(t *testing.T) {
	ms := []runner.MemResult{
		{System: "fluxmap", Keys: 1000, KeyBytes: 16, ValueSize: 100, BaseRSS: 10 << 20, LoadedRSS: 10<<20 + 300_000, HeapBytes: 250_000, BytesPerKey: 300},
		{System: "badger", Keys: 1000, KeyBytes: 16, ValueSize: 100, BaseRSS: 10 << 20, LoadedRSS: 10<<20 + 200_000, BytesPerKey: 200},
		{System: "bbolt", Keys: 1000, NA: "no in-memory mode"},
	}
	var b bytes.Buffer
	if err := MemTable(&b, ms); err != nil {
		t.Fatal(err)
	}
	MemRatios(&b, ms)
	for _, want := range []string{"300", "n/a", "1.50x badger"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("memory report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestLoadTable(t *testing.T) {
	ls := []runner.LoadResult{
		{System: "fluxmap", Durability: "full", Keys: 1000, ValueSize: 100, Seconds: 0.001, KeysPerSec: 1_000_000},
		{System: "badger", Durability: "full", Keys: 1000, ValueSize: 100, Seconds: 0.004, KeysPerSec: 250_000},
		{System: "gomemdb", Durability: "full", Keys: 1000, NA: "no full mode"},
	}
	var b bytes.Buffer
	if err := LoadTable(&b, ls); err != nil {
		t.Fatal(err)
	}
	LoadRatios(&b, ls)
	for _, want := range []string{"n/a", "4.00x badger"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("load report lacks %q:\n%s", want, b.String())
		}
	}
}
