package cli

import (
	"errors"
	"flag"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
)

func TestDefaultsAreTheMainJob(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Systems, DefaultMemSystems) || !slices.Equal(c.Workloads, []string{"ycsb-a", "bank"}) {
		t.Errorf("systems %v, workloads %v", c.Systems, c.Workloads)
	}
	if !slices.Equal(c.Clients, []int{8}) || !slices.Equal(c.Shards, []int{runtime.GOMAXPROCS(0)}) {
		t.Errorf("clients %v, shards %v", c.Clients, c.Shards)
	}
	if c.Keys != 100_000 || c.ValueSize != 100 || c.Durability != stores.Mem {
		t.Errorf("keys %d, value size %d, durability %v", c.Keys, c.ValueSize, c.Durability)
	}
	plan, err := c.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 12 {
		t.Fatalf("default plan has %d runs, want 6 systems x 2 workloads", len(plan))
	}
	// About a minute in all: runs plus warmups, leaving time to load.
	total := time.Duration(len(plan)) * (c.Duration + c.Warmup)
	if total < 40*time.Second || total > 60*time.Second {
		t.Errorf("default plan measures for %v, want about a minute", total)
	}
}

func TestDurableDefaults(t *testing.T) {
	c, err := Parse([]string{"--durability", "full", "--workloads=update"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Systems, DefaultDurableSystems) || c.Durability != stores.Full {
		t.Errorf("systems %v, durability %v", c.Systems, c.Durability)
	}
}

func TestSweepPlan(t *testing.T) {
	c, err := Parse([]string{
		"-systems=fluxmap,badger", "--workloads", "ycsb-a,bank", "--dist", "zipfian,uniform",
		"--shards", "1,2,4,8,16", "--clients", "1, 2,4,8,16,32,8",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Clients, []int{1, 2, 4, 8, 16, 32}) {
		t.Errorf("clients %v: duplicates should be dropped, spaces allowed", c.Clients)
	}
	plan, err := c.Plan()
	if err != nil {
		t.Fatal(err)
	}
	// ycsb-a: 2 dists x (fluxmap 5 shards + badger 1) x 6 clients = 72;
	// bank has a fixed distribution: 1 x 6 x 6 = 36.
	if len(plan) != 108 {
		t.Errorf("plan has %d runs, want 108", len(plan))
	}
	for _, p := range plan {
		if p.Spec.Name == "bank" && p.Spec.DistFor(p.Dist) != workload.Uniform {
			t.Errorf("bank run with distribution %v", p.Spec.DistFor(p.Dist))
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--systems", "fluxmap,redis"},
		{"--workloads", "ycsb-g"},
		{"--dist", "pareto"},
		{"--shards", "0"},
		{"--shards", "2,x"},
		{"--clients", ""},
		{"--durability", "sometimes"},
		{"--keys", "10"},
		{"--hot", "1"},
		{"--duration", "0s"},
		{"--repeat", "0"},
		{"--bogus"},
		{"stray"},
	} {
		if _, err := Parse(args, io.Discard); err == nil {
			t.Errorf("Parse(%q) succeeded", args)
		}
	}
	if _, err := Parse([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestParseInts(t *testing.T) {
	got, err := ParseInts("x", "16,1, 4", 1, 64)
	if err != nil || !slices.Equal(got, []int{16, 1, 4}) {
		t.Errorf("ParseInts = %v, %v", got, err)
	}
	if _, err := ParseInts("x", "65", 1, 64); err == nil {
		t.Error("out-of-range value accepted")
	}
}

func TestCacheMode(t *testing.T) {
	c, err := Parse([]string{"--cache"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Systems, cacheNames()) || !slices.Equal(c.CacheValues, []int{100, 1024}) || c.CacheBudget != 16<<20 {
		t.Errorf("systems %v, values %v, budget %d", c.Systems, c.CacheValues, c.CacheBudget)
	}
	for _, args := range [][]string{
		{"--cache", "--systems", "badger"},   // not a cache system
		{"--cache", "--cache-budget", "100"}, // too small
		{"--cache", "--cache-values", "0"},   // no value
		{"--cache", "--cache-ratio", "0"},    // no key space
		{"--cache", "--clients", "0"},        // no client
		{"--cache", "--duration", "0s"},      // no measurement
	} {
		if _, err := Parse(args, io.Discard); err == nil {
			t.Errorf("Parse(%q) accepted it", args)
		}
	}
}

func TestLoadMode(t *testing.T) {
	c, err := Parse([]string{"--load", "--durability", "full"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Load || !slices.Equal(c.Systems, DefaultLoadSystems) || c.LoadKeys != 1_000_000 || c.Durability != stores.Full {
		t.Errorf("load %v, systems %v, keys %d, durability %v", c.Load, c.Systems, c.LoadKeys, c.Durability)
	}
	if _, err := Parse([]string{"--load", "--load-keys", "0"}, io.Discard); err == nil {
		t.Error("--load-keys 0 accepted")
	}
}
