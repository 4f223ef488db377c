package runner

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
)

func params(t *testing.T, sys, wl string, d stores.Durability) Params {
	t.Helper()
	s, err := stores.Lookup(sys)
	if err != nil {
		t.Fatal(err)
	}
	w, err := workload.Lookup(wl)
	if err != nil {
		t.Fatal(err)
	}
	return Params{System: s, Spec: w, Dist: workload.Zipfian, Shards: 2, Clients: 3, Keys: 2000,
		ValueSize: 16, Hot: 8, Duration: 150 * time.Millisecond, Warmup: 20 * time.Millisecond,
		Durability: d, Dir: t.TempDir(), Seed: 1}
}

func TestRunMeasuresSomething(t *testing.T) {
	for _, tc := range []struct{ sys, wl string }{
		{"fluxmap", "ycsb-a"}, {"fluxmap", "bank"}, {"fluxmap", "hotspot"}, {"fluxmap", "ycsb-e"},
		{"floor", "ycsb-f"}, {"gomemdb", "scan"}, {"xsync", "ycsb-d"},
	} {
		res, err := Run(params(t, tc.sys, tc.wl, stores.Mem))
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.sys, tc.wl, err)
		}
		if res.NA != "" || res.Ops == 0 || res.OpsPerSec <= 0 || res.Errors != 0 || res.Note != "" {
			t.Errorf("%s/%s: %+v", tc.sys, tc.wl, res)
		}
		if !(res.P50 > 0 && res.P50 <= res.P99 && res.P99 <= res.P999) {
			t.Errorf("%s/%s: percentiles out of order: %v %v %v", tc.sys, tc.wl, res.P50, res.P99, res.P999)
		}
	}
}

func TestHotspotCountsRetries(t *testing.T) {
	p := params(t, "fluxmap", "hotspot", stores.Mem)
	p.Clients, p.Hot = 8, 2
	res, err := Run(p)
	if err != nil {
		t.Fatal(err)
	}
	if res.RetriesPerOp == 0 || res.AbortPct <= 0 || res.AbortPct >= 100 {
		t.Errorf("8 clients on 2 hot accounts: retries/op %v, abort%% %v; want some", res.RetriesPerOp, res.AbortPct)
	}
}

func TestNotApplicable(t *testing.T) {
	for _, tc := range []struct {
		sys, wl string
		d       stores.Durability
		want    string
	}{
		{"xsync", "bank", stores.Mem, "no transactions"},
		{"floor", "scan", stores.Mem, "no ordered scans"},
		{"rawsync", "ycsb-a", stores.Full, "no reads"},
		{"xsync", "update", stores.Full, "no full mode"},
		{"bbolt", "ycsb-a", stores.Mem, "no mem mode"},
	} {
		res, err := Run(params(t, tc.sys, tc.wl, tc.d))
		if err != nil || res.NA != tc.want || res.Ops != 0 {
			t.Errorf("%s/%s/%s: NA %q, %v; want %q", tc.sys, tc.wl, tc.d, res.NA, err, tc.want)
		}
	}
}

func TestParseKB(t *testing.T) {
	if got, err := ParseKB("\t  123456 kB"); err != nil || got != 123456<<10 {
		t.Errorf("ParseKB = %d, %v", got, err)
	}
	for _, bad := range []string{"12 MB", "x kB", ""} {
		if _, err := ParseKB(bad); err == nil {
			t.Errorf("ParseKB(%q) succeeded", bad)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(path, []byte("Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t  2048 kB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := parseVmRSS(f); err != nil || got != 2<<20 {
		t.Errorf("parseVmRSS = %d, %v; want 2 MiB", got, err)
	}
}

func TestMeasureMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	sys, _ := stores.Lookup("xsync")
	res, err := MeasureMemory(sys, 20_000, 100)
	if err != nil {
		t.Fatal(err)
	}
	// 20k keys of 16 B with 100 B values cannot take less than ~116 B each
	// (RSS is page-grained and noisy, so only a loose floor is checked).
	if res.HeapBytes < 20_000*116 || res.KeyBytes != 16 {
		t.Errorf("%+v: heap grew less than the data loaded", res)
	}
}

func TestMedian(t *testing.T) {
	runs := []Result{{OpsPerSec: 300}, {OpsPerSec: 100}, {OpsPerSec: 200, P50: 7}}
	m := Median(runs)
	if m.OpsPerSec != 200 || m.P50 != 7 || m.Note != "median of 3 (100..300 ops/s)" {
		t.Errorf("Median = %+v", m)
	}
	if m := Median(runs[:2]); m.OpsPerSec != 100 {
		t.Errorf("Median of two = %v, want the lower", m.OpsPerSec)
	}
	if m := Median(runs[:1]); m.Note != "" || m.OpsPerSec != 300 {
		t.Errorf("Median of one = %+v", m)
	}
}

func TestMeasureLoad(t *testing.T) {
	for _, name := range []string{"fluxmap", "badger"} {
		for _, d := range []stores.Durability{stores.Mem, stores.Full} {
			sys, err := stores.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			res, err := MeasureLoad(LoadParams{System: sys, Durability: d, Shards: 2, Keys: 3000, ValueSize: 16, Dir: t.TempDir()})
			if err != nil {
				t.Fatalf("%s/%v: %v", name, d, err)
			}
			if res.NA != "" || res.Keys != 3000 || res.Seconds <= 0 || res.KeysPerSec <= 0 {
				t.Errorf("%s/%v: %+v", name, d, res)
			}
		}
	}
	bolt, err := stores.Lookup("bbolt")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := MeasureLoad(LoadParams{System: bolt, Durability: stores.Mem, Keys: 10}); err != nil || res.NA == "" {
		t.Errorf("bbolt in memory: %+v, %v", res, err)
	}
}
