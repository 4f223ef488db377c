package stores

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/fluxmap/fluxmap/wal"
)

func init() {
	register(System{
		Name:         "rawsync",
		Caps:         0,
		Durabilities: []Durability{Relaxed, Full},
		Note:         "the disk's floor: each Put appends key+value and fdatasyncs (full) under one lock; writes only",
		Open:         openRawSync,
	})
}

// rawFileSize is the preallocated log; writes wrap around inside it, so no
// Put ever extends the file (which would add a metadata sync).
const rawFileSize = 64 << 20

// ZeroFill writes size zero bytes into f from offset 0 and fdatasyncs it.
//
// A floor must be the disk's best case. A file that is only fallocated has
// its blocks marked unwritten, and on ext4 the fdatasync after the first
// write into such a block also commits a journal transaction that converts
// it: about 1.7x the cost of an fdatasync after overwriting written blocks
// on the development machine. FluxMap's WAL writes zeros ahead of its data
// for that reason, so the floor it is compared with must not pay it either.
func ZeroFill(f wal.File, size int64) error {
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return f.Sync()
}

// rawStore is what a store that fsynced once per commit could at best
// acknowledge: one writer at a time writes a record into a zero-filled file
// and, in Full mode, calls fdatasync (through wal.OSFS, the file layer FluxMap's WAL uses, as
// BenchmarkRawFdatasync does). It has no index, so it cannot read.
type rawStore struct {
	unsupported
	sync bool

	mu  sync.Mutex // guards f's offset and buf
	f   wal.File
	off int64
	buf []byte
}

func openRawSync(cfg Config) (Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("rawsync: needs a directory")
	}
	f, err := wal.OSFS().Create(filepath.Join(cfg.Dir, "raw.log"))
	if err != nil {
		return nil, err
	}
	if err := ZeroFill(f, rawFileSize); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return &rawStore{f: f, sync: cfg.Durability == Full}, nil
}

func (r *rawStore) Load(int, func(int) string, []byte) error { return nil }

func (r *rawStore) Get(string) (bool, error) { return false, ErrUnsupported }

func (r *rawStore) Put(key string, val []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(append(r.buf[:0], key...), val...)
	if r.off+int64(len(r.buf)) > rawFileSize {
		r.off = 0
	}
	if _, err := r.f.WriteAt(r.buf, r.off); err != nil {
		return fmt.Errorf("rawsync: write: %w", err)
	}
	r.off += int64(len(r.buf))
	if r.sync {
		if err := r.f.Sync(); err != nil {
			return fmt.Errorf("rawsync: fdatasync: %w", err)
		}
	}
	return nil
}

func (r *rawStore) Close() error { return r.f.Close() }
