package wal_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestPayloadRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("v"), 70000)
	tests := []struct {
		name string
		p    wal.Payload
	}{
		{"empty", wal.Payload{TS: 0}},
		{"one put", wal.Payload{TS: 1, Participants: []uint32{0}, Writes: []wal.Write{{Key: "k", Value: []byte("v")}}}},
		{"tombstone", wal.Payload{TS: 2, Participants: []uint32{3}, Writes: []wal.Write{{Key: "k", Tombstone: true}}}},
		{"tombstone with expiry", wal.Payload{TS: 3, Writes: []wal.Write{{Key: "k", Tombstone: true, Expiry: 99}}}},
		{"empty key and value", wal.Payload{TS: 4, Writes: []wal.Write{{Key: "", Value: []byte{}}}}},
		{"negative expiry", wal.Payload{TS: 5, Writes: []wal.Write{{Key: "x", Value: []byte("y"), Expiry: -1}}}},
		{"max values", wal.Payload{TS: 1<<64 - 1, Participants: []uint32{1<<32 - 1, 0, 7}, Writes: []wal.Write{{Key: strings.Repeat("K", 300), Value: big, Expiry: 1<<63 - 1}}}},
		{"many writes", func() wal.Payload {
			p := wal.Payload{TS: 77, Participants: []uint32{0, 1, 2, 3}}
			for i := range 500 {
				p.Writes = append(p.Writes, wal.Write{Key: fmt.Sprint("key", i), Value: []byte(fmt.Sprint(i)), Tombstone: false})
				if i%7 == 0 {
					p.Writes = append(p.Writes, wal.Write{Key: fmt.Sprint("del", i), Tombstone: true})
				}
			}
			return p
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encode(t, tc.p)
			got, err := wal.DecodePayload(b)
			require.NoError(t, err)
			require.Equal(t, tc.p, got)
		})
	}
}

func TestAppendWriteEncodeInPlace(t *testing.T) {
	// The value encoder appends to the record buffer itself.
	b := wal.AppendPayloadHeader(nil, 9, nil, 1)
	b, err := wal.AppendWrite(b, "k", false, 0, func(dst []byte) ([]byte, error) {
		return fmt.Appendf(dst, "%d-%s", 42, "x"), nil
	})
	require.NoError(t, err)
	p, err := wal.DecodePayload(b)
	require.NoError(t, err)
	require.Equal(t, "42-x", string(p.Writes[0].Value))

	// A nil encoder is an empty value.
	b, err = wal.AppendWrite(wal.AppendPayloadHeader(nil, 9, nil, 1), "k", false, 0, nil)
	require.NoError(t, err)
	p, err = wal.DecodePayload(b)
	require.NoError(t, err)
	require.Empty(t, p.Writes[0].Value)
	require.False(t, p.Writes[0].Tombstone)
}

func TestAppendWriteEncoderErrorRestoresBuffer(t *testing.T) {
	boom := errors.New("boom")
	head := wal.AppendPayloadHeader(nil, 9, nil, 1)
	out, err := wal.AppendWrite(head, "k", false, 5, func(dst []byte) ([]byte, error) {
		return append(dst, "partial"...), boom
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, head, out)

	out, err = wal.AppendWrite(head, "k", false, 0, func(dst []byte) ([]byte, error) { return nil, nil })
	require.Error(t, err)
	require.Equal(t, head, out)
}

func TestDecodePayloadRejects(t *testing.T) {
	valid := encode(t, wal.Payload{TS: 5, Participants: []uint32{1}, Writes: []wal.Write{{Key: "ab", Value: []byte("cd"), Expiry: 3}}})
	tests := []struct {
		name string
		p    []byte
	}{
		{"empty", nil},
		{"truncated ts varint", []byte{0x80}},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11)},
		{"participant count beyond data", []byte{1, 100}},
		{"shard id over uint32", append([]byte{1, 1}, 0xff, 0xff, 0xff, 0xff, 0x7f, 0)},
		{"write count beyond data", []byte{1, 0, 50, 0, 0}},
		{"huge write count", append([]byte{1, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"unknown flags", []byte{1, 0, 1, 0x10, 0}},
		{"eviction without a tombstone", []byte{1, 0, 1, 0x04, 0, 0, 0, 0, 0}},
		{"expiry cause without a tombstone", []byte{1, 0, 1, 0x08, 0, 0, 0, 0, 0}},
		{"two causes", []byte{1, 0, 1, flagTombstone | 0x04 | 0x08, 0}},
		{"key beyond data", []byte{1, 0, 1, flagTombstone, 5, 'a'}},
		{"expiry flag with zero expiry", []byte{1, 0, 1, flagTombstone | flagExpiry, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"short expiry", []byte{1, 0, 1, flagTombstone | flagExpiry, 0, 1, 0}},
		{"short value length", []byte{1, 0, 1, 0, 0, 1, 0}},
		{"value beyond data", []byte{1, 0, 1, 0, 0, 9, 0, 0, 0, 'x'}},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"missing last byte", valid[:len(valid)-1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wal.DecodePayload(tc.p)
			require.ErrorIs(t, err, errs.ErrCorrupt)
		})
	}
	// Every proper prefix of a valid payload is rejected.
	for i := range valid {
		_, err := wal.DecodePayload(valid[:i])
		require.ErrorIs(t, err, errs.ErrCorrupt, "prefix %d", i)
	}
}

const (
	flagTombstone = 1
	flagExpiry    = 2
)

// readHex reads a testdata hex file: hex digits, whitespace, and # comments.
func readHex(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var digits strings.Builder
	for line := range strings.Lines(string(raw)) {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	require.NoError(t, err)
	return b
}

func writeHex(t *testing.T, name, comment string, b []byte) {
	t.Helper()
	var s strings.Builder
	for line := range strings.Lines(comment) {
		s.WriteString("# " + line)
	}
	s.WriteString("\n")
	for i := 0; i < len(b); i += 16 {
		s.WriteString(hex.EncodeToString(b[i:min(i+16, len(b))]) + "\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join("testdata", name), []byte(s.String()), 0o644))
}

var goldenRecords = []struct {
	file    string
	comment string
	p       wal.Payload
}{
	{
		"record_put.hex",
		"RecordCommit frame in segment 1: ts 42, participants [0 3], put alpha=one, delete beta.\n",
		wal.Payload{TS: 42, Participants: []uint32{0, 3}, Writes: []wal.Write{
			{Key: "alpha", Value: []byte("one")},
			{Key: "beta", Tombstone: true},
		}},
	},
	{
		"record_expiry.hex",
		"RecordCommit frame in segment 1: ts 300, participant [1], put gamma=\"\" expiring at 1700000000000000000.\n",
		wal.Payload{TS: 300, Participants: []uint32{1}, Writes: []wal.Write{
			{Key: "gamma", Value: []byte{}, Expiry: 1_700_000_000_000_000_000},
		}},
	},
}

// TestGoldenRecords pins the frame and payload format: the bytes a Log
// writes for a known record must equal testdata, and testdata must decode
// to the record. Run with -update to rewrite after a deliberate change.
func TestGoldenRecords(t *testing.T) {
	for _, g := range goldenRecords {
		t.Run(g.file, func(t *testing.T) {
			m := vfs.New()
			l, _ := openLog(t, m, "d", 4096, 1)
			require.NoError(t, l.Append(g.p.TS, encode(t, g.p)))
			require.NoError(t, l.Close())
			seg, err := m.ReadFile("d/0000000000000001.wal")
			require.NoError(t, err)
			fr := frames(seg, 1)
			require.Len(t, fr, 1)
			got := seg[fr[0].off:fr[0].end]
			if *update {
				writeHex(t, g.file, g.comment, got)
			}
			want := readHex(t, g.file)
			require.Equal(t, want, got, "the on-disk format changed")
			p, err := wal.DecodePayload(want[wal.HeaderSize:])
			require.NoError(t, err)
			require.Equal(t, g.p, p)
		})
	}
}

func TestGoldenCheckpoint(t *testing.T) {
	m := vfs.New()
	w, err := wal.CreateCheckpoint(m, "d", 7, wal.Owner{Shard: 1, Shards: 4})
	require.NoError(t, err)
	require.NoError(t, w.Add("a", 0, func(dst []byte) ([]byte, error) { return append(dst, "1"...), nil }))
	require.NoError(t, w.Add("b", 123, nil))
	require.NoError(t, w.Commit())
	got, err := m.ReadFile("d/ckpt-0000000000000007.ckpt")
	require.NoError(t, err)
	if *update {
		writeHex(t, "checkpoint.hex", "Checkpoint at ts 7 of shard 1 of 4: a=\"1\", b=\"\" expiring at 123, then the end frame (count 2).\n", got)
	}
	require.Equal(t, readHex(t, "checkpoint.hex"), got, "the checkpoint format changed")
}

// TestTombstoneCauses round-trips the reason a shard deleted a key.
func TestTombstoneCauses(t *testing.T) {
	for _, cause := range []uint8{wal.CauseWrite, wal.CauseEvicted, wal.CauseExpired} {
		b := wal.AppendPayloadHeader(nil, 9, []uint32{0}, 1)
		b = wal.AppendTombstone(b, "k", cause)
		p, err := wal.DecodePayload(b)
		require.NoError(t, err)
		require.Equal(t, []wal.Write{{Key: "k", Tombstone: true, Cause: cause}}, p.Writes)
	}
}
