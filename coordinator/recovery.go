package coordinator

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"path"
	"runtime"
	"slices"
	"strconv"
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
}

// Directory layout:
//
//	Dir/LOCK                      held while open
//	Dir/MANIFEST                  generation and shard count, replaced atomically
//	Dir/gen-G/shard-NNNN/         one shard's WAL segments and checkpoints
//
// A generation is a complete set of shard directories for one shard count.
// Recovery starts a new generation (and switches MANIFEST to it only once it
// is durable) when the shard count changes or when some log holds records
// past the recovered prefix: those records' timestamps will be reused, so
// they must not survive into the logs that new commits append to.

const manifestName = "MANIFEST"

func genDir(dir string, gen uint64) string { return path.Join(dir, fmt.Sprintf("gen-%d", gen)) }

func shardDir(dir string, gen uint64, i int) string {
	return path.Join(genDir(dir, gen), fmt.Sprintf("shard-%04d", i))
}

type manifest struct {
	gen    uint64
	shards int
}

func (m manifest) body() string {
	return fmt.Sprintf("fluxmap-manifest 1\ngeneration %d\nshards %d\n", m.gen, m.shards)
}

func readManifest(fs wal.FS, dir string) (manifest, bool, error) {
	names, err := fs.List(dir)
	if err != nil {
		return manifest{}, false, err
	}
	if !slices.Contains(names, manifestName) {
		return manifest{}, false, nil
	}
	f, err := fs.Open(path.Join(dir, manifestName))
	if err != nil {
		return manifest{}, false, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return manifest{}, false, err
	}
	if size > 4096 {
		return manifest{}, false, fmt.Errorf("%w: %s is %d bytes", errs.ErrCorrupt, manifestName, size)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return manifest{}, false, err
	}
	body, sum, ok := bytes.Cut(buf, []byte("crc "))
	want := fmt.Sprintf("%08x\n", crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	if !ok || string(sum) != want {
		return manifest{}, false, fmt.Errorf("%w: %s checksum mismatch", errs.ErrCorrupt, manifestName)
	}
	var m manifest
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "generation":
			m.gen, err = strconv.ParseUint(v, 10, 64)
		case "shards":
			m.shards, err = strconv.Atoi(v)
		}
		if err != nil {
			return manifest{}, false, fmt.Errorf("%w: %s: %v", errs.ErrCorrupt, manifestName, err)
		}
	}
	if m.gen == 0 || m.shards < 1 {
		return manifest{}, false, fmt.Errorf("%w: %s: bad contents", errs.ErrCorrupt, manifestName)
	}
	return m, true, nil
}

func writeManifest(fs wal.FS, dir string, m manifest) error {
	body := m.body()
	data := fmt.Sprintf("%scrc %08x\n", body, crc32.Checksum([]byte(body), crc32.MakeTable(crc32.Castagnoli)))
	tmp := path.Join(dir, manifestName+".tmp")
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path.Join(dir, manifestName)); err != nil {
		return err
	}
	return fs.SyncDir(dir)
}

// logRecord is one decoded WAL record.
type logRecord[V any] struct {
	ts     uint64
	parts  []uint32
	writes []shard.Write[V]
}

// shardImage is what recovery read from one shard directory.
type shardImage[V any] struct {
	ckptTS  uint64
	entries map[string]ckptEntry[V] // the checkpoint's state at ckptTS
	records []logRecord[V]
	log     *wal.Log
}

type ckptEntry[V any] struct {
	value  V
	expiry int64
}

// keyState is a key's newest recovered version.
type keyState[V any] struct {
	ts        uint64
	value     V
	expiry    int64
	tombstone bool
}

// recovered is the outcome of recovery: per new shard, the keys to load,
// the open logs to append to, and the timestamp to restart the oracle at.
type recovered[V any] struct {
	start  uint64
	gen    uint64
	loads  []map[string]keyState[V]
	logs   []*wal.Log
	unlock io.Closer
}

func readShard[V any](d *DurableConfig[V], sdir string) (*shardImage[V], error) {
	img := &shardImage[V]{entries: make(map[string]ckptEntry[V])}
	ts, _, err := wal.ReadCheckpoint(d.FS, sdir, func(key string, expiry int64, value []byte) error {
		v, err := d.Decode(value)
		if err != nil {
			return fmt.Errorf("%w: checkpoint value of key %q: %w", errs.ErrCorrupt, key, err)
		}
		img.entries[key] = ckptEntry[V]{value: v, expiry: expiry}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fluxmap: reading checkpoint in %s: %w", sdir, err)
	}
	img.ckptTS = ts
	img.log, err = wal.Open(wal.Options{FS: d.FS, Dir: sdir, SegmentSize: d.SegmentSize, PoolSize: d.PoolSize},
		func(_ uint64, payload []byte) error {
			p, err := wal.DecodePayload(payload)
			if err != nil {
				return err
			}
			if p.TS <= img.ckptTS {
				return nil // covered by the checkpoint
			}
			rec := logRecord[V]{ts: p.TS, parts: p.Participants, writes: make([]shard.Write[V], len(p.Writes))}
			for i, w := range p.Writes {
				rec.writes[i] = shard.Write[V]{Key: w.Key, Tombstone: w.Tombstone, Expiry: w.Expiry}
				if !w.Tombstone {
					if rec.writes[i].Value, err = d.Decode(w.Value); err != nil {
						return fmt.Errorf("%w: value of key %q at commit %d: %w", errs.ErrCorrupt, w.Key, p.TS, err)
					}
				}
			}
			img.records = append(img.records, rec)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("fluxmap: replaying WAL in %s: %w", sdir, err)
	}
	return img, nil
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

// recoverDir opens (or creates) the durable directory and rebuilds the
// state for n shards. See the directory layout above.
func recoverDir[V any](d *DurableConfig[V], n int) (rec *recovered[V], err error) {
	fs := d.FS
	if err := makeDirDurable(fs, d.Dir); err != nil {
		return nil, fmt.Errorf("fluxmap: creating %s: %w", d.Dir, err)
	}
	unlock, err := fs.Lock(path.Join(d.Dir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("fluxmap: opening %s: %w", d.Dir, err)
	}
	var imgs []*shardImage[V]
	defer func() {
		if err != nil {
			for _, img := range imgs {
				if img != nil && img.log != nil {
					img.log.Close()
				}
			}
			unlock.Close()
		}
	}()
	m, found, err := readManifest(fs, d.Dir)
	if err != nil {
		return nil, fmt.Errorf("fluxmap: opening %s: %w", d.Dir, err)
	}
	// Generations other than the current one are leftovers of a recovery
	// that crashed before or after switching MANIFEST; neither is needed.
	if names, err := fs.List(d.Dir); err == nil {
		for _, name := range names {
			if strings.HasPrefix(name, "gen-") && (!found || name != path.Base(genDir(d.Dir, m.gen))) {
				removeTree(fs, path.Join(d.Dir, name))
			}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if found {
		imgs = make([]*shardImage[V], m.shards)
		err = fanout.Run(m.shards, workers, func(i int) error {
			img, err := readShard(d, shardDir(d.Dir, m.gen, i))
			imgs[i] = img
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	start := recoveredPrefix(imgs)
	beyond := false
	states := make([]map[string]keyState[V], len(imgs))
	for i, img := range imgs {
		st := make(map[string]keyState[V], len(img.entries))
		for k, e := range img.entries {
			st[k] = keyState[V]{ts: img.ckptTS, value: e.value, expiry: e.expiry}
		}
		slices.SortFunc(img.records, func(a, b logRecord[V]) int { return cmp.Compare(a.ts, b.ts) })
		for _, r := range img.records {
			if r.ts > start {
				beyond = true
				break
			}
			for _, w := range r.writes {
				st[w.Key] = keyState[V]{ts: r.ts, value: w.Value, expiry: w.Expiry, tombstone: w.Tombstone}
			}
		}
		for k, s := range st {
			if s.tombstone {
				delete(st, k)
			}
		}
		states[i] = st
	}
	rec = &recovered[V]{start: start, unlock: unlock}
	if found && !beyond && m.shards == n {
		rec.gen, rec.loads = m.gen, states
		for _, img := range imgs {
			rec.logs = append(rec.logs, img.log)
		}
		return rec, nil
	}
	// Start a new generation holding exactly the recovered state.
	gen := m.gen + 1
	loads := make([]map[string]keyState[V], n)
	for i := range loads {
		loads[i] = make(map[string]keyState[V])
	}
	for _, st := range states {
		for k, s := range st {
			loads[shardIndex(k, n)][k] = s
		}
	}
	logs := make([]*wal.Log, n)
	err = fanout.Run(n, workers, func(i int) error {
		sdir := shardDir(d.Dir, gen, i)
		if err := fs.MkdirAll(sdir); err != nil {
			return err
		}
		// Every shard gets a checkpoint at start, an empty one too: it is
		// what tells the next open that every timestamp up to start is
		// complete. Without one anywhere (all keys deleted) the next
		// recovery would count from 0, find no record of timestamp 1, and
		// drop every commit acknowledged in this generation.
		if start > 0 {
			cw, err := wal.CreateCheckpoint(fs, sdir, start)
			if err != nil {
				return err
			}
			for k, s := range loads[i] {
				if err := cw.Add(k, s.expiry, func(dst []byte) ([]byte, error) { return d.Encode(dst, s.value) }); err != nil {
					cw.Abort()
					return err
				}
			}
			if err := cw.Commit(); err != nil {
				return errors.Join(err, cw.Abort()) // closes the file a failed step left open
			}
		}
		l, err := wal.Open(wal.Options{FS: fs, Dir: sdir, SegmentSize: d.SegmentSize, PoolSize: d.PoolSize}, func(uint64, []byte) error {
			return fmt.Errorf("%w: new shard directory %s already has records", errs.ErrCorrupt, sdir)
		})
		logs[i] = l
		return err
	})
	if err == nil {
		err = fs.SyncDir(genDir(d.Dir, gen))
	}
	if err == nil {
		err = writeManifest(fs, d.Dir, manifest{gen: gen, shards: n})
	}
	if err != nil {
		for _, l := range logs {
			if l != nil {
				l.Close()
			}
		}
		return nil, fmt.Errorf("fluxmap: writing recovered state to %s: %w", d.Dir, err)
	}
	// The old generation is no longer referenced; remove it.
	for _, img := range imgs {
		img.log.Close()
	}
	imgs = nil
	if found {
		removeTree(fs, genDir(d.Dir, m.gen))
	}
	rec.gen, rec.loads, rec.logs = gen, loads, logs
	return rec, nil
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

// removeTree removes name and, if it is a directory, everything below it,
// best effort: leftovers of an unreferenced generation are harmless and
// removed again on a later open.
func removeTree(fs wal.FS, name string) {
	if names, err := fs.List(name); err == nil {
		for _, n := range names {
			removeTree(fs, path.Join(name, n))
		}
	}
	_ = fs.Remove(name)
}
