// Command fluxbench compares FluxMap with peer stores on YCSB, bank,
// hot-spot and scan workloads and prints a table of throughput, latency
// percentiles, abort rates and allocations.
//
// With no flags it runs the main job: about a minute of YCSB-A and the bank
// workload, in memory, against fluxmap, the floor, badger, buntdb, go-memdb
// and xsync, with 8 clients, 100k keys, 100-byte values and GOMAXPROCS
// shards. Lists of shards and clients make it a sweep:
//
//	fluxbench --systems fluxmap,floor,badger --shards 1,2,4,8,16 --clients 1,2,4,8,16,32 --plot sweep.png
//	fluxbench --durability full --workloads update --clients 32     # fluxmap, badger, bbolt, raw fdatasync
//	fluxbench --memory                                               # RSS bytes/key after 1M keys, per system
//	fluxbench --load --durability full                               # bulk-load keys/s: DB.Load vs badger WriteBatch
//
// Run fluxbench -h for every flag, fluxbench --list for systems and workloads.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/fluxmap/fluxmap/benchmarks/internal/cachebench"
	"github.com/fluxmap/fluxmap/benchmarks/internal/cli"
	"github.com/fluxmap/fluxmap/benchmarks/internal/report"
	"github.com/fluxmap/fluxmap/benchmarks/internal/runner"
	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
	"github.com/fluxmap/fluxmap/benchmarks/internal/zipf"
	"github.com/fluxmap/fluxmap/internal/idle"
)

func main() {
	cfg, err := cli.Parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fluxbench:", err)
		os.Exit(1)
	}
}

func run(cfg cli.Config) error {
	switch {
	case cfg.List:
		list(os.Stdout)
		return nil
	case cfg.MemoryChild != "":
		sys, err := stores.Lookup(cfg.MemoryChild)
		if err != nil {
			return err
		}
		res, err := runner.MeasureMemory(sys, cfg.MemoryKeys, cfg.ValueSize)
		if err != nil {
			return err
		}
		return report.JSON(os.Stdout, res)
	case cfg.Memory:
		return memory(cfg)
	case cfg.Load:
		return loadMode(cfg)
	}
	stop, err := startProfiles(cfg)
	if err != nil {
		return err
	}
	if cfg.Cache {
		err = cacheMode(cfg)
	} else {
		err = bench(cfg)
	}
	if serr := stop(); err == nil {
		err = serr
	}
	return err
}

// startProfiles starts the CPU and mutex profiles and the execution trace
// that cfg asks for and returns the function that stops them and closes their files.
func startProfiles(cfg cli.Config) (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return stop, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, err
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return f.Close() })
	}
	if cfg.MutexProfile != "" {
		f, err := os.Create(cfg.MutexProfile)
		if err != nil {
			return stop, errors.Join(err, stop())
		}
		// One contention event in 10 is sampled: enough to rank locks, and
		// cheap even when the scheduler's lock is the one contended.
		prev := runtime.SetMutexProfileFraction(10)
		stops = append(stops, func() error {
			err := pprof.Lookup("mutex").WriteTo(f, 0)
			runtime.SetMutexProfileFraction(prev)
			return errors.Join(err, f.Close())
		})
	}
	if cfg.Trace != "" {
		f, err := os.Create(cfg.Trace)
		if err != nil {
			return stop, errors.Join(err, stop())
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return stop, errors.Join(err, stop())
		}
		stops = append(stops, func() error { trace.Stop(); return f.Close() })
	}
	return stop, nil
}

func list(w io.Writer) {
	fmt.Fprintln(w, "systems:")
	for _, n := range stores.Names() {
		s, _ := stores.Lookup(n)
		var ds []string
		for _, d := range s.Durabilities {
			ds = append(ds, d.String())
		}
		fmt.Fprintf(w, "  %-8s [%s] %s\n", n, strings.Join(ds, ","), s.Note)
	}
	fmt.Fprintln(w, "workloads:")
	for _, n := range workload.Names() {
		s, _ := workload.Lookup(n)
		fmt.Fprintf(w, "  %-8s %s\n", n, s.Desc)
	}
}

// progress returns a bar on stderr when stderr is a terminal, else nil.
func progress(n int, what string) *progressbar.ProgressBar {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
}

func bench(cfg cli.Config) error {
	plan, err := cfg.Plan()
	if err != nil {
		return err
	}
	idle.SetYield(cfg.ShardYield)
	yield := ""
	if !cfg.ShardYield {
		yield = ", shard yield off"
	}
	fmt.Printf("# fluxbench: %d runs x%d of %v (+%v warmup), %d keys, %d-byte values, durability %s, GOMAXPROCS %d, %s/%s%s\n",
		len(plan), cfg.Repeat, cfg.Duration, cfg.Warmup, cfg.Keys, cfg.ValueSize, cfg.Durability, runtime.GOMAXPROCS(0),
		runtime.GOOS, runtime.GOARCH, yield)
	bar := progress(len(plan)*cfg.Repeat, "running")
	runs := make([][]runner.Result, len(plan))
	var failures []error
	for range cfg.Repeat {
		for i, p := range plan {
			if bar != nil {
				bar.Describe(p.Label())
			}
			res, err := runner.Run(p)
			if err != nil {
				// One peer failing must not cost the whole comparison.
				failures = append(failures, err)
				res.NA = "failed: " + err.Error()
			}
			runs[i] = append(runs[i], res)
			if bar != nil {
				_ = bar.Add(1)
			}
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	results := make([]runner.Result, len(plan))
	for i := range runs {
		results[i] = runner.Median(runs[i])
	}
	if cfg.Etcd {
		fmt.Fprintf(os.Stderr, "running %s (fluxetcd's cmd/etcdbench, in a child process)\n", cli.EtcdSystem)
		rows, err := etcdRows(cfg)
		if err != nil {
			failures = append(failures, err)
		}
		results = append(results, rows...)
	}
	if err := report.Table(os.Stdout, results); err != nil {
		return err
	}
	report.WriteRatios(os.Stdout, results)
	if err := writeOutputs(cfg, results); err != nil {
		return err
	}
	return errors.Join(failures...)
}

func writeOutputs(cfg cli.Config, results []runner.Result) error {
	outs := []struct {
		path  string
		write func(io.Writer) error
	}{
		{cfg.CSV, func(w io.Writer) error { return report.CSV(w, results) }},
		{cfg.JSON, func(w io.Writer) error { return report.JSON(w, results) }},
		{cfg.Plot, func(w io.Writer) error { return report.Plot(w, results) }},
	}
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		if err := writeTo(o.path, o.write); err != nil {
			return err
		}
	}
	return nil
}

// writeTo writes to path, or to stdout for "-".
func writeTo(path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(os.Stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

// memory runs each system's measurement in a child process of its own.
func memory(cfg cli.Config) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("# fluxbench --memory: %d keys of %d bytes, %d-byte values, one fresh process per system, GOMAXPROCS %d\n",
		cfg.MemoryKeys, len(workload.KeyName(0)), cfg.ValueSize, runtime.GOMAXPROCS(0))
	bar := progress(len(cfg.Systems), "memory")
	var results []runner.MemResult
	var failures []error
	for _, s := range cfg.Systems {
		if bar != nil {
			bar.Describe(s)
		}
		res, err := runner.MeasureMemoryInChild(exe, s, cfg.MemoryKeys, cfg.ValueSize)
		if err != nil {
			failures = append(failures, err)
			res.NA = "failed"
		}
		results = append(results, res)
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if err := report.MemTable(os.Stdout, results); err != nil {
		return err
	}
	report.MemRatios(os.Stdout, results)
	if cfg.JSON != "" {
		if err := writeTo(cfg.JSON, func(w io.Writer) error { return report.JSON(w, results) }); err != nil {
			return err
		}
	}
	return errors.Join(failures...)
}

// cacheMode runs the cache workload for each value size and system, in
// this process, one system at a time (the heap each holds is measured as
// a difference after a full GC).
func cacheMode(cfg cli.Config) error {
	fmt.Printf("# fluxbench --cache: budget %d bytes, zipfian %.2f, key space %dx what the budget holds of keys and values, %d clients, %v (+%v warm-up), GOMAXPROCS %d\n",
		cfg.CacheBudget, zipf.YCSBTheta, cfg.CacheRatio, cfg.Clients[0], cfg.Duration, cfg.Warmup, runtime.GOMAXPROCS(0))
	var results []cachebench.Result
	for _, vs := range cfg.CacheValues {
		keys := cachebench.KeysFor(cfg.CacheBudget, vs, cfg.CacheRatio)
		for _, name := range cfg.Systems {
			sys, err := cachebench.Lookup(name)
			if err != nil {
				return err
			}
			var per int64
			if sys.Calibrated {
				// Calibrate on as many entries as the budget holds of keys and
				// values alone: the most the cache will ever hold.
				if per, err = cachebench.Calibrate(sys, keys/cfg.CacheRatio, vs); err != nil {
					return fmt.Errorf("%s: calibrate: %w", name, err)
				}
			}
			res, err := cachebench.Run(sys, cachebench.Config{
				Budget: cfg.CacheBudget, ValueSize: vs, Keys: keys, TraceOps: keys,
				Clients: cfg.Clients[0], Warmup: cfg.Warmup, Duration: cfg.Duration, Seed: cfg.Seed,
			}, per)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			results = append(results, res)
		}
	}
	if err := report.CacheTable(os.Stdout, results); err != nil {
		return err
	}
	report.CacheRatios(os.Stdout, results)
	if cfg.JSON != "" {
		return writeTo(cfg.JSON, func(w io.Writer) error { return report.JSON(w, results) })
	}
	return nil
}

// loadMode bulk-loads a fresh instance of each system, --repeat times
// interleaved, and reports each system's median rate.
func loadMode(cfg cli.Config) error {
	fmt.Printf("# fluxbench --load: %d keys of %d bytes in key order, %d-byte values, durability %s, shards %d, %d run(s) per system (median), GOMAXPROCS %d\n",
		cfg.LoadKeys, len(workload.KeyName(0)), cfg.ValueSize, cfg.Durability, cfg.Shards[0], cfg.Repeat, runtime.GOMAXPROCS(0))
	runs := make(map[string][]runner.LoadResult)
	for range cfg.Repeat {
		for _, name := range cfg.Systems {
			sys, err := stores.Lookup(name)
			if err != nil {
				return err
			}
			res, err := runner.MeasureLoad(runner.LoadParams{System: sys, Durability: cfg.Durability, Shards: cfg.Shards[0],
				Keys: cfg.LoadKeys, ValueSize: cfg.ValueSize, Dir: cfg.Dir})
			if err != nil {
				return err
			}
			runs[name] = append(runs[name], res)
		}
	}
	var results []runner.LoadResult
	for _, name := range cfg.Systems {
		rs := runs[name]
		slices.SortFunc(rs, func(a, b runner.LoadResult) int { return cmp.Compare(a.KeysPerSec, b.KeysPerSec) })
		results = append(results, rs[len(rs)/2])
	}
	if err := report.LoadTable(os.Stdout, results); err != nil {
		return err
	}
	report.LoadRatios(os.Stdout, results)
	if cfg.JSON != "" {
		return writeTo(cfg.JSON, func(w io.Writer) error { return report.JSON(w, results) })
	}
	return nil
}
