package coordinator

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/fanout"
	"github.com/fluxmap/fluxmap/shard"
	"github.com/fluxmap/fluxmap/wal"
)

// DurableConfig makes a Coordinator log commits and recover on start.
type DurableConfig[V any] struct {
	FS            wal.FS
	Dir           string
	Full          bool
	FlushInterval time.Duration
	FlushCommits  int
	FlushBytes    int64
	SegmentSize   int64
	PoolSize      int
	// CheckpointBytes starts a checkpoint when a shard's live WAL grows past
	// it; 0 disables automatic checkpoints.
	CheckpointBytes int64
	Encode          func(dst []byte, v V) ([]byte, error)
	Decode          func(enc []byte) (V, error)
	// KeyCodec and ValueCodec identify the codecs. The first open records
	// them in the MANIFEST; a later open with others fails with ErrConfig
	// before it reads or writes anything else.
	KeyCodec, ValueCodec string
	// History makes recovery hand the change feed every logged commit it
	// reads, those the checkpoint covers included (see recovered.history).
	History bool
}

// Recovery runs in phases, each a function below:
//
//  1. lock: create Dir if it is new, take Dir/LOCK;
//  2. manifest: read it, or make sure Dir holds no generation without one;
//     check the codecs;
//  3. readGeneration: verify the current generation's inventory (every
//     shard directory, a checkpoint owned by that shard in each, WAL
//     segments without gaps back to what the checkpoint covers) and read
//     it, shards in parallel; nothing is written;
//  4. replayImages: the recovered prefix of commit timestamps and each
//     shard's state at it;
//  5. resume the logs in place, or build a new generation holding exactly
//     the recovered state (buildGeneration);
//  6. cleanup: remove the generations the MANIFEST names as pending or
//     obsolete.
//
// Up to phase 4 recovery changes nothing on disk (a refused open leaves
// the directory as it found it, LOCK aside).

// recovered is the outcome of recovery: per new shard, the keys to load,
// the open logs to append to, and the timestamp to restart the oracle at.
type recovered[V any] struct {
	start  uint64
	gen    uint64
	loads  [][]keyState[V] // per shard, live keys in key order
	logs   []*wal.Log
	unlock io.Closer
	// history is, per shard, the commits its log still holds, in timestamp
	// order, when DurableConfig.History is set and the logs were resumed in
	// place; every commit after historyFrom is in them. Otherwise history
	// is nil and the feed starts at start.
	history     [][]logRecord[V]
	historyFrom uint64
}

// keyState is a key's newest recovered version.
type keyState[V any] struct {
	key       string
	ts        uint64
	value     V
	expiry    int64
	tombstone bool
}

// recoverDir opens (or creates) the durable directory and rebuilds the
// state for n shards.
func recoverDir[V any](d *DurableConfig[V], n int) (*recovered[V], error) {
	unlock, err := lockDir(d.FS, d.Dir)
	if err != nil {
		return nil, fmt.Errorf("fluxmap: opening %s: %w", d.Dir, err)
	}
	rec, err := recoverLocked(d, n)
	if err != nil {
		unlock.Close()
		return nil, fmt.Errorf("fluxmap: opening %s: %w", d.Dir, err)
	}
	rec.unlock = unlock
	return rec, nil
}

// lockDir creates dir durably if it is missing and takes its lock.
func lockDir(fs wal.FS, dir string) (io.Closer, error) {
	if err := makeDirDurable(fs, dir); err != nil {
		return nil, fmt.Errorf("creating it: %w", err)
	}
	return fs.Lock(path.Join(dir, "LOCK"))
}

func recoverLocked[V any](d *DurableConfig[V], n int) (*recovered[V], error) {
	m, found, err := readManifest(d.FS, d.Dir)
	if err != nil {
		return nil, err
	}
	if !found {
		if err := checkNoGenerations(d.FS, d.Dir); err != nil {
			return nil, err
		}
		return createDatabase(d, n, nil)
	}
	if m.gen == 0 {
		// The first generation was being built when a crash came; nothing
		// was ever committed to it.
		return createDatabase(d, n, &m)
	}
	if m.keyCodec != d.KeyCodec || m.valueCodec != d.ValueCodec {
		return nil, errs.Errorf("the database was created with key codec %q and value codec %q, "+
			"but this open uses key codec %q and value codec %q: %w",
			m.keyCodec, m.valueCodec, d.KeyCodec, d.ValueCodec, errs.ErrConfig)
	}
	imgs, err := readGeneration(d, m)
	if err != nil {
		return nil, err
	}
	start, states, beyond := replayImages(imgs)
	if !beyond && m.shards == n {
		rec := &recovered[V]{start: start, gen: m.gen, loads: states}
		if d.History {
			rec.history, rec.historyFrom = logHistory(imgs)
		}
		for i, img := range imgs {
			l, err := img.log.Resume()
			if err != nil {
				for _, img := range imgs[i:] {
					img.log.Close()
				}
				for _, l := range rec.logs {
					l.Close()
				}
				return nil, err
			}
			rec.logs = append(rec.logs, l)
		}
		cleanup(d.FS, d.Dir, m)
		return rec, nil
	}
	// The shard count changed, or some log holds records past the recovered
	// prefix: those belong to transactions that some participant's log lost
	// (a torn tail), and new commits will reuse their timestamps, so they
	// must not survive into the logs that new commits append to.
	for _, img := range imgs {
		img.log.Close()
	}
	loads := make([][]keyState[V], n)
	for _, st := range states {
		for _, s := range st {
			j := shardIndex(s.key, n)
			loads[j] = append(loads[j], s)
		}
	}
	if n != len(states) {
		// Each new shard got sorted runs from several old ones.
		for _, l := range loads {
			slices.SortFunc(l, func(a, b keyState[V]) int { return strings.Compare(a.key, b.key) })
		}
	}
	return switchGeneration(d, m, n, start, loads)
}

// checkNoGenerations refuses a directory without a MANIFEST that holds a
// generation: its MANIFEST was lost, and opening it as a new database
// would hide the data.
func checkNoGenerations(fs wal.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, ok := parseGenName(name); ok {
			return errs.Errorf("%s is missing, but %s holds %s: refusing to open it as a new database: %w",
				manifestName, dir, name, errs.ErrCorrupt)
		}
	}
	return nil
}

// createDatabase builds the first generation, empty. prev is the MANIFEST
// of an earlier attempt that a crash interrupted, if any.
func createDatabase[V any](d *DurableConfig[V], n int, prev *manifest) (*recovered[V], error) {
	m := manifest{shards: n, keyCodec: d.KeyCodec, valueCodec: d.ValueCodec}
	if prev != nil {
		m.pending = prev.pending
	}
	return switchGeneration(d, m, n, 0, make([][]keyState[V], n))
}

// switchGeneration builds a new generation of n shards holding loads, as
// of timestamp start, and makes it the current one in the MANIFEST; then it
// removes the one it replaces. m is the MANIFEST now in force (generation 0
// for a new database).
func switchGeneration[V any](d *DurableConfig[V], m manifest, n int, start uint64, loads [][]keyState[V]) (*recovered[V], error) {
	fs := d.FS
	if m.pending.gen != 0 {
		// An earlier attempt's leftovers: never current, so nothing is lost.
		if !removeGeneration(fs, d.Dir, m.pending) {
			return nil, fmt.Errorf("cannot remove the unfinished generation %s", genDir(d.Dir, m.pending.gen))
		}
	}
	// The MANIFEST names one obsolete generation at a time. One that cannot
	// be removed whole holds something recovery did not write; it stays on
	// disk, no longer named.
	removeGeneration(fs, d.Dir, m.obsolete)
	m.obsolete = genRef{}
	gen, err := nextGen(fs, d.Dir, m.gen)
	if err != nil {
		return nil, err
	}
	m.pending = genRef{gen: gen, shards: n}
	m.keyCodec, m.valueCodec = d.KeyCodec, d.ValueCodec
	if err := writeManifest(fs, d.Dir, m); err != nil {
		return nil, fmt.Errorf("writing %s: %w", manifestName, err)
	}
	logs, err := buildGeneration(d, gen, start, loads)
	if err != nil {
		return nil, fmt.Errorf("writing the recovered state to %s: %w", genDir(d.Dir, gen), err)
	}
	old := genRef{gen: m.gen, shards: m.shards}
	m.gen, m.shards, m.pending = gen, n, genRef{}
	if old.gen != 0 {
		m.obsolete = old
	}
	if err := writeManifest(fs, d.Dir, m); err != nil {
		for _, l := range logs {
			l.Close()
		}
		return nil, fmt.Errorf("writing %s: %w", manifestName, err)
	}
	cleanup(fs, d.Dir, m)
	return &recovered[V]{start: start, gen: gen, loads: loads, logs: logs}, nil
}

// nextGen returns a generation number above cur and above any entry of dir
// that is named like a generation, so a new generation never lands in a
// directory that the MANIFEST does not account for.
func nextGen(fs wal.FS, dir string, cur uint64) (uint64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return 0, err
	}
	last := cur
	for _, name := range names {
		if g, ok := parseGenName(name); ok {
			last = max(last, g)
		}
	}
	if last == math.MaxUint64 {
		return 0, fmt.Errorf("%s holds %s: no generation number is left above it", dir, genName(last))
	}
	return last + 1, nil
}

// buildGeneration writes generation gen: per shard a directory, a
// checkpoint at start (an empty one too: it tells the next open that every
// timestamp up to start is complete, and which shard the directory
// belongs to) and a new log. Everything is durable when it returns.
func buildGeneration[V any](d *DurableConfig[V], gen, start uint64, loads [][]keyState[V]) ([]*wal.Log, error) {
	fs, n := d.FS, len(loads)
	if err := fs.MkdirAll(genDir(d.Dir, gen)); err != nil {
		return nil, err
	}
	if err := fs.SyncDir(d.Dir); err != nil {
		return nil, err
	}
	logs := make([]*wal.Log, n)
	err := fanout.Run(n, runtime.GOMAXPROCS(0), func(i int) error {
		sdir := shardDir(d.Dir, gen, i)
		cw, err := wal.CreateCheckpoint(fs, sdir, start, wal.Owner{Shard: uint32(i), Shards: uint32(n)})
		if err != nil {
			return err
		}
		for _, s := range loads[i] {
			if err := cw.Add(s.key, s.expiry, func(dst []byte) ([]byte, error) { return d.Encode(dst, s.value) }); err != nil {
				return errors.Join(err, cw.Abort())
			}
		}
		if err := cw.Commit(); err != nil {
			return errors.Join(err, cw.Abort()) // closes the file a failed step left open
		}
		// The log holds none of the commits up to start: its Base says so,
		// so that the change feed's history (logHistory) does not claim them.
		logs[i], err = wal.Create(wal.Options{FS: fs, Dir: sdir, SegmentSize: d.SegmentSize, PoolSize: d.PoolSize, Base: start})
		return err
	})
	if err == nil {
		err = fs.SyncDir(genDir(d.Dir, gen))
	}
	if err != nil {
		for _, l := range logs {
			if l != nil {
				l.Close()
			}
		}
		return nil, err
	}
	return logs, nil
}

// cleanup removes the generations m names as pending or obsolete and, if
// it removed them whole, writes m without them. It is best effort: what it
// leaves stays named in the MANIFEST and is removed on a later open.
func cleanup(fs wal.FS, dir string, m manifest) {
	if m.pending.gen == 0 && m.obsolete.gen == 0 {
		return
	}
	for _, g := range []*genRef{&m.pending, &m.obsolete} {
		if g.gen != 0 && removeGeneration(fs, dir, *g) {
			*g = genRef{}
		}
	}
	if m.pending.gen == 0 && m.obsolete.gen == 0 {
		_ = writeManifest(fs, dir, m) // best effort, as above
	}
}

// removeGeneration removes what recovery itself writes in generation g:
// the files named as the wal package names them in each of its shard
// directories, those directories and the generation's directory. It
// follows no symbolic link and removes nothing else, so a directory that
// holds anything more stays. It reports whether g's directory is gone.
func removeGeneration(fs wal.FS, dir string, g genRef) bool {
	if g.gen == 0 {
		return true
	}
	gdir := genDir(dir, g.gen)
	mode, err := fs.Lstat(gdir)
	if errors.Is(err, iofs.ErrNotExist) {
		return true
	}
	if err != nil || !mode.IsDir() {
		return false
	}
	for i := range g.shards {
		sdir := shardDir(dir, g.gen, i)
		if mode, err := fs.Lstat(sdir); err != nil || !mode.IsDir() {
			continue
		}
		names, err := fs.List(sdir)
		if err != nil {
			continue
		}
		for _, name := range names {
			p := path.Join(sdir, name)
			if mode, err := fs.Lstat(p); err == nil && mode.IsRegular() && wal.IsOwnFile(name) {
				_ = fs.Remove(p) // what stays makes the directory removals below fail
			}
		}
		_ = fs.Remove(sdir)
	}
	if fs.Remove(gdir) != nil {
		return false
	}
	return fs.SyncDir(dir) == nil
}

// shardImage is what recovery read from one shard directory.
type shardImage[V any] struct {
	ckptTS  uint64
	entries []keyState[V] // the checkpoint's state at ckptTS, in key order
	records []logRecord[V]
	covered []logRecord[V] // records the checkpoint covers (DurableConfig.History only)
	log     *wal.Replayed
}

// logRecord is one decoded WAL record.
type logRecord[V any] struct {
	ts     uint64
	parts  []uint32
	writes []shard.Write[V]
	causes []shard.Cause // per write; nil when every write is the user's
}

// readGeneration verifies and reads every shard of m's current generation,
// in parallel. It writes nothing.
func readGeneration[V any](d *DurableConfig[V], m manifest) ([]*shardImage[V], error) {
	imgs := make([]*shardImage[V], m.shards)
	err := fanout.Run(m.shards, runtime.GOMAXPROCS(0), func(i int) error {
		img, err := readShard(d, m, i)
		imgs[i] = img
		return err
	})
	if err != nil {
		for _, img := range imgs {
			if img != nil && img.log != nil {
				img.log.Close()
			}
		}
		return nil, err
	}
	return imgs, nil
}

// readShard reads shard i's checkpoint and log. Besides the wal package's
// checks (Replay), it refuses a shard directory that is missing, that has
// no checkpoint or one of another shard, whose records name participants
// that do not include it, or whose log lost segments that held commits the
// checkpoint does not cover.
func readShard[V any](d *DurableConfig[V], m manifest, i int) (*shardImage[V], error) {
	sdir := shardDir(d.Dir, m.gen, i)
	if _, err := d.FS.List(sdir); err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, errs.Errorf("shard directory %s is missing: %w", sdir, errs.ErrCorrupt)
		}
		return nil, err
	}
	img := &shardImage[V]{}
	info, found, err := wal.ReadCheckpoint(d.FS, sdir, func(key string, expiry int64, value []byte) error {
		v, err := d.Decode(value)
		if err != nil {
			return errs.Errorf("checkpoint value of key %q: %w: %w", key, errs.ErrCorrupt, err)
		}
		if n := len(img.entries); n > 0 && img.entries[n-1].key >= key {
			return fmt.Errorf("checkpoint key %q after %q: out of order: %w", key, img.entries[n-1].key, errs.ErrCorrupt)
		}
		img.entries = append(img.entries, keyState[V]{key: key, value: v, expiry: expiry})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint in %s: %w", sdir, err)
	}
	if !found {
		return nil, errs.Errorf("%s has no checkpoint: %w", sdir, errs.ErrCorrupt)
	}
	if want := (wal.Owner{Shard: uint32(i), Shards: uint32(m.shards)}); info.Owner != want {
		return nil, errs.Errorf("the checkpoint in %s belongs to shard %d of %d, not to shard %d of %d: %w",
			sdir, info.Owner.Shard, info.Owner.Shards, i, m.shards, errs.ErrCorrupt)
	}
	if info.TS > maxCommitTS {
		return nil, errs.Errorf("the checkpoint in %s is at commit %d, beyond any this engine allocates: %w",
			sdir, info.TS, errs.ErrCorrupt)
	}
	img.ckptTS = info.TS
	img.log, err = wal.Replay(wal.Options{FS: d.FS, Dir: sdir, SegmentSize: d.SegmentSize, PoolSize: d.PoolSize},
		func(_ uint64, payload []byte) error {
			p, err := wal.DecodePayload(payload)
			if err != nil {
				return err
			}
			if !slices.Contains(p.Participants, uint32(i)) {
				return errs.Errorf("commit %d in %s names participants %v, not shard %d: %w",
					p.TS, sdir, p.Participants, i, errs.ErrCorrupt)
			}
			if p.TS > maxCommitTS {
				return errs.Errorf("commit %d in %s is beyond any this engine allocates: %w", p.TS, sdir, errs.ErrCorrupt)
			}
			if p.TS <= img.ckptTS && !d.History {
				return nil // covered by the checkpoint
			}
			rec := logRecord[V]{ts: p.TS, parts: p.Participants, writes: make([]shard.Write[V], len(p.Writes))}
			for i, w := range p.Writes {
				rec.writes[i] = shard.Write[V]{Key: w.Key, Tombstone: w.Tombstone, Expiry: w.Expiry}
				if w.Cause != wal.CauseWrite {
					if rec.causes == nil {
						rec.causes = make([]shard.Cause, len(p.Writes))
					}
					rec.causes[i] = shardCause(w.Cause)
				}
				if !w.Tombstone {
					if rec.writes[i].Value, err = d.Decode(w.Value); err != nil {
						return errs.Errorf("value of key %q at commit %d: %w: %w", w.Key, p.TS, errs.ErrCorrupt, err)
					}
				}
			}
			if p.TS <= img.ckptTS {
				img.covered = append(img.covered, rec)
			} else {
				img.records = append(img.records, rec)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("replaying the WAL in %s: %w", sdir, err)
	}
	if base := img.log.Base(); base > img.ckptTS {
		img.log.Close()
		return nil, errs.Errorf("WAL segments of %s are missing: the log starts after commit %d, "+
			"but the checkpoint covers only up to %d: %w", sdir, base, img.ckptTS, errs.ErrCorrupt)
	}
	return img, nil
}

// replayImages returns the recovered prefix (recoveredPrefix), each shard's
// live keys at it in key order, and whether some log holds records past
// it. A shard's state is its checkpoint's entries (in key order as read)
// merged with the newest logged version of each key its records touch.
func replayImages[V any](imgs []*shardImage[V]) (start uint64, states [][]keyState[V], beyond bool) {
	start = recoveredPrefix(imgs)
	states = make([][]keyState[V], len(imgs))
	for i, img := range imgs {
		slices.SortFunc(img.records, func(a, b logRecord[V]) int { return cmp.Compare(a.ts, b.ts) })
		// over holds each logged key's newest version, in the order the keys
		// were first written. While each key sorts after the one before (a
		// log written by a sorted load), over is simply the writes in order;
		// at the first key that does not, a map from key to its place in
		// over takes over.
		var total int
		for _, r := range img.records {
			if r.ts <= start {
				total += len(r.writes)
			}
		}
		over := make([]keyState[V], 0, total)
		var at map[string]int
		for _, r := range img.records {
			if r.ts > start {
				beyond = true
				break
			}
			for _, w := range r.writes {
				s := keyState[V]{key: w.Key, ts: r.ts, value: w.Value, expiry: w.Expiry, tombstone: w.Tombstone}
				if at == nil {
					if n := len(over); n == 0 || over[n-1].key < w.Key {
						over = append(over, s)
						continue
					}
					at = make(map[string]int, len(over))
					for j := range over {
						at[over[j].key] = j
					}
				}
				if j, ok := at[w.Key]; ok {
					over[j] = s
				} else {
					at[w.Key] = len(over)
					over = append(over, s)
				}
			}
		}
		byKey := func(a, b keyState[V]) int { return strings.Compare(a.key, b.key) }
		if at != nil && !slices.IsSortedFunc(over, byKey) {
			slices.SortFunc(over, byKey)
		}
		st := make([]keyState[V], 0, len(img.entries)+len(over))
		ck := img.entries
		for len(ck) > 0 || len(over) > 0 {
			var s keyState[V]
			switch {
			case len(over) == 0 || (len(ck) > 0 && ck[0].key < over[0].key):
				s, ck = ck[0], ck[1:]
				s.ts = img.ckptTS
			case len(ck) > 0 && ck[0].key == over[0].key:
				s, ck, over = over[0], ck[1:], over[1:]
			default:
				s, over = over[0], over[1:]
			}
			if !s.tombstone {
				st = append(st, s)
			}
		}
		img.entries = nil
		states[i] = st
	}
	return start, states, beyond
}

// recoveredPrefix returns the largest T such that every commit timestamp
// <= T is complete: at or below some shard's checkpoint (checkpoints are
// taken only at timestamps durable on every shard), or present in the log
// of every participant (or covered by that participant's checkpoint).
// Timestamps are dense, so the first gap ends the prefix.
func recoveredPrefix[V any](imgs []*shardImage[V]) uint64 {
	var maxC uint64
	for _, img := range imgs {
		maxC = max(maxC, img.ckptTS)
	}
	type seen struct {
		parts   []uint32
		present map[uint32]bool
	}
	byTS := make(map[uint64]*seen)
	for i, img := range imgs {
		for _, r := range img.records {
			s := byTS[r.ts]
			if s == nil {
				s = &seen{parts: r.parts, present: make(map[uint32]bool)}
				byTS[r.ts] = s
			}
			s.present[uint32(i)] = true
		}
	}
	t := maxC
	for {
		s, ok := byTS[t+1]
		if !ok {
			return t
		}
		for _, p := range s.parts {
			if int(p) >= len(imgs) || (!s.present[p] && t+1 > imgs[p].ckptTS) {
				return t
			}
		}
		t++
	}
}

// makeDirDurable creates dir and any missing parents, and syncs the parent
// of each directory it created, where that directory's entry lives: without
// it a crash could lose a new database directory, and every acknowledged
// commit in it, whole. An existing directory is left as it is (its parent
// may not even be readable, which only creating a directory there needs).
func makeDirDurable(fs wal.FS, dir string) error {
	dir = path.Clean(dir)
	var created []string
	for p := dir; ; p = path.Dir(p) {
		if _, err := fs.List(p); !errors.Is(err, iofs.ErrNotExist) {
			break // exists (or is not ours to create: MkdirAll will say)
		}
		created = append(created, p)
		if path.Dir(p) == p {
			break
		}
	}
	if err := fs.MkdirAll(dir); err != nil {
		return err
	}
	for _, p := range created {
		if err := fs.SyncDir(path.Dir(p)); err != nil {
			return fmt.Errorf("syncing %s: %w", path.Dir(p), err)
		}
	}
	return nil
}

// logHistory returns every shard's logged commits in timestamp order, and
// the timestamp after which all of them are there: the newest commit any
// shard logged before its oldest segment still on disk (or, for a shard
// with older records than the change feed needs, what it kept).
func logHistory[V any](imgs []*shardImage[V]) (history [][]logRecord[V], from uint64) {
	history = make([][]logRecord[V], len(imgs))
	for i, img := range imgs {
		h := append(img.covered, img.records...)
		slices.SortFunc(h, func(a, b logRecord[V]) int { return cmp.Compare(a.ts, b.ts) })
		history[i] = h
		img.covered = nil
		from = max(from, img.log.Base())
	}
	return history, from
}
