package wal_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

func TestOpenValidatesOptions(t *testing.T) {
	m := vfs.New()
	for _, o := range []wal.Options{
		{Dir: "d"},
		{FS: m},
		{FS: m, Dir: "d", SegmentSize: -1},
		{FS: m, Dir: "d", SegmentSize: 10},
		{FS: m, Dir: "d", PoolSize: -1},
	} {
		_, err := wal.Open(o, func(uint64, []byte) error { return nil })
		require.ErrorIs(t, err, errs.ErrConfig, "%+v", o)
	}
}

func TestOpenEmptyCreatesFirstSegment(t *testing.T) {
	m := vfs.New()
	l, r := openLog(t, m, "db/shard0", 0, 0)
	require.Empty(t, r.payloads)
	names, err := m.List("db/shard0")
	require.NoError(t, err)
	require.Equal(t, []string{"0000000000000001.wal"}, names)
	b, err := m.ReadFile("db/shard0/0000000000000001.wal")
	require.NoError(t, err)
	require.Len(t, b, wal.DefaultSegmentSize, "segments are preallocated")
	require.EqualValues(t, startLen(b), l.Size(), "only the segment's start frame")
	require.Equal(t, testFrame(wal.RecordSegmentStart, 1, []byte{0}), b[:startLen(b)])
	require.NoError(t, l.Close())
	// The directory and the segment survive a crash.
	m.Crash()
	names, err = m.List("db/shard0")
	require.NoError(t, err)
	require.Equal(t, []string{"0000000000000001.wal"}, names)
}

// TestAppendRollReopen appends records of varied sizes with random
// flushes and syncs across many 4 KiB segments, closing and reopening
// several times; every reopen must replay every record, in order.
func TestAppendRollReopen(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := vfs.New()
	var want []uint64
	var ts uint64
	for round := range 6 {
		l, r := openLog(t, m, "d", 4096, 2)
		require.Equal(t, want, r.timestamps(t), "round %d", round)
		require.Len(t, r.seqs, len(want))
		for i := 1; i < len(r.seqs); i++ {
			require.LessOrEqual(t, r.seqs[i-1], r.seqs[i])
		}
		for range 300 {
			ts++
			require.NoError(t, l.Append(ts, record(t, ts, rng.IntN(600))))
			want = append(want, ts)
			switch rng.IntN(10) {
			case 0:
				require.NoError(t, l.Flush())
			case 1:
				require.NoError(t, l.Sync())
			}
		}
		st := l.Stats()
		require.Greater(t, st.Segments, 1)
		require.Positive(t, st.Syncs)
		require.NoError(t, l.Close())
		require.ErrorIs(t, l.Append(1, nil), errs.ErrClosed)
		require.NoError(t, l.Close())
	}
}

// TestRecordLargerThanSegment gets a segment of its own.
func TestRecordLargerThanSegment(t *testing.T) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 2)
	require.NoError(t, l.Append(1, record(t, 1, 100)))
	require.NoError(t, l.Append(2, record(t, 2, 10000)))
	require.NoError(t, l.Append(3, record(t, 3, 100)))
	require.Equal(t, 3, l.Stats().Segments)
	require.NoError(t, l.Close())
	l, r := openLog(t, m, "d", 4096, 2)
	require.Equal(t, []uint64{1, 2, 3}, r.timestamps(t))
	require.Equal(t, []uint64{1, 2, 3}, r.seqs)
	// The oversized segment is removed, not pooled, when retired.
	require.NoError(t, l.Recycle(3))
	names, err := m.List("d")
	require.NoError(t, err)
	require.Equal(t, []string{"0000000000000003.wal", "free-0000000000000001"}, names)
	require.NoError(t, l.Close())
}

func TestAppendRejectsOversizedPayload(t *testing.T) {
	l, _ := openLog(t, vfs.New(), "d", 4096, 2)
	err := l.Append(1, make([]byte, wal.MaxRecordSize+1))
	require.ErrorIs(t, err, errs.ErrTxnTooLarge)
	// Not sticky: nothing was written.
	require.NoError(t, l.Append(1, record(t, 1, 1)))
	require.NoError(t, l.Close())
}

// TestRecycleKeepsSizeBounded runs a steady append load with a checkpoint
// that trails by a fixed number of commits: Size, the number of files and
// the number of file creations stay bounded.
func TestRecycleKeepsSizeBounded(t *testing.T) {
	const (
		segSize = 4096
		lag     = 200 // commits the checkpoint trails by
		recSize = 60
	)
	m := vfs.New()
	counts := map[vfs.Op]int{}
	m.Inject = countOps(counts, nil)
	l, _ := openLog(t, m, "d", segSize, 2)
	// Records in the log at any time: at most lag + the 50 between
	// recycles, plus one partly covered segment and the current one.
	frameSize := int64(wal.HeaderSize + len(record(t, 1, recSize)))
	bound := (lag+50)*frameSize + 2*segSize
	var createsAfterWarmup int
	for ts := uint64(1); ts <= 20000; ts++ {
		require.NoError(t, l.Append(ts, record(t, ts, recSize)))
		if ts%50 == 0 {
			require.NoError(t, l.Sync())
			if ts > lag {
				require.NoError(t, l.Recycle(ts-lag))
			}
			require.LessOrEqual(t, l.Size(), bound, "ts %d", ts)
			names, err := m.List("d")
			require.NoError(t, err)
			require.LessOrEqual(t, len(names), int(bound/segSize)+2+2, "ts %d: %v", ts, names)
		}
		if ts == 2000 {
			createsAfterWarmup = counts[vfs.OpCreate]
		}
	}
	require.Equal(t, createsAfterWarmup, counts[vfs.OpCreate], "rolls must reuse pooled files")
	require.NoError(t, l.Close())

	_, r := openLog(t, m, "d", segSize, 2)
	got := r.timestamps(t)
	require.NotEmpty(t, got)
	require.LessOrEqual(t, got[0], uint64(20000-lag+1), "records after the last checkpoint are kept")
	for i, ts := range got {
		require.Equal(t, got[0]+uint64(i), ts)
	}
	require.Equal(t, uint64(20000), got[len(got)-1])
}

// TestRecycleStopsAtNewerSegment: a segment holding a commit newer than
// upTo is kept, and so is everything after it, even if a later segment
// holds only older commits (shards may log commits out of ts order).
func TestRecycleStopsAtNewerSegment(t *testing.T) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 4)
	fill := func(tss ...uint64) {
		for _, ts := range tss {
			require.NoError(t, l.Append(ts, record(t, ts, 1500)))
		}
	}
	fill(1, 2)  // segment 1
	fill(10, 3) // segment 2: max 10
	fill(4, 5)  // segment 3: max 5
	fill(6)     // segment 4, current
	require.Equal(t, 4, l.Stats().Segments)
	require.NoError(t, l.Recycle(5))
	require.Equal(t, 3, l.Stats().Segments)
	require.NoError(t, l.Recycle(100))
	require.Equal(t, 1, l.Stats().Segments, "the current segment is never recycled")
	require.NoError(t, l.Close())
	_, r := openLog(t, m, "d", 4096, 4)
	require.Equal(t, []uint64{6}, r.timestamps(t))
}

// TestStaleRecordsInPoolFileNeverReplayed reuses a pooled file full of old
// records for a new segment that gets one small record; the old frames
// after it must not be replayed, neither after Close nor after a crash.
func TestStaleRecordsInPoolFileNeverReplayed(t *testing.T) {
	for _, crash := range []bool{false, true} {
		m := vfs.New()
		l, _ := openLog(t, m, "d", 4096, 4)
		var ts uint64
		for l.Stats().Segments < 4 {
			ts++
			require.NoError(t, l.Append(ts, record(t, ts, 200)))
		}
		// Segments 1-3 are full; record ts opened segment 4.
		old := ts
		require.NoError(t, l.Recycle(old))
		require.Equal(t, 1, l.Stats().Segments)
		// Fill the current segment so the next roll takes a pooled file.
		for l.Stats().Segments < 2 {
			ts++
			require.NoError(t, l.Append(ts, record(t, ts, 200)))
		}
		require.NoError(t, l.Sync())
		names, err := m.List("d")
		require.NoError(t, err)
		require.Contains(t, names, "0000000000000005.wal")
		require.Len(t, names, 4, "two segments and two pool files left: %v", names)
		cur, err := m.ReadFile("d/0000000000000005.wal")
		require.NoError(t, err)
		fr := frames(cur, 5)
		require.Len(t, fr, 1, "one new record")
		// What follows the new record is a stale frame of segment 1.
		require.NotZero(t, cur[fr[0].end+1])
		require.Equal(t, byte(1), cur[fr[0].end+9])
		if crash {
			m.Crash()
		} else {
			require.NoError(t, l.Close())
		}
		l, r := openLog(t, m, "d", 4096, 4)
		got := r.timestamps(t)
		require.Equal(t, old, got[0], "crash=%v", crash)
		require.Equal(t, ts, got[len(got)-1], "crash=%v", crash)
		require.Len(t, got, int(ts-old+1))
		require.NoError(t, l.Close())
	}
}

func TestReset(t *testing.T) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 2)
	for ts := uint64(1); ts <= 100; ts++ {
		require.NoError(t, l.Append(ts, record(t, ts, 100)))
	}
	require.NoError(t, l.Reset())
	require.Equal(t, 1, l.Stats().Segments)
	// The new segment holds its start frame alone: 17 bytes of header and
	// the uvarint 100, the log's newest commit so far.
	require.EqualValues(t, wal.HeaderSize+1, l.Size())
	require.NoError(t, l.Append(101, record(t, 101, 100)))
	require.NoError(t, l.Close())
	_, r := openLog(t, m, "d", 4096, 2)
	require.Equal(t, []uint64{101}, r.timestamps(t))
}

func TestOpenPropagatesCallbackError(t *testing.T) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 2)
	require.NoError(t, l.Append(1, record(t, 1, 1)))
	require.NoError(t, l.Close())
	boom := &customErr{}
	_, err := wal.Open(wal.Options{FS: m, Dir: "d"}, func(uint64, []byte) error { return boom })
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, errs.ErrCorrupt)
}

type customErr struct{}

func (*customErr) Error() string { return "custom" }

// TestFlushZeroesAhead checks that flushes into a new segment write zeros
// one chunk ahead of the data, once per 256 KiB chunk (so one fdatasync per
// chunk, not every one, converts preallocated blocks), and that a segment
// made from a recycled file, whose blocks are written already, gets none.
func TestFlushZeroesAhead(t *testing.T) {
	const (
		segSize = 1 << 20
		chunk   = 256 << 10
	)
	m := vfs.New()
	counts := map[vfs.Op]int{}
	m.Inject = countOps(counts, nil)
	l, _ := openLog(t, m, "d", segSize, 1)
	flushes := 0
	for ts := uint64(1); l.Stats().Bytes < 600<<10; ts++ {
		require.NoError(t, l.Append(ts, record(t, ts, 1000)))
		require.NoError(t, l.Flush())
		flushes++
	}
	off := l.Size()
	// The start frame was written once, and chunks [0,256K), [256K,512K)
	// and [512K,768K) were each zeroed once.
	require.Equal(t, 1+flushes+3, counts[vfs.OpWrite])
	require.NoError(t, l.Sync())

	names, err := m.List("d")
	require.NoError(t, err)
	var seg string
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			seg = n
		}
	}
	data, err := m.ReadFile("d/" + seg)
	require.NoError(t, err)
	require.Len(t, data, segSize)
	require.Equal(t, make([]byte, segSize-off), data[off:], "everything past the data stays zero")
	require.NoError(t, l.Close())

	// Fill the segment so the log rolls, recycle it, and roll into the
	// recycled file: writes are then only the flushes' own.
	l, _ = openLog(t, m, "d", segSize, 1)
	ts := uint64(10_000)
	for l.Stats().Segments < 2 {
		require.NoError(t, l.Append(ts, record(t, ts, 1000)))
		ts++
	}
	require.NoError(t, l.Sync())
	require.NoError(t, l.Recycle(ts))
	for l.Stats().Segments < 2 {
		require.NoError(t, l.Append(ts, record(t, ts, 1000)))
		ts++
	}
	require.NoError(t, l.Sync())
	before := counts[vfs.OpWrite]
	for range 10 {
		require.NoError(t, l.Append(ts, record(t, ts, 1000)))
		require.NoError(t, l.Flush())
		ts++
	}
	require.Equal(t, before+10, counts[vfs.OpWrite], "a recycled segment needs no zeroing")
	require.NoError(t, l.Close())
}
