package wal

import (
	"encoding/binary"
	"fmt"
	"path/filepath"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// Options configure a Log.
type Options struct {
	// FS is the file system; required (OSFS for real files).
	FS FS
	// Dir is the shard's directory; created if missing. The caller holds
	// the database's lock (FS.Lock): two Logs on one Dir would destroy
	// each other.
	Dir string
	// SegmentSize is the size segments are preallocated to; default 16 MiB
	// when 0, at least 64 bytes. A segment grows past it only to hold one
	// record that is larger on its own.
	SegmentSize int64
	// PoolSize is how many recycled segment files are kept for reuse;
	// default 4 when 0.
	PoolSize int
	// Base is used by Create only: the largest commit timestamp of the
	// commits the new log follows but does not hold (those of a checkpoint
	// written with it). Its first segment records it, so Replayed.Base
	// reports them as not in the log.
	Base uint64
}

const (
	// DefaultSegmentSize is the SegmentSize used when Options leaves it 0.
	DefaultSegmentSize = 16 << 20
	// DefaultPoolSize is the PoolSize used when Options leaves it 0.
	DefaultPoolSize = 4

	minSegmentSize = 64
)

// LogStats counts what a Log did since Open.
type LogStats struct {
	Bytes    int64 // framed bytes appended
	Syncs    int64 // fsyncs of segment files
	Segments int   // live segments, the current one included
}

// segment is one live segment file.
type segment struct {
	seq      uint64
	name     string // full path
	end      int64  // bytes of frames in it (for the current one, including l.buf)
	fileSize int64  // size on disk, to keep oversized files out of the pool
	maxTS    uint64 // largest commit timestamp in it; 0 if none
	hdr      int64  // bytes of its RecordSegmentStart frame: records start here
}

// Log is one shard's write-ahead log: a sequence of segment files, the last
// of which (the current segment) takes appends.
//
// A Log is owned by one goroutine (the shard's WAL writer): no method is
// safe for concurrent use, and nothing inside locks.
//
// Invariants:
//   - segs is ordered by seq, which only grows, with no gaps; segs[len-1]
//     is current and is the only unsealed one. Every live segment begins
//     with a RecordSegmentStart frame that was synced before the segment
//     took a record, and every other one ends with a RecordSegmentEnd
//     frame, synced only after its successor (start frame included) was
//     durable.
//   - The current file holds valid frames in [0, off); l.buf holds the
//     frames to be written at off; bytes past off+len(buf) are zeros or
//     data no valid frame of this seq can start in (see Open).
//   - Once err is set, the Log performs no more writes, syncs or renames.
type Log struct {
	fs       FS
	dir      string
	segSize  int64
	poolSize int

	segs     []segment
	cur      File   // the current segment's file
	off      int64  // where buf goes in the current segment
	zeroed   int64  // [0, zeroed) of the current file need no zeroing (see zeroAhead)
	buf      []byte // framed records not yet written
	dirty    bool   // cur has writes not yet synced
	pool     []string
	nextSeq  uint64
	nextFree uint64
	maxTS    uint64 // largest commit timestamp ever appended (the next start frame's payload)

	err    error // sticky: the first failed write, sync, rename, remove or dir sync
	closed bool
	stats  LogStats
}

// bufKeep is the most buffer capacity a Log keeps after a flush; a larger
// buffer (left by one huge record) is dropped.
const bufKeep = 4 << 20

func segName(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x.wal", seq))
}

func (l *Log) current() *segment { return &l.segs[len(l.segs)-1] }

// usable returns the error every operation returns once the Log is closed
// or has failed.
func (l *Log) usable() error {
	if l.closed {
		return errs.Errorf("wal: %s: %w", l.dir, errs.ErrClosed)
	}
	if l.err != nil {
		return fmt.Errorf("wal: %s unusable after an earlier failure: %w", l.dir, l.err)
	}
	return nil
}

// fail records the first I/O failure; from then on the Log does no more
// I/O, because after a failed fsync the kernel may have dropped the dirty
// pages and a retry could falsely succeed.
func (l *Log) fail(op, name string, err error) error {
	err = fmt.Errorf("wal: %s %s: %w", op, name, err)
	if l.err == nil {
		l.err = err
	}
	return err
}

// Append frames one RecordCommit payload into the current segment's
// buffer; Flush writes it and Sync makes it durable. If the record does not
// fit in the current segment, Append first seals the segment (flush, sync)
// and rolls to the next one.
func (l *Log) Append(ts uint64, payload []byte) error {
	if err := l.usable(); err != nil {
		return err
	}
	if len(payload) > MaxRecordSize {
		return errs.Errorf("wal: record of %d bytes exceeds MaxRecordSize: %w", len(payload), errs.ErrTxnTooLarge)
	}
	need := int64(HeaderSize + len(payload))
	// Room is left for the RecordSegmentEnd that seals the segment. A
	// segment without records takes any record, however large.
	if s := l.current(); s.end > s.hdr && s.end+need+HeaderSize > l.segSize {
		if err := l.roll(true); err != nil {
			return err
		}
	}
	s := l.current()
	l.buf = appendFrame(l.buf, RecordCommit, s.seq, payload)
	s.end += need
	s.fileSize = max(s.fileSize, s.end)
	s.maxTS = max(s.maxTS, ts)
	l.maxTS = max(l.maxTS, ts)
	l.stats.Bytes += need
	return nil
}

// Flush writes the buffered records to the current segment file, so they
// reach the OS (and survive a crash of the process, not of the machine).
func (l *Log) Flush() error {
	if err := l.usable(); err != nil {
		return err
	}
	return l.flush()
}

func (l *Log) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	if _, err := l.cur.WriteAt(l.buf, l.off); err != nil {
		return l.fail("write", l.current().name, err)
	}
	l.off += int64(len(l.buf))
	l.dirty = true
	if err := l.zeroAhead(); err != nil {
		return err
	}
	if cap(l.buf) > bufKeep {
		l.buf = nil
	} else {
		l.buf = l.buf[:0]
	}
	return nil
}

// zeroChunk is how far ahead of the written data flush writes zeros into a
// preallocated segment.
const zeroChunk = 256 << 10

// zeroes is zeroChunk zero bytes, written by zeroAhead and never modified.
var zeroes = make([]byte, zeroChunk)

// zeroAhead writes zeros from the end of the written data up to the next
// zeroChunk boundary (within the preallocated file), once per chunk.
//
// Why: fallocate leaves the segment's extents marked unwritten, and the
// first write into an unwritten block makes the next fdatasync commit a
// file system journal transaction to convert it, which on ext4 made every
// fdatasync of a small commit about 1.7x slower (230 µs against 130 µs,
// measured on the development machine) than an overwrite of blocks already
// written. Writing the zeros a chunk ahead makes one fdatasync per chunk
// pay for the conversion instead of every one. It changes no content:
// everything past the data is zeros already (preallocated, or zeroed by
// Open), which the format requires anyway.
func (l *Log) zeroAhead() error {
	if l.off <= l.zeroed {
		return nil
	}
	s := l.current()
	from := l.off
	to := min((l.off+zeroChunk-1)/zeroChunk*zeroChunk, s.fileSize)
	l.zeroed = max(l.off, to)
	if to <= from {
		return nil
	}
	if _, err := l.cur.WriteAt(zeroes[:to-from], from); err != nil {
		return l.fail("write", s.name, err)
	}
	return nil
}

// Sync flushes and then fsyncs the current segment. With nothing written
// since the last Sync it does no I/O.
func (l *Log) Sync() error {
	if err := l.usable(); err != nil {
		return err
	}
	return l.sync()
}

func (l *Log) sync() error {
	if err := l.flush(); err != nil {
		return err
	}
	if !l.dirty {
		return nil
	}
	if err := l.cur.Sync(); err != nil {
		return l.fail("sync", l.current().name, err)
	}
	l.dirty = false
	l.stats.Syncs++
	return nil
}

// roll makes a new current segment. The new file, with its
// RecordSegmentStart frame, is made durable (file and directory) before the
// current segment is sealed (seal: RecordSegmentEnd appended and synced),
// so on disk a sealed segment always has a successor and the last segment
// is never sealed: a log whose newest segment was lost cannot pass for a
// whole one. A crash between the two steps leaves an unsealed segment
// followed by one that holds only its start frame, which Open drops.
func (l *Log) roll(seal bool) error {
	seq := l.nextSeq
	name := segName(l.dir, seq)
	f, size, zeroed, err := l.segmentFile(name)
	if err != nil {
		return err
	}
	start := appendFrame(nil, RecordSegmentStart, seq, binary.AppendUvarint(nil, l.maxTS))
	steps := []struct {
		op, name string
		do       func() error
	}{
		{"write", name, func() error { _, err := f.WriteAt(start, 0); return err }},
		{"sync", name, f.Sync},
		{"sync dir", l.dir, func() error { return l.fs.SyncDir(l.dir) }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			f.Close() // the step's error is the one worth reporting
			return l.fail(st.op, st.name, err)
		}
	}
	l.stats.Syncs++
	l.nextSeq++
	if l.cur != nil {
		if seal {
			s := l.current()
			l.buf = appendFrame(l.buf, RecordSegmentEnd, s.seq, nil)
			s.end += HeaderSize
			s.fileSize = max(s.fileSize, s.end)
			if err := l.sync(); err != nil {
				f.Close()
				return err
			}
		}
		if err := l.cur.Close(); err != nil {
			f.Close()
			return l.fail("close", l.current().name, err)
		}
	}
	hdr := int64(len(start))
	l.cur, l.off, l.zeroed, l.dirty = f, hdr, max(zeroed, hdr), false
	l.segs = append(l.segs, segment{seq: seq, name: name, fileSize: size, end: hdr, hdr: hdr})
	return nil
}

// segmentFile makes the file for a new segment: a pool file renamed to
// name, or a new one, preallocated to the segment size. zeroed is how much
// of it needs no zeroing ahead of appends (see zeroAhead).
func (l *Log) segmentFile(name string) (f File, size, zeroed int64, err error) {
	recycled := len(l.pool) > 0
	if recycled {
		free := l.pool[0]
		if err := l.fs.Rename(free, name); err != nil {
			return nil, 0, 0, l.fail("rename", free, err)
		}
		l.pool = l.pool[1:]
		f, err = l.fs.Open(name)
	} else {
		f, err = l.fs.Create(name)
	}
	if err != nil {
		return nil, 0, 0, l.fail("open", name, err)
	}
	if recycled {
		// Most of it was written in its earlier life (frames, and zeros a chunk
		// ahead of them); zeroing all of it again would cost a full segment of
		// writes. A part that never was written (a segment sealed early) only
		// makes its fdatasyncs slower, as in a file without zeroAhead.
		if zeroed, err = f.Size(); err != nil {
			f.Close()
			return nil, 0, 0, l.fail("stat", name, err)
		}
	}
	if err := f.Preallocate(l.segSize); err != nil {
		f.Close() // the preallocation error is the one worth reporting
		return nil, 0, 0, l.fail("preallocate", name, err)
	}
	if size, err = f.Size(); err != nil {
		f.Close()
		return nil, 0, 0, l.fail("stat", name, err)
	}
	return f, size, zeroed, nil
}

// Recycle retires the oldest segments whose records all have commit
// timestamps <= upTo (a checkpoint at upTo covers them), stopping at the
// first segment that holds a newer one and never retiring the current
// segment. Retired files go to the pool (renamed free-*) while it has room
// and are removed otherwise; then the directory is synced.
func (l *Log) Recycle(upTo uint64) error {
	if err := l.usable(); err != nil {
		return err
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].maxTS <= upTo {
		n++
	}
	return l.retire(n)
}

// Reset seals the current segment, starts a new one and retires every
// older segment whatever its timestamps. The caller uses it after writing a
// checkpoint that covers everything logged so far.
func (l *Log) Reset() error {
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.roll(true); err != nil {
		return err
	}
	return l.retire(len(l.segs) - 1)
}

// retire moves segs[:n] to the pool or removes them, oldest first, syncing
// the directory after each: a crash midway then leaves a suffix of the log
// on any file system, not only on those that journal directory changes in
// order (a gap in the segment numbers is corruption to Replay).
func (l *Log) retire(n int) error {
	if n == 0 {
		return nil
	}
	for i := range n {
		s := l.segs[i]
		if len(l.pool) < l.poolSize && s.fileSize <= l.segSize {
			free := filepath.Join(l.dir, fmt.Sprintf("free-%016x", l.nextFree))
			if err := l.fs.Rename(s.name, free); err != nil {
				return l.fail("rename", s.name, err)
			}
			l.nextFree++
			l.pool = append(l.pool, free)
		} else if err := l.fs.Remove(s.name); err != nil {
			return l.fail("remove", s.name, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail("sync dir", l.dir, err)
		}
	}
	l.segs = append(l.segs[:0], l.segs[n:]...)
	return nil
}

// Size returns the bytes of frames in the live segments, buffered ones
// included (not the preallocated file sizes).
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.segs {
		n += s.end
	}
	return n
}

// Stats returns counters since Open.
func (l *Log) Stats() LogStats {
	st := l.stats
	st.Segments = len(l.segs)
	return st
}

// Close syncs the log and closes its file. After a failure it only closes
// (a failed fsync is never retried) and returns the failure. Later calls of
// any method return an error wrapping errs.ErrClosed; Close itself returns
// nil again.
func (l *Log) Close() error {
	if l.closed {
		return nil
	}
	err := l.usable()
	if err == nil {
		err = l.sync()
	}
	l.closed = true
	if l.cur != nil {
		if cerr := l.cur.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("wal: close %s: %w", l.current().name, cerr)
		}
		l.cur = nil
	}
	return err
}
