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

// Open recovers the log in opts.Dir and returns it ready for appends: it
// is Replay followed by Resume, except that a directory that does not exist
// or holds no segment gets a new, empty log (Create). A caller that must
// tell a lost log from a new one (the database does) calls Replay and
// Create itself.
func Open(opts Options, fn func(seq uint64, payload []byte) error) (*Log, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	names, err := opts.FS.List(opts.Dir)
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("wal: list %s: %w", opts.Dir, err)
	}
	if !slices.ContainsFunc(names, isSegmentName) {
		return Create(opts)
	}
	r, err := Replay(opts, fn)
	if err != nil {
		return nil, err
	}
	return r.Resume()
}

// Create makes a new, empty log in opts.Dir (created if missing, with its
// parent synced) and returns it ready for appends. The directory must hold
// no segment yet.
func Create(opts Options) (*Log, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	l := newLog(opts)
	l.maxTS = opts.Base
	names, err := l.fs.List(l.dir)
	if errors.Is(err, iofs.ErrNotExist) {
		if err := l.fs.MkdirAll(l.dir); err != nil {
			return nil, fmt.Errorf("wal: create %s: %w", l.dir, err)
		}
		// The new directory's entry lives in its parent.
		if err := l.fs.SyncDir(filepath.Dir(l.dir)); err != nil {
			return nil, fmt.Errorf("wal: sync dir %s: %w", filepath.Dir(l.dir), err)
		}
		names, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", l.dir, err)
	}
	if slices.ContainsFunc(names, isSegmentName) {
		return nil, fmt.Errorf("wal: create: %s already holds a log", l.dir)
	}
	if err := l.roll(false); err != nil {
		return nil, err
	}
	return l, nil
}

func newLog(opts Options) *Log {
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
	return l
}

// IsOwnFile reports whether name is the base name of a file that a Log or
// a CheckpointWriter creates in its directory: a segment, a pool file, a
// checkpoint or a checkpoint's temporary file.
func IsOwnFile(name string) bool {
	if isSegmentName(name) {
		return true
	}
	if _, ok := parseHexName(name, "free-", ""); ok {
		return true
	}
	_, ckpt := parseHexName(name, "ckpt-", ".ckpt")
	_, tmp := parseHexName(name, "ckpt-", ".tmp")
	return ckpt || tmp
}

func isSegmentName(name string) bool {
	seq, ok := parseHexName(name, "", ".wal")
	return ok && seq > 0
}

// Replayed is a log that Replay read and verified. Nothing was written
// yet: Resume makes it ready for appends, Close gives it up. It is owned by
// one goroutine.
type Replayed struct {
	l      *Log
	base   uint64    // the first segment's start frame payload
	end    File      // the segment where the log ends, open
	endOff int64     // where the log ends in it
	dirty  int64     // last non-zero byte past endOff in it, or endOff-1
	drop   []segment // segments after it that hold no record (an interrupted roll)
	done   bool
}

// Replay reads and verifies the log in opts.Dir without writing anything:
// it calls fn(seq, payload) for every valid RecordCommit, in log order;
// payload aliases a buffer that is valid only during the call. An error
// from fn ends Replay with that error.
//
// Segments are read in seq order (parsed from the names, never file
// times). What a crash cannot produce is corruption, an error wrapping
// errs.ErrCorrupt that names the file:
//   - a missing directory, or one without a segment;
//   - a gap in the segment numbers;
//   - a segment that does not begin with a valid RecordSegmentStart, or
//     whose start frame disagrees with the records before it;
//   - a last segment that is sealed (its successor is gone);
//   - damage followed by valid data (see below).
//
// Segments before the first one may have been recycled; Base says whether
// that lost anything.
//
// Reading a segment stops at an all-zero header, a short header, a length
// over MaxRecordSize or past the end of the file, a CRC mismatch, or a
// segSeq that is not the file's (a stale frame of a recycled file); it ends
// cleanly at a RecordSegmentEnd. A stop is the end of the log only if no
// valid data follows it:
//   - a valid frame of the same segment at any later offset means
//     corruption;
//   - a stop in a segment other than the last is corruption unless exactly
//     one segment follows and it holds nothing but its start frame (a crash
//     between creating a segment and sealing its predecessor); Resume
//     removes that one.
func Replay(opts Options, fn func(seq uint64, payload []byte) error) (*Replayed, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if fn == nil {
		fn = func(uint64, []byte) error { return nil }
	}
	l := newLog(opts)
	segs, err := l.scanDir()
	if err != nil {
		return nil, err
	}
	r := &Replayed{l: l}
	if err := r.run(segs, fn); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Base returns the largest commit timestamp of the records appended before
// the first segment that is still on disk (0 if none were). Records up to
// Base are not in the log: if no checkpoint covers them, segments that
// recovery needs are missing.
func (r *Replayed) Base() uint64 { return r.base }

// Resume makes the replayed log ready for appends: it removes the segment
// of an interrupted roll, zeroes and syncs the torn tail of the segment
// where the log ends, and appends resume there.
func (r *Replayed) Resume() (*Log, error) {
	if r.done {
		return nil, fmt.Errorf("wal: %s: Resume after Resume or Close", r.l.dir)
	}
	r.done = true
	l := r.l
	if err := r.resume(); err != nil {
		r.end.Close() // the resume error is the one worth reporting
		return nil, err
	}
	l.cur, l.off = r.end, r.endOff
	l.zeroed = l.off // past it: zeros, but maybe in unwritten blocks
	return l, nil
}

func (r *Replayed) resume() error {
	l := r.l
	if len(r.drop) > 0 {
		for _, t := range r.drop {
			if err := l.fs.Remove(t.name); err != nil {
				return fmt.Errorf("wal: remove %s: %w", t.name, err)
			}
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("wal: sync dir %s: %w", l.dir, err)
		}
	}
	s := &l.segs[len(l.segs)-1]
	l.nextSeq = s.seq + 1
	if r.dirty >= r.endOff {
		zeros := make([]byte, min(r.dirty+1-r.endOff, 1<<20))
		for off := r.endOff; off <= r.dirty; off += int64(len(zeros)) {
			n := min(int64(len(zeros)), r.dirty+1-off)
			if _, err := r.end.WriteAt(zeros[:n], off); err != nil {
				return fmt.Errorf("wal: zero tail of %s: %w", s.name, err)
			}
		}
		if err := r.end.Sync(); err != nil {
			return fmt.Errorf("wal: sync %s: %w", s.name, err)
		}
		l.stats.Syncs++
	}
	if s.fileSize < l.segSize {
		if err := r.end.Preallocate(l.segSize); err != nil {
			return fmt.Errorf("wal: preallocate %s: %w", s.name, err)
		}
		s.fileSize = l.segSize
	}
	return nil
}

// Close gives up a replayed log that was not resumed. After Resume it does
// nothing.
func (r *Replayed) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	if r.end != nil {
		return r.end.Close()
	}
	return nil
}

func (o *Options) validate() error {
	switch {
	case o.FS == nil:
		return errs.Errorf("wal: Options.FS is nil: %w", errs.ErrConfig)
	case o.Dir == "":
		return errs.Errorf("wal: Options.Dir is empty: %w", errs.ErrConfig)
	case o.SegmentSize < 0 || (o.SegmentSize > 0 && o.SegmentSize < minSegmentSize):
		return errs.Errorf("wal: Options.SegmentSize %d is below %d: %w", o.SegmentSize, minSegmentSize, errs.ErrConfig)
	case o.PoolSize < 0:
		return errs.Errorf("wal: Options.PoolSize %d is negative: %w", o.PoolSize, errs.ErrConfig)
	}
	return nil
}

// scanDir collects the pool files and returns the segments sorted by seq.
// Names it does not know (checkpoints, lock files) are left alone.
func (l *Log) scanDir() ([]segment, error) {
	names, err := l.fs.List(l.dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, corruptf("log directory %s is missing", l.dir)
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
	if len(segs) == 0 {
		return nil, corruptf("%s holds no WAL segment", l.dir)
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, corruptf("%s: segment %016x.wal is missing (the log has %s and %s)",
				l.dir, segs[i-1].seq+1, filepath.Base(segs[i-1].name), filepath.Base(segs[i].name))
		}
	}
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

// segmentReader reads segments into a reused buffer.
type segmentReader struct {
	fs  FS
	buf []byte
}

// read reads s whole into r.buf and returns the open file.
func (r *segmentReader) read(s *segment) (File, []byte, error) {
	f, err := r.fs.Open(s.name)
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

// startFrame parses the RecordSegmentStart frame at the head of data and
// returns its payload and length; ok is false if there is none.
func startFrame(data []byte, seq uint64) (prevMaxTS uint64, n int, ok bool) {
	typ, payload, st := parseFrame(data, 0, seq)
	if st != frameOK || typ != RecordSegmentStart {
		return 0, 0, false
	}
	v, k := binary.Uvarint(payload)
	if k <= 0 || k != len(payload) {
		return 0, 0, false
	}
	return v, HeaderSize + len(payload), true
}

// replay calls fn for each valid record of data after the start frame and
// returns where reading stopped, why, and whether the segment ended with
// RecordSegmentEnd.
func replay(s *segment, data []byte, fn func(seq uint64, payload []byte) error) (end int, stop frameStop, sealed bool, err error) {
	for off := int(s.hdr); ; {
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
			if err := fn(s.seq, payload); err != nil {
				return off, st, false, err
			}
		case RecordSegmentEnd:
			return off + HeaderSize + len(payload), frameOK, true, nil
		default:
			return off, st, false, corruptf("%s offset %d: unexpected record type %d", s.name, off, typ)
		}
		off += HeaderSize + len(payload)
	}
}

func (r *Replayed) run(segs []segment, fn func(seq uint64, payload []byte) error) error {
	l := r.l
	rd := segmentReader{fs: l.fs}
	for i := range segs {
		s := &segs[i]
		f, data, err := rd.read(s)
		if err != nil {
			return err
		}
		prev, hdr, ok := startFrame(data, s.seq)
		if !ok {
			f.Close()
			return corruptf("%s does not begin with a segment header", s.name)
		}
		if i == 0 {
			r.base = prev
		} else if prev != l.maxTS {
			f.Close()
			return corruptf("%s: its header says the log before it reached commit %d, but its records reach %d",
				s.name, prev, l.maxTS)
		}
		l.maxTS = max(l.maxTS, prev)
		s.hdr = int64(hdr)
		end, stop, sealed, err := replay(s, data, fn)
		s.end = int64(end)
		l.maxTS = max(l.maxTS, s.maxTS)
		if err != nil {
			f.Close()
			return err
		}
		if sealed {
			if err := f.Close(); err != nil {
				return fmt.Errorf("wal: close %s: %w", s.name, err)
			}
			if i == len(segs)-1 {
				return corruptf("%s is sealed, but the segment after it (%016x.wal) is missing", s.name, s.seq+1)
			}
			l.segs = append(l.segs, *s)
			continue
		}
		if p := findFrame(data, end+1, s.seq); p >= 0 {
			f.Close()
			return corruptf("%s: %s at offset %d, but a valid record follows at offset %d", s.name, stop, end, p)
		}
		r.end, r.endOff = f, int64(end)
		if err := r.checkLater(s, end, stop, segs[i+1:]); err != nil {
			return err
		}
		last := len(data) - 1
		for last >= end && data[last] == 0 {
			last--
		}
		r.dirty = int64(last)
		l.segs = append(l.segs, *s)
		return nil
	}
	return corruptf("%s holds no WAL segment", l.dir) // not reached: scanDir found one
}

// checkLater handles a stop in s that is not at a RecordSegmentEnd when the
// log has later segments. A roll makes the next segment durable before it
// seals s, so a crash can leave one later segment that holds its start
// frame (or, if the crash came first, nothing valid); anything else there
// means records were lost in the middle of the log.
func (r *Replayed) checkLater(s *segment, end int, stop frameStop, later []segment) error {
	if len(later) == 0 {
		return nil
	}
	if len(later) > 1 {
		return corruptf("%s: %s at offset %d, but %d segments follow it", s.name, stop, end, len(later))
	}
	// A buffer of its own: the caller's still holds s.
	rd := segmentReader{fs: r.l.fs}
	t := later[0]
	f, data, err := rd.read(&t)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", t.name, err)
	}
	from := 0
	if _, n, ok := startFrame(data, t.seq); ok {
		from = n
	}
	if p := findFrame(data, from, t.seq); p >= 0 {
		return corruptf("%s: %s at offset %d, but %s holds a valid record at offset %d",
			s.name, stop, end, t.name, p)
	}
	r.drop = later
	return nil
}
