package wal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// Frame layout, shared by WAL records and checkpoint entries:
//
//	crc32c uint32 LE | length uint32 LE | type uint8 | segSeq uint64 LE | payload
//
// The CRC (Castagnoli) covers everything after itself: length, type, segSeq
// and payload. segSeq is the sequence number of the segment the frame was
// written to (the checkpoint's timestamp in a checkpoint file): a frame left
// over from an earlier life of a recycled file carries an older number, so
// it can never pass for a record of the current segment.
const (
	// HeaderSize is the size of a frame header.
	HeaderSize = 17
	// MaxRecordSize bounds a frame's payload. Readers check it before
	// allocating, so a damaged length field cannot make them allocate
	// gigabytes.
	MaxRecordSize = 256 << 20
)

// Frame types.
const (
	// RecordCommit is a WAL record: one commit's writes on one shard (see
	// DecodePayload).
	RecordCommit = 1
	// RecordCheckpointEntry is one key of a checkpoint.
	RecordCheckpointEntry = 2
	// RecordCheckpointEnd is a checkpoint's trailer: uvarint entry count.
	RecordCheckpointEnd = 3
	// RecordSegmentEnd seals a WAL segment. It is written and synced only
	// after the next segment exists on disk, so every segment but the last
	// ends with one and the last never does; its payload is empty. It lets
	// recovery tell a segment that ended cleanly from one whose last record
	// was damaged, and a log whose last segment is missing from a whole one.
	RecordSegmentEnd = 4
	// RecordSegmentStart is the first frame of every segment, synced before
	// the segment can hold a record. Its payload is the uvarint largest
	// commit timestamp of every record appended to the log before this
	// segment (0 if none), so recovery can tell whether earlier segments
	// that are gone held anything a checkpoint does not cover.
	RecordSegmentStart = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends one complete frame to dst.
func appendFrame(dst []byte, typ uint8, seq uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, payload...)
	sealFrame(dst[start:], typ, seq)
	return dst
}

// sealFrame fills in the header of frame, whose payload is already in
// place after HeaderSize reserved bytes.
func sealFrame(frame []byte, typ uint8, seq uint64) {
	binary.LittleEndian.PutUint32(frame[4:], uint32(len(frame)-HeaderSize))
	frame[8] = typ
	binary.LittleEndian.PutUint64(frame[9:], seq)
	binary.LittleEndian.PutUint32(frame[0:], crc32.Checksum(frame[4:], castagnoli))
}

// frameStop says why a reader stopped at a frame (frameOK: it did not).
type frameStop uint8

const (
	frameOK       frameStop = iota
	frameZero               // all-zero header: the end of written data
	frameShort              // fewer than HeaderSize bytes left
	frameTooLarge           // length > MaxRecordSize
	frameBeyond             // length runs past the end of the data
	frameSeq                // segSeq is not the expected one
	frameCRC                // checksum mismatch
)

func (s frameStop) String() string {
	switch s {
	case frameOK:
		return "valid frame"
	case frameZero:
		return "end of data"
	case frameShort:
		return "truncated header"
	case frameTooLarge:
		return "length over MaxRecordSize"
	case frameBeyond:
		return "length past end of file"
	case frameSeq:
		return "foreign sequence number"
	case frameCRC:
		return "checksum mismatch"
	}
	return "unknown"
}

var zeroHeader [HeaderSize]byte

// parseFrame checks the frame at buf[off:] against the expected seq. On
// frameOK it returns the frame's type and payload (aliasing buf); the next
// frame starts at off+HeaderSize+len(payload).
func parseFrame(buf []byte, off int, seq uint64) (uint8, []byte, frameStop) {
	if off < 0 || len(buf)-off < HeaderSize {
		return 0, nil, frameShort
	}
	h := buf[off : off+HeaderSize]
	if bytes.Equal(h, zeroHeader[:]) {
		return 0, nil, frameZero
	}
	n := binary.LittleEndian.Uint32(h[4:])
	if n > MaxRecordSize {
		return 0, nil, frameTooLarge
	}
	if int64(n) > int64(len(buf)-off-HeaderSize) {
		return 0, nil, frameBeyond
	}
	if binary.LittleEndian.Uint64(h[9:]) != seq {
		return 0, nil, frameSeq
	}
	end := off + HeaderSize + int(n)
	if crc32.Checksum(buf[off+4:end], castagnoli) != binary.LittleEndian.Uint32(h) {
		return 0, nil, frameCRC
	}
	return h[8], buf[off+HeaderSize : end], frameOK
}

// findFrame returns the offset of the first valid frame of seq starting at
// or after from, or -1. It looks for the 8 bytes of seq first (with
// bytes.Index, so runs of zeros or stale data go by fast) and checks length
// and CRC only where they match.
func findFrame(buf []byte, from int, seq uint64) int {
	var pat [8]byte
	binary.LittleEndian.PutUint64(pat[:], seq)
	for p := max(from, 0); len(buf)-p >= HeaderSize; {
		i := bytes.Index(buf[p+9:], pat[:])
		if i < 0 {
			return -1
		}
		p += i
		if _, _, st := parseFrame(buf, p, seq); st == frameOK {
			return p
		}
		p++
	}
	return -1
}

// corruptf returns an error wrapping errs.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return errs.Errorf("wal: "+format+": %w", append(args, errs.ErrCorrupt)...)
}
