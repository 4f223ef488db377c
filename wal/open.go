package wal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// Open recovers the log in opts.Dir and returns it ready for appends.
//
// It reads the segments in seq order (parsed from the names, never file
// times) and calls fn(seq, payload) for every valid RecordCommit, in log
// order; payload aliases a buffer that is valid only during the call. An
// error from fn ends Open with that error.
//
// Reading a segment stops at an all-zero header, a short header, a length
// over MaxRecordSize or past the end of the file, a CRC mismatch, or a
// segSeq that is not the file's (a stale frame of a recycled file); it ends
// cleanly at a RecordSegmentEnd. A stop is the end of the log only if no
// valid data follows it:
//   - a valid frame of the same segment at any later offset means
//     corruption;
//   - a stop in a segment other than the last (which should have ended
//     with RecordSegmentEnd) is corruption if a later segment holds any
//     valid frame; if none does, the later segments are leftovers of an
//     interrupted roll and are removed.
//
// Corruption is an error wrapping errs.ErrCorrupt that names the file and
// offset. Otherwise the segment where the log ends is the current one: its
// bytes from the stop to the last non-zero byte are zeroed and synced (the
// torn tail), and appends resume at the stop. If the last segment is
// sealed, Open starts a new one; if there is none, it creates seq 1.
func Open(opts Options, fn func(seq uint64, payload []byte) error) (*Log, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if fn == nil {
		fn = func(uint64, []byte) error { return nil }
	}
	l := &Log{
		fs:       opts.FS,
		dir:      opts.Dir,
		segSize:  opts.SegmentSize,
		poolSize: opts.PoolSize,
		nextSeq:  1,
		nextFree: 1,
	}
	if l.segSize == 0 {
		l.segSize = DefaultSegmentSize
	}
	if l.poolSize == 0 {
		l.poolSize = DefaultPoolSize
	}
	segs, err := l.scanDir()
	if err != nil {
		return nil, err
	}
	r := recovery{l: l, fn: fn}
	if err := r.run(segs); err != nil {
		if l.cur != nil {
			l.cur.Close() // the recovery error is the one worth reporting
		}
		return nil, err
	}
	return l, nil
}

func (o *Options) validate() error {
	switch {
	case o.FS == nil:
		return fmt.Errorf("wal: Options.FS is nil: %w", errs.ErrConfig)
	case o.Dir == "":
		return fmt.Errorf("wal: Options.Dir is empty: %w", errs.ErrConfig)
	case o.SegmentSize < 0 || (o.SegmentSize > 0 && o.SegmentSize < minSegmentSize):
		return fmt.Errorf("wal: Options.SegmentSize %d is below %d: %w", o.SegmentSize, minSegmentSize, errs.ErrConfig)
	case o.PoolSize < 0:
		return fmt.Errorf("wal: Options.PoolSize %d is negative: %w", o.PoolSize, errs.ErrConfig)
	}
	return nil
}

// scanDir creates the directory if needed, collects the pool files and
// returns the segments sorted by seq. Names it does not know (checkpoints,
// lock files) are left alone.
func (l *Log) scanDir() ([]segment, error) {
	names, err := l.fs.List(l.dir)
	if errors.Is(err, iofs.ErrNotExist) {
		if err := l.fs.MkdirAll(l.dir); err != nil {
			return nil, fmt.Errorf("wal: create %s: %w", l.dir, err)
		}
		// The new directory's entry lives in its parent.
		if err := l.fs.SyncDir(filepath.Dir(l.dir)); err != nil {
			return nil, fmt.Errorf("wal: sync dir %s: %w", filepath.Dir(l.dir), err)
		}
		names, err = l.fs.List(l.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", l.dir, err)
	}
	var segs []segment
	for _, name := range names {
		if seq, ok := parseHexName(name, "", ".wal"); ok && seq > 0 {
			segs = append(segs, segment{seq: seq, name: filepath.Join(l.dir, name)})
			l.nextSeq = max(l.nextSeq, seq+1)
		} else if id, ok := parseHexName(name, "free-", ""); ok {
			l.pool = append(l.pool, filepath.Join(l.dir, name))
			l.nextFree = max(l.nextFree, id+1)
		}
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	return segs, nil
}

// parseHexName parses prefix + 16 lower-case hex digits + suffix.
func parseHexName(name, prefix, suffix string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	if hex, ok = strings.CutSuffix(hex, suffix); !ok || len(hex) != 16 {
		return 0, false
	}
	for _, c := range []byte(hex) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	return v, err == nil
}

// recovery is Open's state while it reads the segments.
type recovery struct {
	l   *Log
	fn  func(seq uint64, payload []byte) error
	buf []byte // the segment being read; reused
}

// readSegment reads s whole into r.buf and returns the open file.
func (r *recovery) readSegment(s *segment) (File, []byte, error) {
	f, err := r.l.fs.Open(s.name)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open %s: %w", s.name, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: stat %s: %w", s.name, err)
	}
	if int64(int(size)) != size || size < 0 {
		f.Close()
		return nil, nil, corruptf("%s: impossible size %d", s.name, size)
	}
	r.buf = slices.Grow(r.buf[:0], int(size))[:size]
	n, err := f.ReadAt(r.buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(r.buf)) {
		f.Close()
		return nil, nil, fmt.Errorf("wal: read %s: %w", s.name, err)
	}
	s.fileSize = size
	return f, r.buf, nil
}

// replay calls fn for each valid record of data and returns where reading
// stopped, why, and whether the segment ended with RecordSegmentEnd.
func (r *recovery) replay(s *segment, data []byte) (end int, stop frameStop, sealed bool, err error) {
	for off := 0; ; {
		typ, payload, st := parseFrame(data, off, s.seq)
		if st != frameOK {
			return off, st, false, nil
		}
		switch typ {
		case RecordCommit:
			ts, n := binary.Uvarint(payload)
			if n <= 0 {
				return off, st, false, corruptf("%s offset %d: record without a commit timestamp", s.name, off)
			}
			s.maxTS = max(s.maxTS, ts)
			if err := r.fn(s.seq, payload); err != nil {
				return off, st, false, err
			}
		case RecordSegmentEnd:
			return off + HeaderSize + len(payload), frameOK, true, nil
		default:
			return off, st, false, corruptf("%s offset %d: unknown record type %d", s.name, off, typ)
		}
		off += HeaderSize + len(payload)
	}
}

func (r *recovery) run(segs []segment) error {
	l := r.l
	for i := range segs {
		s := &segs[i]
		f, data, err := r.readSegment(s)
		if err != nil {
			return err
		}
		end, stop, sealed, err := r.replay(s, data)
		s.end = int64(end)
		if err != nil {
			f.Close()
			return err
		}
		if sealed {
			l.segs = append(l.segs, *s)
			if err := f.Close(); err != nil {
				return fmt.Errorf("wal: close %s: %w", s.name, err)
			}
			continue
		}
		if p := findFrame(data, end+1, s.seq); p >= 0 {
			f.Close()
			return corruptf("%s: %s at offset %d, but a valid record follows at offset %d", s.name, stop, end, p)
		}
		if err := r.dropLater(s, end, stop, segs[i+1:]); err != nil {
			f.Close()
			return err
		}
		l.segs = append(l.segs, *s)
		l.cur = f
		l.off = int64(end)
		l.zeroed = l.off // past it: zeros, but maybe in unwritten blocks
		return r.zeroTail(data, end)
	}
	// Every segment is sealed (or there is none): start a fresh one.
	return l.roll(false)
}

// dropLater handles a stop in s that is not at a RecordSegmentEnd when the
// log has later segments: if any of them holds a valid frame, records were
// lost in the middle of the log; if none does, they are what is left of a
// roll that a crash interrupted, and they are removed.
func (r *recovery) dropLater(s *segment, end int, stop frameStop, later []segment) error {
	if len(later) == 0 {
		return nil
	}
	// A buffer of its own: r.buf still holds s, whose tail is zeroed next.
	scan := recovery{l: r.l}
	for i := range later {
		f, data, err := scan.readSegment(&later[i])
		if err != nil {
			return err
		}
		p := findFrame(data, 0, later[i].seq)
		if err := f.Close(); err != nil {
			return fmt.Errorf("wal: close %s: %w", later[i].name, err)
		}
		if p >= 0 {
			return corruptf("%s: %s at offset %d, but %s holds a valid record at offset %d",
				s.name, stop, end, later[i].name, p)
		}
	}
	for _, t := range later {
		if err := r.l.fs.Remove(t.name); err != nil {
			return fmt.Errorf("wal: remove %s: %w", t.name, err)
		}
	}
	if err := r.l.fs.SyncDir(r.l.dir); err != nil {
		return fmt.Errorf("wal: sync dir %s: %w", r.l.dir, err)
	}
	return nil
}

// zeroTail zeroes the current segment from the end of the log to its last
// non-zero byte and syncs it, so no remnant of a torn write lies where the
// next records go.
func (r *recovery) zeroTail(data []byte, end int) error {
	l := r.l
	last := len(data) - 1
	for last >= end && data[last] == 0 {
		last--
	}
	if last >= end {
		zeros := make([]byte, min(last+1-end, 1<<20))
		for off := end; off <= last; off += len(zeros) {
			n := min(len(zeros), last+1-off)
			if _, err := l.cur.WriteAt(zeros[:n], int64(off)); err != nil {
				return fmt.Errorf("wal: zero tail of %s: %w", l.current().name, err)
			}
		}
		if err := l.cur.Sync(); err != nil {
			return fmt.Errorf("wal: sync %s: %w", l.current().name, err)
		}
		l.stats.Syncs++
	}
	if l.current().fileSize < l.segSize {
		if err := l.cur.Preallocate(l.segSize); err != nil {
			return fmt.Errorf("wal: preallocate %s: %w", l.current().name, err)
		}
		l.current().fileSize = l.segSize
	}
	return nil
}
