package wal_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

const lastSeg = "0000000000000002.wal"

// twoSegmentImage builds a log of two 4 KiB segments, the second nearly
// full and unsealed, from records of varied sizes; it returns the image
// and the timestamps in order.
func twoSegmentImage(t *testing.T) (image, []uint64) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 2)
	rng := rand.New(rand.NewPCG(7, 7))
	var tss []uint64
	for ts := uint64(1); ; ts++ {
		p := record(t, ts, 10+rng.IntN(150))
		if l.Stats().Segments == 2 && l.Size() > 4096+4096-400 {
			break
		}
		require.NoError(t, l.Append(ts, p))
		tss = append(tss, ts)
	}
	require.Equal(t, 2, l.Stats().Segments)
	require.NoError(t, l.Close())
	return snapshot(t, m, "d"), tss
}

// TestTornTailAtEveryOffset cuts the last segment at every offset of the
// whole file: Open must recover exactly the records that end before the
// cut, appending afterwards must work, and a further reopen must see the
// old and the new records.
func TestTornTailAtEveryOffset(t *testing.T) {
	img, tss := twoSegmentImage(t)
	first := len(frames(img["0000000000000001.wal"], 1)) - 1 // minus the segment end
	last := frames(img[lastSeg], 2)
	require.Equal(t, len(tss), first+len(last))
	full := img[lastSeg]
	for cut := 0; cut <= len(full); cut++ {
		if cut < startLen(full) {
			// The start frame was synced before segment 1 was sealed: a
			// crash cannot tear it.
			cutImg := image{"0000000000000001.wal": img["0000000000000001.wal"], lastSeg: full[:cut]}
			_, err := wal.Open(wal.Options{FS: cutImg.restore(t, "d"), Dir: "d", SegmentSize: 4096}, nil)
			require.ErrorIs(t, err, errs.ErrCorrupt, "cut %d", cut)
			continue
		}
		cutImg := image{}
		for k, v := range img {
			cutImg[k] = v
		}
		cutImg[lastSeg] = full[:cut]
		m := cutImg.restore(t, "d")

		want := first
		for _, f := range last {
			if f.end <= cut {
				want++
			}
		}
		l, r := openLog(t, m, "d", 4096, 2)
		require.Equal(t, tss[:want], r.timestamps(t), "cut %d", cut)

		require.NoError(t, l.Append(1000, record(t, 1000, 5)))
		require.NoError(t, l.Close())
		_, r = openLog(t, m, "d", 4096, 2)
		require.Equal(t, append(tss[:want:want], 1000), r.timestamps(t), "cut %d", cut)
	}
}

// TestRandomBitFlips flips one random bit of a multi-segment log 1000
// times. A flip in the last record of the last segment loses that record;
// a flip in padding changes nothing; a flip in any other frame is
// corruption.
func TestRandomBitFlips(t *testing.T) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	var tss []uint64
	for ts := uint64(1); l.Stats().Segments < 4 || l.Size()%4096 < 1000; ts++ {
		require.NoError(t, l.Append(ts, record(t, ts, 20+rng.IntN(300))))
		tss = append(tss, ts)
	}
	require.NoError(t, l.Close())
	img := snapshot(t, m, "d")
	names := []string{"0000000000000001.wal", "0000000000000002.wal", "0000000000000003.wal", "0000000000000004.wal"}
	for i, n := range names {
		require.Contains(t, img, n)
		require.NotEmpty(t, frames(img[n], uint64(i+1)))
	}

	outcomes := map[string]int{}
	for trial := range 1000 {
		segIdx := rng.IntN(len(names))
		name := names[segIdx]
		pos := rng.IntN(len(img[name]))
		bit := byte(1) << rng.IntN(8)

		fr := frames(img[name], uint64(segIdx+1))
		// A segment's start frame is a frame too, and never the last one.
		inFrame, lastFrame := pos < startLen(img[name]), false
		for i, f := range fr {
			if pos >= f.off && pos < f.end {
				inFrame, lastFrame = true, i == len(fr)-1
			}
		}
		isLastSeg := segIdx == len(names)-1

		flipped := image{}
		for k, v := range img {
			flipped[k] = v
		}
		b := bytes.Clone(img[name])
		b[pos] ^= bit
		flipped[name] = b
		fs := flipped.restore(t, "d")
		r := &replayed{}
		l, err := wal.Open(wal.Options{FS: fs, Dir: "d", SegmentSize: 4096, PoolSize: 2}, r.fn)
		switch {
		case !inFrame:
			require.NoError(t, err, "trial %d: padding flip in %s at %d", trial, name, pos)
			require.Equal(t, tss, r.timestamps(t))
			outcomes["padding"]++
		case isLastSeg && lastFrame:
			require.NoError(t, err, "trial %d: flip in the last record at %d", trial, pos)
			require.Equal(t, tss[:len(tss)-1], r.timestamps(t))
			outcomes["torn last record"]++
		default:
			require.ErrorIs(t, err, errs.ErrCorrupt, "trial %d: flip in %s at %d", trial, name, pos)
			outcomes["corrupt"]++
		}
		if err == nil {
			require.NoError(t, l.Close())
		}
	}
	t.Logf("outcomes: %v", outcomes)
	require.Positive(t, outcomes["corrupt"])
	require.Positive(t, outcomes["padding"])
	require.Positive(t, outcomes["torn last record"])
}

// TestLostRecordBeforeSegmentEnd: damage to the last record of a sealed
// segment is corruption even though nothing valid follows in that segment.
func TestLostRecordBeforeSegmentEnd(t *testing.T) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 2)
	for ts := uint64(1); l.Stats().Segments < 2; ts++ {
		require.NoError(t, l.Append(ts, record(t, ts, 100)))
	}
	require.NoError(t, l.Close())
	img := snapshot(t, m, "d")
	seg1 := bytes.Clone(img["0000000000000001.wal"])
	fr := frames(seg1, 1)
	require.Equal(t, byte(wal.RecordSegmentEnd), fr[len(fr)-1].typ)
	// Zero the last record and the segment end, as a lost page would.
	clear(seg1[fr[len(fr)-2].off:fr[len(fr)-1].end])
	img["0000000000000001.wal"] = seg1
	_, err := wal.Open(wal.Options{FS: img.restore(t, "d"), Dir: "d", SegmentSize: 4096}, func(uint64, []byte) error { return nil })
	require.ErrorIs(t, err, errs.ErrCorrupt)
	require.ErrorContains(t, err, "0000000000000001.wal")
}

// TestInterruptedRollIsNotCorruption: a roll makes the next segment
// durable before it seals the current one. A crash in between leaves an
// unsealed segment followed by one that holds only its start frame (or
// nothing valid, if the crash came earlier still): that later segment is
// dropped and the log ends in the unsealed one. A sealed last segment, or
// more than one segment after an unsealed one, is not something a crash
// leaves: corruption.
func TestInterruptedRollIsNotCorruption(t *testing.T) {
	base := func(t *testing.T) (*vfs.MemFS, []byte) {
		m := vfs.New()
		l, _ := openLog(t, m, "d", 4096, 2)
		require.NoError(t, l.Append(1, record(t, 1, 100)))
		require.NoError(t, l.Append(2, record(t, 2, 100)))
		require.NoError(t, l.Close())
		seg1, err := m.ReadFile("d/0000000000000001.wal")
		require.NoError(t, err)
		return m, seg1
	}
	sealed := func(seg1 []byte) []byte {
		fr := frames(seg1, 1)
		b := bytes.Clone(seg1)
		copy(b[fr[len(fr)-1].end:], testFrame(wal.RecordSegmentEnd, 1, nil))
		return b
	}
	startOnly := func(seq uint64) []byte {
		b := make([]byte, 4096)
		copy(b, testFrame(wal.RecordSegmentStart, seq, []byte{2}))
		return b
	}
	for _, c := range []struct {
		name     string
		seg2     func() []byte
		wantSegs []string
	}{
		{"start frame only", func() []byte { return startOnly(2) }, []string{"0000000000000001.wal"}},
		{"zeros", func() []byte { return make([]byte, 4096) }, []string{"0000000000000001.wal"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := base(t)
			require.NoError(t, m.WriteFile("d/0000000000000002.wal", c.seg2()))
			l, r := openLog(t, m, "d", 4096, 2)
			require.Equal(t, []uint64{1, 2}, r.timestamps(t))
			require.NoError(t, l.Append(3, record(t, 3, 100)))
			require.NoError(t, l.Close())
			_, r = openLog(t, m, "d", 4096, 2)
			require.Equal(t, []uint64{1, 2, 3}, r.timestamps(t))
			names, err := m.List("d")
			require.NoError(t, err)
			require.Equal(t, c.wantSegs, names, "segment 1 took the append")
		})
	}
	t.Run("sealed, then a complete empty segment", func(t *testing.T) {
		m, seg1 := base(t)
		require.NoError(t, m.WriteFile("d/0000000000000001.wal", sealed(seg1)))
		require.NoError(t, m.WriteFile("d/0000000000000002.wal", startOnly(2)))
		l, r := openLog(t, m, "d", 4096, 2)
		require.Equal(t, []uint64{1, 2}, r.timestamps(t))
		require.NoError(t, l.Append(3, record(t, 3, 100)))
		require.NoError(t, l.Close())
		_, r = openLog(t, m, "d", 4096, 2)
		require.Equal(t, []uint64{1, 2, 3}, r.timestamps(t), "segment 2 took the append")
	})
	for _, c := range []struct {
		name  string
		files map[string]func(seg1 []byte) []byte
	}{
		{"sealed last segment", map[string]func([]byte) []byte{
			"0000000000000001.wal": sealed,
		}},
		{"sealed, successor without a start frame", map[string]func([]byte) []byte{
			"0000000000000001.wal": sealed,
			"0000000000000002.wal": func([]byte) []byte { return make([]byte, 4096) },
		}},
		{"two segments after an unsealed one", map[string]func([]byte) []byte{
			"0000000000000002.wal": func([]byte) []byte { return startOnly(2) },
			"0000000000000003.wal": func([]byte) []byte { return startOnly(3) },
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, seg1 := base(t)
			for name, f := range c.files {
				require.NoError(t, m.WriteFile("d/"+name, f(seg1)))
			}
			before := snapshot(t, m, "d")
			_, err := wal.Open(wal.Options{FS: m, Dir: "d", SegmentSize: 4096}, nil)
			require.ErrorIs(t, err, errs.ErrCorrupt)
			require.Equal(t, before, snapshot(t, m, "d"), "a refused open changes nothing")
		})
	}
}

// TestOpenZeroesTornTail: the bytes after the end of the log in the
// segment that takes appends are zeroed, also when a later, empty segment
// was dropped.
func TestOpenZeroesTornTail(t *testing.T) {
	for _, withLater := range []bool{false, true} {
		m := vfs.New()
		l, _ := openLog(t, m, "d", 4096, 2)
		require.NoError(t, l.Append(1, record(t, 1, 100)))
		require.NoError(t, l.Close())
		seg1, err := m.ReadFile("d/0000000000000001.wal")
		require.NoError(t, err)
		end := frames(seg1, 1)[0].end
		junk := rand.New(rand.NewPCG(5, 5))
		for i := end; i < len(seg1); i++ {
			seg1[i] = byte(junk.Uint32()) | 1 // a torn write: never a valid frame
		}
		require.NoError(t, m.WriteFile("d/0000000000000001.wal", seg1))
		if withLater {
			require.NoError(t, m.WriteFile("d/0000000000000002.wal", make([]byte, 4096)))
		}
		l, r := openLog(t, m, "d", 4096, 2)
		require.Equal(t, []uint64{1}, r.timestamps(t))
		after, err := m.ReadFile("d/0000000000000001.wal")
		require.NoError(t, err)
		require.Equal(t, seg1[:end], after[:end])
		require.Equal(t, make([]byte, len(after)-end), after[end:], "withLater=%v", withLater)
		require.NoError(t, l.Close())
	}
}
