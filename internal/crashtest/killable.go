package crashtest

import (
	"errors"
	"io"
	iofs "io/fs"
	"sync"

	"github.com/fluxmap/fluxmap/wal"
)

// ErrKilled is returned by every call on a Killable after Kill.
var ErrKilled = errors.New("crashtest: the process using this file system was killed")

// Killable is a wal.FS that forwards to another one until Kill, and fails
// every call (file handles included) afterwards. It is safe for concurrent
// use.
type Killable struct {
	inner wal.FS

	mu   sync.RWMutex // held for reading by every forwarded call
	dead bool         // Protected by mu.
}

// NewKillable returns a live wrapper of inner.
func NewKillable(inner wal.FS) *Killable { return &Killable{inner: inner} }

// Kill waits for the calls in progress, makes every later call fail with
// ErrKilled, then runs crash (for example a MemFS Crash) while no call can
// start: the crash sees a file system that the dead process no longer
// changes.
func (k *Killable) Kill(crash func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	if crash != nil {
		crash()
	}
}

// enter takes the read lock unless the wrapper is dead; the caller must
// call k.mu.RUnlock when it returns nil.
func (k *Killable) enter() error {
	k.mu.RLock()
	if k.dead {
		k.mu.RUnlock()
		return ErrKilled
	}
	return nil
}

var _ wal.FS = (*Killable)(nil)

func (k *Killable) Create(name string) (wal.File, error) {
	if err := k.enter(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	f, err := k.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &killableFile{k: k, f: f}, nil
}

func (k *Killable) Open(name string) (wal.File, error) {
	if err := k.enter(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	f, err := k.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &killableFile{k: k, f: f}, nil
}

func (k *Killable) Remove(name string) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.inner.Remove(name)
}

func (k *Killable) Rename(oldname, newname string) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.inner.Rename(oldname, newname)
}

func (k *Killable) List(dir string) ([]string, error) {
	if err := k.enter(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	return k.inner.List(dir)
}

func (k *Killable) Lstat(name string) (iofs.FileMode, error) {
	if err := k.enter(); err != nil {
		return 0, err
	}
	defer k.mu.RUnlock()
	return k.inner.Lstat(name)
}

func (k *Killable) MkdirAll(dir string) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.inner.MkdirAll(dir)
}

func (k *Killable) SyncDir(dir string) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.inner.SyncDir(dir)
}

// Lock forwards to the inner lock. Releasing it after Kill is allowed (a
// MemFS crash has released it already; releasing again is harmless).
func (k *Killable) Lock(name string) (io.Closer, error) {
	if err := k.enter(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	return k.inner.Lock(name)
}

type killableFile struct {
	k *Killable
	f wal.File
}

func (f *killableFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.k.enter(); err != nil {
		return 0, err
	}
	defer f.k.mu.RUnlock()
	return f.f.ReadAt(p, off)
}

func (f *killableFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.k.enter(); err != nil {
		return 0, err
	}
	defer f.k.mu.RUnlock()
	return f.f.WriteAt(p, off)
}

func (f *killableFile) Sync() error {
	if err := f.k.enter(); err != nil {
		return err
	}
	defer f.k.mu.RUnlock()
	return f.f.Sync()
}

func (f *killableFile) Truncate(size int64) error {
	if err := f.k.enter(); err != nil {
		return err
	}
	defer f.k.mu.RUnlock()
	return f.f.Truncate(size)
}

func (f *killableFile) Size() (int64, error) {
	if err := f.k.enter(); err != nil {
		return 0, err
	}
	defer f.k.mu.RUnlock()
	return f.f.Size()
}

func (f *killableFile) Preallocate(size int64) error {
	if err := f.k.enter(); err != nil {
		return err
	}
	defer f.k.mu.RUnlock()
	return f.f.Preallocate(size)
}

// Close closes the handle even after Kill, so nothing the dead process
// held stays open; with a MemFS the handle is dead anyway.
func (f *killableFile) Close() error {
	f.k.mu.RLock()
	defer f.k.mu.RUnlock()
	err := f.f.Close()
	if f.k.dead {
		return ErrKilled
	}
	return err
}
