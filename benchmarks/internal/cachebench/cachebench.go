// Package cachebench is fluxbench's cache workload: FluxMap with a memory
// limit used as a read-through cache, against Go's in-process caches at the
// same byte budget.
//
// The trace is a zipfian (s = 0.99) stream of gets over a key space several
// times larger than what the budget holds; a miss is followed by an insert
// of the value, as a read-through cache does. Each system gets the same
// trace. Two numbers judge a cache: its hit ratio at a given budget, taken
// from one deterministic single-goroutine pass over the trace (so systems
// compare on identical requests), and its throughput with concurrent
// clients. The Go heap the cache holds afterwards (live objects, and the
// spans they occupy) says whether it kept to its budget.
//
// Budgets: FluxMap counts its own entries against MaxMemory (key, value
// and its per-entry overhead). The peers count what they are told, so each
// is told the resident bytes one of its entries really costs, measured
// before the run (Calibrate): golang-lru, which counts entries, holds
// budget / that many; ristretto and otter weigh every entry at that cost.
package cachebench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
	"github.com/fluxmap/fluxmap/benchmarks/internal/zipf"
)

// Cache is what the workload drives. Implementations are safe for
// concurrent use.
type Cache interface {
	// Get reports whether key is cached.
	Get(key string) (bool, error)
	// Set caches val under key; the cache may keep val's bytes.
	Set(key string, val []byte) error
	Close() error
}

// System is one cache under test. Open returns a cache that holds about
// budget bytes, given what one entry costs in resident bytes (perEntry,
// from Calibrate; FluxMap estimates its own and ignores it).
type System struct {
	Name string
	Open func(budget, perEntry int64) (Cache, error)
	// Calibrated says whether the system needs perEntry.
	Calibrated bool
}

// Systems lists the caches the workload knows, FluxMap's first.
var Systems = []System{
	{Name: "fluxmap-lru", Open: func(budget, _ int64) (Cache, error) { return openFlux(budget, fluxmap.LRU) }},
	{Name: "fluxmap-lfu", Open: func(budget, _ int64) (Cache, error) { return openFlux(budget, fluxmap.LFU) }},
	{Name: "golang-lru", Open: openLRU, Calibrated: true},
	{Name: "ristretto", Open: openRistretto, Calibrated: true},
	{Name: "otter", Open: openOtter, Calibrated: true},
}

// Lookup returns the system called name.
func Lookup(name string) (System, error) {
	for _, s := range Systems {
		if s.Name == name {
			return s, nil
		}
	}
	names := make([]string, len(Systems))
	for i, s := range Systems {
		names[i] = s.Name
	}
	return System{}, fmt.Errorf("unknown cache system %q (have %v)", name, names)
}

type fluxCache struct {
	db  *fluxmap.DB[string, []byte]
	ctx context.Context
}

func openFlux(budget int64, p fluxmap.EvictionPolicy) (Cache, error) {
	db, err := fluxmap.New[string, []byte]().MaxMemory(budget).EvictionPolicy(p).Build(context.Background())
	if err != nil {
		return nil, err
	}
	return &fluxCache{db: db, ctx: context.Background()}, nil
}

func (c *fluxCache) Get(key string) (bool, error) {
	_, ok, err := c.db.Get(c.ctx, key)
	return ok, err
}

// Set inserts a copy: FluxMap copies a []byte value on the way in.
func (c *fluxCache) Set(key string, val []byte) error { return c.db.Insert(c.ctx, key, val) }
func (c *fluxCache) Close() error                     { return c.db.Close() }

// The peers keep the slice they are given, so their adapters copy it, as
// a read-through cache holding values fetched from elsewhere would.

type lruCache struct{ c *lru.Cache[string, []byte] }

func openLRU(budget, perEntry int64) (Cache, error) {
	c, err := lru.New[string, []byte](int(max(1, budget/perEntry)))
	if err != nil {
		return nil, err
	}
	return &lruCache{c: c}, nil
}

func (c *lruCache) Get(key string) (bool, error) {
	_, ok := c.c.Get(key)
	return ok, nil
}

func (c *lruCache) Set(key string, val []byte) error {
	c.c.Add(key, append([]byte(nil), val...))
	return nil
}

func (c *lruCache) Close() error { c.c.Purge(); return nil }

type ristrettoCache struct {
	c        *ristretto.Cache[string, []byte]
	perEntry int64
}

func openRistretto(budget, perEntry int64) (Cache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters:        10 * max(1, budget/perEntry), // ten per entry it holds, as its documentation advises
		MaxCost:            budget,
		BufferItems:        64,
		IgnoreInternalCost: true, // perEntry is the whole cost
	})
	if err != nil {
		return nil, err
	}
	return &ristrettoCache{c: c, perEntry: perEntry}, nil
}

func (c *ristrettoCache) Get(key string) (bool, error) {
	_, ok := c.c.Get(key)
	return ok, nil
}

// Set may be dropped by ristretto's admission or its buffers: that is its
// design, and the hit ratio shows it.
func (c *ristrettoCache) Set(key string, val []byte) error {
	c.c.Set(key, append([]byte(nil), val...), c.perEntry)
	return nil
}

func (c *ristrettoCache) Close() error { c.c.Close(); return nil }

type otterCache struct{ c *otter.Cache[string, []byte] }

func openOtter(budget, perEntry int64) (Cache, error) {
	w := uint32(min(perEntry, 1<<31))
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumWeight: uint64(budget),
		Weigher:       func(string, []byte) uint32 { return w },
	})
	if err != nil {
		return nil, err
	}
	return &otterCache{c: c}, nil
}

func (c *otterCache) Get(key string) (bool, error) {
	_, ok := c.c.GetIfPresent(key)
	return ok, nil
}

func (c *otterCache) Set(key string, val []byte) error {
	c.c.Set(key, append([]byte(nil), val...))
	return nil
}

func (c *otterCache) Close() error { c.c.InvalidateAll(); return nil }

// Config is one cache run.
type Config struct {
	Budget    int64 // bytes
	ValueSize int
	// Keys is the key space the trace draws from.
	Keys int
	// TraceOps is the length of the measured single-goroutine pass; as
	// many requests warm the cache first.
	TraceOps int
	Clients  int
	Warmup   time.Duration
	Duration time.Duration
	Seed     uint64
}

// KeysFor returns a key space ratio times what budget holds of keys and
// values alone, before any cache's overhead.
func KeysFor(budget int64, valueSize int, ratio int) int {
	return int(budget/int64(len(workload.KeyName(0))+valueSize)) * ratio
}

// Result is one system's run.
type Result struct {
	System    string
	ValueSize int
	Budget    int64
	Keys      int
	PerEntry  int64 // the calibrated cost of a peer's entry; 0 for FluxMap
	// TraceHitRatio is the hit ratio of the single-goroutine pass.
	TraceHitRatio float64
	// OpsPerSec and HitRatio are the concurrent run's.
	OpsPerSec float64
	HitRatio  float64
	// HeapLive and HeapInUse are the Go heap's live objects and its
	// in-use spans (live objects plus the free slots of partly used spans:
	// what churn leaves fragmented) after the runs and a full GC, less
	// those before the cache was opened.
	HeapLive, HeapInUse int64
}

// Calibrate measures the resident bytes one entry costs sys: it fills an
// instance sized for n entries (weighed 1 each, so sized as a run sizes
// it for n) with n entries and divides the heap it grew by the entries it
// holds.
func Calibrate(sys System, n, valueSize int) (int64, error) {
	val := make([]byte, valueSize)
	heap0, _ := settledHeap()
	c, err := sys.Open(int64(n), 1)
	if err != nil {
		return 0, err
	}
	for i := range n {
		if err := c.Set(workload.KeyName(uint64(i)), val); err != nil {
			return 0, errors.Join(err, c.Close())
		}
	}
	if r, ok := c.(*ristrettoCache); ok {
		r.c.Wait()
		if held := r.c.MaxCost() - r.c.RemainingCost(); held > 0 {
			n = int(held) // the entries it admitted
		}
	}
	heap1, _ := settledHeap()
	runtime.KeepAlive(c)
	per := (heap1 - heap0) / int64(n)
	return max(per, 1), c.Close()
}

// Run runs sys through the trace pass and the concurrent run.
func Run(sys System, cfg Config, perEntry int64) (Result, error) {
	res := Result{System: sys.Name, ValueSize: cfg.ValueSize, Budget: cfg.Budget, Keys: cfg.Keys}
	if sys.Calibrated {
		res.PerEntry = perEntry
	}
	z, err := zipf.New(uint64(cfg.Keys), zipf.YCSBTheta)
	if err != nil {
		return res, err
	}
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = workload.KeyName(uint64(i))
	}
	val := make([]byte, cfg.ValueSize)
	live0, inuse0 := settledHeap()
	c, err := sys.Open(cfg.Budget, perEntry)
	if err != nil {
		return res, err
	}
	// request is one get, and on a miss the fill.
	request := func(k string) (bool, error) {
		hit, err := c.Get(k)
		if err == nil && !hit {
			err = c.Set(k, val)
		}
		return hit, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	var hits int
	for i := range 2 * cfg.TraceOps {
		hit, err := request(keys[z.Next(rng)])
		if err != nil {
			return res, errors.Join(err, c.Close())
		}
		if hit && i >= cfg.TraceOps {
			hits++
		}
	}
	res.TraceHitRatio = float64(hits) / float64(cfg.TraceOps)

	var ops, hitsC atomic.Int64
	var measuring, stop atomic.Bool
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for w := range cfg.Clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)+1))
			var n, h int64
			counting := false
			for !stop.Load() {
				if !counting && measuring.Load() {
					counting, n, h = true, 0, 0
				}
				hit, err := request(keys[z.Next(rng)])
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				n++
				if hit {
					h++
				}
			}
			if counting {
				ops.Add(n)
				hitsC.Add(h)
			}
		})
	}
	time.Sleep(cfg.Warmup)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(cfg.Duration)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return res, errors.Join(firstErr, c.Close())
	}
	res.OpsPerSec = float64(ops.Load()) / elapsed.Seconds()
	if ops.Load() > 0 {
		res.HitRatio = float64(hitsC.Load()) / float64(ops.Load())
	}
	live1, inuse1 := settledHeap()
	res.HeapLive, res.HeapInUse = live1-live0, inuse1-inuse0
	runtime.KeepAlive(c)
	runtime.KeepAlive(keys) // live through both measurements, so neither counts it
	return res, c.Close()
}

// settledHeap collects garbage and returns the heap's live bytes and its
// in-use spans' bytes.
func settledHeap() (live, inUse int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), int64(ms.HeapInuse)
}
