package fluxmap_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// Reopen test geometry: tiny segments and checkpoints, so a steady load
// rolls, checkpoints and recycles segments many times.
const (
	reopenSegment    = 4096
	reopenPool       = 2
	reopenCheckpoint = 16 << 10
	reopenShards     = 4
)

// reopenWALBound is the most WAL a 4-shard database of the geometry above
// may keep on disk (segment and pooled files, *.wal and free-*) once a
// steady load has stopped and the checkpointer had a poll to catch up:
// per shard, the checkpoint threshold of live log, the current segment, the
// pool, and one segment of slack for a roll in progress.
const reopenWALBound = reopenShards * (reopenCheckpoint + (1+reopenPool+1)*reopenSegment)

// walBytes sums the sizes of the WAL segment files under dir (live
// segments, *.wal, and recycled ones kept for reuse, free-*). Files that
// vanish during the walk (renamed or removed by a running database) are
// skipped.
func walBytes(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if name := d.Name(); strings.HasSuffix(name, ".wal") || strings.HasPrefix(name, "free-") {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

// TestDurableReopen runs a steady concurrent load (autocommit inserts and
// deletes, 2-key transactions) against a database with 4 KiB segments, a
// pool of 2 and checkpoints every 16 KiB of log, checks the WAL directory
// stays bounded while many times more log is written, then closes and
// reopens it repeatedly, with more writes and deletes in between, at 4, 4,
// 2, 7, 1 and 4 shards: every reopen must show exactly the model's state.
func TestDurableReopen(t *testing.T) {
	for _, full := range []bool{true, false} {
		t.Run(map[bool]string{true: "Full", false: "Relaxed"}[full], func(t *testing.T) {
			testDurableReopen(t, full)
		})
	}
}

func testDurableReopen(t *testing.T, full bool) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(shards int) *fluxmap.DB[string, string] {
		opts := fluxmap.PersistenceOptions{Dir: dir, SegmentSize: reopenSegment, PoolSize: reopenPool}
		b := fluxmap.New[string, string]().Shards(shards).CheckpointAfterBytes(reopenCheckpoint)
		if full {
			b.DurabilityFull(opts)
		} else {
			b.DurabilityRelaxed(opts).FlushInterval(2 * time.Millisecond)
		}
		db, err := b.Build(ctx)
		require.NoError(t, err)
		return db
	}
	db := open(reopenShards)

	// Each writer owns its keys, so the model is exact under concurrency.
	writers := 4
	opsPerWriter := durableCount(1500, 1500, 6000) // -short keeps it: the bound check needs the volume
	models := make([]map[string]string, writers)
	var logged atomic.Int64 // key and value bytes committed: a floor on the log written
	var wg sync.WaitGroup
	stopSampler := make(chan struct{})
	var maxDuring int64
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampler:
				return
			case <-tick.C:
				maxDuring = max(maxDuring, walBytes(dir))
			}
		}
	}()
	for w := range writers {
		models[w] = map[string]string{}
		rng := rand.New(rand.NewPCG(uint64(w), 77))
		wg.Go(func() {
			m := models[w]
			key := func() string { return fmt.Sprintf("w%d-k%03d", w, rng.IntN(150)) }
			for i := range opsPerWriter {
				v := fmt.Sprintf("w%d-%d-%s", w, i, strings.Repeat("v", 150+rng.IntN(200)))
				switch rng.IntN(5) {
				case 0:
					k := key()
					_, _, err := db.Remove(ctx, k)
					if !assertNoError(t, err) {
						return
					}
					delete(m, k)
					logged.Add(int64(len(k)))
				case 1:
					k1, k2 := key(), key()
					err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
						if err := tx.Insert(k1, v); err != nil {
							return err
						}
						return tx.Insert(k2, v)
					})
					if !assertNoError(t, err) {
						return
					}
					m[k1], m[k2] = v, v
					logged.Add(int64(len(k1) + len(k2) + 2*len(v)))
				default:
					k := key()
					if !assertNoError(t, db.Insert(ctx, k, v)) {
						return
					}
					m[k] = v
					logged.Add(int64(len(k) + len(v)))
				}
			}
		})
	}
	wg.Wait()
	// Let the checkpointer (it polls every 50 ms) see the final sizes.
	time.Sleep(150 * time.Millisecond)
	close(stopSampler)
	<-samplerDone
	after := walBytes(dir)
	t.Logf("logged %d key+value bytes; WAL on disk: %d max during the load, %d after (bound %d)",
		logged.Load(), maxDuring, after, reopenWALBound)
	require.LessOrEqual(t, after, int64(reopenWALBound), "the WAL grew past its bound")
	require.Greater(t, logged.Load(), int64(10*reopenWALBound), "the load must write far more log than the bound")
	require.LessOrEqual(t, maxDuring, logged.Load()/4, "the WAL kept most of what was written during the load")

	want := map[string]string{}
	for _, m := range models {
		for k, v := range m {
			want[k] = v
		}
	}
	require.Equal(t, want, durableState(t, db))
	require.NoError(t, db.Close())

	rng := rand.New(rand.NewPCG(1, 78))
	for round, shards := range []int{4, 4, 2, 7, 1, 4} {
		db = open(shards)
		require.Equal(t, want, durableState(t, db), "round %d: reopen at %d shards", round, shards)
		// More changes for the next reopen to replay: updates, new keys and
		// deletes of existing keys.
		for i := range 60 {
			k := fmt.Sprintf("w%d-k%03d", rng.IntN(writers), rng.IntN(150))
			if i%3 == 0 {
				_, _, err := db.Remove(ctx, k)
				require.NoError(t, err)
				delete(want, k)
				continue
			}
			v := fmt.Sprintf("round%d-%d", round, i)
			require.NoError(t, db.Insert(ctx, k, v))
			want[k] = v
		}
		require.NoError(t, db.Close())
	}
	db = open(reopenShards)
	require.Equal(t, want, durableState(t, db))
	require.NoError(t, db.Close())
}

// assertNoError reports err from a helper goroutine (where require must
// not be used) and says whether it was nil.
func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

// TestDurableReopenEmptyNewGeneration: a recovery that starts a new
// generation (here because the shard count changed) while every key has
// been deleted must still record that the timestamps up to its start are
// complete; otherwise the next open counts from 0, finds no record of
// timestamp 1 and drops every commit acknowledged in the new generation.
func TestDurableReopenEmptyNewGeneration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(shards int) *fluxmap.DB[string, string] {
		db, err := fluxmap.New[string, string]().Shards(shards).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).Build(ctx)
		require.NoError(t, err)
		return db
	}
	db := open(2)
	require.NoError(t, db.Insert(ctx, "a", "1"))
	_, _, err := db.Remove(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db = open(3) // a new generation with an empty state and start = 2
	require.NoError(t, db.Insert(ctx, "b", "acknowledged"))
	require.NoError(t, db.Close())

	for range 2 { // and again, now without a shard-count change
		db = open(3)
		v, ok, err := db.Get(ctx, "b")
		require.NoError(t, err)
		require.True(t, ok, "an acknowledged Full commit was lost on reopen")
		require.Equal(t, "acknowledged", v)
		require.NoError(t, db.Close())
	}
}
