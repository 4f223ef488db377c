package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// Reads run on the caller's goroutine over lists the shard goroutines keep
// writing (DESIGN.md §4a). The tests in this file and in reads_order_test.go
// and reads_torn_test.go race every kind of read against everything that
// writes a list: commits (fast path and two-phase), vacuum (1 ms), TTL
// expiries, evictions and checkpoints.

// readStressFor is how long each read-stress run lasts: a fraction of a
// second by default, 100 ms under -short, 10 s with FLUXMAP_LONG=1.
func readStressFor() time.Duration {
	return time.Duration(durableCount(100, 700, 10_000)) * time.Millisecond
}

// stressCap bounds a run that waits for enough work on a loaded
// machine: it ends at the target duration once every counter it watches is
// positive, and fails at the cap.
const stressCap = 30 * time.Second

// shardOfKey returns the shard a database of n shards routes string key k
// to: xxhash, then multiply-shift onto [0, n). The routing is part of the
// on-disk format (DESIGN.md §2), so a test may rely on it.
func shardOfKey(k string, n int) int {
	hi, _ := bits.Mul64(xxhash.Sum64String(k), uint64(n))
	return int(hi)
}

// keysWhere returns the first n keys prefix+%05d (in key order) for which
// keep holds.
func keysWhere(prefix string, n int, keep func(string) bool) []string {
	var ks []string
	for j := 0; len(ks) < n; j++ {
		if k := fmt.Sprintf("%s%05d", prefix, j); keep(k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// readRaceVariant is one configuration of TestReadsRaceCommits.
type readRaceVariant struct {
	name   string
	shards int
	// evict sets a memory limit that the filler keys exceed: every filler
	// key routes to the last shard and no account does, so only that shard
	// goes over its share of the limit, and only it evicts (DESIGN.md §7);
	// the accounts' shards still reclaim their old versions as they go.
	evict bool
	// durable runs DurabilityRelaxed in a temporary directory with
	// checkpoints in a loop, and reopens it at the end.
	durable bool
}

// The read kinds of TestReadsRaceCommits; each reader cycles through all.
var readRaceKinds = []string{
	"View+Get", "View+GetMany", "View+PrefixScan", "View+Range", "View+PrefixStream", "View+RangeStream",
	"DB.PrefixScan", "DB.Range", "DB.PrefixStream", "DB.RangeStream", "DB.Get",
	"View+ScanReverse", "DB.ScanReverse",
}

// TestReadsRaceCommits is the bank test with every kind of read, run while
// vacuum runs every millisecond and TTL'd filler keys expire (becoming the
// shards' own committed deletes); in one variant under a memory limit the
// filler keys keep exceeding (so a shard evicts continuously); in another
// on a durable database with checkpoints in a loop. Every read that takes
// a snapshot (a View, or a DB scan, which takes its own) must see all 200
// accounts summing to the initial total; an autocommit Get of an account
// must find it with a balance in [0, total]. At the end the database is
// swept (and, when durable, reopened) and must hold the same sum.
func TestReadsRaceCommits(t *testing.T) {
	var variants []readRaceVariant
	for _, n := range shardCounts {
		variants = append(variants, readRaceVariant{name: fmt.Sprintf("vacuum/shards=%d", n), shards: n})
	}
	variants = append(variants,
		readRaceVariant{name: "evict/shards=4", shards: 4, evict: true},
		readRaceVariant{name: "durable/shards=4", shards: 4, durable: true})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { runReadsRace(t, v) })
	}
}

func runReadsRace(t *testing.T, cfg readRaceVariant) {
	ctx := t.Context()
	fillShard := cfg.shards - 1
	onFillShard := func(k string) bool { return !cfg.evict || shardOfKey(k, cfg.shards) == fillShard }
	accts := keysWhere("acct", bankAccounts, func(k string) bool { return !cfg.evict || !onFillShard(k) })
	ttlKeys := keysWhere("fill/ttl/", 256, onFillShard)
	// The big keys are long, so that the filler passes the limit after a
	// thousand or so writes, however slowly a loaded machine runs it.
	bigKeys := keysWhere("fill/big/"+strings.Repeat("x", 512)+"/", 16384, onFillShard)
	const total = bankAccounts * bankInitial

	b := fluxmap.New[string, int64]().Shards(cfg.shards).
		AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond})
	dir := t.TempDir()
	if cfg.durable {
		b.DurabilityRelaxed(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 64 << 10}).
			FlushInterval(time.Millisecond)
	}
	var budget int64 // per shard, when evicting
	if cfg.evict {
		// The accounts' shards hold ~67 accounts each; give each shard 16
		// times the largest one's live bytes, so the accounts have room for
		// the versions written between vacuum passes (writers also pause
		// above half of it, below), while the filler's 16384 keys are far
		// more than the whole limit, which the last shard may borrow while
		// the accounts' shards leave their shares unused.
		budget = 16 * accountShardBytes(t, cfg.shards, accts)
		b.MaxMemory(budget * int64(cfg.shards))
	}
	db, err := b.Build(ctx)
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			require.NoError(t, db.Close())
		}
	}()
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		for _, k := range accts {
			if err := tx.Insert(k, bankInitial); err != nil {
				return err
			}
		}
		return nil
	}))

	var (
		paused    atomic.Bool // the accounts' shards are above half their budget
		transfers atomic.Int64
		fills     atomic.Int64
		ckpts     atomic.Int64
		evictions atomic.Uint64 // as the monitor last saw them (evict)
		checks    = make([]atomic.Int64, len(readRaceKinds))
		wg        sync.WaitGroup
	)
	var ff firstFailure
	fail, stop := ff.fail, &ff.stop

	// Writers: transfers between random accounts, single- and multi-shard.
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(cfg.shards), uint64(w)))
			for !stop.Load() {
				for paused.Load() && !stop.Load() {
					time.Sleep(100 * time.Microsecond)
				}
				if err := transferBetween(ctx, db, rng, accts); err != nil {
					fail(fmt.Errorf("writer %d: %w", w, err))
					return
				}
				transfers.Add(1)
			}
		})
	}

	// Filler: keys with TTLs of up to 2 ms, which vacuum turns into
	// committed deletes, and (evict) keys that keep the last shard over the
	// limit.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; !stop.Load(); i++ {
			err := db.InsertWithTTL(ctx, ttlKeys[i%len(ttlKeys)], int64(i), time.Duration(1+rng.IntN(2000))*time.Microsecond)
			if err == nil && cfg.evict {
				err = db.Insert(ctx, bigKeys[i%len(bigKeys)], int64(i))
			}
			if err != nil {
				fail(fmt.Errorf("filler: %w", err))
				return
			}
			fills.Add(1)
		}
	})

	if cfg.evict {
		// Back-pressure, as in TestMemLimitBank: an eviction of an account
		// would break the bank by design, so writers wait while an
		// account's shard is above half its budget (vacuum falling behind on
		// a loaded machine), and the run checks no account was evicted.
		wg.Go(func() {
			for !stop.Load() {
				st, err := db.Stats()
				if err != nil {
					fail(fmt.Errorf("stats: %w", err))
					return
				}
				var high int64
				for i, s := range st.Shards {
					if i != fillShard {
						high = max(high, s.Bytes)
					}
				}
				paused.Store(high > budget/2)
				evictions.Store(st.Evictions)
				time.Sleep(time.Millisecond)
			}
			paused.Store(false)
		})
	}
	if cfg.durable {
		wg.Go(func() {
			for !stop.Load() {
				if err := db.Checkpoint(ctx); err != nil {
					fail(fmt.Errorf("checkpoint: %w", err))
					return
				}
				ckpts.Add(1)
			}
		})
	}

	// Readers.
	for r := range 3 {
		wg.Go(func() {
			for i := r * 4; !stop.Load(); i++ {
				kind := i % len(readRaceKinds)
				if err := readRaceOnce(ctx, db, readRaceKinds[kind], accts, total); err != nil {
					fail(fmt.Errorf("reader %d: %s: %w", r, readRaceKinds[kind], err))
					return
				}
				checks[kind].Add(1)
			}
		})
	}

	// Run for readStressFor, and on until every kind of read, a transfer,
	// (evict) an eviction and (durable) a checkpoint happened, whatever the
	// machine's load.
	start := time.Now()
	for !stop.Load() {
		time.Sleep(5 * time.Millisecond)
		enough := transfers.Load() > 0 && fills.Load() > 0 &&
			(!cfg.evict || evictions.Load() > 0) && (!cfg.durable || ckpts.Load() > 0)
		for i := range checks {
			enough = enough && checks[i].Load() > 0
		}
		if enough && time.Since(start) >= readStressFor() {
			break
		}
		if time.Since(start) > stressCap {
			counts := make([]int64, len(checks))
			for i := range checks {
				counts[i] = checks[i].Load()
			}
			fail(fmt.Errorf("not everything ran within the cap: %d transfers, %d fills, %d evictions, %d checkpoints, reads per kind %v",
				transfers.Load(), fills.Load(), evictions.Load(), ckpts.Load(), counts))
		}
	}
	stop.Store(true)
	wg.Wait()
	require.NoError(t, ff.first())

	// Let the last TTLs pass, so the expiry path certainly ran.
	time.Sleep(3 * time.Millisecond)
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	st, err := db.Stats()
	require.NoError(t, err)
	var counts []int64
	for i := range checks {
		counts = append(counts, checks[i].Load())
	}
	t.Logf("%s: %d transfers, %d filler writes, %d checkpoints, reads checked per kind %v; %d expirations, %d evictions, %d vacuum passes",
		cfg.name, transfers.Load(), fills.Load(), ckpts.Load(), counts, st.Expirations, st.Evictions, st.Vacuum.Passes)
	require.Positive(t, st.Expirations, "the TTL'd filler keys must have expired")
	require.Positive(t, st.Vacuum.Passes)
	if cfg.evict {
		require.Positive(t, st.Evictions, "the filler must have exceeded the last shard's budget")
	}
	require.NoError(t, bankSum(ctx, db, accts, total))

	if cfg.durable {
		require.NoError(t, db.Close())
		closed = true
		db2, err := b.Build(ctx)
		require.NoError(t, err)
		defer func() { require.NoError(t, db2.Close()) }()
		require.NoError(t, bankSum(ctx, db2, accts, total), "after reopening")
	}
}

// accountShardBytes returns the largest memory estimate of one shard
// holding only accts at their initial balance, in a scratch database.
func accountShardBytes(t *testing.T, shards int, accts []string) int64 {
	t.Helper()
	db := build(t, fluxmap.New[string, int64]().Shards(shards))
	for _, k := range accts {
		dbInsert(t, db, k, bankInitial)
	}
	st, err := db.Stats()
	require.NoError(t, err)
	var largest int64
	for _, s := range st.Shards {
		largest = max(largest, s.Bytes)
	}
	return largest
}

// transferBetween moves a random amount between two random accounts of
// accts, or nothing if the payer cannot afford it. A missing account is an
// error.
func transferBetween(ctx context.Context, db *fluxmap.DB[string, int64], rng *rand.Rand, accts []string) error {
	from := rng.IntN(len(accts))
	to := (from + 1 + rng.IntN(len(accts)-1)) % len(accts)
	amount := 1 + rng.Int64N(200)
	return db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		vals, found := make([]int64, 2), make([]bool, 2)
		if err := tx.GetMany([]string{accts[from], accts[to]}, vals, found); err != nil {
			return err
		}
		if !found[0] || !found[1] {
			return fmt.Errorf("%s or %s: %w", accts[from], accts[to], errMissingAccount)
		}
		if vals[0] < amount {
			return nil
		}
		if err := tx.Insert(accts[from], vals[0]-amount); err != nil {
			return err
		}
		return tx.Insert(accts[to], vals[1]+amount)
	})
}

// readRaceOnce reads every account with one kind of read and checks what
// that kind promises.
func readRaceOnce(ctx context.Context, db *fluxmap.DB[string, int64], kind string, accts []string, total int64) error {
	lo, hi := accts[0], accts[len(accts)-1]+"\x00"
	var es []fluxmap.Entry[string, int64]
	view := func(fn func(tx *fluxmap.Tx[string, int64]) error) error { return db.View(ctx, fn) }
	var err error
	switch kind {
	case "View+Get":
		err = view(func(tx *fluxmap.Tx[string, int64]) error {
			for _, k := range accts {
				v, ok, err := tx.Get(k)
				if err != nil {
					return err
				}
				if ok {
					es = append(es, fluxmap.Entry[string, int64]{Key: k, Value: v})
				}
			}
			return nil
		})
	case "View+GetMany":
		err = view(func(tx *fluxmap.Tx[string, int64]) error {
			vals, found := make([]int64, len(accts)), make([]bool, len(accts))
			if err := tx.GetMany(accts, vals, found); err != nil {
				return err
			}
			for i, k := range accts {
				if found[i] {
					es = append(es, fluxmap.Entry[string, int64]{Key: k, Value: vals[i]})
				}
			}
			return nil
		})
	case "View+PrefixScan":
		err = view(func(tx *fluxmap.Tx[string, int64]) (err error) { es, err = tx.PrefixScan("acct"); return err })
	case "View+Range":
		err = view(func(tx *fluxmap.Tx[string, int64]) (err error) { es, err = tx.Range(lo, hi); return err })
	case "View+PrefixStream":
		err = view(func(tx *fluxmap.Tx[string, int64]) error {
			s := tx.PrefixStream("acct")
			es = collect(s)
			return s.Err()
		})
	case "View+RangeStream":
		err = view(func(tx *fluxmap.Tx[string, int64]) error {
			s := tx.RangeStream(lo, hi)
			es = collect(s)
			return s.Err()
		})
	case "DB.PrefixScan":
		es, err = db.PrefixScan(ctx, "acct")
	case "DB.Range":
		es, err = db.Range(ctx, lo, hi)
	case "DB.PrefixStream":
		s := db.PrefixStream(ctx, "acct")
		es, err = collect(s), s.Err()
	case "DB.RangeStream":
		s := db.RangeStream(ctx, lo, hi)
		es, err = collect(s), s.Err()
	case "View+ScanReverse", "DB.ScanReverse":
		// Descending, from one snapshot: read back in key order, it must be
		// the accounts exactly.
		opts := fluxmap.ScanOptions[string]{Lo: fluxmap.Incl(lo), Hi: fluxmap.Excl(hi), Reverse: true}
		if kind == "DB.ScanReverse" {
			es, err = db.Scan(ctx, opts)
		} else {
			err = view(func(tx *fluxmap.Tx[string, int64]) (err error) { es, err = tx.Scan(opts); return err })
		}
		slices.Reverse(es)
	case "DB.Get":
		// Each Get is its own snapshot, so the sum moves; each balance
		// must still be there and within the total.
		for _, k := range accts {
			v, ok, err := db.Get(ctx, k)
			if err != nil {
				return err
			}
			if !ok || v < 0 || v > total {
				return fmt.Errorf("%s: found %v, balance %d, want one in [0, %d]", k, ok, v, total)
			}
		}
		return nil
	default:
		panic(kind)
	}
	if err != nil {
		return err
	}
	return checkAccounts(es, accts, total)
}

// checkAccounts checks one snapshot of the accounts: each of accts once, in
// key order, none negative, summing to total.
func checkAccounts(es []fluxmap.Entry[string, int64], accts []string, total int64) error {
	if err := checkBalances(es, len(accts), total); err != nil {
		return err
	}
	if !slices.EqualFunc(es, accts, func(e fluxmap.Entry[string, int64], k string) bool { return e.Key == k }) {
		return errors.New("the snapshot holds other keys than the accounts")
	}
	return nil
}

// bankSum checks one DB scan of the accounts.
func bankSum(ctx context.Context, db *fluxmap.DB[string, int64], accts []string, total int64) error {
	es, err := db.PrefixScan(ctx, "acct")
	if err != nil {
		return err
	}
	return checkAccounts(es, accts, total)
}

// checkBalances checks that a snapshot of balances holds n keys in key
// order, none negative, summing to total.
func checkBalances(es []fluxmap.Entry[string, int64], n int, total int64) error {
	var sum int64
	for i, e := range es {
		if i > 0 && es[i-1].Key >= e.Key {
			return fmt.Errorf("keys out of order: %q then %q", es[i-1].Key, e.Key)
		}
		if e.Value < 0 {
			return fmt.Errorf("%s has negative balance %d", e.Key, e.Value)
		}
		sum += e.Value
	}
	if len(es) != n || sum != total {
		return fmt.Errorf("%d accounts summing to %d, want %d summing to %d", len(es), sum, n, total)
	}
	return nil
}
