package fluxmap_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/crashtest"
	"github.com/fluxmap/fluxmap/internal/txhook"
	"github.com/fluxmap/fluxmap/wal"
)

// openCorruptDB opens a 4-shard Full database with 4 KiB segments in dir;
// ckptBytes 0 disables automatic checkpoints (in practice).
func openCorruptDB(dir string, ckptBytes int64) (*fluxmap.DB[string, string], error) {
	if ckptBytes == 0 {
		ckptBytes = 1 << 40
	}
	return fluxmap.New[string, string]().Shards(4).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4096, PoolSize: 2}).
		CheckpointAfterBytes(ckptBytes).Build(context.Background())
}

// shardFiles returns the files of shard i (every generation directory)
// whose names end in suffix, sorted by name: for segments, oldest first.
func shardFiles(t *testing.T, dir string, i int, suffix string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "gen-*", fmt.Sprintf("shard-%04d", i), "*"+suffix))
	require.NoError(t, err)
	slices.Sort(all)
	return all
}

// dataEnd returns one past the last non-zero byte of the file: the end of
// a segment's frames, ahead of its preallocated zeros.
func dataEnd(t *testing.T, name string) int64 {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return int64(end)
}

func flipByte(t *testing.T, name string, off int64) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x5a
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

// commitMany runs n sequential transactions (faultTxn's workload) and
// returns their records; every one must be acknowledged.
func commitMany(t *testing.T, db *fluxmap.DB[string, string], rng *rand.Rand, from, n int) []crashtest.Txn[string] {
	t.Helper()
	var h []crashtest.Txn[string]
	for i := from; i < from+n; i++ {
		rec, err := faultTxn(db, rng, i)
		require.NoError(t, err)
		h = append(h, rec)
	}
	return h
}

// TestDurableTornTail damages the end of one shard's newest segment after
// a clean close, as a crash in the middle of the last write would: cut off
// or overwrite the last bytes of the last record. The last transaction
// wrote keys on every shard, so it must be lost as a whole (its record on
// the damaged shard is gone) and everything before it kept: reopen
// succeeds with commits 1..last-1. Appends then resume after the cut, and
// a further reopen sees them.
func TestDurableTornTail(t *testing.T) {
	damages := []struct {
		name string
		do   func(t *testing.T, seg string, end int64)
	}{
		{"truncate-1", func(t *testing.T, seg string, end int64) { require.NoError(t, os.Truncate(seg, end-1)) }},
		{"truncate-9", func(t *testing.T, seg string, end int64) { require.NoError(t, os.Truncate(seg, end-9)) }},
		{"truncate-40", func(t *testing.T, seg string, end int64) { require.NoError(t, os.Truncate(seg, end-40)) }},
		{"flip-last", func(t *testing.T, seg string, end int64) { flipByte(t, seg, end-1) }},
		{"zero-last-5", func(t *testing.T, seg string, end int64) {
			f, err := os.OpenFile(seg, os.O_RDWR, 0)
			require.NoError(t, err)
			_, err = f.WriteAt(make([]byte, 5), end-5)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
	}
	ctx := context.Background()
	for di, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := openCorruptDB(dir, 0)
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(uint64(di), 5))
			h := commitMany(t, db, rng, 0, 80)

			tx, err := db.Begin(ctx)
			require.NoError(t, err)
			last := crashtest.Txn[string]{Outcome: crashtest.Acked}
			for i := range 32 {
				w := crashtest.Write[string]{Key: fmt.Sprintf("z%02d", i), Value: strings.Repeat("z", 20)}
				require.NoError(t, tx.Insert(w.Key, w.Value))
				last.Writes = append(last.Writes, w)
			}
			last.TS, err = txhook.CommitTS(tx)
			require.NoError(t, err)
			h = append(h, last)
			require.NoError(t, db.Close())

			shard := di % 4
			segs := shardFiles(t, dir, shard, ".wal")
			require.NotEmpty(t, segs)
			seg := segs[len(segs)-1]
			end := dataEnd(t, seg)
			require.Greater(t, end, int64(64), "the last transaction left no record in %s", seg)
			d.do(t, seg, end)

			db, err = openCorruptDB(dir, 0)
			require.NoError(t, err, "a torn tail is the normal end of a log, not corruption")
			got := durableState(t, db)
			tr := recoveredTS(t, db, "probe")
			require.NoError(t, crashtest.Check(h, tr, got, false))
			require.Equal(t, last.TS-1, tr, "the damaged shard's last record must be lost, and only it")
			require.NoError(t, db.Insert(ctx, "after", "x"))
			want := durableState(t, db)
			require.NoError(t, db.Close())

			db, err = openCorruptDB(dir, 0)
			require.NoError(t, err)
			require.Equal(t, want, durableState(t, db), "appends after the torn tail")
			require.NoError(t, db.Close())
		})
	}
}

// TestDurableCorruptMiddle damages data that valid records follow: a byte
// in the middle of a shard's oldest (sealed) segment, of its newest
// segment, or of a checkpoint. Build must refuse with ErrCorrupt, never
// salvage, and must release the directory: a second attempt reports
// ErrCorrupt again, not ErrLocked.
func TestDurableCorruptMiddle(t *testing.T) {
	cases := []struct {
		name      string
		ckptBytes int64
		damage    func(t *testing.T, dir string)
	}{
		{"oldest-segment", 0, func(t *testing.T, dir string) {
			segs := shardFiles(t, dir, 1, ".wal")
			require.GreaterOrEqual(t, len(segs), 3, "the workload must fill several segments")
			flipByte(t, segs[0], dataEnd(t, segs[0])/2)
		}},
		{"newest-segment", 0, func(t *testing.T, dir string) {
			segs := shardFiles(t, dir, 2, ".wal")
			seg := segs[len(segs)-1]
			end := dataEnd(t, seg)
			require.Greater(t, end, int64(1024), "the newest segment must hold several records")
			flipByte(t, seg, end/3)
		}},
		{"checkpoint", 16 << 10, func(t *testing.T, dir string) {
			ckpts := shardFiles(t, dir, 3, ".ckpt")
			require.NotEmpty(t, ckpts)
			c := ckpts[len(ckpts)-1]
			fi, err := os.Stat(c)
			require.NoError(t, err)
			flipByte(t, c, fi.Size()/2)
		}},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := openCorruptDB(dir, c.ckptBytes)
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(uint64(ci), 6))
			commitMany(t, db, rng, 0, 300)
			if c.ckptBytes > 0 {
				require.NoError(t, db.Checkpoint(context.Background()))
				commitMany(t, db, rng, 300, 20)
			}
			require.NoError(t, db.Close())
			c.damage(t, dir)
			for attempt := range 2 {
				db, err := openCorruptDB(dir, c.ckptBytes)
				if err == nil {
					require.NoError(t, db.Close())
				}
				require.ErrorIs(t, err, fluxmap.ErrCorrupt, "attempt %d", attempt)
			}
		})
	}
}

// TestDurableLocked opens a directory that an open database holds: Build
// fails with wal.ErrLocked and leaves the holder working; once the holder
// closes, the directory opens.
func TestDurableLocked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := openCorruptDB(dir, 0)
	require.NoError(t, err)
	require.NoError(t, db.Insert(ctx, "k", "v1"))
	for _, full := range []bool{true, false} {
		b := fluxmap.New[string, string]().Shards(2)
		if full {
			b.DurabilityFull(fluxmap.PersistenceOptions{Dir: dir})
		} else {
			b.DurabilityRelaxed(fluxmap.PersistenceOptions{Dir: dir}).FlushAfterCommits(1)
		}
		db2, err := b.Build(ctx)
		require.ErrorIs(t, err, wal.ErrLocked)
		require.Nil(t, db2)
	}
	require.NoError(t, db.Insert(ctx, "k", "v2"))
	requireValue(t, db, "k", "v2")
	require.NoError(t, db.Close())

	db, err = openCorruptDB(dir, 0)
	require.NoError(t, err)
	requireValue(t, db, "k", "v2")
	require.NoError(t, db.Close())
}
