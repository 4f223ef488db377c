package coordinator

import (
	"context"
	"errors"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/fluxmap/fluxmap/evict"
	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/shard"
)

// Config configures a Coordinator.
type Config[V any] struct {
	Shards       int
	SkiplistP    float64
	Serializable bool              // false: snapshot isolation (no read validation)
	Durable      *DurableConfig[V] // nil: in memory
	// VacuumInterval runs a vacuum pass this often; 0 disables it.
	VacuumInterval time.Duration
	// Memory configures accounting; its Budget is the whole database's
	// limit, split evenly across shards.
	Memory shard.Memory[V]
	// Now is the wall clock for TTLs (Unix nanoseconds); nil: time.Now.
	Now func() int64
	// Feed, if set, keeps installed writes for change feed readers.
	Feed *FeedConfig
}

// Coordinator routes requests to shards, drives two-phase commit and owns
// the oracle. Its methods are safe for concurrent use.
type Coordinator[V any] struct {
	oracle       *Oracle
	shards       []*shard.Shard[V]
	serializable bool
	durable      *durableState[V] // nil in memory

	gate       gate
	stopVacuum chan struct{}
	vacuumDone <-chan struct{}
	stop       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error

	feeds   []*shard.Feed[V] // nil without Config.Feed
	signal  *Signal
	now     func() int64 // wall clock for TTLs, Unix nanoseconds
	reqs    sync.Pool    // *shard.Request[V]
	waiters sync.Pool    // *Waiter
	txns    sync.Pool    // *Txn[V], see Begin
	scans   sync.Pool    // *Scanner[V], see NewScanner
}

// New recovers the durable state, if any, and starts cfg.Shards shard
// goroutines. Close stops them.
func New[V any](cfg Config[V]) (*Coordinator[V], error) {
	c := &Coordinator[V]{
		serializable: cfg.Serializable,
		stop:         make(chan struct{}),
		now:          cfg.Now,
		signal:       newSignal(),
	}
	if c.now == nil {
		c.now = func() int64 { return time.Now().UnixNano() }
	}
	var rec *recovered[V]
	if cfg.Durable != nil {
		var err error
		if rec, err = recoverDir(cfg.Durable, cfg.Shards); err != nil {
			return nil, err
		}
		c.oracle = NewOracle(rec.start)
		c.durable = newDurableState(cfg.Durable, rec)
	} else {
		c.oracle = NewOracle(0)
	}
	c.reqs.New = func() any { return shard.NewRequest[V]() }
	c.waiters.New = func() any { return NewWaiter() }
	c.txns.New = func() any { return new(Txn[V]) }
	c.shards = make([]*shard.Shard[V], cfg.Shards)
	scfgs := make([]shard.Config[V], cfg.Shards)
	var pool *shard.Pool[V] // the limit the shards share; see shard.Pool
	if cfg.Memory.Budget > 0 && cfg.Memory.Policy != evict.Reject && cfg.Shards > 1 {
		pool = shard.NewPool[V](cfg.Memory.Budget)
	}
	if f := cfg.Feed; f != nil {
		from := c.oracle.Visible()
		if rec != nil && rec.history != nil {
			from = min(from, rec.historyFrom)
		}
		c.feeds = make([]*shard.Feed[V], cfg.Shards)
		for i := range c.feeds {
			c.feeds[i] = shard.NewFeed(max(f.Window/cfg.Shards, 1), max(f.MaxRetained/cfg.Shards, 1),
				from, cfg.Memory.ValueSize)
			if rec != nil && rec.history != nil {
				loadHistory(c.feeds[i], rec.history[i])
				rec.history[i] = nil
			}
		}
	}
	for i := range c.shards {
		var d *shard.Durability[V]
		if rec != nil {
			d = c.durable.shardDurability(i, rec.logs[i], c.oracle, c.signal)
		}
		mem := cfg.Memory
		if mem.Budget > 0 {
			mem.Budget = max(1, mem.Budget/int64(cfg.Shards))
			mem.Pool = pool
		}
		scfg := shard.Config[V]{
			ID:         i,
			SkiplistP:  cfg.SkiplistP,
			Seed:       uint64(i)*0x9E3779B97F4A7C15 + 1,
			Clock:      c.oracle,
			Stop:       c.stop,
			Memory:     mem,
			Now:        cfg.Now,
			Durability: d,
		}
		if c.feeds != nil {
			scfg.Feed, scfg.OnDone = c.feeds[i], c.signal.notify
		}
		if rec != nil {
			scfg.LoadKeys = len(rec.loads[i])
			scfg.Load = func(install func(string, uint64, V, int64)) {
				for _, st := range rec.loads[i] { // in key order: one pass
					install(st.key, st.ts, st.value, st.expiry)
				}
				rec.loads[i] = nil
			}
		}
		scfgs[i] = scfg
	}
	// Shards are built (and the recovered state loaded) in parallel, at
	// most GOMAXPROCS at a time.
	var build sync.WaitGroup
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range c.shards {
		slots <- struct{}{}
		build.Go(func() {
			defer func() { <-slots }()
			c.shards[i] = shard.New(scfgs[i])
		})
	}
	build.Wait()
	if pool != nil {
		for _, s := range c.shards {
			pool.Join(s)
		}
	}
	c.wg.Add(len(c.shards))
	for _, s := range c.shards {
		go func() {
			defer c.wg.Done()
			s.Run()
		}()
	}
	if c.durable != nil {
		c.durable.startCheckpointer(c)
	}
	if cfg.VacuumInterval > 0 {
		c.stopVacuum = make(chan struct{})
		c.vacuumDone = backgroundLoop(cfg.VacuumInterval, c.stopVacuum, func() {
			_, _ = c.Vacuum() // fails only when closing
		})
	}
	return c, nil
}

// Close stops background checkpoints, refuses new operations, waits for
// those in flight, then stops every shard goroutine (whose WAL writers sync
// and close their logs) and waits for them. Safe to call more than once; it
// returns the durability failure, if one poisoned the database.
func (c *Coordinator[V]) Close() error {
	c.closeOnce.Do(func() {
		if c.durable != nil {
			c.durable.stopCheckpointer()
		}
		if c.stopVacuum != nil {
			close(c.stopVacuum)
			<-c.vacuumDone
		}
		c.gate.close()
		close(c.stop)
		c.wg.Wait()
		c.oracle.Close()
		c.signal.close()
		if c.durable != nil {
			c.closeErr = c.durable.close(c.oracle.Poisoned())
		}
	})
	return c.closeErr
}

// enter admits an operation that talks to shards; see gate.
func (c *Coordinator[V]) enter() (int, error) {
	g, ok := c.gate.enter()
	if !ok {
		return 0, errs.ErrClosed
	}
	return g, nil
}

// Oracle exposes the timestamp oracle (for vacuum and tests).
func (c *Coordinator[V]) Oracle() *Oracle { return c.oracle }

// NumShards returns the number of shards.
func (c *Coordinator[V]) NumShards() int { return len(c.shards) }

// SnapshotTime reads the wall clock for a snapshot that is about to read:
// the time (Unix nanoseconds, never 0, which shard.Request.Now reserves for
// "no snapshot") at which all its reads evaluate TTL deadlines.
func (c *Coordinator[V]) SnapshotTime() int64 { return max(c.now(), 1) }

// ShardOf maps an encoded key to its shard: xxhash, then multiply-shift
// onto [0, N) (no modulo bias, no division).
func (c *Coordinator[V]) ShardOf(key string) int { return shardIndex(key, len(c.shards)) }

func shardIndex(key string, n int) int {
	hi, _ := bits.Mul64(xxhash.Sum64String(key), uint64(n))
	return int(hi)
}

func (c *Coordinator[V]) getReq() *shard.Request[V] {
	return c.reqs.Get().(*shard.Request[V])
}

func (c *Coordinator[V]) putReq(r *shard.Request[V]) {
	r.Reset()
	c.reqs.Put(r)
}

// Get reads key at the current visible timestamp (an autocommit read), on
// the caller's goroutine (DESIGN.md §4a).
func (c *Coordinator[V]) Get(key string) (V, bool, error) {
	if c.gate.closed.Load() {
		var zero V
		return zero, false, errs.ErrClosed
	}
	v, ok := c.shards[c.ShardOf(key)].ReadLatest(key)
	return v, ok, nil
}

// WriteOp is one autocommit write.
type WriteOp[V any] struct {
	Key       string
	Value     V
	Expiry    int64 // TTL deadline, Unix nanoseconds; 0 none
	Tombstone bool
	WantOld   bool // return the value the write replaced
	Evict     bool // a delete that counts (and frees memory) as an eviction
	// Cond makes the write conditional on the key's live value (see
	// shard.Request.Cond); Write then reports whether it was applied.
	Cond func(old V, found bool) bool
}

// Write is an autocommit write of one key: a blind single-shard commit that
// serializes at the shard. It retries lock conflicts with backoff until ctx
// ends, so it never reports ErrConflict unless ctx is done.
func (c *Coordinator[V]) Write(ctx context.Context, op WriteOp[V]) (old V, found bool, err error) {
	old, found, _, err = c.WriteIf(ctx, op)
	return old, found, err
}

// WriteIf is Write that also reports, for a write with a Cond, whether the
// condition held and the write was applied (always true without one). When
// it did not hold, nothing was committed and old is the key's value then.
func (c *Coordinator[V]) WriteIf(ctx context.Context, op WriteOp[V]) (old V, found, applied bool, err error) {
	key := op.Key
	sh := c.shards[c.ShardOf(key)]
	for attempt := 0; ; attempt++ {
		g, err := c.enter()
		if err != nil {
			return old, false, false, err
		}
		if err := c.oracle.Admit(); err != nil {
			c.gate.exit(g)
			return old, false, false, err
		}
		r := c.getReq()
		r.Kind = shard.KindCommitOne
		r.Blind = true
		r.WantOld = op.WantOld || op.Evict
		r.Evict = op.Evict
		r.Cond = op.Cond
		r.Writes = append(r.Writes, shard.Write[V]{Key: key, Value: op.Value, Tombstone: op.Tombstone, Expiry: op.Expiry})
		sh.Do(r)
		if r.Err == nil {
			// A failed condition committed nothing but saw the key's newest
			// version (CommitTS): once visible, a later read agrees.
			old, found, applied = r.Old, r.OldFound, !r.CondFailed
			err = c.waitVisible(r.CommitTS)
			c.oracle.Release()
			c.gate.exit(g)
			c.putReq(r)
			return old, found, applied, err
		}
		c.oracle.Release()
		c.gate.exit(g)
		cerr := c.preferPoison(r.Err)
		c.putReq(r)
		if !errors.Is(cerr, errs.ErrConflict) {
			return old, false, false, cerr
		}
		if err := Backoff(ctx, attempt); err != nil {
			return old, false, false, errors.Join(err, cerr)
		}
	}
}

func (c *Coordinator[V]) waitVisible(ts uint64) error {
	w := c.waiters.Get().(*Waiter)
	err := c.oracle.WaitVisible(ts, w)
	c.waiters.Put(w)
	return err
}

// Backoff sleeps before retry number attempt (0-based): a few yields first,
// then exponentially growing, fully jittered sleeps capped at ~5ms. It
// returns ctx's error (wrapped) if ctx ends first.
func Backoff(ctx context.Context, attempt int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if attempt < 2 {
		runtime.Gosched() // lock holders finish within a round trip
		return nil
	}
	ceil := 10 * time.Microsecond << min(attempt-2, 9)
	d := rand.N(ceil) + time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
