package fluxmap_test

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
	"github.com/fluxmap/fluxmap/internal/vfs"
)

// keyOnShard returns a string key that a database of n shards routes to
// shard i. The routing (xxhash, then multiply-shift onto [0, n)) is part of
// the on-disk format, since shard i's log is loaded into shard i, so a test
// may rely on it.
func keyOnShard(prefix string, i, n int) string {
	for j := 0; ; j++ {
		k := fmt.Sprintf("%s%d", prefix, j)
		if hi, _ := bits.Mul64(xxhash.Sum64String(k), uint64(n)); int(hi) == i {
			return k
		}
	}
}

// shardFile reports whether a file name belongs to shard i's directory.
func shardFile(name string, i int) bool {
	return strings.Contains(name, fmt.Sprintf("shard-%04d/", i))
}

// TestDurableCommitOutcomeAfterPoison runs the interleaving of issue #13
// (item 4) on a Full database of 3 shards: commit X on shard 1 is stuck in
// a slow fsync; commit B on shard 0, after it, is durable and waits for X;
// commit Y on shard 2, after both, fails its fsync and poisons the
// database. B took effect (once X's fsync ends, visible passes B and a
// reopen keeps it), so B must return nil; Y's record reached the file
// before its fsync failed, so Y must say its outcome is unknown; a commit
// refused after the poisoning did not take effect and says plain
// ErrPoisoned.
func TestDurableCommitOutcomeAfterPoison(t *testing.T) {
	ctx := context.Background()
	const shards = 3
	kX, kB, kY := keyOnShard("x", 1, shards), keyOnShard("b", 0, shards), keyOnShard("y", 2, shards)
	mem := vfs.New()
	open := func() *fluxmap.DB[string, string] {
		b := fluxmap.New[string, string]().Shards(shards).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: "db"})
		txhook.SetFS(b, mem)
		db, err := b.Build(ctx)
		require.NoError(t, err)
		return db
	}
	db := open()

	var (
		mu          sync.Mutex
		armed       bool
		slowDone    bool
		slowEntered = make(chan struct{})
		slowRelease = make(chan struct{})
		bSynced     = make(chan struct{})
		bOnce       sync.Once
	)
	mem.SetInject(func(op vfs.Op, name string) error {
		mu.Lock()
		on := armed
		mu.Unlock()
		if !on || op != vfs.OpSync {
			return nil
		}
		switch {
		case shardFile(name, 1):
			mu.Lock()
			first := !slowDone
			slowDone = true // only X's fsync is slow
			mu.Unlock()
			if first {
				close(slowEntered)
				<-slowRelease
			}
		case shardFile(name, 0):
			bOnce.Do(func() { close(bSynced) })
		case shardFile(name, 2):
			return errInjectedSync
		}
		return nil
	})
	mu.Lock()
	armed = true
	mu.Unlock()

	xErr, bErr := make(chan error, 1), make(chan error, 1)
	go func() { xErr <- db.Insert(ctx, kX, "x") }()
	<-slowEntered // X has its timestamp and waits in its fsync
	go func() { bErr <- db.Insert(ctx, kB, "b") }()
	<-bSynced // B has a later timestamp, is installed and durable

	yErr := db.Insert(ctx, kY, "y")
	require.ErrorIs(t, yErr, fluxmap.ErrCommitUnknown, "Y's record was written before its fsync failed")
	require.ErrorIs(t, yErr, fluxmap.ErrPoisoned)
	require.ErrorIs(t, yErr, errInjectedSync)

	select {
	case err := <-bErr:
		t.Fatalf("B returned while X, before it, was still in its fsync: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(slowRelease)
	require.NoError(t, <-xErr)
	require.NoError(t, <-bErr, "B's records are durable and no commit before it failed")

	got, ok, err := db.Get(ctx, kB)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "b", got)
	_, ok, err = db.Get(ctx, kY)
	require.NoError(t, err)
	require.False(t, ok, "a commit whose outcome is unknown is not visible")

	refused := db.Insert(ctx, kB, "late")
	require.ErrorIs(t, refused, fluxmap.ErrPoisoned)
	require.NotErrorIs(t, refused, fluxmap.ErrCommitUnknown, "a commit refused before installing did not take effect")
	require.ErrorIs(t, db.Close(), fluxmap.ErrPoisoned)

	mem.SetInject(nil)
	mem.Crash() // power loss: only fsynced data is left
	db = open()
	state := durableState(t, db)
	require.Equal(t, "x", state[kX])
	require.Equal(t, "b", state[kB], "B returned nil, so it must survive")
	require.NotContains(t, state, kY, "Y's fsync failed and the power went")
	require.NoError(t, db.Close())
}
