package wal_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

// The seeds below are also committed under testdata/fuzz/<FuzzName>/
// (go test -run TestUpdateFuzzCorpus -update ./wal rewrites them), next to
// inputs the fuzzers found. Run a fuzzer with e.g.
//
//	go test -run '^$' -fuzz '^FuzzReplaySegment$' -fuzztime 20s ./wal

func payloadSeeds(tb testing.TB) [][]byte {
	return [][]byte{
		encode(tb, wal.Payload{TS: 1, Participants: []uint32{0, 2}, Writes: []wal.Write{
			{Key: "a", Value: []byte("b")}, {Key: "c", Tombstone: true, Expiry: 9}, {Key: "d", Value: []byte{}, Expiry: -1},
		}}),
		encode(tb, wal.Payload{TS: 1 << 62}),
		{},
		{1, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	}
}

func segmentSeeds(tb testing.TB) [][]byte {
	rec := func(ts uint64) []byte { return testFrame(wal.RecordCommit, 1, record(tb, ts, int(ts)*3)) }
	two := append(rec(1), rec(2)...)
	return [][]byte{
		two,
		append(bytes.Clone(two), make([]byte, 40)...),
		append(bytes.Clone(two), testFrame(wal.RecordSegmentEnd, 1, nil)...),
		append(append(rec(1), 0xff), rec(2)...),                                       // garbage, then a valid record
		two[:len(two)-3],                                                              // torn last record
		append(bytes.Clone(two), testFrame(wal.RecordCommit, 7, record(tb, 9, 9))...), // stale frame after the data
		testFrame(wal.RecordCheckpointEntry, 1, []byte{1, 'k'}),                       // valid frame, wrong type
		{},
	}
}

func checkpointSeeds(tb testing.TB) [][]byte {
	m := vfs.New()
	writeCheckpoint(tb, m, "d", 5, sampleEntries(4))
	good, err := m.ReadFile("d/ckpt-0000000000000005.ckpt")
	require.NoError(tb, err)
	return [][]byte{
		good,
		good[:len(good)-1],
		[]byte("FMCKPT01\x05\x00\x00\x00\x00\x00\x00\x00"),
		append([]byte("FMCKPT01\x05\x00\x00\x00\x00\x00\x00\x00"), testFrame(wal.RecordCheckpointEnd, 5, []byte{0})...),
		{},
	}
}

// FuzzDecodePayload: any bytes decode without panicking, to a payload or to
// ErrCorrupt; a decoded payload re-encodes to something that decodes to the
// same payload.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range payloadSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := wal.DecodePayload(data)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrCorrupt)
			return
		}
		again, err := wal.DecodePayload(encode(t, p))
		require.NoError(t, err)
		require.Equal(t, p, again)
	})
}

// FuzzReplaySegment: arbitrary bytes as the only segment file. Open must
// not panic; it returns records or an error wrapping ErrCorrupt. Recovery
// is idempotent (a second Open replays the same records) and the log takes
// appends afterwards. Each input also runs with its frames' CRCs fixed up,
// so the fuzzer reaches the paths behind a valid checksum.
func FuzzReplaySegment(f *testing.F) {
	for _, s := range segmentSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		replaySegment(t, data)
		replaySegment(t, fixCRCs(data))
	})
}

func replaySegment(t *testing.T, data []byte) {
	m := vfs.New()
	require.NoError(t, m.MkdirAll("d"))
	require.NoError(t, m.WriteFile("d/0000000000000001.wal", data))
	opts := wal.Options{FS: m, Dir: "d", SegmentSize: 4096, PoolSize: 1}
	var first replayed
	l, err := wal.Open(opts, first.fn)
	if err != nil {
		require.ErrorIs(t, err, errs.ErrCorrupt)
		return
	}
	require.NoError(t, l.Close())
	var second replayed
	l, err = wal.Open(opts, second.fn)
	require.NoError(t, err)
	require.Equal(t, first.payloads, second.payloads)
	extra := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x40}
	require.NoError(t, l.Append(1<<40, extra))
	require.NoError(t, l.Close())
	var third replayed
	l, err = wal.Open(opts, third.fn)
	require.NoError(t, err)
	require.Equal(t, append(first.payloads, extra), third.payloads)
	require.NoError(t, l.Close())
}

// fixCRCs returns data with the CRC of every frame it can walk (by the
// length fields) recomputed.
func fixCRCs(data []byte) []byte {
	data = bytes.Clone(data)
	for off := 0; len(data)-off >= wal.HeaderSize; {
		n := int(binary.LittleEndian.Uint32(data[off+4:]))
		if n > len(data)-off-wal.HeaderSize {
			break
		}
		end := off + wal.HeaderSize + n
		binary.LittleEndian.PutUint32(data[off:], crc32.Checksum(data[off+4:end], crc32.MakeTable(crc32.Castagnoli)))
		off = end
	}
	return data
}

// FuzzReadCheckpoint: arbitrary bytes as the newest checkpoint. Reading
// must not panic; it succeeds or fails with ErrCorrupt.
func FuzzReadCheckpoint(f *testing.F) {
	for _, s := range checkpointSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := vfs.New()
		require.NoError(t, m.MkdirAll("d"))
		require.NoError(t, m.WriteFile("d/ckpt-0000000000000005.ckpt", data))
		info, found, err := wal.ReadCheckpoint(m, "d", func(string, int64, []byte) error { return nil })
		if err != nil {
			require.ErrorIs(t, err, errs.ErrCorrupt)
			require.False(t, found)
			return
		}
		require.True(t, found)
		require.EqualValues(t, 5, info.TS)
	})
}

// TestUpdateFuzzCorpus writes the seeds to testdata/fuzz with -update.
func TestUpdateFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the seed corpus")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzDecodePayload":  payloadSeeds(t),
		"FuzzReplaySegment":  segmentSeeds(t),
		"FuzzReadCheckpoint": checkpointSeeds(t),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644))
		}
	}
}
