package fluxmap_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

// fakeClock is an injectable wall clock for TTL tests: it stands still
// until advanced.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// ttlDB builds a database on clock with the given shards and isolation.
func ttlDB(t *testing.T, clock *fakeClock, shards int, iso fluxmap.IsolationLevel) *fluxmap.DB[string, int64] {
	t.Helper()
	b := fluxmap.New[string, int64]().Shards(shards).Isolation(iso)
	txhook.SetClock(b, clock.Now)
	return build(t, b)
}

// ttlReads is everything a transaction can read of keys "p/short" (1 s
// TTL) and "p/long" (1 h TTL), by every kind of read.
type ttlReads struct {
	short  bool
	many   []bool
	prefix []fluxmap.Entry[string, int64]
	rng    []fluxmap.Entry[string, int64]
	stream []fluxmap.Entry[string, int64]
}

func readTTLKeys(t *testing.T, tx *fluxmap.Tx[string, int64]) ttlReads {
	t.Helper()
	var r ttlReads
	_, r.short = txGet(t, tx, "p/short")
	vals, found := make([]int64, 2), make([]bool, 2)
	require.NoError(t, tx.GetMany([]string{"p/short", "p/long"}, vals, found))
	r.many = found
	var err error
	r.prefix, err = tx.PrefixScan("p/")
	require.NoError(t, err)
	r.rng, err = tx.Range("p/", "p0")
	require.NoError(t, err)
	r.stream = collect(tx.PrefixStream("p/"))
	return r
}

// A View is one snapshot even when a TTL deadline passes while it runs:
// every kind of read evaluates deadlines at the time the View started, so
// a read after the deadline agrees with one before it. Outside any
// snapshot an autocommit read takes a fresh time and sees the key gone.
func TestTTLViewReadsOneSnapshotAcrossDeadline(t *testing.T) {
	forEachShardCount(t, func(t *testing.T, shards int) {
		ctx := context.Background()
		clock := newFakeClock()
		db := ttlDB(t, clock, shards, fluxmap.Serializable)
		require.NoError(t, db.InsertWithTTL(ctx, "p/short", 1, time.Second))
		require.NoError(t, db.InsertWithTTL(ctx, "p/long", 2, time.Hour))

		require.NoError(t, db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			before := readTTLKeys(t, tx)
			require.True(t, before.short)
			require.Equal(t, []bool{true, true}, before.many)
			require.Len(t, before.prefix, 2)
			clock.Advance(2 * time.Second)
			after := readTTLKeys(t, tx)
			require.Equal(t, before, after, "reads inside one View disagree across the deadline")
			return nil
		}))

		requireAbsent(t, db, "p/short")
		requireValue(t, db, "p/long", 2)
		es, err := db.PrefixScan(ctx, "p/")
		require.NoError(t, err)
		require.Equal(t, []fluxmap.Entry[string, int64]{{Key: "p/long", Value: 2}}, es)
		require.NoError(t, db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			_, ok := txGet(t, tx, "p/short")
			require.False(t, ok, "a View begun after the deadline sees the key expired")
			return nil
		}))
	})
}

// A stream is one snapshot even when a deadline passes between the chunks
// it fetches from a shard: a DB stream evaluates every deadline at the time
// its iteration started, a Tx stream at its transaction's.
func TestTTLStreamReadsOneSnapshotAcrossDeadline(t *testing.T) {
	ctx := context.Background()
	const n = 700 // several scan chunks of the single shard
	for _, from := range []string{"db", "tx"} {
		t.Run(from, func(t *testing.T) {
			clock := newFakeClock()
			db := ttlDB(t, clock, 1, fluxmap.Serializable)
			for i := range n {
				require.NoError(t, db.InsertWithTTL(ctx, fmt.Sprintf("k%04d", i), int64(i), time.Second))
			}
			var s *fluxmap.Stream[string, int64]
			if from == "db" {
				s = db.PrefixStream(ctx, "k")
			} else {
				tx := begin(t, db)
				defer tx.Rollback() //nolint:errcheck
				s = tx.PrefixStream("k")
			}
			seen := 0
			for range s.All() {
				if seen == 0 {
					clock.Advance(2 * time.Second)
				}
				seen++
			}
			require.NoError(t, s.Err())
			require.Equal(t, n, seen, "the stream lost entries whose deadline passed while it ran")

			seen = 0
			for range db.PrefixStream(ctx, "k").All() {
				seen++
			}
			require.Zero(t, seen, "a stream started after the deadline sees nothing")
		})
	}
}

// A read-write transaction keeps reading a key present after its deadline
// passes, as its snapshot had it. Its commit is refused with ErrConflict,
// because the expiry counts in validation as the committed delete that
// vacuum will make of it: the transaction read a version that has since
// changed. Retried on a fresh snapshot it sees the key gone and commits.
// Point reads, scanned ranges and (first committer wins, under both
// isolation levels) written keys are all validated this way, on the fast
// path and in two-phase commit alike.
func TestTTLTxReadsSnapshotAndExpiryConflictsAtCommit(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		iso  fluxmap.IsolationLevel
		// use reads or writes "k" in tx and reports whether it read it.
		use func(t *testing.T, tx *fluxmap.Tx[string, int64]) (bool, error)
	}{
		{"get", fluxmap.Serializable, func(t *testing.T, tx *fluxmap.Tx[string, int64]) (bool, error) {
			_, ok := txGet(t, tx, "k")
			return ok, tx.Insert("other", 1)
		}},
		{"scan", fluxmap.Serializable, func(t *testing.T, tx *fluxmap.Tx[string, int64]) (bool, error) {
			es, err := tx.PrefixScan("k")
			require.NoError(t, err)
			return len(es) == 1, tx.Insert("other", 1)
		}},
		{"update/snapshot-isolation", fluxmap.Snapshot, func(t *testing.T, tx *fluxmap.Tx[string, int64]) (bool, error) {
			v, ok := txGet(t, tx, "k")
			return ok, tx.Insert("k", v+1)
		}},
		{"blind-write", fluxmap.Serializable, func(t *testing.T, tx *fluxmap.Tx[string, int64]) (bool, error) {
			return true, tx.Insert("k", 9)
		}},
	}
	for _, tc := range cases {
		for _, shards := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/shards=%d", tc.name, shards), func(t *testing.T) {
				clock := newFakeClock()
				db := ttlDB(t, clock, shards, tc.iso)
				require.NoError(t, db.InsertWithTTL(ctx, "k", 7, time.Second))

				tx := begin(t, db)
				saw, err := tc.use(t, tx)
				require.NoError(t, err)
				require.True(t, saw)
				clock.Advance(2 * time.Second)
				v, ok := txGet(t, tx, "k")
				require.True(t, ok, "the transaction's snapshot lost the key when its deadline passed")
				want := map[string]int64{"get": 7, "scan": 7, "update/snapshot-isolation": 8, "blind-write": 9}
				require.Equal(t, want[tc.name], v, "the snapshot's value, or the transaction's own write")
				requireAbsent(t, db, "k")
				require.ErrorIs(t, tx.Commit(), fluxmap.ErrConflict)
				requireAbsent(t, db, "other")

				// Retried, the transaction sees the key expired and commits.
				require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
					if tc.name == "scan" {
						es, err := tx.PrefixScan("k")
						require.NoError(t, err)
						require.Empty(t, es)
					} else {
						_, ok := txGet(t, tx, "k")
						require.False(t, ok)
					}
					return tx.Insert("k", 8)
				}))
				requireValue(t, db, "k", 8)
			})
		}
	}
}

// A transaction whose reads are still live when it commits is not
// refused: a deadline that has not passed is no conflict.
func TestTTLTxCommitsBeforeDeadline(t *testing.T) {
	forEachShardCount(t, func(t *testing.T, shards int) {
		clock := newFakeClock()
		db := ttlDB(t, clock, shards, fluxmap.Serializable)
		require.NoError(t, db.InsertWithTTL(context.Background(), "k", 7, time.Second))
		tx := begin(t, db)
		require.Equal(t, int64(7), txMustGet(t, tx, "k"))
		es, err := tx.PrefixScan("")
		require.NoError(t, err)
		require.Len(t, es, 1)
		txInsert(t, tx, "k", 8)
		clock.Advance(999 * time.Millisecond)
		require.NoError(t, tx.Commit())
		requireValue(t, db, "k", 8)
		clock.Advance(time.Hour)
		requireValue(t, db, "k", 8) // the new version has no deadline
	})
}

// A transaction reads its own buffered TTL write at its snapshot's time,
// like everything else it reads: Get, GetMany and scans agree, even after
// the deadline has passed on the wall clock. Once committed, the value is
// absent to anyone reading after its deadline.
func TestTTLTxOwnWriteReadsAtSnapshotTime(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := ttlDB(t, clock, 2, fluxmap.Serializable)
	dbInsert(t, db, "ttl", 1) // the snapshot's value, shadowed by the write
	tx := begin(t, db)
	defer tx.Rollback() //nolint:errcheck
	require.NoError(t, tx.InsertWithTTL("ttl", 5, time.Millisecond))
	require.NoError(t, tx.InsertWithTTL("long", 6, time.Hour))
	clock.Advance(5 * time.Millisecond)

	require.Equal(t, int64(5), txMustGet(t, tx, "ttl"))
	vals, found := make([]int64, 2), make([]bool, 2)
	require.NoError(t, tx.GetMany([]string{"ttl", "long"}, vals, found))
	require.Equal(t, []bool{true, true}, found)
	require.Equal(t, []int64{5, 6}, vals)
	es, err := tx.PrefixScan("")
	require.NoError(t, err)
	require.Equal(t, []fluxmap.Entry[string, int64]{{Key: "long", Value: 6}, {Key: "ttl", Value: 5}}, es)

	require.NoError(t, tx.Commit())
	_, ok, err := db.Get(ctx, "ttl")
	require.NoError(t, err)
	require.False(t, ok)
	requireValue(t, db, "long", 6)
}

// Readers keep their snapshots while the clock runs past deadlines and
// vacuum turns the expiries into committed deletes concurrently: within
// each View, every key reads the same through Get and both of two scans.
func TestTTLViewsAgreeUnderConcurrentExpiry(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := ttlDB(t, clock, 4, fluxmap.Serializable)
	const keys = 40
	for i := range keys {
		require.NoError(t, db.InsertWithTTL(ctx, fmt.Sprintf("k%02d", i), int64(i), time.Duration(i+1)*time.Millisecond))
	}
	stop := make(chan struct{})
	var views atomic.Int64 // Views finished, so the clock moves only while they run
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		for range keys + 2 {
			for seen := views.Load(); views.Load() < seen+2; {
				runtime.Gosched()
			}
			clock.Advance(time.Millisecond)
			if _, err := db.Vacuum(ctx); err != nil {
				t.Errorf("vacuum: %v", err)
				return
			}
		}
	}()
	view := func(first int) error {
		return db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			es, err := tx.PrefixScan("k")
			if err != nil {
				return err
			}
			in := make(map[string]bool, len(es))
			for _, e := range es {
				in[e.Key] = true
			}
			for i := range keys {
				k := fmt.Sprintf("k%02d", (first+i)%keys)
				_, ok, err := tx.Get(k)
				if err != nil {
					return err
				}
				if ok != in[k] {
					return fmt.Errorf("key %s: the scan saw it %v, Get %v", k, in[k], ok)
				}
			}
			again, err := tx.PrefixScan("k")
			if err != nil {
				return err
			}
			if len(again) != len(es) {
				return fmt.Errorf("two scans saw %d then %d entries", len(es), len(again))
			}
			return nil
		})
	}
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed := false
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := view(r * 7); err != nil && !failed {
					t.Error(err)
					failed = true
				}
				views.Add(1)
			}
		}()
	}
	wg.Wait()
	es, err := db.PrefixScan(ctx, "k")
	require.NoError(t, err)
	require.Empty(t, es, "every deadline has passed")
}
