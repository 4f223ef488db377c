package wal

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// Payload of a RecordCommit frame (the frame type versions it):
//
//	uvarint commitTS | uvarint nParticipants | nParticipants × uvarint shardID |
//	uvarint nWrites | nWrites × write
//
// and each write is
//
//	flags uint8 (bit0 tombstone, bit1 has-expiry, bit2 evicted, bit3 expired) |
//	uvarint keyLen | key |
//	[uint64 LE expiry, unix nanoseconds, if bit1] | [uint32 LE valueLen | value, unless tombstone]
//
// Bits 2 and 3 say why the shard itself deleted a key (the memory limit, a
// TTL deadline); they are set only with bit0, never both.
const (
	flagTombstone = 1 << 0
	flagExpiry    = 1 << 1
	flagEvicted   = 1 << 2
	flagExpired   = 1 << 3
)

// Why a tombstone was written (Write.Cause).
const (
	CauseWrite   uint8 = iota // a user's delete
	CauseEvicted              // the memory limit (or an explicit eviction)
	CauseExpired              // a TTL deadline passed
)

// Write is one key's change in a commit record.
type Write struct {
	Key       string
	Value     []byte // nil for a tombstone
	Tombstone bool
	Expiry    int64 // unix nanoseconds; 0 = none
	Cause     uint8 // for a tombstone: CauseWrite, CauseEvicted or CauseExpired
}

// Payload is a decoded RecordCommit payload.
type Payload struct {
	TS           uint64
	Participants []uint32
	Writes       []Write
}

// AppendPayloadHeader appends the part of a commit payload that precedes
// the writes; exactly nWrites calls of AppendWrite must follow.
func AppendPayloadHeader(dst []byte, ts uint64, participants []uint32, nWrites int) []byte {
	dst = binary.AppendUvarint(dst, ts)
	dst = binary.AppendUvarint(dst, uint64(len(participants)))
	for _, p := range participants {
		dst = binary.AppendUvarint(dst, uint64(p))
	}
	return binary.AppendUvarint(dst, uint64(max(nWrites, 0)))
}

// AppendTombstone appends the delete of key, done for cause (see
// Write.Cause).
func AppendTombstone(dst []byte, key string, cause uint8) []byte {
	flags := byte(flagTombstone)
	switch cause {
	case CauseEvicted:
		flags |= flagEvicted
	case CauseExpired:
		flags |= flagExpired
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// AppendWrite appends one write. For a live value it reserves the 4-byte
// length, lets encodeValue append the value to dst (nil encodeValue means an
// empty value) and patches the length, so the value is encoded straight into
// the record without a copy. On error dst comes back as it was passed.
func AppendWrite(dst []byte, key string, tombstone bool, expiry int64, encodeValue func(dst []byte) ([]byte, error)) ([]byte, error) {
	start := len(dst)
	var flags byte
	if tombstone {
		flags |= flagTombstone
	}
	if expiry != 0 {
		flags |= flagExpiry
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	if expiry != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(expiry))
	}
	if tombstone {
		return dst, nil
	}
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if encodeValue != nil {
		out, err := encodeValue(dst)
		if err != nil {
			return dst[:start], err
		}
		if len(out) < len(dst) {
			return dst[:start], fmt.Errorf("wal: value encoder for key %q shrank the buffer instead of appending", key)
		}
		dst = out
	}
	n := len(dst) - lenAt - 4
	if n > math.MaxUint32 {
		return dst[:start], errs.Errorf("wal: value of %d bytes for key %q: %w", n, key, errs.ErrValueTooLarge)
	}
	binary.LittleEndian.PutUint32(dst[lenAt:], uint32(n))
	return dst, nil
}

// DecodePayload decodes a RecordCommit payload. Keys are fresh strings;
// Values alias p, so the caller copies or decodes them before p is reused.
// Every count and length is checked against the bytes that remain before
// anything is allocated; any inconsistency, trailing bytes included, is an
// error wrapping errs.ErrCorrupt.
func DecodePayload(p []byte) (Payload, error) {
	d := decoder{buf: p}
	var out Payload
	out.TS = d.uvarint("commitTS")
	if np := d.count("participant count", 1); np > 0 {
		out.Participants = make([]uint32, np)
		for i := range out.Participants {
			v := d.uvarint("shard id")
			if v > math.MaxUint32 && d.err == nil {
				d.fail("shard id %d out of range", v)
			}
			out.Participants[i] = uint32(v)
		}
	}
	// A write takes at least two bytes: flags and key length.
	if nw := d.count("write count", 2); nw > 0 {
		out.Writes = make([]Write, nw)
		for i := range out.Writes {
			d.write(&out.Writes[i])
		}
	}
	if d.err == nil && d.off != len(p) {
		d.fail("%d trailing bytes", len(p)-d.off)
	}
	if d.err != nil {
		return Payload{}, d.err
	}
	return out, nil
}

// decoder reads a payload; the first error sticks and later reads return
// zero values.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corruptf("commit payload at byte %d: "+format, append([]any{d.off}, args...)...)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail("bad %s varint", what)
		return 0
	}
	d.off += n
	return v
}

// count reads a uvarint element count and checks that the remaining bytes
// can hold that many elements of at least minSize bytes each.
func (d *decoder) count(what string, minSize int) int {
	v := d.uvarint(what)
	if d.err == nil && v > uint64((len(d.buf)-d.off)/minSize) {
		d.fail("%s %d exceeds the remaining %d bytes", what, v, len(d.buf)-d.off)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)-d.off) {
		d.fail("%s of %d bytes exceeds the remaining %d", what, n, len(d.buf)-d.off)
		return nil
	}
	b := d.buf[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *decoder) write(w *Write) {
	flags := d.bytes(1, "flags")
	if d.err != nil {
		return
	}
	f := flags[0]
	if f&^(flagTombstone|flagExpiry|flagEvicted|flagExpired) != 0 {
		d.fail("unknown write flags %#x", f)
		return
	}
	if cause := f & (flagEvicted | flagExpired); cause != 0 && (f&flagTombstone == 0 || cause == flagEvicted|flagExpired) {
		d.fail("write flags %#x: a cause without a tombstone, or two causes", f)
		return
	}
	w.Tombstone = f&flagTombstone != 0
	switch {
	case f&flagEvicted != 0:
		w.Cause = CauseEvicted
	case f&flagExpired != 0:
		w.Cause = CauseExpired
	}
	w.Key = string(d.bytes(d.uvarint("key length"), "key"))
	if flags[0]&flagExpiry != 0 {
		b := d.bytes(8, "expiry")
		if d.err != nil {
			return
		}
		if w.Expiry = int64(binary.LittleEndian.Uint64(b)); w.Expiry == 0 {
			d.fail("expiry flag set with a zero expiry")
			return
		}
	}
	if w.Tombstone {
		return
	}
	b := d.bytes(4, "value length")
	if d.err != nil {
		return
	}
	w.Value = d.bytes(uint64(binary.LittleEndian.Uint32(b)), "value")
}
