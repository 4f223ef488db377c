// Package cli parses fluxbench's flags into a Config and expands a Config
// into the list of runs it asks for.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/fluxmap/fluxmap/benchmarks/internal/cachebench"
	"github.com/fluxmap/fluxmap/benchmarks/internal/runner"
	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
)

// Default system lists: the in-memory main job's peers, and the durable
// comparison's (bbolt and the raw fdatasync loop exist only on disk).
var (
	DefaultMemSystems     = []string{"fluxmap", "floor", "badger", "buntdb", "gomemdb", "xsync"}
	DefaultDurableSystems = []string{"fluxmap", "badger", "bbolt", "rawsync"}
	DefaultMemorySystems  = []string{"fluxmap", "floor", "badger", "buntdb", "gomemdb", "xsync"}
	// The bulk-load comparison's: FluxMap's DB.Load against badger's
	// WriteBatch.
	DefaultLoadSystems = []string{"fluxmap", "badger"}
)

// EtcdSystem is FluxMap on a loopback etcd cluster (module fluxetcd). It
// is not one of package stores' systems: the etcd client and server may
// appear only in the fluxetcd module's go.mod, so fluxbench runs that
// module's driver, cmd/etcdbench, in a child process (see Config.Etcd).
const EtcdSystem = "fluxmap-etcd"

// Config is a parsed command line.
type Config struct {
	// Systems are package stores' systems; EtcdSystem, if asked for, is
	// taken out of the list and sets Etcd instead.
	Systems    []string
	Workloads  []string
	Dists      []workload.Dist
	Shards     []int
	Clients    []int
	Keys       int
	ValueSize  int
	Hot        int
	Duration   time.Duration
	Warmup     time.Duration
	Durability stores.Durability
	Dir        string
	Seed       uint64
	// Repeat runs the whole plan this many times, interleaved, and reports
	// each row's median run: on a shared machine, load that comes and goes
	// then hits every system alike instead of whichever ran at the time.
	Repeat int

	CSV, JSON, Plot string
	List            bool

	// CPUProfile, MutexProfile and Trace, when set, name files that
	// receive a CPU profile, a mutex contention profile (the Go runtime's
	// own locks included, such as the scheduler's) and an execution trace
	// of the whole benchmark run (loading included), for go tool pprof and
	// go tool trace.
	CPUProfile, MutexProfile, Trace string

	// ShardYield turns the shards' yield-before-park policy on (the
	// library's default) or off, for FluxMap and the floor alike; see
	// internal/idle.
	ShardYield bool

	// Memory mode: load MemoryKeys keys into each system, each in a
	// process of its own, and report resident bytes per key.
	Memory      bool
	MemoryKeys  int
	MemoryChild string // set in the child process only

	// Cache mode: the read-through cache workload (package cachebench) at a
	// byte budget, once per value size.
	Cache       bool
	CacheBudget int64
	CacheValues []int
	CacheRatio  int
	// Etcd runs EtcdSystem: fluxetcd's driver, built and run with go run
	// in the fluxetcd module next to the benchmarks module, or the
	// prebuilt binary EtcdBench (--etcdbench, $FLUXBENCH_ETCDBENCH).
	Etcd      bool
	EtcdBench string

	// Load mode: bulk-load LoadKeys keys into a fresh instance of each
	// system through its Load (FluxMap's DB.Load, badger's WriteBatch) and
	// report keys per second, at --durability.
	Load     bool
	LoadKeys int
}

// Parse parses args (without the program name). Usage and errors go to
// stderr; -h returns flag.ErrHelp.
func Parse(args []string, stderr io.Writer) (Config, error) {
	c := Config{}
	fs := flag.NewFlagSet("fluxbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	systems := fs.String("systems", "", "comma-separated systems (default: "+strings.Join(DefaultMemSystems, ",")+
		"; with --durability relaxed|full: "+strings.Join(DefaultDurableSystems, ",")+"); have "+strings.Join(stores.Names(), ",")+
		", and "+EtcdSystem+" (FluxMap on a 3-member loopback etcd cluster, ycsb-a and bank only, run by fluxetcd's cmd/etcdbench)")
	workloads := fs.String("workloads", "ycsb-a,bank", "comma-separated workloads; have "+strings.Join(workload.Names(), ","))
	dists := fs.String("dist", "zipfian", "key distribution of YCSB A-C, E, F and update: zipfian, uniform or both (comma-separated)")
	shards := fs.String("shards", strconv.Itoa(runtime.GOMAXPROCS(0)), "shard counts of fluxmap and floor, comma-separated (a sweep)")
	clients := fs.String("clients", "8", "client goroutine counts, comma-separated (a sweep)")
	fs.IntVar(&c.Keys, "keys", 100_000, "keys (or bank accounts) loaded before each run")
	fs.IntVar(&c.ValueSize, "value-size", 100, "value size in bytes")
	fs.IntVar(&c.Hot, "hot", 16, "hot-spot workload: size of the hot set that takes 90% of account picks")
	fs.DurationVar(&c.Duration, "duration", 4*time.Second, "measured time of each run")
	fs.DurationVar(&c.Warmup, "warmup", 500*time.Millisecond, "unmeasured time before each run's measurement")
	durability := fs.String("durability", "mem", "mem, relaxed (fsync on a timer) or full (fsync before acknowledging)")
	fs.StringVar(&c.Dir, "dir", "", "parent directory of durable runs' files (default: the system temp dir)")
	fs.IntVar(&c.Repeat, "repeat", 1, "run the plan this many times, interleaved, and report each row's median-throughput run")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the clients' random generators")
	fs.StringVar(&c.CSV, "csv", "", "also write the results as CSV to this file (- for stdout)")
	fs.StringVar(&c.JSON, "json", "", "also write the results as JSON to this file (- for stdout)")
	fs.StringVar(&c.Plot, "plot", "", "draw throughput against clients and shards into this PNG file")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the benchmark runs to this file")
	fs.BoolVar(&c.ShardYield, "shard-yield", true, "let shards (FluxMap's and the floor's) yield before they park mid cross-shard exchange; false for an A/B run")
	fs.StringVar(&c.MutexProfile, "mutexprofile", "", "write a mutex contention profile of the benchmark runs (runtime locks included) to this file")
	fs.StringVar(&c.Trace, "trace", "", "write an execution trace of the benchmark runs to this file (keep --duration short)")
	fs.StringVar(&c.EtcdBench, "etcdbench", os.Getenv("FLUXBENCH_ETCDBENCH"), "a prebuilt fluxetcd cmd/etcdbench binary for "+EtcdSystem+
		" (default $FLUXBENCH_ETCDBENCH; if empty, go run ./cmd/etcdbench in the fluxetcd module next to this one)")
	fs.BoolVar(&c.List, "list", false, "list systems and workloads and exit")
	fs.BoolVar(&c.Memory, "memory", false, "memory mode: RSS bytes per key after loading --memory-keys keys, each system in a fresh process")
	fs.IntVar(&c.MemoryKeys, "memory-keys", 1_000_000, "keys loaded in memory mode (16-byte keys)")
	fs.StringVar(&c.MemoryChild, runner.MemoryChildFlag, "", "internal: measure one system's memory and print JSON")
	fs.BoolVar(&c.Cache, "cache", false, "cache mode: a zipfian read-through cache at --cache-budget bytes (hit ratio, throughput at the first --clients, heap); systems: "+strings.Join(cacheNames(), ","))
	fs.Int64Var(&c.CacheBudget, "cache-budget", 16<<20, "cache mode: the byte budget of every cache")
	cacheValues := fs.String("cache-values", "100,1024", "cache mode: value sizes in bytes, comma-separated (one run each)")
	fs.IntVar(&c.CacheRatio, "cache-ratio", 5, "cache mode: the key space is this many times what the budget holds of keys and values alone")
	fs.BoolVar(&c.Load, "load", false, "load mode: keys/s bulk-loading --load-keys keys into each system at --durability (default systems: "+strings.Join(DefaultLoadSystems, ",")+")")
	fs.IntVar(&c.LoadKeys, "load-keys", 1_000_000, "keys loaded in load mode (16-byte keys, in key order)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if c.Durability, err = stores.ParseDurability(*durability); err != nil {
		return c, err
	}
	if c.Cache {
		return c, c.parseCache(*systems, *cacheValues, *clients)
	}
	if *systems == "" {
		switch {
		case c.Memory:
			*systems = strings.Join(DefaultMemorySystems, ",")
		case c.Load:
			*systems = strings.Join(DefaultLoadSystems, ",")
		case c.Durability == stores.Mem:
			*systems = strings.Join(DefaultMemSystems, ",")
		default:
			*systems = strings.Join(DefaultDurableSystems, ",")
		}
	}
	for _, s := range splitList(*systems) {
		if s == EtcdSystem {
			c.Etcd = true
			continue
		}
		if _, err := stores.Lookup(s); err != nil {
			return c, err
		}
		c.Systems = append(c.Systems, s)
	}
	if c.Etcd && (c.Memory || c.Load) {
		return c, fmt.Errorf("%s runs only in the throughput mode (not with --memory or --load)", EtcdSystem)
	}
	c.Workloads = splitList(*workloads)
	for _, w := range c.Workloads {
		if _, err := workload.Lookup(w); err != nil {
			return c, err
		}
	}
	for _, d := range splitList(*dists) {
		dist, err := workload.ParseDist(d)
		if err != nil {
			return c, err
		}
		c.Dists = append(c.Dists, dist)
	}
	if c.Shards, err = ParseInts("shards", *shards, 1, 1024); err != nil {
		return c, err
	}
	if c.Clients, err = ParseInts("clients", *clients, 1, 4096); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Systems) == 0 && !c.Etcd || len(c.Workloads) == 0 || len(c.Dists) == 0 {
		errs = append(errs, errors.New("--systems, --workloads and --dist need at least one entry each"))
	}
	if c.Keys < 200 {
		errs = append(errs, fmt.Errorf("--keys %d: want at least 200 (scans read 100)", c.Keys))
	}
	if c.ValueSize < 1 {
		errs = append(errs, fmt.Errorf("--value-size %d: want at least 1", c.ValueSize))
	}
	if c.Hot < 2 || c.Hot >= c.Keys {
		errs = append(errs, fmt.Errorf("--hot %d: want 2 <= hot < keys", c.Hot))
	}
	if c.Duration <= 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("--duration must be positive and --warmup not negative"))
	}
	if c.Repeat < 1 {
		errs = append(errs, fmt.Errorf("--repeat %d: want at least 1", c.Repeat))
	}
	if c.LoadKeys < 1 {
		errs = append(errs, fmt.Errorf("--load-keys %d: want at least 1", c.LoadKeys))
	}
	if c.MemoryKeys < 1 {
		errs = append(errs, fmt.Errorf("--memory-keys %d: want at least 1", c.MemoryKeys))
	}
	return errors.Join(errs...)
}

func cacheNames() []string {
	var names []string
	for _, s := range cachebench.Systems {
		names = append(names, s.Name)
	}
	return names
}

// parseCache finishes parsing a cache-mode command line.
func (c *Config) parseCache(systems, values, clients string) error {
	c.Systems = splitList(systems)
	if len(c.Systems) == 0 {
		c.Systems = cacheNames()
	}
	for _, s := range c.Systems {
		if _, err := cachebench.Lookup(s); err != nil {
			return err
		}
	}
	var err error
	if c.CacheValues, err = ParseInts("cache-values", values, 1, 1<<20); err != nil {
		return err
	}
	if c.Clients, err = ParseInts("clients", clients, 1, 4096); err != nil {
		return err
	}
	var errs []error
	if c.CacheBudget < 1<<16 {
		errs = append(errs, fmt.Errorf("--cache-budget %d: want at least 65536 bytes", c.CacheBudget))
	}
	if c.CacheRatio < 1 {
		errs = append(errs, fmt.Errorf("--cache-ratio %d: want at least 1", c.CacheRatio))
	}
	if c.Duration <= 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("--duration must be positive and --warmup not negative"))
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ParseInts parses a comma-separated list of integers in [lo, hi], such as
// "1,2,4,8,16"; duplicates are dropped.
func ParseInts(name, s string, lo, hi int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("--%s: %q is not an integer in [%d, %d]", name, f, lo, hi)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: empty list", name)
	}
	return out, nil
}

// Plan expands c into runs: every workload, distribution, system, shard
// count and client count, in that nesting. Unsharded systems run once per
// client count rather than once per shard count; workloads whose
// distribution is fixed run once rather than once per --dist.
func (c Config) Plan() ([]runner.Params, error) {
	dir := c.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	var plan []runner.Params
	for _, wname := range c.Workloads {
		spec, err := workload.Lookup(wname)
		if err != nil {
			return nil, err
		}
		dists := c.Dists
		if spec.Fixed != "" {
			dists = dists[:1]
		}
		for _, dist := range dists {
			for _, sname := range c.Systems {
				sys, err := stores.Lookup(sname)
				if err != nil {
					return nil, err
				}
				shards := c.Shards
				if !sys.Sharded {
					shards = shards[:1]
				}
				for _, sh := range shards {
					for _, cl := range c.Clients {
						plan = append(plan, runner.Params{
							System: sys, Spec: spec, Dist: dist, Shards: sh, Clients: cl,
							Keys: c.Keys, ValueSize: c.ValueSize, Hot: c.Hot,
							Duration: c.Duration, Warmup: c.Warmup,
							Durability: c.Durability, Dir: dir, Seed: c.Seed,
						})
					}
				}
			}
		}
	}
	return plan, nil
}
