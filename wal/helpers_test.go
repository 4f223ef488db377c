package wal_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

// encode builds a commit payload with the public encoder.
func encode(t testing.TB, p wal.Payload) []byte {
	t.Helper()
	b := wal.AppendPayloadHeader(nil, p.TS, p.Participants, len(p.Writes))
	for _, w := range p.Writes {
		var err error
		b, err = wal.AppendWrite(b, w.Key, w.Tombstone, w.Expiry, func(dst []byte) ([]byte, error) {
			return append(dst, w.Value...), nil
		})
		require.NoError(t, err)
	}
	return b
}

// record makes the payload of commit ts with one write whose value has
// size bytes, so records of different sizes are easy to tell apart.
func record(t testing.TB, ts uint64, size int) []byte {
	v := bytes.Repeat([]byte{byte(ts)}, size)
	return encode(t, wal.Payload{TS: ts, Participants: []uint32{0}, Writes: []wal.Write{{Key: fmt.Sprintf("k%06d", ts), Value: v}}})
}

// replayed is what Open handed to its callback.
type replayed struct {
	seqs     []uint64
	payloads [][]byte
}

func (r *replayed) fn(seq uint64, p []byte) error {
	r.seqs = append(r.seqs, seq)
	r.payloads = append(r.payloads, bytes.Clone(p))
	return nil
}

func (r *replayed) timestamps(t testing.TB) []uint64 {
	t.Helper()
	var out []uint64
	for _, p := range r.payloads {
		ts, n := binary.Uvarint(p)
		require.Positive(t, n)
		out = append(out, ts)
	}
	return out
}

func openLog(t testing.TB, fs wal.FS, dir string, segSize int64, pool int) (*wal.Log, *replayed) {
	t.Helper()
	r := &replayed{}
	l, err := wal.Open(wal.Options{FS: fs, Dir: dir, SegmentSize: segSize, PoolSize: pool}, r.fn)
	require.NoError(t, err)
	return l, r
}

// image is a copy of the files of one directory.
type image map[string][]byte

func snapshot(t testing.TB, m *vfs.MemFS, dir string) image {
	t.Helper()
	names, err := m.List(dir)
	require.NoError(t, err)
	img := image{}
	for _, n := range names {
		b, err := m.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		img[n] = b
	}
	return img
}

// restore builds a fresh MemFS holding img durably in dir.
func (img image) restore(t testing.TB, dir string) *vfs.MemFS {
	t.Helper()
	m := vfs.New()
	require.NoError(t, m.MkdirAll(dir))
	for n, b := range img {
		require.NoError(t, m.WriteFile(filepath.Join(dir, n), b))
	}
	return m
}

// countOps returns an Inject hook that counts operations by kind and then
// defers to next (if any).
func countOps(counts map[vfs.Op]int, next func(vfs.Op, string) error) func(vfs.Op, string) error {
	return func(op vfs.Op, name string) error {
		counts[op]++
		if next != nil {
			return next(op, name)
		}
		return nil
	}
}

// frame is one frame of a pristine segment image.
type frame struct {
	off, end int
	typ      byte
}

// frames walks a pristine image of segment seq by its length and seq
// fields (no CRC checks: the test's own reading of the format, independent
// of the package's parser). It skips the segment's start frame: the frames
// it returns are the records and the segment end.
func frames(seg []byte, seq uint64) []frame {
	var out []frame
	for off := startLen(seg); off+wal.HeaderSize <= len(seg); {
		h := seg[off : off+wal.HeaderSize]
		if bytes.Equal(h, make([]byte, wal.HeaderSize)) || binary.LittleEndian.Uint64(h[9:]) != seq {
			break
		}
		n := int(binary.LittleEndian.Uint32(h[4:]))
		out = append(out, frame{off: off, end: off + wal.HeaderSize + n, typ: h[8]})
		if h[8] == wal.RecordSegmentEnd {
			break
		}
		off += wal.HeaderSize + n
	}
	return out
}

// testFrame encodes a frame with the test's own encoder.
func testFrame(typ byte, seq uint64, payload []byte) []byte {
	b := make([]byte, wal.HeaderSize, wal.HeaderSize+len(payload))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(payload)))
	b[8] = typ
	binary.LittleEndian.PutUint64(b[9:], seq)
	b = append(b, payload...)
	binary.LittleEndian.PutUint32(b, crc32.Checksum(b[4:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// startLen returns the length of the RecordSegmentStart frame that begins
// a pristine segment image.
func startLen(seg []byte) int {
	if len(seg) < wal.HeaderSize || seg[8] != wal.RecordSegmentStart {
		return 0
	}
	return wal.HeaderSize + int(binary.LittleEndian.Uint32(seg[4:]))
}
