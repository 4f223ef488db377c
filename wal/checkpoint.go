package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"math"
	"path/filepath"
)

// Checkpoint file format:
//
//	magic "FMCKPT02" | uint64 LE ts | uint32 LE shard | uint32 LE shards |
//	entry frames... | end frame
//
// shard and shards name the owner: shard i of a database of shards shards,
// so a checkpoint found in another shard's directory is caught.
//
// Frames have the WAL's layout with segSeq = ts. An entry frame
// (RecordCheckpointEntry) holds
//
//	uvarint keyLen | key | uint64 LE expiry (0 = none) | uint32 LE valueLen | value
//
// and the end frame (RecordCheckpointEnd) holds the uvarint entry count, then
// the uvarint shard and shards again, so the checksum covers them too. A
// checkpoint is renamed into place only after it was fsynced, so unlike a
// WAL tail any damage in it, a missing end frame included, is corruption.
const checkpointMagic = "FMCKPT02"

const (
	checkpointHeaderSize = len(checkpointMagic) + 16
	checkpointBufSize    = 1 << 20
)

func checkpointName(dir string, ts uint64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("ckpt-%016x%s", ts, ext))
}

// CheckpointWriter writes one checkpoint. It is owned by one goroutine.
// Entries go to Dir/ckpt-<ts>.tmp; Commit makes the file durable and
// renames it to Dir/ckpt-<ts>.ckpt. Either Commit or Abort must end it.
type CheckpointWriter struct {
	fs         FS
	dir        string
	ts         uint64
	owner      Owner
	tmp, final string
	f          File
	buf        []byte
	off        int64
	count      uint64
	err        error // sticky: the first I/O failure
	done       bool
}

// Owner identifies the shard a checkpoint belongs to: shard Shard of a
// database of Shards shards.
type Owner struct {
	Shard, Shards uint32
}

// CheckpointInfo is what a checkpoint's header says.
type CheckpointInfo struct {
	TS    uint64 // the state's commit timestamp
	Owner Owner
}

// CreateCheckpoint starts a checkpoint of owner's state at ts in dir.
func CreateCheckpoint(fs FS, dir string, ts uint64, owner Owner) (*CheckpointWriter, error) {
	if err := fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	w := &CheckpointWriter{
		fs:    fs,
		dir:   dir,
		ts:    ts,
		owner: owner,
		tmp:   checkpointName(dir, ts, ".tmp"),
		final: checkpointName(dir, ts, ".ckpt"),
	}
	// A leftover temporary name that is not a regular file (a symbolic
	// link) is removed first, so the checkpoint never writes through it.
	if mode, err := fs.Lstat(w.tmp); err == nil && !mode.IsRegular() {
		if err := fs.Remove(w.tmp); err != nil {
			return nil, fmt.Errorf("wal: remove %s: %w", w.tmp, err)
		}
	}
	f, err := fs.Create(w.tmp)
	if err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", w.tmp, err)
	}
	w.f = f
	w.buf = make([]byte, 0, checkpointBufSize+64<<10)
	w.buf = append(w.buf, checkpointMagic...)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, ts)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, owner.Shard)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, owner.Shards)
	return w, nil
}

func (w *CheckpointWriter) usable() error {
	if w.done {
		return fmt.Errorf("wal: checkpoint %s already committed or aborted", w.tmp)
	}
	return w.err
}

// Add appends one entry. encodeValue appends the value to dst (nil means
// an empty value). An error from encodeValue leaves the checkpoint as it
// was; an I/O error sticks.
func (w *CheckpointWriter) Add(key string, expiry int64, encodeValue func(dst []byte) ([]byte, error)) error {
	if err := w.usable(); err != nil {
		return err
	}
	start := len(w.buf)
	w.buf = append(w.buf, make([]byte, HeaderSize)...)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)))
	w.buf = append(w.buf, key...)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(expiry))
	lenAt := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0)
	if encodeValue != nil {
		out, err := encodeValue(w.buf)
		if err != nil {
			w.buf = w.buf[:start]
			return err
		}
		if len(out) < len(w.buf) {
			w.buf = w.buf[:start]
			return fmt.Errorf("wal: value encoder for key %q shrank the buffer instead of appending", key)
		}
		w.buf = out
	}
	n := len(w.buf) - lenAt - 4
	if n > math.MaxUint32 || len(w.buf)-start-HeaderSize > MaxRecordSize {
		w.buf = w.buf[:start]
		return fmt.Errorf("wal: checkpoint entry for key %q exceeds MaxRecordSize", key)
	}
	binary.LittleEndian.PutUint32(w.buf[lenAt:], uint32(n))
	sealFrame(w.buf[start:], RecordCheckpointEntry, w.ts)
	w.count++
	if len(w.buf) >= checkpointBufSize {
		return w.flush()
	}
	return nil
}

func (w *CheckpointWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.buf, w.off); err != nil {
		w.err = fmt.Errorf("wal: write %s: %w", w.tmp, err)
		return w.err
	}
	w.off += int64(len(w.buf))
	if cap(w.buf) > 4*checkpointBufSize {
		w.buf = make([]byte, 0, checkpointBufSize+64<<10)
	} else {
		w.buf = w.buf[:0]
	}
	return nil
}

// Commit writes the end frame, fsyncs and closes the file, renames it into
// place and syncs the directory; only then is the checkpoint durable. It
// then removes older checkpoints and stray temporary files. That cleanup
// is best effort: a file it leaves is harmless (ReadCheckpoint takes the
// newest) and the next Commit removes it.
func (w *CheckpointWriter) Commit() error {
	if err := w.usable(); err != nil {
		return err
	}
	end := binary.AppendUvarint(nil, w.count)
	end = binary.AppendUvarint(end, uint64(w.owner.Shard))
	end = binary.AppendUvarint(end, uint64(w.owner.Shards))
	w.buf = appendFrame(w.buf, RecordCheckpointEnd, w.ts, end)
	if err := w.flush(); err != nil {
		return err
	}
	steps := []struct {
		op string
		do func() error
	}{
		{"sync " + w.tmp, w.f.Sync},
		{"close " + w.tmp, func() error { f := w.f; w.f = nil; return f.Close() }},
		{"rename " + w.tmp, func() error { return w.fs.Rename(w.tmp, w.final) }},
		{"sync dir " + w.dir, func() error { return w.fs.SyncDir(w.dir) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			w.err = fmt.Errorf("wal: checkpoint: %s: %w", s.op, err)
			return w.err
		}
	}
	w.done = true
	w.removeOlder()
	return nil
}

// removeOlder removes checkpoints older than w and temporary files.
func (w *CheckpointWriter) removeOlder() {
	names, err := w.fs.List(w.dir)
	if err != nil {
		return
	}
	for _, name := range names {
		if ts, ok := parseHexName(name, "ckpt-", ".ckpt"); ok && ts < w.ts {
			w.fs.Remove(filepath.Join(w.dir, name))
		} else if _, ok := parseHexName(name, "ckpt-", ".tmp"); ok {
			w.fs.Remove(filepath.Join(w.dir, name))
		}
	}
}

// Abort closes and removes the temporary file. After Commit it does nothing.
func (w *CheckpointWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
	}
	if rerr := w.fs.Remove(w.tmp); rerr != nil && !errors.Is(rerr, iofs.ErrNotExist) && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("wal: abort checkpoint %s: %w", w.tmp, err)
	}
	return nil
}

// ReadCheckpoint reads the newest checkpoint in dir (by the timestamp in
// its name) and calls fn for each entry in order; value aliases a buffer
// valid only during the call. found is false, with no error, if dir has no
// checkpoint or does not exist. Damage of any kind is an error wrapping
// errs.ErrCorrupt; an error from fn is returned as it is. Whether the
// owner is the expected one is the caller's to check.
func ReadCheckpoint(fs FS, dir string, fn func(key string, expiry int64, value []byte) error) (info CheckpointInfo, found bool, err error) {
	names, err := fs.List(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	var ts uint64
	for _, name := range names {
		if t, ok := parseHexName(name, "ckpt-", ".ckpt"); ok && (!found || t > ts) {
			ts, found = t, true
		}
	}
	if !found {
		return info, false, nil
	}
	name := checkpointName(dir, ts, ".ckpt")
	f, err := fs.Open(name)
	if err != nil {
		return info, false, fmt.Errorf("wal: open %s: %w", name, err)
	}
	defer f.Close() // read-only use: a close error cannot lose data
	size, err := f.Size()
	if err != nil {
		return info, false, fmt.Errorf("wal: stat %s: %w", name, err)
	}
	r := &chunkReader{f: f, size: size, name: name}
	info.TS = ts
	if info.Owner, err = readCheckpoint(r, ts, fn); err != nil {
		return CheckpointInfo{}, false, err
	}
	return info, true, nil
}

func readCheckpoint(r *chunkReader, ts uint64, fn func(key string, expiry int64, value []byte) error) (Owner, error) {
	h, err := r.next(checkpointHeaderSize)
	if err != nil {
		return Owner{}, err
	}
	if string(h[:len(checkpointMagic)]) != checkpointMagic {
		return Owner{}, corruptf("%s: bad magic %q", r.name, h[:len(checkpointMagic)])
	}
	h = h[len(checkpointMagic):]
	if got := binary.LittleEndian.Uint64(h); got != ts {
		return Owner{}, corruptf("%s: header says ts %d", r.name, got)
	}
	owner := Owner{Shard: binary.LittleEndian.Uint32(h[8:]), Shards: binary.LittleEndian.Uint32(h[12:])}
	if err := readEntries(r, ts, owner, fn); err != nil {
		return Owner{}, err
	}
	return owner, nil
}

func readEntries(r *chunkReader, ts uint64, owner Owner, fn func(key string, expiry int64, value []byte) error) error {
	var count uint64
	for {
		at := r.pos
		typ, payload, err := r.frame(ts)
		if err != nil {
			return err
		}
		switch typ {
		case RecordCheckpointEntry:
			key, expiry, value, err := decodeEntry(payload)
			if err != nil {
				return fmt.Errorf("%s offset %d: %w", r.name, at, err)
			}
			if err := fn(key, expiry, value); err != nil {
				return err
			}
			count++
		case RecordCheckpointEnd:
			var vals [3]uint64
			p := payload
			for i := range vals {
				v, k := binary.Uvarint(p)
				if k <= 0 {
					return corruptf("%s offset %d: malformed end frame", r.name, at)
				}
				vals[i], p = v, p[k:]
			}
			if len(p) != 0 || vals[0] != count {
				return corruptf("%s offset %d: end frame does not match the %d entries read", r.name, at, count)
			}
			if vals[1] != uint64(owner.Shard) || vals[2] != uint64(owner.Shards) {
				return corruptf("%s: header names shard %d of %d, end frame shard %d of %d",
					r.name, owner.Shard, owner.Shards, vals[1], vals[2])
			}
			if r.pos != r.size {
				return corruptf("%s: %d bytes after the end frame", r.name, r.size-r.pos)
			}
			return nil
		default:
			return corruptf("%s offset %d: unexpected frame type %d", r.name, at, typ)
		}
	}
}

func decodeEntry(p []byte) (key string, expiry int64, value []byte, err error) {
	kl, n := binary.Uvarint(p)
	if n <= 0 || kl > uint64(len(p)-n) {
		return "", 0, nil, corruptf("checkpoint entry: bad key length")
	}
	p = p[n:]
	key, p = string(p[:kl]), p[kl:]
	if len(p) < 12 {
		return "", 0, nil, corruptf("checkpoint entry: short entry")
	}
	expiry = int64(binary.LittleEndian.Uint64(p))
	vl := binary.LittleEndian.Uint32(p[8:])
	if uint64(vl) != uint64(len(p)-12) {
		return "", 0, nil, corruptf("checkpoint entry: value length %d does not match the %d bytes left", vl, len(p)-12)
	}
	return key, expiry, p[12:len(p):len(p)], nil
}

// chunkReader reads a file front to back through a buffer, handing out
// slices that stay valid until the next call.
type chunkReader struct {
	f          io.ReaderAt
	name       string
	size, pos  int64 // pos: file offset of buf[start]
	buf        []byte
	start, end int
}

// next returns the next n bytes; running out of file is corruption.
func (r *chunkReader) next(n int) ([]byte, error) {
	if int64(n) > r.size-r.pos {
		return nil, corruptf("%s: truncated at offset %d (want %d more bytes, have %d)", r.name, r.pos, n, r.size-r.pos)
	}
	if r.end-r.start < n {
		// Slide what is left to the front, grow if needed, refill.
		left := copy(r.buf, r.buf[r.start:r.end])
		if len(r.buf) < n {
			nb := make([]byte, max(n, 256<<10))
			copy(nb, r.buf[:left])
			r.buf = nb
		}
		r.start, r.end = 0, left
		want := int(min(int64(len(r.buf)), r.size-r.pos))
		m, err := r.f.ReadAt(r.buf[left:want], r.pos+int64(left))
		if m < want-left {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("wal: read %s: %w", r.name, err)
		}
		r.end = want
	}
	b := r.buf[r.start : r.start+n]
	r.start += n
	r.pos += int64(n)
	return b, nil
}

// frame reads and checks one frame of the given seq.
func (r *chunkReader) frame(seq uint64) (uint8, []byte, error) {
	at := r.pos
	h, err := r.next(HeaderSize)
	if err != nil {
		return 0, nil, err
	}
	crc := binary.LittleEndian.Uint32(h)
	n := binary.LittleEndian.Uint32(h[4:])
	typ := h[8]
	if got := binary.LittleEndian.Uint64(h[9:]); got != seq {
		return 0, nil, corruptf("%s offset %d: frame of ts %d in checkpoint %d", r.name, at, got, seq)
	}
	if n > MaxRecordSize {
		return 0, nil, corruptf("%s offset %d: frame length %d over MaxRecordSize", r.name, at, n)
	}
	var hdr [HeaderSize - 4]byte
	copy(hdr[:], h[4:])
	payload, err := r.next(int(n))
	if err != nil {
		return 0, nil, err
	}
	if crc32.Update(crc32.Checksum(hdr[:], castagnoli), castagnoli, payload) != crc {
		return 0, nil, corruptf("%s offset %d: checksum mismatch", r.name, at)
	}
	return typ, payload, nil
}
