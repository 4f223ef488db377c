package fluxmap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// The backup stream, format version 1. Integers are little-endian;
// uvarint is encoding/binary's.
//
//	stream  = magic | version | header | block* | trailer, then the end of the stream
//	magic   = "FLUXBKUP"                              8 bytes
//	version = uint32                                  1
//	frame   = kind uint8 | length uint32 | payload (length bytes) | crc uint32
//	          crc: CRC-32C (Castagnoli) of kind, length and payload
//	header  = frame of kind 'H'; payload:
//	          snapshotTS uint64                       the snapshot the backup read
//	          keyCodec   uvarint length | bytes       the codecs' identities (CodecIdentifier)
//	          valueCodec uvarint length | bytes
//	          lo         uvarint length | bytes       the span backed up, as encoded keys:
//	          hasHi      uint8 (0 or 1)               lo <= key, and key < hi when hasHi
//	          hi         uvarint length | bytes       (only when hasHi)
//	block   = frame of kind 'B'; payload: count uint32 (> 0) | entry*count
//	entry   = keyLength uvarint | key                 encoded by the KeyCodec
//	          expiry uvarint                          TTL deadline, Unix nanoseconds; 0: none
//	          valueLength uvarint | value             encoded by the ValueCodec
//	trailer = frame of kind 'T'; payload (20 bytes):
//	          entries uint64 | blocks uint64 | streamCRC uint32
//	          streamCRC: CRC-32C of every byte before the trailer
//
// Keys ascend strictly through the whole stream and lie in the header's
// span. What each check catches: a frame's CRC, a bit flip inside it; the
// trailer, a stream cut anywhere (a cut between frames leaves no trailer,
// a cut inside one a short frame); its counts and streamCRC, frames lost,
// repeated or reordered; the end-of-stream check, data appended. Magic and
// version come before any frame so that a stream of another kind or of a
// later format is named as such rather than as a checksum failure.
//
// Every length read from the stream is bounded before it is used, and a
// payload is read in pieces of at most backupReadChunk bytes, so memory
// grows with the bytes that actually arrive, never with what a damaged
// length field claims.
const (
	backupMagic   = "FLUXBKUP"
	backupVersion = 1

	frameHeader  = 'H'
	frameBlock   = 'B'
	frameTrailer = 'T'

	// backupBlockSize is the payload size at which Backup closes a block;
	// an entry larger than it makes a block of its own.
	backupBlockSize = 64 << 10
	// maxBlockPayload bounds a block: one entry must fit in it.
	maxBlockPayload = 1 << 30
	// maxHeaderPayload bounds the header, whose span bounds are keys.
	maxHeaderPayload = 4 << 20
	// maxCodecID bounds a codec identity in the header.
	maxCodecID = 64 << 10
	// trailerPayload is the trailer's exact payload size.
	trailerPayload = 8 + 8 + 4
	// backupReadChunk is the most a payload read allocates ahead of the
	// bytes that arrived.
	backupReadChunk = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// backupHeader is the header frame's content.
type backupHeader struct {
	snapshotTS           uint64
	keyCodec, valueCodec string
	lo, hi               string
	hasHi                bool
}

func (h *backupHeader) appendTo(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, h.snapshotTS)
	b = appendBytes(b, h.keyCodec)
	b = appendBytes(b, h.valueCodec)
	b = appendBytes(b, h.lo)
	if h.hasHi {
		b = append(b, 1)
		b = appendBytes(b, h.hi)
	} else {
		b = append(b, 0)
	}
	return b
}

func appendBytes(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// backupWriter writes the frames of one backup to w, counting the bytes
// written and the CRC of all of them. It is used by one goroutine.
type backupWriter struct {
	w       io.Writer
	crc     uint32 // CRC-32C of every byte written so far
	written int64
	frame   []byte // the frame being built: kind, length, payload
	count   uint32 // entries in the open block
	entries uint64
	blocks  uint64
}

func (bw *backupWriter) write(b []byte) error {
	n, err := bw.w.Write(b)
	if n < 0 || n > len(b) {
		return fmt.Errorf("the writer reported writing %d bytes of %d: %w", n, len(b), io.ErrShortWrite)
	}
	bw.written += int64(n)
	bw.crc = crc32.Update(bw.crc, castagnoli, b[:n])
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// start writes magic, version and the header.
func (bw *backupWriter) start(h *backupHeader) error {
	b := append([]byte(backupMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[len(backupMagic):], backupVersion)
	if err := bw.write(b); err != nil {
		return err
	}
	bw.openFrame(frameHeader)
	bw.frame = h.appendTo(bw.frame)
	if len(bw.frame)-5 > maxHeaderPayload {
		return fmt.Errorf("%w: the range's bounds take %d bytes, a backup header holds at most %d",
			ErrInvalidArgument, len(bw.frame)-5, maxHeaderPayload)
	}
	return bw.closeFrame()
}

func (bw *backupWriter) openFrame(kind byte) {
	bw.frame = append(bw.frame[:0], kind, 0, 0, 0, 0)
}

// closeFrame fills in the open frame's length, appends its CRC and writes
// it.
func (bw *backupWriter) closeFrame() error {
	binary.LittleEndian.PutUint32(bw.frame[1:5], uint32(len(bw.frame)-5))
	bw.frame = binary.LittleEndian.AppendUint32(bw.frame, crc32.Checksum(bw.frame, castagnoli))
	return bw.write(bw.frame)
}

// add appends one entry to the open block, first writing the block out if
// the entry would take it past backupBlockSize.
func (bw *backupWriter) add(key string, expiry int64, value []byte) error {
	size := 3*binary.MaxVarintLen64 + len(key) + len(value)
	if size > maxBlockPayload-4 {
		return fmt.Errorf("%w: key %q and its encoded value take %d bytes, a backup block holds at most %d",
			ErrValueTooLarge, key, size, maxBlockPayload-4)
	}
	if bw.count > 0 && len(bw.frame)+size > 5+backupBlockSize {
		if err := bw.flush(); err != nil {
			return err
		}
	}
	if bw.count == 0 {
		bw.openFrame(frameBlock)
		bw.frame = append(bw.frame, 0, 0, 0, 0) // the count, filled in by flush
	}
	bw.frame = appendBytes(bw.frame, key)
	bw.frame = binary.AppendUvarint(bw.frame, uint64(expiry))
	bw.frame = binary.AppendUvarint(bw.frame, uint64(len(value)))
	bw.frame = append(bw.frame, value...)
	bw.count++
	bw.entries++
	return nil
}

// flush writes the open block, if it holds any entry.
func (bw *backupWriter) flush() error {
	if bw.count == 0 {
		return nil
	}
	binary.LittleEndian.PutUint32(bw.frame[5:9], bw.count)
	bw.count = 0
	bw.blocks++
	return bw.closeFrame()
}

// finish writes the open block and the trailer.
func (bw *backupWriter) finish() error {
	if err := bw.flush(); err != nil {
		return err
	}
	streamCRC := bw.crc
	bw.openFrame(frameTrailer)
	bw.frame = binary.LittleEndian.AppendUint64(bw.frame, bw.entries)
	bw.frame = binary.LittleEndian.AppendUint64(bw.frame, bw.blocks)
	bw.frame = binary.LittleEndian.AppendUint32(bw.frame, streamCRC)
	return bw.closeFrame()
}

// backupReader reads and checks the frames of a backup stream. It is used
// by one goroutine.
type backupReader struct {
	r       *bufio.Reader
	crc     uint32 // CRC-32C of every byte read so far
	offset  int64  // bytes read so far
	payload []byte // the last frame's payload, reused by the next frame
}

func newBackupReader(r io.Reader) *backupReader {
	return &backupReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// corrupt returns an error wrapping ErrCorrupt that says where.
func (br *backupReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: backup stream at byte %d: %s", ErrCorrupt, br.offset, fmt.Sprintf(format, args...))
}

// readFull fills b from the stream. A stream that ends first is damaged
// (truncated); another read error is returned as it is.
func (br *backupReader) readFull(b []byte) error {
	n, err := io.ReadFull(br.r, b)
	br.crc = crc32.Update(br.crc, castagnoli, b[:n])
	br.offset += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return br.corrupt("the stream ends early (truncated backup)")
	}
	if err != nil {
		return fmt.Errorf("reading the backup stream: %w", err)
	}
	return nil
}

// start reads and checks magic and version.
func (br *backupReader) start() error {
	var b [len(backupMagic) + 4]byte
	if err := br.readFull(b[:]); err != nil {
		return err
	}
	if string(b[:len(backupMagic)]) != backupMagic {
		return fmt.Errorf("%w: not a FluxMap backup (it starts with %q, not %q)", ErrCorrupt, b[:len(backupMagic)], backupMagic)
	}
	if v := binary.LittleEndian.Uint32(b[len(backupMagic):]); v != backupVersion {
		return fmt.Errorf("%w: backup format version %d is not one this FluxMap reads (version %d)", ErrCorrupt, v, backupVersion)
	}
	return nil
}

// next reads one frame and checks its kind, length and CRC. before is the
// CRC of the stream before the frame (for the trailer's streamCRC). The
// payload is valid until the next call.
func (br *backupReader) next() (kind byte, payload []byte, before uint32, err error) {
	before = br.crc
	var h [5]byte
	if err := br.readFull(h[:]); err != nil {
		return 0, nil, 0, err
	}
	kind, n := h[0], binary.LittleEndian.Uint32(h[1:])
	var limit uint32
	switch kind {
	case frameHeader:
		limit = maxHeaderPayload
	case frameBlock:
		limit = maxBlockPayload
	case frameTrailer:
		limit = trailerPayload
	default:
		return 0, nil, 0, br.corrupt("unknown frame kind %#x", kind)
	}
	if n > limit {
		return 0, nil, 0, br.corrupt("frame %q claims %d bytes, at most %d are allowed", kind, n, limit)
	}
	if kind == frameTrailer && n != trailerPayload {
		return 0, nil, 0, br.corrupt("trailer of %d bytes, not %d", n, trailerPayload)
	}
	buf := br.payload[:0]
	for len(buf) < int(n) {
		chunk := min(int(n)-len(buf), backupReadChunk)
		buf = slices.Grow(buf, chunk)
		if err := br.readFull(buf[len(buf) : len(buf)+chunk]); err != nil {
			return 0, nil, 0, err
		}
		buf = buf[:len(buf)+chunk]
	}
	br.payload = buf
	var c [4]byte
	if err := br.readFull(c[:]); err != nil {
		return 0, nil, 0, err
	}
	want := crc32.Update(crc32.Checksum(h[:], castagnoli), castagnoli, buf)
	if got := binary.LittleEndian.Uint32(c[:]); got != want {
		return 0, nil, 0, br.corrupt("frame %q of %d bytes fails its checksum", kind, n)
	}
	return kind, buf, before, nil
}

// end checks that nothing follows the trailer.
func (br *backupReader) end() error {
	_, err := br.r.ReadByte()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("reading the backup stream: %w", err)
	}
	return br.corrupt("data follows the trailer")
}

// header reads the header frame.
func (br *backupReader) header() (backupHeader, error) {
	var h backupHeader
	kind, p, _, err := br.next()
	if err != nil {
		return h, err
	}
	if kind != frameHeader {
		return h, br.corrupt("frame %q where the header belongs", kind)
	}
	d := payloadDecoder{p: p}
	h.snapshotTS = d.uint64()
	h.keyCodec = d.bytes(maxCodecID)
	h.valueCodec = d.bytes(maxCodecID)
	h.lo = d.bytes(maxHeaderPayload)
	switch d.byte() {
	case 0:
	case 1:
		h.hasHi = true
		h.hi = d.bytes(maxHeaderPayload)
	default:
		d.bad = true
	}
	if d.bad || len(d.p) != 0 {
		return h, br.corrupt("malformed header")
	}
	return h, nil
}

// payloadDecoder reads the fields of one frame's payload; a field that
// does not fit sets bad and reads as zero, so a caller checks once, at
// the end.
type payloadDecoder struct {
	p   []byte
	bad bool
}

// take returns the next n bytes, or nil (and sets bad) if fewer remain.
func (d *payloadDecoder) take(n uint64) []byte {
	if d.bad || n > uint64(len(d.p)) {
		d.bad, d.p = true, nil
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
}

func (d *payloadDecoder) uint64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *payloadDecoder) uint32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *payloadDecoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *payloadDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.bad, d.p = true, nil
		return 0
	}
	d.p = d.p[n:]
	return v
}

// bytesRaw reads a uvarint length of at most limit and that many bytes.
// The result aliases the payload.
func (d *payloadDecoder) bytesRaw(limit int) []byte {
	n := d.uvarint()
	if n > uint64(limit) {
		d.bad, d.p = true, nil
		return nil
	}
	return d.take(n)
}

// bytes is bytesRaw copied into a string.
func (d *payloadDecoder) bytes(limit int) string { return string(d.bytesRaw(limit)) }

// expiry reads an entry's deadline.
func (d *payloadDecoder) expiry() int64 {
	v := d.uvarint()
	if v > math.MaxInt64 {
		d.bad, d.p = true, nil
		return 0
	}
	return int64(v)
}
