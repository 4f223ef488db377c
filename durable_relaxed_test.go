package fluxmap_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/crashtest"
	"github.com/fluxmap/fluxmap/internal/txhook"
	"github.com/fluxmap/fluxmap/internal/vfs"
)

// TestDurableRelaxedLossBoundAcrossShards: Relaxed durability's commit and
// byte triggers bound what a power loss loses across the whole database,
// not per shard. One commit lands on a quiet shard, then 5,000 on another;
// recovery keeps only the gap-free prefix of commit timestamps, so if the
// quiet shard's record stayed unsynced (its own count never reached the
// trigger) every later commit would be lost, however often the busy shard
// synced. After a power loss, at most twice the trigger's worth of commits
// may be missing (the trigger's own bound, plus the commits that raced the
// syncs it started).
func TestDurableRelaxedLossBoundAcrossShards(t *testing.T) {
	const (
		shards = 2
		busy   = 5000
		value  = 100 // bytes per value, so a byte trigger is a commit count too
	)
	for _, tc := range []struct {
		name  string
		set   func(*fluxmap.Builder[string, string])
		bound int // commits a power loss may take
	}{
		{"FlushAfterCommits", func(b *fluxmap.Builder[string, string]) { b.FlushAfterCommits(10) }, 2 * 10},
		{"FlushAfterBytes", func(b *fluxmap.Builder[string, string]) { b.FlushAfterBytes(10 * value) }, 2 * 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := vfs.New()
			open := func(fs *crashtest.Killable) *fluxmap.DB[string, string] {
				b := fluxmap.New[string, string]().Shards(shards).
					DurabilityRelaxed(fluxmap.PersistenceOptions{Dir: "db"}).
					CheckpointAfterBytes(1 << 30) // the log alone carries the commits
				tc.set(b)
				txhook.SetFS(b, fs)
				db, err := b.Build(ctx)
				require.NoError(t, err)
				return db
			}
			fs := crashtest.NewKillable(mem)
			db := open(fs)
			v := strings.Repeat("v", value)
			quiet, hot := keyOnShard("quiet", 0, shards), keyOnShard("hot", 1, shards)
			require.NoError(t, db.Insert(ctx, quiet, v))
			for i := range busy {
				require.NoError(t, db.Insert(ctx, hot, fmt.Sprintf("%0*d", value, i)))
			}
			fs.Kill(mem.Crash) // power loss while the database runs
			_ = db.Close()     // fails: its files are gone

			db = open(crashtest.NewKillable(mem))
			defer func() { require.NoError(t, db.Close()) }()
			state := durableState(t, db)
			kept := 0
			if _, ok := state[quiet]; ok {
				kept = 1
				if s, ok := state[hot]; ok {
					var n int
					_, err := fmt.Sscanf(s, "%d", &n)
					require.NoError(t, err)
					kept += n + 1
				}
			}
			lost := 1 + busy - kept
			t.Logf("a power loss after %d acknowledged commits kept %d", 1+busy, kept)
			require.LessOrEqual(t, lost, tc.bound, "lost %d of %d acknowledged commits", lost, 1+busy)
		})
	}
}
