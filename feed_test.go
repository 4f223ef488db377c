package fluxmap_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

// feedState reads every key of db in one View and returns them with the
// View's snapshot.
func feedState(t *testing.T, db *fluxmap.DB[string, string]) (map[string]string, uint64) {
	t.Helper()
	state := map[string]string{}
	var snap uint64
	require.NoError(t, db.View(context.Background(), func(tx *fluxmap.Tx[string, string]) error {
		snap = tx.Snapshot()
		es, err := tx.PrefixScan("")
		for _, e := range es {
			state[e.Key] = e.Value
		}
		return err
	}))
	return state, snap
}

// applyChanges replays cs onto state.
func applyChanges(state map[string]string, cs fluxmap.ChangeSet[string, string]) {
	for _, c := range cs.Changes {
		if c.Op.IsDelete() {
			delete(state, c.Key)
		} else {
			state[c.Key] = c.Value
		}
	}
}

// feedWorkload runs writers doing random transactions over 64 keys, each
// writing (or deleting) one to four keys with a value naming the
// transaction, until stop is closed. It records how many keys each
// committed transaction wrote.
type feedWorkload struct {
	db      *fluxmap.DB[string, string]
	mu      sync.Mutex
	written map[string]int // transaction tag -> keys it wrote
}

func (w *feedWorkload) run(t *testing.T, g int, stop <-chan struct{}) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(g), 7))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		tag := fmt.Sprintf("g%d-%d", g, i)
		n := 1 + rng.IntN(4)
		keys := map[string]bool{}
		for len(keys) < n {
			keys["k"+strconv.Itoa(rng.IntN(64))] = rng.IntN(5) == 0
		}
		err := w.db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
			for k, del := range keys {
				if _, _, err := tx.Get(k); err != nil {
					return err
				}
				if del {
					if _, _, err := tx.Remove(k); err != nil {
						return err
					}
				} else if err := tx.Insert(k, tag); err != nil {
					return err
				}
			}
			return nil
		})
		if !assertNoErr(t, err) {
			return
		}
		w.mu.Lock()
		w.written[tag] = n
		w.mu.Unlock()
	}
}

func assertNoErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

// TestFeedReplaysToFinalState follows the feed from a snapshot taken while
// cross-shard transactions run, and checks that the snapshot plus the feed
// is the database's final state, that change sets come in commit order
// and that each holds exactly one transaction's writes.
func TestFeedReplaysToFinalState(t *testing.T) {
	for _, shards := range []int{1, 4, 16} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			ctx := context.Background()
			db := build(t, fluxmap.New[string, string]().Shards(shards).ChangeFeed(fluxmap.ChangeFeedOptions{}))
			w := &feedWorkload{db: db, written: map[string]int{}}
			stop := make(chan struct{})
			var writers sync.WaitGroup
			for g := range 4 {
				writers.Go(func() { w.run(t, g, stop) })
			}
			committed := func() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.written) }
			require.Eventually(t, func() bool { return committed() >= 50 }, time.Minute, time.Millisecond)
			state, snap := feedState(t, db)
			atSnap := committed()
			feed, err := db.Changes(fluxmap.FeedOptions[string]{Since: snap})
			require.NoError(t, err)
			defer feed.Close()

			// The consumer follows while the writers run, then until the
			// sentinel written after they stop.
			type seen struct {
				ts  uint64
				tag string
				n   int
			}
			var got []seen
			consumed := make(chan error, 1)
			go func() {
				defer close(consumed)
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				for cs, err := range feed.All(cctx) {
					if err != nil {
						consumed <- err
						return
					}
					applyChanges(state, cs)
					got = append(got, seen{ts: cs.TS, tag: cs.Changes[0].Value, n: len(cs.Changes)})
					if cs.Changes[0].Key == "sentinel" {
						return
					}
				}
			}()
			// Stop once the writers committed a good number after the
			// snapshot, however slowly the machine runs them.
			require.Eventually(t, func() bool { return committed() >= atSnap+100 }, time.Minute, time.Millisecond)
			close(stop)
			writers.Wait()
			require.NoError(t, db.Insert(ctx, "sentinel", "end"))
			require.NoError(t, <-consumed)

			final, _ := feedState(t, db)
			require.Equal(t, final, state, "the snapshot plus the feed is the final state")
			require.Greater(t, len(got), 20, "the feed saw the run")
			for i, s := range got {
				if i > 0 {
					require.Greater(t, s.ts, got[i-1].ts, "commit order")
				}
				require.Greater(t, s.ts, snap)
			}
			// Each change set is one transaction: a deletes-only set has no
			// tag to check, the others carry one tag for all their writes.
			w.mu.Lock()
			defer w.mu.Unlock()
			checked := 0
			for _, s := range got[:len(got)-1] {
				if n, ok := w.written[s.tag]; ok {
					require.Equal(t, n, s.n, "change set %d (%s) holds its transaction's writes", s.ts, s.tag)
					checked++
				}
			}
			require.Positive(t, checked)
		})
	}
}

// TestFeedChangeSetsAreTransactions checks grouping and ops exactly on a
// known sequence of commits across shards.
func TestFeedChangeSetsAreTransactions(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(4).ChangeFeed(fluxmap.ChangeFeedOptions{}))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()

	require.NoError(t, db.Insert(ctx, "a", "1"))
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
		for _, k := range []string{"b", "c", "d", "e", "f"} {
			if err := tx.Insert(k, "2"); err != nil {
				return err
			}
		}
		_, _, err := tx.Remove("a")
		return err
	}))
	require.NoError(t, db.InsertWithTTL(ctx, "g", "3", time.Hour))

	next := func() fluxmap.ChangeSet[string, string] {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cs, err := feed.Next(cctx)
		require.NoError(t, err)
		return cs
	}
	cs := next()
	require.Equal(t, []fluxmap.Change[string, string]{{Key: "a", Value: "1", Op: fluxmap.OpPut}}, cs.Changes)
	first := cs.TS
	cs = next()
	require.Equal(t, first+1, cs.TS)
	ops := map[string]fluxmap.Op{}
	for _, c := range cs.Changes {
		ops[c.Key] = c.Op
	}
	require.Equal(t, map[string]fluxmap.Op{"a": fluxmap.OpDelete, "b": fluxmap.OpPut, "c": fluxmap.OpPut,
		"d": fluxmap.OpPut, "e": fluxmap.OpPut, "f": fluxmap.OpPut}, ops)
	cs = next()
	require.Len(t, cs.Changes, 1)
	require.Equal(t, "g", cs.Changes[0].Key)
	require.WithinDuration(t, time.Now().Add(time.Hour), cs.Changes[0].Expiry, time.Minute)
	require.Equal(t, cs.TS, feed.Position())

	// Nothing more: Next waits until its context ends.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = feed.Next(cctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestFeedPrefixes selects keys by prefix and skips transactions with no
// selected write.
func TestFeedPrefixes(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(4).ChangeFeed(fluxmap.ChangeFeedOptions{}))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{Prefixes: []string{"user/", "order/"}})
	require.NoError(t, err)
	defer feed.Close()
	require.NoError(t, db.Insert(ctx, "other/1", "x"))
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
		_ = tx.Insert("user/1", "u")
		_ = tx.Insert("other/2", "y")
		return tx.Insert("order/9", "o")
	}))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cs, err := feed.Next(cctx)
	require.NoError(t, err)
	var keys []string
	for _, c := range cs.Changes {
		keys = append(keys, c.Key)
	}
	require.ElementsMatch(t, []string{"user/1", "order/9"}, keys)
}

// TestFeedSlowConsumer leaves a feed unread while writers commit far more
// than it may hold back: commits finish, the memory kept stays bounded,
// and the feed then reports ErrFeedTruncated.
func TestFeedSlowConsumer(t *testing.T) {
	ctx := context.Background()
	const window, maxRetained, shards = 1024, 4096, 4
	db := build(t, fluxmap.New[string, string]().Shards(shards).
		ChangeFeed(fluxmap.ChangeFeedOptions{Window: window, MaxRetained: maxRetained}))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				if !assertNoErr(t, db.Insert(ctx, fmt.Sprintf("k%d-%d", g, i%500), strings.Repeat("v", 100))) {
					return
				}
			}
		})
	}
	wg.Wait()
	st, err := db.Stats()
	require.NoError(t, err)
	require.NotNil(t, st.Feed)
	require.Equal(t, 1, st.Feed.Feeds)
	// Each shard keeps its share plus at most one partly filled chunk and
	// one chunk past the bound.
	require.LessOrEqual(t, st.Feed.Changes, maxRetained+shards*2*256)
	require.Positive(t, st.Feed.Bytes)
	require.Positive(t, st.Feed.Oldest)

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ferr error
	for ferr == nil {
		_, ferr = feed.Next(cctx)
	}
	require.ErrorIs(t, ferr, fluxmap.ErrFeedTruncated)

	// A feed opened now from the start is refused the same way.
	_, err = db.Changes(fluxmap.FeedOptions[string]{})
	require.ErrorIs(t, err, fluxmap.ErrFeedTruncated)
}

// TestFeedPinsWhatOpenFeedsNeed: past the window, changes an open feed has
// not read are kept (up to MaxRetained), so a feed slower than the window
// but within the bound misses nothing.
func TestFeedPinsWhatOpenFeedsNeed(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(2).
		ChangeFeed(fluxmap.ChangeFeedOptions{Window: 512, MaxRetained: 1 << 16}))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()
	const n = 5000
	for i := range n {
		require.NoError(t, db.Insert(ctx, "k"+strconv.Itoa(i), "v"))
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i := range n {
		cs, err := feed.Next(cctx)
		require.NoError(t, err)
		require.Equal(t, "k"+strconv.Itoa(i), cs.Changes[0].Key)
	}
	// Once the feed read them, the shards drop back to their window.
	require.NoError(t, db.Insert(ctx, "after", "v"))
	_, err = feed.Next(cctx)
	require.NoError(t, err)
	for range 300 { // trimming runs with the shards' next batches
		require.NoError(t, db.Insert(ctx, "more", "v"))
	}
	st, err := db.Stats()
	require.NoError(t, err)
	require.Less(t, st.Feed.Changes, 2048)
}

// TestFeedEvictionsAndExpiries marks the shard's own deletes.
func TestFeedEvictionsAndExpiries(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	b := fluxmap.New[string, string]().Shards(1).ChangeFeed(fluxmap.ChangeFeedOptions{})
	txhook.SetClock(b, clock.Now)
	db := build(t, b)
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()
	require.NoError(t, db.InsertWithTTL(ctx, "ttl", "v", time.Second))
	require.NoError(t, db.Insert(ctx, "ev", "v"))
	evicted, err := db.Evict(ctx, "ev")
	require.NoError(t, err)
	require.True(t, evicted)
	clock.Advance(2 * time.Second)
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)

	ops := map[string][]fluxmap.Op{}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(ops["ttl"]) < 2 || len(ops["ev"]) < 2 {
		cs, err := feed.Next(cctx)
		require.NoError(t, err)
		for _, c := range cs.Changes {
			ops[c.Key] = append(ops[c.Key], c.Op)
		}
	}
	require.Equal(t, []fluxmap.Op{fluxmap.OpPut, fluxmap.OpExpire}, ops["ttl"])
	require.Equal(t, []fluxmap.Op{fluxmap.OpPut, fluxmap.OpEvict}, ops["ev"])
}

// TestFeedMemoryLimitEvictions: keys the limit evicts appear as OpEvict,
// and replaying the feed from the start still gives the final state.
func TestFeedMemoryLimitEvictions(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(2).MaxMemory(64<<10).ChangeFeed(fluxmap.ChangeFeedOptions{}))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()
	for i := range 3000 {
		require.NoError(t, db.Insert(ctx, "k"+strconv.Itoa(i), strings.Repeat("v", 64)))
	}
	require.NoError(t, db.Insert(ctx, "sentinel", "end"))
	state := map[string]string{}
	evictions := 0
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for state["sentinel"] == "" {
		cs, err := feed.Next(cctx)
		require.NoError(t, err)
		for _, c := range cs.Changes {
			if c.Op == fluxmap.OpEvict {
				evictions++
			}
		}
		applyChanges(state, cs)
	}
	require.Positive(t, evictions)
	final, _ := feedState(t, db)
	// Evictions the shards commit after the sentinel are not replayed yet.
	for k := range state {
		if _, ok := final[k]; !ok {
			delete(state, k)
		}
	}
	require.Equal(t, final, state)
}

// TestFeedWatch wakes a watcher on a change under its prefix, not before,
// and never misses a change made between its read and the Watch call.
func TestFeedWatch(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(4).ChangeFeed(fluxmap.ChangeFeedOptions{}))
	_, snap := feedState(t, db)
	require.NoError(t, db.Insert(ctx, "cfg/a", "1")) // after the read, before Watch
	ch, err := db.Watch(ctx, snap, "cfg/")
	require.NoError(t, err)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("a change after the snapshot did not wake the watcher")
	}

	_, snap = feedState(t, db)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err = db.Watch(wctx, snap, "cfg/")
	require.NoError(t, err)
	require.NoError(t, db.Insert(ctx, "other", "x"))
	select {
	case <-ch:
		t.Fatal("a change outside the prefix woke the watcher")
	case <-time.After(30 * time.Millisecond):
	}
	require.NoError(t, db.Insert(ctx, "cfg/b", "2"))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("a change under the prefix did not wake the watcher")
	}
}

// TestFeedErrors: a database without a feed, a position in the future, a
// closed feed and a closed database each get a clear error.
func TestFeedErrors(t *testing.T) {
	ctx := context.Background()
	plain := build(t, fluxmap.New[string, string]())
	_, err := plain.Changes(fluxmap.FeedOptions[string]{})
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	_, err = plain.Watch(ctx, 0)
	require.ErrorIs(t, err, fluxmap.ErrConfig)

	_, err = fluxmap.New[string, string]().ChangeFeed(fluxmap.ChangeFeedOptions{Window: 10, MaxRetained: 5}).Build(ctx)
	require.ErrorIs(t, err, fluxmap.ErrConfig)

	db, err := fluxmap.New[string, string]().ChangeFeed(fluxmap.ChangeFeedOptions{}).Build(ctx)
	require.NoError(t, err)
	_, err = db.Changes(fluxmap.FeedOptions[string]{Since: 1000})
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)

	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	require.NoError(t, feed.Close())
	require.NoError(t, feed.Close())
	_, err = feed.Next(ctx)
	require.ErrorIs(t, err, fluxmap.ErrClosed)

	// Close from another goroutine ends a waiting Next.
	feed, err = db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	waiting := make(chan error, 1)
	go func() { _, err := feed.Next(ctx); waiting <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, feed.Close())
	select {
	case err := <-waiting:
		require.ErrorIs(t, err, fluxmap.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Next kept waiting after the feed's Close")
	}

	feed, err = db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := feed.Next(ctx); done <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, db.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, fluxmap.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Next kept waiting after Close")
	}
	_, err = db.Changes(fluxmap.FeedOptions[string]{})
	require.ErrorIs(t, err, fluxmap.ErrClosed)
}

// TestFeedCaughtUpAtChunkEnd: a feed that read everything up to the end of
// a full chunk of a shard's log (256 writes) and then falls a window behind
// lost nothing it needs (the shard may drop that chunk, all read), so it
// must go on, not fail with ErrFeedTruncated.
func TestFeedCaughtUpAtChunkEnd(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(1).
		ChangeFeed(fluxmap.ChangeFeedOptions{Window: 256, MaxRetained: 1 << 16}))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i := range 256 {
		require.NoError(t, db.Insert(ctx, "k"+strconv.Itoa(i), "v"))
	}
	for i := range 256 {
		cs, err := feed.Next(cctx)
		require.NoError(t, err)
		require.Equal(t, "k"+strconv.Itoa(i), cs.Changes[0].Key)
	}
	for i := range 600 {
		require.NoError(t, db.Insert(ctx, "m"+strconv.Itoa(i), "v"))
	}
	for i := range 600 {
		cs, err := feed.Next(cctx)
		require.NoError(t, err, "change %d after the first chunk", i)
		require.Equal(t, "m"+strconv.Itoa(i), cs.Changes[0].Key)
	}
}

// TestFeedKeepingUpNeverTruncates: a feed that keeps up with writers
// (pausing now and then) while the shards drop chunks past a small window
// never fails with ErrFeedTruncated: it always holds back what it needs.
func TestFeedKeepingUpNeverTruncates(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(2).
		ChangeFeed(fluxmap.ChangeFeedOptions{Window: 512, MaxRetained: 1 << 20}))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()
	const writers, each = 2, 10000
	var wg sync.WaitGroup
	defer wg.Wait()
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				if !assertNoErr(t, db.Insert(ctx, fmt.Sprintf("k%d-%d", g, i%50), "v")) {
					return
				}
			}
		})
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for n := 0; n < writers*each; {
		cs, err := feed.Next(cctx)
		require.NoError(t, err, "after %d changes", n)
		n += len(cs.Changes)
		if n%1000 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}
