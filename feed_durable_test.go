package fluxmap_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
	"github.com/fluxmap/fluxmap/internal/vfs"
)

// feedDurable builds a durable database with a change feed in dir, with
// small segments so checkpoints recycle some.
func feedDurable(t *testing.T, dir string, shards int, o fluxmap.ChangeFeedOptions) *fluxmap.DB[string, string] {
	t.Helper()
	db, err := fluxmap.New[string, string]().Shards(shards).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 16 << 10}).
		CheckpointAfterBytes(0).
		ChangeFeed(o).Build(context.Background())
	require.NoError(t, err)
	return db
}

// follow reads feed until a change set holds key, applying each to state,
// and returns the timestamp of the last one.
func follow(t *testing.T, feed *fluxmap.Feed[string, string], state map[string]string, key string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		cs, err := feed.Next(ctx)
		require.NoError(t, err)
		applyChanges(state, cs)
		for _, c := range cs.Changes {
			if c.Key == key {
				return cs.TS
			}
		}
	}
}

// TestFeedResumesAcrossRestart follows the feed of a durable database from
// its first commit while transactions run and checkpoints recycle the log,
// stops partway, closes and reopens the database, and resumes from the
// last timestamp consumed: the replayed state is the final state.
func TestFeedResumesAcrossRestart(t *testing.T) {
	for _, shards := range []int{1, 4, 16} {
		t.Run("shards="+strconv.Itoa(shards), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			db := feedDurable(t, dir, shards, fluxmap.ChangeFeedOptions{Window: 1 << 14})
			w := &feedWorkload{db: db, written: map[string]int{}}
			stop := make(chan struct{})
			var writers sync.WaitGroup
			for g := range 4 {
				writers.Go(func() { w.run(t, g, stop) })
			}
			feed, err := db.Changes(fluxmap.FeedOptions[string]{})
			require.NoError(t, err)
			state := map[string]string{}
			require.NoError(t, db.Insert(ctx, "mark", "1"))
			follow(t, feed, state, "mark")
			for range 3 {
				time.Sleep(20 * time.Millisecond)
				require.NoError(t, db.Checkpoint(ctx))
			}
			pos := feed.Position()
			require.NoError(t, feed.Close())
			time.Sleep(20 * time.Millisecond)
			close(stop)
			writers.Wait()
			require.NoError(t, db.Checkpoint(ctx))
			st, err := db.Stats()
			require.NoError(t, err)
			require.Greater(t, st.WAL.Bytes, int64(0))
			require.NoError(t, db.Close())

			db = feedDurable(t, dir, shards, fluxmap.ChangeFeedOptions{Window: 1 << 14})
			defer db.Close()
			feed, err = db.Changes(fluxmap.FeedOptions[string]{Since: pos})
			require.NoError(t, err, "resuming from %d", pos)
			defer feed.Close()
			require.NoError(t, db.Insert(ctx, "sentinel", "end"))
			follow(t, feed, state, "sentinel")
			require.Equal(t, durableState(t, db), state)
		})
	}
}

// TestFeedCausesSurviveRestart: an eviction read back from the log after a
// restart is still an OpEvict.
func TestFeedCausesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := feedDurable(t, dir, 2, fluxmap.ChangeFeedOptions{})
	require.NoError(t, db.Insert(ctx, "a", "1"))
	require.NoError(t, db.Insert(ctx, "b", "1"))
	_, err := db.Evict(ctx, "a")
	require.NoError(t, err)
	_, _, err = db.Remove(ctx, "b")
	require.NoError(t, err)
	require.NoError(t, db.Checkpoint(ctx)) // the feed keeps the log it covers
	require.NoError(t, db.Close())

	db = feedDurable(t, dir, 2, fluxmap.ChangeFeedOptions{})
	defer db.Close()
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()
	var ops []string
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(ops) < 4 {
		cs, err := feed.Next(cctx)
		require.NoError(t, err)
		for _, c := range cs.Changes {
			ops = append(ops, c.Key+":"+c.Op.String())
		}
	}
	require.Equal(t, []string{"a:put", "b:put", "a:evict", "b:delete"}, ops)
}

// TestFeedRestartTruncatedBeyondWindow: after a restart, a position older
// than what the log kept for the feed is refused with ErrFeedTruncated,
// and Stats says where the feed can start.
func TestFeedRestartTruncatedBeyondWindow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := feedDurable(t, dir, 2, fluxmap.ChangeFeedOptions{Window: 512})
	for i := range 5000 {
		require.NoError(t, db.Insert(ctx, "k"+strconv.Itoa(i%100), strconv.Itoa(i)))
	}
	require.NoError(t, db.Checkpoint(ctx))
	require.NoError(t, db.Close())
	db = feedDurable(t, dir, 2, fluxmap.ChangeFeedOptions{Window: 512})
	defer db.Close()
	_, err := db.Changes(fluxmap.FeedOptions[string]{Since: 10})
	require.ErrorIs(t, err, fluxmap.ErrFeedTruncated)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Greater(t, st.Feed.Oldest, uint64(10))
	require.Less(t, st.Feed.Oldest, uint64(5000-512))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{Since: st.Feed.Oldest})
	require.NoError(t, err)
	require.NoError(t, feed.Close())
}

// TestFeedHistoryStartsWhereTheLogDoes: a database that ran without a
// change feed recycled its log; reopened with one, it serves the feed from
// what the log still holds and refuses anything older.
func TestFeedHistoryStartsWhereTheLogDoes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := fluxmap.New[string, string]().Shards(2).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 16 << 10}).
		CheckpointAfterBytes(0).Build(ctx)
	require.NoError(t, err)
	for i := range 3000 {
		require.NoError(t, db.Insert(ctx, "k"+strconv.Itoa(i%100), strconv.Itoa(i)))
	}
	require.NoError(t, db.Checkpoint(ctx))
	for i := range 10 {
		require.NoError(t, db.Insert(ctx, "late"+strconv.Itoa(i), "v"))
	}
	require.NoError(t, db.Close())

	db = feedDurable(t, dir, 2, fluxmap.ChangeFeedOptions{})
	defer db.Close()
	_, err = db.Changes(fluxmap.FeedOptions[string]{})
	require.ErrorIs(t, err, fluxmap.ErrFeedTruncated, "the first commits' segments were recycled")
	st, err := db.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Feed.Oldest)
	require.Less(t, st.Feed.Oldest, uint64(3000))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{Since: st.Feed.Oldest})
	require.NoError(t, err)
	defer feed.Close()
	require.NoError(t, db.Insert(ctx, "sentinel", "end"))
	state := map[string]string{}
	follow(t, feed, state, "sentinel")
	for i := range 10 {
		require.Equal(t, "v", state["late"+strconv.Itoa(i)], "the commits after the checkpoint come from the log")
	}
}

// TestFeedHistoryAfterNewGeneration: reopening with another shard count
// moves the data into a new generation, whose checkpoint holds the commits
// so far and whose logs start empty. After another restart the feed must
// not claim those commits (a feed from before them would silently miss
// them): it refuses them with ErrFeedTruncated, and serves what came after.
func TestFeedHistoryAfterNewGeneration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := feedDurable(t, dir, 2, fluxmap.ChangeFeedOptions{})
	for i := range 10 {
		require.NoError(t, db.Insert(ctx, "old"+strconv.Itoa(i), "v"))
	}
	require.NoError(t, db.Close())
	db = feedDurable(t, dir, 4, fluxmap.ChangeFeedOptions{}) // a new generation
	require.NoError(t, db.Insert(ctx, "new", "v"))
	require.NoError(t, db.Close())

	db = feedDurable(t, dir, 4, fluxmap.ChangeFeedOptions{})
	defer db.Close()
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	if err == nil {
		defer feed.Close()
		state := map[string]string{}
		follow(t, feed, state, "new")
		require.Len(t, state, 11, "a feed from the first commit yields every commit or fails")
	}
	require.ErrorIs(t, err, fluxmap.ErrFeedTruncated)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(10), st.Feed.Oldest)
	feed, err = db.Changes(fluxmap.FeedOptions[string]{Since: st.Feed.Oldest})
	require.NoError(t, err)
	defer feed.Close()
	state := map[string]string{}
	follow(t, feed, state, "new")
	require.Equal(t, map[string]string{"new": "v"}, state)
}

// TestFeedPoisoned: a feed waiting on a durable database that an fsync
// failure poisoned returns the poisoning error after the commits made
// before it, not a wait without end.
func TestFeedPoisoned(t *testing.T) {
	ctx := context.Background()
	mem := vfs.New()
	b := fluxmap.New[string, string]().Shards(2).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: "db"}).ChangeFeed(fluxmap.ChangeFeedOptions{})
	txhook.SetFS(b, mem)
	db, err := b.Build(ctx)
	require.NoError(t, err)
	defer func() { require.ErrorIs(t, db.Close(), fluxmap.ErrPoisoned) }()
	require.NoError(t, db.Insert(ctx, "a", "kept"))
	feed, err := db.Changes(fluxmap.FeedOptions[string]{})
	require.NoError(t, err)
	defer feed.Close()

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cs, err := feed.Next(cctx)
	require.NoError(t, err)
	require.Equal(t, "a", cs.Changes[0].Key)
	next := make(chan error, 1)
	go func() { _, err := feed.Next(cctx); next <- err }()
	time.Sleep(10 * time.Millisecond) // let Next wait
	mem.SetInject(vfs.FailNthSync(1, errInjectedSync, false))
	require.ErrorIs(t, db.Insert(ctx, "b", "lost"), fluxmap.ErrPoisoned)
	require.ErrorIs(t, <-next, fluxmap.ErrPoisoned)
}
