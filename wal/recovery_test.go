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
		inFrame, lastFrame := false, false
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

// TestInterruptedRollIsNotCorruption: a later segment that holds no valid
// record (created, but a crash came before anything reached it) is
// dropped, whether the segment before it was sealed or not.
func TestInterruptedRollIsNotCorruption(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		m := vfs.New()
		l, _ := openLog(t, m, "d", 4096, 2)
		require.NoError(t, l.Append(1, record(t, 1, 100)))
		require.NoError(t, l.Append(2, record(t, 2, 100)))
		require.NoError(t, l.Close())
		seg1, err := m.ReadFile("d/0000000000000001.wal")
		require.NoError(t, err)
		if sealed {
			fr := frames(seg1, 1)
			copy(seg1[fr[len(fr)-1].end:], testFrame(wal.RecordSegmentEnd, 1, nil))
			require.NoError(t, m.WriteFile("d/0000000000000001.wal", seg1))
		}
		// Seq 2 is preallocated zeros; seq 3 holds stale frames of seq 1.
		require.NoError(t, m.WriteFile("d/0000000000000002.wal", make([]byte, 4096)))
		require.NoError(t, m.WriteFile("d/0000000000000003.wal", seg1))

		l, r := openLog(t, m, "d", 4096, 2)
		require.Equal(t, []uint64{1, 2}, r.timestamps(t), "sealed=%v", sealed)
		require.NoError(t, l.Append(3, record(t, 3, 100)))
		require.NoError(t, l.Close())
		_, r = openLog(t, m, "d", 4096, 2)
		require.Equal(t, []uint64{1, 2, 3}, r.timestamps(t), "sealed=%v", sealed)
		names, err := m.List("d")
		require.NoError(t, err)
		if sealed { // segment 2 became the current one
			require.Equal(t, []string{"0000000000000001.wal", "0000000000000002.wal"}, names)
		} else { // segment 1 took the append
			require.Equal(t, []string{"0000000000000001.wal"}, names)
		}
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
