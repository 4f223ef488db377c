package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/examples/transfer/bank"
	"github.com/fluxmap/fluxmap/fluxetcd"
	"github.com/fluxmap/fluxmap/fluxetcd/internal/loopback"
)

// The systems the driver measures: the embedded engine and the etcd
// backend, both driven by the same code through fluxmap.ReadWriteTx.
const (
	sysEmbedded = "fluxmap-portable"
	sysEtcd     = "fluxmap-etcd"
)

// The workloads, defined as fluxbench defines them (benchmarks/internal/
// workload): ycsb-a is 50% point reads and 50% blind single-key updates
// of the loaded keys, zipfian; bank moves 1 between two distinct uniform
// random accounts (bank.Transfer: two reads and two writes in one
// serializable transaction), every account starting at startBalance.
const (
	wlYCSBA      = "ycsb-a"
	wlBank       = "bank"
	startBalance = 1000
)

// config is one invocation of the driver.
type config struct {
	Systems   []string
	Workloads []string
	Dist      string // of ycsb-a: zipfian or uniform
	Clients   int
	Duration  time.Duration
	Warmup    time.Duration
	Repeat    int
	Keys      int
	ValueSize int
	Members   int
	// Fsync makes the etcd members sync their WAL to disk before
	// acknowledging, as a production member does.
	Fsync bool
	Seed  uint64
}

// Row is one result, in the field names of fluxbench's rows (benchmarks/
// internal/runner.Result) so that fluxbench reads the driver's --json
// output into its own report. Shards is 0: neither system is sharded
// by fluxbench's meaning.
type Row struct {
	System       string        `json:"system"`
	Workload     string        `json:"workload"`
	Dist         string        `json:"dist"`
	Durability   string        `json:"durability"`
	Shards       int           `json:"shards"`
	Clients      int           `json:"clients"`
	Ops          uint64        `json:"ops"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	OpsPerSec    float64       `json:"ops_per_sec"`
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	P999         time.Duration `json:"p999_ns"`
	AbortPct     float64       `json:"abort_pct"`
	RetriesPerOp float64       `json:"retries_per_op"`
	// AllocsPerOp is heap allocations per operation in the whole process
	// during the measured window: for fluxmap-etcd the three members'
	// allocations count too.
	AllocsPerOp float64 `json:"allocs_per_op"`
	Errors      uint64  `json:"errors"`
	NA          string  `json:"na,omitempty"`
	Note        string  `json:"note,omitempty"`
}

func (c config) validate() error {
	for _, s := range c.Systems {
		if s != sysEmbedded && s != sysEtcd {
			return fmt.Errorf("unknown system %q (have %s, %s)", s, sysEmbedded, sysEtcd)
		}
	}
	for _, w := range c.Workloads {
		if w != wlYCSBA && w != wlBank {
			return fmt.Errorf("unknown workload %q (have %s, %s)", w, wlYCSBA, wlBank)
		}
	}
	switch {
	case len(c.Systems) == 0 || len(c.Workloads) == 0:
		return errors.New("no system or no workload to run")
	case c.Dist != "zipfian" && c.Dist != "uniform":
		return fmt.Errorf("unknown distribution %q (want zipfian or uniform)", c.Dist)
	case c.Clients < 1 || c.Repeat < 1 || c.Members < 1:
		return errors.New("clients, repeat and members must be at least 1")
	case c.Keys < 2:
		return errors.New("keys must be at least 2")
	case c.Duration <= 0 || c.Warmup < 0 || c.ValueSize < 0:
		return errors.New("duration must be positive, warmup and value size not negative")
	}
	return nil
}

// run measures every workload on every system, cfg.Repeat times, and
// returns the median run (by throughput) of each, workload by workload.
// The etcd cluster, if a system needs it, runs under dir for the whole
// call; each system and workload gets a fresh database, loaded once and
// measured Repeat times.
func run(ctx context.Context, cfg config, dir string) ([]Row, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var cli *clientv3.Client
	if slices.Contains(cfg.Systems, sysEtcd) {
		c, err := loopback.Start(dir, cfg.Members, func(ec *embed.Config) { ec.UnsafeNoFsync = !cfg.Fsync })
		if c != nil {
			defer c.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("start etcd: %w", err)
		}
		cli, err = clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return nil, fmt.Errorf("etcd client: %w", err)
		}
		defer cli.Close()
	}
	var rows []Row
	for _, wl := range cfg.Workloads {
		for _, sys := range cfg.Systems {
			runs, err := measureRepeated(ctx, cfg, cli, sys, wl)
			if err != nil {
				return rows, fmt.Errorf("%s %s: %w", sys, wl, err)
			}
			rows = append(rows, median(runs))
		}
	}
	return rows, nil
}

func measureRepeated(ctx context.Context, cfg config, cli *clientv3.Client, sys, wl string) ([]Row, error) {
	prefix := fmt.Sprintf("etcdbench/%s/", wl)
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = keyName(uint64(i))
	}
	if wl == wlBank {
		st, err := open[int64](ctx, cli, sys, prefix)
		if err != nil {
			return nil, err
		}
		defer st.close()
		if err := load(ctx, st, keys, startBalance); err != nil {
			return nil, err
		}
		var attempts atomic.Uint64 // transaction attempts, retries included
		transfer := func(ctx context.Context, r *rand.Rand) error {
			i, j := r.IntN(len(keys)), r.IntN(len(keys)-1)
			if j >= i {
				j++
			}
			return st.transaction(ctx, func(tx fluxmap.ReadWriteTx[string, int64]) error {
				attempts.Add(1)
				return bank.Transfer(tx, keys[i], keys[j], 1)
			})
		}
		check := func() error { return checkTotal(ctx, st, len(keys)) }
		return repeat(ctx, cfg, sys, wl, transfer, &attempts, check), nil
	}
	st, err := open[[]byte](ctx, cli, sys, prefix)
	if err != nil {
		return nil, err
	}
	defer st.close()
	val := make([]byte, cfg.ValueSize)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	if err := load(ctx, st, keys, val); err != nil {
		return nil, err
	}
	var z *zipfian
	if cfg.Dist == "zipfian" {
		z = newZipfian(uint64(len(keys)))
	}
	readOrUpdate := func(ctx context.Context, r *rand.Rand) error {
		var k string
		if z != nil {
			k = keys[z.next(r)]
		} else {
			k = keys[r.IntN(len(keys))]
		}
		if r.IntN(2) == 0 {
			_, _, err := st.get(ctx, k)
			return err
		}
		return st.insert(ctx, k, val)
	}
	return repeat(ctx, cfg, sys, wl, readOrUpdate, nil, nil), nil
}

// store is a database, embedded or on etcd, seen through the calls the
// workloads make.
type store[V any] struct {
	get         func(context.Context, string) (V, bool, error)
	insert      func(context.Context, string, V) error
	transaction func(context.Context, func(fluxmap.ReadWriteTx[string, V]) error) error
	prefixScan  func(context.Context, string) ([]fluxmap.Entry[string, V], error)
	close       func() error
}

func open[V any](ctx context.Context, cli *clientv3.Client, sys, prefix string) (*store[V], error) {
	if sys == sysEtcd {
		db, err := fluxetcd.Open(ctx, cli, fluxetcd.Options[string, V]{Prefix: prefix})
		if err != nil {
			return nil, err
		}
		return &store[V]{
			get: db.Get, insert: db.Insert, prefixScan: db.PrefixScan, close: db.Close,
			transaction: func(ctx context.Context, fn func(fluxmap.ReadWriteTx[string, V]) error) error {
				return db.Transaction(ctx, func(tx *fluxetcd.Tx[string, V]) error { return fn(tx) })
			},
		}, nil
	}
	db, err := fluxmap.New[string, V]().Build(ctx)
	if err != nil {
		return nil, err
	}
	return &store[V]{
		get: db.Get, insert: db.Insert, prefixScan: db.PrefixScan, close: db.Close,
		transaction: func(ctx context.Context, fn func(fluxmap.ReadWriteTx[string, V]) error) error {
			return db.Transaction(ctx, func(tx *fluxmap.Tx[string, V]) error { return fn(tx) })
		},
	}, nil
}

// keyName is item i's key, as fluxbench names it: "user" and 12
// zero-padded digits, so that key order is item order.
func keyName(i uint64) string { return fmt.Sprintf("user%012d", i) }

// loadBatch is how many keys one loading transaction writes: etcd's
// default --max-txn-ops.
const loadBatch = fluxetcd.DefaultMaxTxnOps

// load writes every key with value v, loadBatch keys per transaction.
func load[V any](ctx context.Context, st *store[V], keys []string, v V) error {
	for lo := 0; lo < len(keys); lo += loadBatch {
		err := st.transaction(ctx, func(tx fluxmap.ReadWriteTx[string, V]) error {
			for _, k := range keys[lo:min(lo+loadBatch, len(keys))] {
				if err := tx.Insert(k, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	return nil
}

// repeat measures op cfg.Repeat times. attempts, if not nil, counts the
// transaction attempts op makes, from which the abort rate follows; check,
// if not nil, checks the workload's invariant after each run.
func repeat(ctx context.Context, cfg config, sys, wl string, op func(context.Context, *rand.Rand) error, attempts *atomic.Uint64, check func() error) []Row {
	var rows []Row
	for rep := range cfg.Repeat {
		if attempts != nil {
			attempts.Store(0)
		}
		m := measure(ctx, cfg, op, cfg.Seed+uint64(rep)*1_000_003)
		row := m.Row
		row.System, row.Workload, row.Clients, row.Dist = sys, wl, cfg.Clients, cfg.Dist
		if wl == wlBank {
			row.Dist = "uniform"
		}
		if attempts != nil && m.finished > 0 {
			// Every finished operation made one attempt that ended it;
			// the other attempts aborted on a conflict and were retried.
			retries := float64(attempts.Load()) - float64(m.finished)
			row.RetriesPerOp = retries / float64(m.finished)
			row.AbortPct = 100 * retries / float64(attempts.Load())
		}
		row.Durability = "mem" // as fluxbench names the embedded engine's in-memory mode
		if sys == sysEtcd {
			row.Durability = fmt.Sprintf("raft x%d, no fsync", cfg.Members)
			if cfg.Fsync {
				row.Durability = fmt.Sprintf("raft x%d, fsync", cfg.Members)
			}
		}
		if check != nil {
			if err := check(); err != nil {
				row.Note = join(row.Note, "INVARIANT BROKEN: "+err.Error())
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// checkTotal checks the bank's invariant: the accounts' total is what it
// was at the start.
func checkTotal(ctx context.Context, st *store[int64], accounts int) error {
	rows, err := st.prefixScan(ctx, "user")
	if err != nil {
		return err
	}
	var total int64
	for _, r := range rows {
		total += r.Value
	}
	if want := int64(accounts) * startBalance; len(rows) != accounts || total != want {
		return fmt.Errorf("%d accounts totalling %d, want %d totalling %d", len(rows), total, accounts, want)
	}
	return nil
}

// join joins two notes, either of which may be empty.
func join(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

// measured is a Row and the count of operations that finished, warm-up
// included.
type measured struct {
	Row
	finished uint64
}

// measure runs op on cfg.Clients goroutines for cfg.Warmup and then
// cfg.Duration. An operation counts if it started inside the measured
// window; the window closes when the last such operation has finished.
// An operation failing with bank.ErrInsufficientFunds completed (the
// application refused it); any other error counts as an error.
func measure(ctx context.Context, cfg config, op func(context.Context, *rand.Rand) error, seed uint64) measured {
	type client struct {
		hist                    histogram
		ops, finished, errCount uint64
		first                   error
	}
	var measuring, stop atomic.Bool
	clients := make([]*client, cfg.Clients)
	var wg sync.WaitGroup
	for i := range clients {
		c := &client{}
		clients[i] = c
		r := rand.New(rand.NewPCG(seed, uint64(i)+1))
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				counted := measuring.Load()
				start := time.Now()
				err := op(ctx, r)
				c.finished++
				if !counted {
					continue
				}
				c.hist.record(time.Since(start))
				c.ops++
				if err != nil && !errors.Is(err, bank.ErrInsufficientFunds) {
					if c.errCount++; c.first == nil {
						c.first = err
					}
				}
			}
		})
	}
	sleep(ctx, cfg.Warmup)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	measuring.Store(true)
	sleep(ctx, cfg.Duration)
	stop.Store(true)
	wg.Wait()
	var m measured
	m.Elapsed = time.Since(t0)
	runtime.ReadMemStats(&ms1)
	var hist histogram
	var first error
	for _, c := range clients {
		hist.merge(&c.hist)
		m.Ops += c.ops
		m.finished += c.finished
		m.Errors += c.errCount
		if first == nil {
			first = c.first
		}
	}
	if m.Ops == 0 {
		m.Note = "no operation completed"
		return m
	}
	m.OpsPerSec = float64(m.Ops) / m.Elapsed.Seconds()
	m.AllocsPerOp = float64(ms1.Mallocs-ms0.Mallocs) / float64(m.Ops)
	m.P50, m.P99, m.P999 = hist.quantile(0.50), hist.quantile(0.99), hist.quantile(0.999)
	if first != nil {
		m.Note = fmt.Sprintf("%d errors, first: %v", m.Errors, first)
	}
	return m
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// median returns the run with the median throughput (the lower middle of
// an even count), noting the spread of the runs.
func median(runs []Row) Row {
	if len(runs) == 1 {
		return runs[0]
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Row) int { return cmp.Compare(a.OpsPerSec, b.OpsPerSec) })
	m := sorted[(len(sorted)-1)/2]
	m.Note = join(fmt.Sprintf("median of %d (%.0f..%.0f ops/s)", len(runs), sorted[0].OpsPerSec, sorted[len(sorted)-1].OpsPerSec), m.Note)
	return m
}
