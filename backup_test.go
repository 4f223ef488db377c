package fluxmap_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

// backupOf backs up db (opts nil: every key) and returns the stream.
func backupOf[K, V any](t testing.TB, db *fluxmap.DB[K, V], opts *fluxmap.BackupOptions[K]) ([]byte, fluxmap.BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := db.Backup(context.Background(), &buf, opts)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), info.Bytes)
	return buf.Bytes(), info
}

// allEntries reads every entry of db with one scan.
func allEntries[K, V any](t testing.TB, db *fluxmap.DB[K, V]) []fluxmap.Entry[K, V] {
	t.Helper()
	entries, err := db.Scan(context.Background(), fluxmap.ScanOptions[K]{})
	require.NoError(t, err)
	return entries
}

// requireEmpty fails unless db holds no live key.
func requireEmpty[K, V any](t testing.TB, db *fluxmap.DB[K, V], msgAndArgs ...any) {
	t.Helper()
	require.Empty(t, allEntries(t, db), msgAndArgs...)
}

// fillBackupSource inserts n keys "k/%05d" with 100-byte values that name
// their key: enough, at n = 3000, for several blocks.
func fillBackupSource(t testing.TB, db *fluxmap.DB[string, string], n int) {
	t.Helper()
	ctx := context.Background()
	for lo := 0; lo < n; lo += 500 {
		require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
			for i := lo; i < min(lo+500, n); i++ {
				k := fmt.Sprintf("k/%05d", i)
				if err := tx.Insert(k, k+strings.Repeat(".", 100-len(k))); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

func TestBackupRestoreRoundTripInMemory(t *testing.T) {
	forEachShardCount(t, func(t *testing.T, shards int) {
		ctx := t.Context()
		clock := newFakeClock()
		newDB := func() *fluxmap.DB[string, int64] {
			b := fluxmap.New[string, int64]().Shards(shards)
			txhook.SetClock(b, clock.Now)
			return build(t, b)
		}
		src := newDB()
		for i := range 2000 {
			dbInsert(t, src, fmt.Sprintf("key/%04d", i), int64(i*i-1000))
		}
		dbInsert(t, src, "", -1) // the empty key is a key too
		require.NoError(t, src.InsertWithTTL(ctx, "ttl/soon", 1, 10*time.Second))
		require.NoError(t, src.InsertWithTTL(ctx, "ttl/later", 2, time.Hour))
		require.NoError(t, src.InsertWithTTL(ctx, "ttl/gone", 3, time.Second))
		_, _, err := src.Remove(ctx, "key/0007")
		require.NoError(t, err)
		clock.Advance(2 * time.Second) // ttl/gone has expired at the snapshot

		want := allEntries(t, src)
		stream, info := backupOf(t, src, nil)
		require.Equal(t, len(want), info.Entries)
		require.NotZero(t, info.SnapshotTS)

		dst := newDB()
		rinfo, err := dst.Restore(ctx, bytes.NewReader(stream))
		require.NoError(t, err)
		require.Equal(t, fluxmap.RestoreInfo{SnapshotTS: info.SnapshotTS, Entries: len(want)}, rinfo)
		require.Equal(t, want, allEntries(t, dst))
		requireAbsent(t, dst, "ttl/gone")
		requireAbsent(t, dst, "key/0007")

		// Deadlines are absolute: ttl/soon expires in dst when it would
		// have in src, 10 s after it was inserted.
		clock.Advance(7 * time.Second)
		requireValue(t, dst, "ttl/soon", 1)
		clock.Advance(2 * time.Second)
		requireAbsent(t, dst, "ttl/soon")
		requireValue(t, dst, "ttl/later", 2)

		// An entry whose deadline passed before the restore writes is
		// left out, and counted.
		dst2 := newDB()
		rinfo, err = dst2.Restore(ctx, bytes.NewReader(stream))
		require.NoError(t, err)
		require.Equal(t, 1, rinfo.Expired)
		require.Equal(t, len(want)-1, rinfo.Entries)
		requireAbsent(t, dst2, "ttl/soon")
		requireValue(t, dst2, "ttl/later", 2)
	})
}

func TestBackupRestoreDurable(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	open := func() *fluxmap.DB[string, string] {
		db, err := fluxmap.New[string, string]().Shards(4).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).Build(ctx)
		require.NoError(t, err)
		return db
	}
	src := build(t, fluxmap.New[string, string]().Shards(3))
	fillBackupSource(t, src, 3000)
	want := allEntries(t, src)
	stream, _ := backupOf(t, src, nil)

	dst := open()
	rinfo, err := dst.Restore(ctx, bytes.NewReader(stream))
	require.NoError(t, err)
	require.Equal(t, len(want), rinfo.Entries)
	require.NoError(t, dst.Close())

	dst = open()
	t.Cleanup(func() { require.NoError(t, dst.Close()) })
	require.Equal(t, want, allEntries(t, dst), "the restore did not survive a reopen")

	// A durable database backs up as an in-memory one does.
	again, _ := backupOf(t, dst, nil)
	mem := build(t, fluxmap.New[string, string]().Shards(2))
	_, err = mem.Restore(ctx, bytes.NewReader(again))
	require.NoError(t, err)
	require.Equal(t, want, allEntries(t, mem))
}

// transfer is one committed bank transfer and its commit timestamp.
type transfer struct {
	ts       uint64
	from, to int
	amount   int64
}

// TestBackupDuringTransfers takes backups while writers move money between
// accounts on every shard. Each backup must hold exactly the state at its
// SnapshotTS: the initial balances with every transfer committed at or
// below it applied and none above, so the total holds too.
func TestBackupDuringTransfers(t *testing.T) {
	for _, shards := range []int{4, 16} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) { runBackupDuringTransfers(t, shards) })
	}
}

func runBackupDuringTransfers(t *testing.T, shards int) {
	const accounts, writers, backups = 100, 4, 4
	ctx := t.Context()
	db := newStringDB(t, shards)
	tx := begin(t, db)
	for i := range accounts {
		txInsert(t, tx, acct(i), bankInitial)
	}
	loadTS, err := txhook.CommitTS(tx)
	require.NoError(t, err)

	var (
		mu        sync.Mutex
		history   []transfer
		committed atomic.Int64
		stop      atomic.Bool
		wg        sync.WaitGroup
		failure   firstFailure
	)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(shards), uint64(w)))
			for !stop.Load() {
				from := rng.IntN(accounts)
				to := (from + 1 + rng.IntN(accounts-1)) % accounts
				amount := 1 + rng.Int64N(100)
				ts, err := transferOnce(ctx, db, acct(from), acct(to), amount)
				switch {
				case errors.Is(err, fluxmap.ErrConflict):
					continue
				case err != nil:
					failure.fail(err)
					return
				case ts != 0:
					mu.Lock()
					history = append(history, transfer{ts, from, to, amount})
					mu.Unlock()
					committed.Add(1)
				}
			}
		})
	}

	type taken struct {
		stream []byte
		info   fluxmap.BackupInfo
	}
	var got []taken
	for range backups {
		// The writer blocks the backup after its header (the snapshot is
		// taken) until more transfers have committed, so every backup
		// reads its entries while newer commits are there to skip.
		w := &gatedWriter{gate: func() {
			target := committed.Load() + 20
			for committed.Load() < target && failure.first() == nil {
				time.Sleep(time.Millisecond)
			}
		}}
		info, err := db.Backup(ctx, w, nil)
		require.NoError(t, err)
		got = append(got, taken{w.buf.Bytes(), info})
	}
	stop.Store(true)
	wg.Wait()
	require.NoError(t, failure.first())

	mu.Lock()
	defer mu.Unlock()
	for i, b := range got {
		want := make(map[string]int64, accounts)
		for a := range accounts {
			want[acct(a)] = bankInitial
		}
		applied := 0
		for _, tr := range history {
			if tr.ts <= b.info.SnapshotTS {
				want[acct(tr.from)] -= tr.amount
				want[acct(tr.to)] += tr.amount
				applied++
			}
		}
		require.GreaterOrEqual(t, b.info.SnapshotTS, loadTS)
		require.Less(t, applied, len(history), "backup %d: no transfer committed after its snapshot", i)

		dst := newStringDB(t, shards)
		_, err := dst.Restore(ctx, bytes.NewReader(b.stream))
		require.NoError(t, err)
		restored := make(map[string]int64, accounts)
		total := int64(0)
		for _, e := range allEntries(t, dst) {
			restored[e.Key] = e.Value
			total += e.Value
		}
		require.Equal(t, want, restored, "backup %d at ts %d is not the state at its snapshot", i, b.info.SnapshotTS)
		require.Equal(t, int64(accounts)*bankInitial, total, "backup %d: money created or destroyed", i)
	}
}

// transferOnce moves amount from one account to another in one transaction
// and returns its commit timestamp (0: not enough money, nothing written).
func transferOnce(ctx context.Context, db *fluxmap.DB[string, int64], from, to string, amount int64) (uint64, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	fb, ok1, err1 := tx.Get(from)
	tb, ok2, err2 := tx.Get(to)
	if err := errors.Join(err1, err2); err != nil || !ok1 || !ok2 || fb < amount {
		tx.Rollback() //nolint:errcheck
		if err == nil && (!ok1 || !ok2) {
			err = errMissingAccount
		}
		return 0, err
	}
	if err := errors.Join(tx.Insert(from, fb-amount), tx.Insert(to, tb+amount)); err != nil {
		tx.Rollback() //nolint:errcheck
		return 0, err
	}
	return txhook.CommitTS(tx)
}

// gatedWriter buffers what it is given and calls gate once, after the
// first write (the backup's magic and version).
type gatedWriter struct {
	buf  bytes.Buffer
	gate func()
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if g := w.gate; g != nil {
		w.gate = nil
		g()
	}
	return n, err
}

func TestBackupPrefixAndRange(t *testing.T) {
	ctx := t.Context()
	src := build(t, fluxmap.New[string, string]().Shards(4))
	for _, p := range []string{"a/", "b/", "c/"} {
		for i := range 50 {
			dbInsert(t, src, fmt.Sprintf("%s%02d", p, i), p)
		}
	}
	cases := []struct {
		name string
		opts *fluxmap.BackupOptions[string]
		scan fluxmap.ScanOptions[string]
	}{
		{"prefix", &fluxmap.BackupOptions[string]{Prefix: new("b/")},
			fluxmap.ScanOptions[string]{Lo: fluxmap.Incl("b/"), Hi: fluxmap.Excl("c/")}},
		{"range", &fluxmap.BackupOptions[string]{Lo: fluxmap.Excl("a/40"), Hi: fluxmap.Incl("b/09")},
			fluxmap.ScanOptions[string]{Lo: fluxmap.Excl("a/40"), Hi: fluxmap.Incl("b/09")}},
		{"prefix and range", &fluxmap.BackupOptions[string]{Prefix: new("c/"), Lo: fluxmap.Incl("b/30"), Hi: fluxmap.Excl("c/10")},
			fluxmap.ScanOptions[string]{Lo: fluxmap.Incl("c/"), Hi: fluxmap.Excl("c/10")}},
		{"open low end", &fluxmap.BackupOptions[string]{Hi: fluxmap.Excl("a/05")},
			fluxmap.ScanOptions[string]{Hi: fluxmap.Excl("a/05")}},
		{"empty", &fluxmap.BackupOptions[string]{Prefix: new("z/")},
			fluxmap.ScanOptions[string]{Lo: fluxmap.Incl("z/"), Hi: fluxmap.Excl("z0")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := src.Scan(ctx, c.scan)
			require.NoError(t, err)
			stream, info := backupOf(t, src, c.opts)
			require.Equal(t, len(want), info.Entries)
			dst := build(t, fluxmap.New[string, string]().Shards(2))
			_, err = dst.Restore(ctx, bytes.NewReader(stream))
			require.NoError(t, err)
			require.Equal(t, want, allEntries(t, dst))
		})
	}

	t.Run("integer keys", func(t *testing.T) {
		ints := build(t, fluxmap.New[int64, int64]().Shards(4))
		for i := int64(-50); i <= 50; i++ {
			dbInsert(t, ints, i, i*10)
		}
		stream, info := backupOf(t, ints, &fluxmap.BackupOptions[int64]{Lo: fluxmap.Incl[int64](-10), Hi: fluxmap.Incl[int64](10)})
		require.Equal(t, 21, info.Entries)
		dst := build(t, fluxmap.New[int64, int64]().Shards(2))
		_, err := dst.Restore(ctx, bytes.NewReader(stream))
		require.NoError(t, err)
		got := allEntries(t, dst)
		require.Len(t, got, 21)
		require.Equal(t, fluxmap.Entry[int64, int64]{Key: -10, Value: -100}, got[0])
		require.Equal(t, fluxmap.Entry[int64, int64]{Key: 10, Value: 100}, got[20])
	})
}

// frameEnds returns the offset just past magic and version and past every
// frame of a well-formed stream: every place a cut leaves whole frames.
func frameEnds(t testing.TB, stream []byte) []int {
	t.Helper()
	ends := []int{8, 12}
	for off := 12; off < len(stream); {
		n := int(binary.LittleEndian.Uint32(stream[off+1:]))
		off += 5 + n + 4
		ends = append(ends, off)
	}
	require.Equal(t, len(stream), ends[len(ends)-1])
	return ends
}

// requireRefused restores stream into db and requires an error wrapping
// want, with db left empty.
func requireRefused[V any](t testing.TB, db *fluxmap.DB[string, V], stream []byte, want error, what string) {
	t.Helper()
	_, err := db.Restore(context.Background(), bytes.NewReader(stream))
	require.ErrorIs(t, err, want, what)
	requireEmpty(t, db, "%s: the refused restore wrote something", what)
}

func TestRestoreRefusesDamagedStream(t *testing.T) {
	src := build(t, fluxmap.New[string, string]().Shards(4))
	fillBackupSource(t, src, 3000)
	stream, _ := backupOf(t, src, nil)
	ends := frameEnds(t, stream)
	require.Greater(t, len(ends), 6, "the stream should hold several blocks")
	// One target for every case: a case that wrote anything would also
	// make every later one fail as not empty.
	dst := build(t, fluxmap.New[string, string]().Shards(4))
	rng := rand.New(rand.NewPCG(1, 2))

	t.Run("truncated at every frame boundary", func(t *testing.T) {
		for _, end := range append([]int{0}, ends[:len(ends)-1]...) {
			requireRefused(t, dst, stream[:end], fluxmap.ErrCorrupt, fmt.Sprintf("cut at %d of %d", end, len(stream)))
		}
	})
	t.Run("truncated at random offsets", func(t *testing.T) {
		for range 200 {
			end := rng.IntN(len(stream))
			requireRefused(t, dst, stream[:end], fluxmap.ErrCorrupt, fmt.Sprintf("cut at %d of %d", end, len(stream)))
		}
		// The last bytes are the trailer's checksum.
		for end := len(stream) - 8; end < len(stream); end++ {
			requireRefused(t, dst, stream[:end], fluxmap.ErrCorrupt, fmt.Sprintf("cut at %d of %d", end, len(stream)))
		}
	})
	t.Run("bit flips", func(t *testing.T) {
		damaged := make([]byte, len(stream))
		flip := func(off int, bit uint) {
			copy(damaged, stream)
			damaged[off] ^= 1 << bit
			requireRefused(t, dst, damaged, fluxmap.ErrCorrupt, fmt.Sprintf("bit %d of byte %d flipped", bit, off))
		}
		for range 300 {
			flip(rng.IntN(len(stream)), rng.UintN(8))
		}
		// Every bit of the header and of the trailer.
		for off := range ends[2] {
			for bit := range uint(8) {
				flip(off, bit)
			}
		}
		for off := ends[len(ends)-2]; off < len(stream); off++ {
			for bit := range uint(8) {
				flip(off, bit)
			}
		}
	})
	t.Run("data appended", func(t *testing.T) {
		requireRefused(t, dst, append(bytes.Clone(stream), 0), fluxmap.ErrCorrupt, "one byte appended")
		requireRefused(t, dst, append(bytes.Clone(stream), stream...), fluxmap.ErrCorrupt, "a backup appended to itself")
	})
	t.Run("wrong magic", func(t *testing.T) {
		bad := bytes.Clone(stream)
		copy(bad, "NOTABKUP")
		_, err := dst.Restore(t.Context(), bytes.NewReader(bad))
		require.ErrorIs(t, err, fluxmap.ErrCorrupt)
		require.ErrorContains(t, err, "not a FluxMap backup")
		requireEmpty(t, dst)
	})
	t.Run("unknown version", func(t *testing.T) {
		bad := bytes.Clone(stream)
		binary.LittleEndian.PutUint32(bad[8:], 2)
		_, err := dst.Restore(t.Context(), bytes.NewReader(bad))
		require.ErrorIs(t, err, fluxmap.ErrCorrupt)
		require.ErrorContains(t, err, "format version 2")
		requireEmpty(t, dst)
	})
	t.Run("frames reordered with valid checksums", func(t *testing.T) {
		frames := splitFrames(stream)
		frames[1], frames[2] = frames[2], frames[1] // two blocks
		requireRefused(t, dst, joinFrames(frames), fluxmap.ErrCorrupt, "blocks swapped")
	})
	t.Run("block dropped with valid checksums", func(t *testing.T) {
		frames := splitFrames(stream)
		frames = append(frames[:2], frames[3:]...)
		requireRefused(t, dst, joinFrames(frames), fluxmap.ErrCorrupt, "a block left out")
	})
	t.Run("value that does not decode, with valid checksums", func(t *testing.T) {
		// A string-valued stream restored as int64 values would be refused
		// by the codec check; so forge an int64 stream whose first value
		// is one byte long.
		ints := build(t, fluxmap.New[string, int64]().Shards(1))
		dbInsert(t, ints, "a", 1)
		frames := splitFrames(backupOf2(t, ints))
		blk := frames[1].payload
		// count uint32 | keyLen 1 | "a" | expiry 0 | valueLen 8 | value
		require.Equal(t, byte(8), blk[7])
		frames[1].payload = append(blk[:7:7], 1, 0)
		target := build(t, fluxmap.New[string, int64]().Shards(1))
		requireRefused(t, target, joinFrames(frames), fluxmap.ErrCorrupt, "one-byte int64 value")
	})
}

// backupOf2 is backupOf without the info.
func backupOf2[K, V any](t testing.TB, db *fluxmap.DB[K, V]) []byte {
	t.Helper()
	stream, _ := backupOf(t, db, nil)
	return stream
}

// frame is one frame of a stream, for tests that forge well-checksummed
// damage.
type frame struct {
	kind    byte
	payload []byte
}

// splitFrames returns a well-formed stream's frames after magic and
// version.
func splitFrames(stream []byte) []frame {
	var frames []frame
	for off := 12; off < len(stream); {
		n := int(binary.LittleEndian.Uint32(stream[off+1:]))
		frames = append(frames, frame{stream[off], bytes.Clone(stream[off+5 : off+5+n])})
		off += 5 + n + 4
	}
	return frames
}

// joinFrames writes magic, version and frames, with every checksum valid
// and the trailer's stream checksum recomputed (its counts kept).
func joinFrames(frames []frame) []byte {
	table := crc32.MakeTable(crc32.Castagnoli)
	out := append([]byte("FLUXBKUP"), 1, 0, 0, 0)
	for _, f := range frames {
		if f.kind == 'T' {
			binary.LittleEndian.PutUint32(f.payload[16:], crc32.Checksum(out, table))
		}
		start := len(out)
		out = append(out, f.kind)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(f.payload)))
		out = append(out, f.payload...)
		out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out[start:], table))
	}
	return out
}

func TestJoinFramesRoundTrips(t *testing.T) {
	// The forging helpers are only evidence if an untouched stream passes
	// through them unchanged.
	src := build(t, fluxmap.New[string, string]().Shards(4))
	fillBackupSource(t, src, 1000)
	stream, _ := backupOf(t, src, nil)
	require.Equal(t, stream, joinFrames(splitFrames(stream)))
}

func TestRestoreRefusesOtherCodecs(t *testing.T) {
	ctx := t.Context()
	src := build(t, fluxmap.New[string, int64]().Shards(2))
	dbInsert(t, src, "a", 1)
	stream, _ := backupOf(t, src, nil)

	// Another value type.
	strs := build(t, fluxmap.New[string, string]().Shards(2))
	_, err := strs.Restore(ctx, bytes.NewReader(stream))
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	require.ErrorContains(t, err, "value codec")
	requireEmpty(t, strs)

	// The same value type through another codec.
	jsonDB := build(t, fluxmap.New[string, int64]().Shards(2).ValueCodec(fluxmap.JSONCodec[int64]()))
	_, err = jsonDB.Restore(ctx, bytes.NewReader(stream))
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	requireEmpty(t, jsonDB)

	// Another key type.
	ints := build(t, fluxmap.New[int64, int64]().Shards(2))
	_, err = ints.Restore(ctx, bytes.NewReader(stream))
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	require.ErrorContains(t, err, "key codec")
	requireEmpty(t, ints)
}

type point struct{ X, Y int }

func TestBackupNeedsValueCodec(t *testing.T) {
	ctx := t.Context()
	plain := build(t, fluxmap.New[string, point]().Shards(2))
	dbInsert(t, plain, "p", point{1, 2})
	var buf bytes.Buffer
	_, err := plain.Backup(ctx, &buf, nil)
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	require.ErrorContains(t, err, "Builder.ValueCodec")
	_, err = plain.Restore(ctx, bytes.NewReader(nil))
	require.ErrorIs(t, err, fluxmap.ErrConfig)

	withCodec := build(t, fluxmap.New[string, point]().Shards(2).ValueCodec(fluxmap.JSONCodec[point]()))
	dbInsert(t, withCodec, "p", point{1, 2})
	stream, _ := backupOf(t, withCodec, nil)
	dst := build(t, fluxmap.New[string, point]().Shards(2).ValueCodec(fluxmap.JSONCodec[point]()))
	_, err = dst.Restore(ctx, bytes.NewReader(stream))
	require.NoError(t, err)
	requireValue(t, dst, "p", point{1, 2})
}

func TestRestoreRefusesNonEmptyDatabase(t *testing.T) {
	src := build(t, fluxmap.New[string, int64]().Shards(2))
	dbInsert(t, src, "a", 1)
	dbInsert(t, src, "b", 2)
	stream, _ := backupOf(t, src, nil)

	dst := build(t, fluxmap.New[string, int64]().Shards(2))
	dbInsert(t, dst, "z", 26)
	_, err := dst.Restore(t.Context(), bytes.NewReader(stream))
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	require.ErrorContains(t, err, "not empty")
	require.Equal(t, []fluxmap.Entry[string, int64]{{Key: "z", Value: 26}}, allEntries(t, dst))

	// A key that was deleted, or whose deadline passed, does not count.
	_, _, err = dst.Remove(t.Context(), "z")
	require.NoError(t, err)
	_, err = dst.Restore(t.Context(), bytes.NewReader(stream))
	require.NoError(t, err)
	require.Len(t, allEntries(t, dst), 2)
}

func TestRestoreRespectsMaxTxnWrites(t *testing.T) {
	src := build(t, fluxmap.New[string, string]().Shards(4))
	fillBackupSource(t, src, 100)
	stream, _ := backupOf(t, src, nil)
	dst := build(t, fluxmap.New[string, string]().Shards(4).MaxTxnWrites(7))
	info, err := dst.Restore(t.Context(), bytes.NewReader(stream))
	require.NoError(t, err)
	require.Equal(t, 100, info.Entries)
	require.Equal(t, allEntries(t, src), allEntries(t, dst))
}

func TestRestoreRemovesWhatItWroteOnFailure(t *testing.T) {
	src := build(t, fluxmap.New[string, string]().Shards(4))
	fillBackupSource(t, src, 3000)
	stream, _ := backupOf(t, src, nil)

	t.Run("memory limit", func(t *testing.T) {
		// Room for about a third of the backup: the first batches commit,
		// a later one is refused.
		dst := build(t, fluxmap.New[string, string]().Shards(4).MaxTxnWrites(100).
			MaxMemory(200<<10).EvictionPolicy(fluxmap.Reject))
		_, err := dst.Restore(t.Context(), bytes.NewReader(stream))
		require.ErrorIs(t, err, fluxmap.ErrMemoryLimit)
		requireEmpty(t, dst, "a failed restore left entries behind")
	})
	t.Run("context ended before", func(t *testing.T) {
		dst := build(t, fluxmap.New[string, string]().Shards(4))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := dst.Restore(ctx, bytes.NewReader(stream))
		require.ErrorIs(t, err, context.Canceled)
		requireEmpty(t, dst)
	})
	t.Run("context ended while writing", func(t *testing.T) {
		// A watcher cancels once the first batches are in. Restore may
		// win the race and finish first; it must lose it at least once in
		// a few tries, and every time it loses it must leave nothing.
		for try := range 20 {
			dst := build(t, fluxmap.New[string, string]().Shards(4).MaxTxnWrites(10))
			ctx, cancel := context.WithCancel(t.Context())
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for ctx.Err() == nil && dst.Len() < 200 {
					time.Sleep(50 * time.Microsecond)
				}
				cancel()
			}()
			_, err := dst.Restore(ctx, bytes.NewReader(stream))
			cancel()
			<-watched
			if err == nil {
				require.Len(t, allEntries(t, dst), 3000)
				continue
			}
			require.ErrorIs(t, err, context.Canceled)
			requireEmpty(t, dst, "a cancelled restore left entries behind")
			t.Logf("cancelled while writing on try %d", try)
			return
		}
		t.Fatal("the restore finished every time before the watcher cancelled it")
	})
}

// FuzzRestore feeds Restore arbitrary streams: it must never panic, and
// whatever it refuses leaves the database empty.
func FuzzRestore(f *testing.F) {
	src := build(f, fluxmap.New[string, int64]().Shards(2))
	for i := range 20 {
		dbInsert(f, src, fmt.Sprintf("k%02d", i), int64(i))
	}
	stream, _ := backupOf(f, src, nil)
	f.Add(stream)
	f.Add(stream[:len(stream)/2])
	f.Add([]byte("FLUXBKUP\x01\x00\x00\x00"))
	dst := build(f, fluxmap.New[string, int64]().Shards(2))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := dst.Restore(context.Background(), bytes.NewReader(data))
		if err != nil {
			requireEmpty(t, dst)
			return
		}
		// A stream that passed every check is a backup: empty dst again.
		for _, e := range allEntries(t, dst) {
			_, _, err := dst.Remove(context.Background(), e.Key)
			require.NoError(t, err)
		}
		require.GreaterOrEqual(t, info.Entries, 0)
	})
}

func TestBackupStopsOnWriterErrorAndCancel(t *testing.T) {
	src := build(t, fluxmap.New[string, string]().Shards(4))
	fillBackupSource(t, src, 3000)
	dst := build(t, fluxmap.New[string, string]().Shards(4))

	boom := errors.New("disk full")
	fw := &failingWriter{room: 100 << 10, err: boom}
	_, err := src.Backup(t.Context(), fw, nil)
	require.ErrorIs(t, err, boom)
	requireRefused(t, dst, fw.buf.Bytes(), fluxmap.ErrCorrupt, "a backup its writer cut short")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	gw := &gatedWriter{gate: cancel}
	_, err = src.Backup(ctx, gw, nil)
	require.ErrorIs(t, err, context.Canceled)
	requireRefused(t, dst, gw.buf.Bytes(), fluxmap.ErrCorrupt, "a cancelled backup")
}

// failingWriter takes room bytes, then fails with err.
type failingWriter struct {
	buf  bytes.Buffer
	room int
	err  error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.room-w.buf.Len())
	w.buf.Write(p[:n])
	if n < len(p) {
		return n, w.err
	}
	return n, nil
}

// TestRestoreBatchFitsOneWALRecord restores, into a durable database whose
// MaxValueSize lets one value take most of a WAL record, a backup whose
// large value follows a batch's worth of smaller ones. Each entry fits a
// record on its own, so the restore must not put the large one into a
// batch that then does not.
func TestRestoreBatchFitsOneWALRecord(t *testing.T) {
	if !durableLong() {
		t.Skip("holds several GiB (a WAL record of about 256 MiB); runs with FLUXMAP_LONG=1")
	}
	ctx := t.Context()
	const maxValue = 250 << 20
	src, err := fluxmap.New[string, string]().Shards(1).MaxValueSize(maxValue).Build(ctx)
	require.NoError(t, err)
	small := strings.Repeat("s", 1<<20)
	for i := range 15 {
		dbInsert(t, src, fmt.Sprintf("a/%02d", i), small)
	}
	dbInsert(t, src, "b", strings.Repeat("b", 242<<20))
	var buf bytes.Buffer
	_, err = src.Backup(ctx, &buf, nil)
	require.NoError(t, err)
	require.NoError(t, src.Close()) // its 257 MiB are not needed any more

	dst := build(t, fluxmap.New[string, string]().Shards(1).MaxValueSize(maxValue).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: t.TempDir()}))
	rinfo, err := dst.Restore(ctx, &buf)
	require.NoError(t, err)
	require.Equal(t, 16, rinfo.Entries)
	v, ok, err := dst.Get(ctx, "b")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, v, 242<<20)
}
