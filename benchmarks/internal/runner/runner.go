// Package runner runs one benchmark: it opens a store, loads it, drives it
// with a number of client goroutines for a fixed time and reports
// throughput, latency percentiles, aborts and allocations.
//
// Each client owns its operation generator and latency histogram; the only
// state clients share is the store, the keyspace's insert counter and the
// run's phase flags. The runner merges the histograms after every client
// has exited.
package runner

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxmap/fluxmap/benchmarks/internal/latency"
	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
)

// Params describe one run.
type Params struct {
	System     stores.System
	Spec       workload.Spec
	Dist       workload.Dist
	Shards     int // of sharded systems; ignored by the others
	Clients    int
	Keys       int
	ValueSize  int
	Hot        int
	Duration   time.Duration
	Warmup     time.Duration
	Durability stores.Durability
	// Dir is the parent of the run's scratch directory (durable modes).
	Dir  string
	Seed uint64
}

// Result is one row of the report. Shards is 0 for unsharded systems. NA,
// when set, says why the system could not run the workload; the numbers are
// then zero.
type Result struct {
	System     string        `json:"system"`
	Workload   string        `json:"workload"`
	Dist       string        `json:"dist"`
	Durability string        `json:"durability"`
	Shards     int           `json:"shards"`
	Clients    int           `json:"clients"`
	Ops        uint64        `json:"ops"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	OpsPerSec  float64       `json:"ops_per_sec"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	// AbortPct is the share of transaction attempts that aborted on a
	// conflict; RetriesPerOp is retried attempts per completed operation.
	AbortPct     float64 `json:"abort_pct"`
	RetriesPerOp float64 `json:"retries_per_op"`
	// AllocsPerOp is heap allocations per operation, the whole process
	// (store, harness, runtime) during the measured window.
	AllocsPerOp float64 `json:"allocs_per_op"`
	Errors      uint64  `json:"errors"`
	NA          string  `json:"na,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// Label names the run for progress output.
func (p Params) Label() string {
	s := fmt.Sprintf("%s %s/%s c=%d", p.System.Name, p.Spec.Name, p.Spec.DistFor(p.Dist), p.Clients)
	if p.System.Sharded {
		s += fmt.Sprintf(" s=%d", p.Shards)
	}
	return s
}

func (p Params) result() Result {
	r := Result{
		System: p.System.Name, Workload: p.Spec.Name, Dist: string(p.Spec.DistFor(p.Dist)),
		Durability: p.Durability.String(), Clients: p.Clients,
	}
	if p.System.Sharded {
		r.Shards = p.Shards
	}
	return r
}

// Applicable returns why p cannot run ("" if it can).
func (p Params) Applicable() string {
	if !p.System.Supports(p.Durability) {
		return fmt.Sprintf("no %s mode", p.Durability)
	}
	need, caps := p.Spec.Needs(), p.System.Caps
	switch {
	case need&stores.CapTxn != 0 && !caps.Has(stores.CapTxn):
		return "no transactions"
	case need&stores.CapScan != 0 && !caps.Has(stores.CapScan):
		return "no ordered scans"
	case need&stores.CapRMW != 0 && !caps.Has(stores.CapRMW):
		return "no read-modify-write"
	case need&stores.CapGet != 0 && !caps.Has(stores.CapGet):
		return "no reads"
	}
	return ""
}

// Run runs p and returns its result; an error means the store failed to
// open, load or close, not that some operations failed (those are counted).
func Run(p Params) (Result, error) {
	res := p.result()
	if na := p.Applicable(); na != "" {
		res.NA = na
		return res, nil
	}
	st, cleanup, err := openStore(p.System, stores.Config{Shards: p.Shards, Durability: p.Durability}, p.Dir, "fluxbench-")
	if err != nil {
		return res, err
	}
	defer cleanup()
	ks := workload.NewKeyspace(p.Keys)
	if p.Spec.Accounts {
		err = st.LoadAccounts(p.Keys, ks.LoadedKey, workload.StartBalance)
	} else {
		err = st.Load(p.Keys, ks.LoadedKey, value(p.ValueSize))
	}
	if err != nil {
		return res, errors.Join(fmt.Errorf("%s: load: %w", p.System.Name, err), st.Close())
	}
	wp := workload.Params{Spec: p.Spec, Dist: p.Dist, Keys: ks, Hot: p.Hot}
	shared, err := workload.NewShared(wp)
	if err != nil {
		return res, errors.Join(err, st.Close())
	}
	measure(p, st, wp, shared, &res)
	if p.Spec.Accounts && res.Errors == 0 {
		total, err := st.Total(p.Keys, ks.LoadedKey)
		if want := int64(p.Keys) * workload.StartBalance; err != nil || total != want {
			res.Note = fmt.Sprintf("INVARIANT BROKEN: total balance %d, want %d (%v)", total, want, err)
		}
	}
	if err := st.Close(); err != nil {
		return res, fmt.Errorf("%s: close: %w", p.System.Name, err)
	}
	return res, nil
}

// value returns the payload every write stores.
func value(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// client is one benchmark goroutine's private state.
type client struct {
	hist   *latency.Histogram
	ops    uint64
	errors uint64
	first  error
}

// measure drives st for p.Warmup + p.Duration. An operation counts if it
// started inside the measured window; the window closes when the last
// such operation has finished.
func measure(p Params, st stores.Store, wp workload.Params, shared *workload.Shared, res *Result) {
	var measuring, stop atomic.Bool
	val := value(p.ValueSize)
	clients := make([]*client, p.Clients)
	var wg sync.WaitGroup
	for i := range clients {
		c := &client{hist: latency.New()}
		clients[i] = c
		gen := workload.NewGen(wp, shared, p.Seed*1_000_003+uint64(i)+1)
		wg.Go(func() {
			for !stop.Load() {
				op := gen.Next()
				counted := measuring.Load()
				start := time.Now()
				err := do(st, op, val)
				if !counted {
					continue
				}
				c.hist.Record(time.Since(start))
				c.ops++
				if err != nil {
					if c.errors++; c.first == nil {
						c.first = err
					}
				}
			}
		})
	}
	time.Sleep(p.Warmup)
	retries0, rerr := st.Retries()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	measuring.Store(true)
	time.Sleep(p.Duration)
	stop.Store(true)
	wg.Wait()
	res.Elapsed = time.Since(t0)
	runtime.ReadMemStats(&ms1)
	retries1, rerr1 := st.Retries()

	hist := latency.New()
	var firstErr error
	for _, c := range clients {
		hist.Merge(c.hist)
		res.Ops += c.ops
		res.Errors += c.errors
		if firstErr == nil {
			firstErr = c.first
		}
	}
	if res.Ops == 0 {
		res.Note = "no operation completed"
		return
	}
	res.OpsPerSec = float64(res.Ops) / res.Elapsed.Seconds()
	res.P50, res.P99, res.P999 = hist.Quantile(0.50), hist.Quantile(0.99), hist.Quantile(0.999)
	res.AllocsPerOp = float64(ms1.Mallocs-ms0.Mallocs) / float64(res.Ops)
	if err := errors.Join(rerr, rerr1); err != nil {
		res.Note = "retries unknown: " + err.Error()
	} else {
		retries := float64(retries1 - retries0)
		res.RetriesPerOp = retries / float64(res.Ops)
		res.AbortPct = 100 * retries / (retries + float64(res.Ops))
	}
	if firstErr != nil {
		res.Note = fmt.Sprintf("%d errors, first: %v", res.Errors, firstErr)
	}
}

// do runs one operation against st.
func do(st stores.Store, op workload.Op, val []byte) error {
	switch op.Kind {
	case workload.Read:
		_, err := st.Get(op.Key)
		return err
	case workload.Update, workload.Insert:
		return st.Put(op.Key, val)
	case workload.Scan:
		_, err := st.Scan(op.Key, op.Key2, op.ScanLen)
		return err
	case workload.RMW:
		return st.RMW(op.Key, val)
	case workload.Transfer:
		return st.Transfer(op.Key, op.Key2, 1)
	}
	return fmt.Errorf("unknown operation kind %d", op.Kind)
}

// Median returns the run with the median throughput of repeated runs of
// one row (the lower middle one of an even count), noting how many runs
// there were and their spread. Failed or n/a runs count as zero.
func Median(runs []Result) Result {
	if len(runs) == 0 {
		return Result{}
	}
	if len(runs) == 1 {
		return runs[0]
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Result) int { return cmp.Compare(a.OpsPerSec, b.OpsPerSec) })
	m := sorted[(len(sorted)-1)/2]
	if m.NA != "" {
		return m
	}
	spread := fmt.Sprintf("median of %d (%s..%s ops/s)", len(runs),
		latency.FormatRate(sorted[0].OpsPerSec), latency.FormatRate(sorted[len(sorted)-1].OpsPerSec))
	if m.Note == "" {
		m.Note = spread
	} else {
		m.Note = spread + "; " + m.Note
	}
	return m
}

// openStore opens sys with cfg; a durable store gets a new temporary
// directory under parent, named by prefix and the system, which the
// returned cleanup removes (call it after closing the store).
func openStore(sys stores.System, cfg stores.Config, parent, prefix string) (st stores.Store, cleanup func(), err error) {
	cleanup = func() {}
	if cfg.Durability != stores.Mem {
		if cfg.Dir, err = os.MkdirTemp(parent, prefix+sys.Name+"-"); err != nil {
			return nil, nil, err
		}
		cleanup = func() { os.RemoveAll(cfg.Dir) }
	}
	if st, err = sys.Open(cfg); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("%s: open: %w", sys.Name, err)
	}
	return st, cleanup, nil
}
