package vfs

import (
	"errors"
	"io"
	"os"
)

// memFile is an open handle on a node.
type memFile struct {
	fs     *MemFS
	n      *node
	name   string
	gen    uint64
	closed bool
}

// checkLocked reports whether the handle may be used; mu must be held.
func (f *memFile) checkLocked(op string) error {
	if f.closed {
		return pathErr(op, f.name, os.ErrClosed)
	}
	if f.gen != f.fs.gen {
		return pathErr(op, f.name, ErrCrashed)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.inject(OpRead, f.name); err != nil {
		return 0, pathErr("read", f.name, err)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, errors.New("negative offset"))
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// WriteAt writes p at off, growing the file with zeros if needed. An
// injected *ShortWrite lets its first N bytes land before the error.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	injected := f.fs.inject(OpWrite, f.name)
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("write"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("write", f.name, errors.New("negative offset"))
	}
	if injected != nil {
		var sw *ShortWrite
		if !errors.As(injected, &sw) || sw.N <= 0 {
			return 0, pathErr("write", f.name, injected)
		}
		k := min(sw.N, len(p))
		f.n.write(p[:k], off)
		return k, pathErr("write", f.name, injected)
	}
	f.n.write(p, off)
	return len(p), nil
}

func (f *memFile) Sync() error {
	if err := f.fs.inject(OpSync, f.name); err != nil {
		return pathErr("sync", f.name, err)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("sync"); err != nil {
		return err
	}
	f.n.sync()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.fs.inject(OpTruncate, f.name); err != nil {
		return pathErr("truncate", f.name, err)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("truncate"); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, errors.New("negative size"))
	}
	f.n.resize(size)
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("stat"); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

// Preallocate grows the file to size with zeros; it never shrinks it.
func (f *memFile) Preallocate(size int64) error {
	if err := f.fs.inject(OpPreallocate, f.name); err != nil {
		return pathErr("preallocate", f.name, err)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("preallocate"); err != nil {
		return err
	}
	if size > int64(len(f.n.data)) {
		f.n.resize(size)
	}
	return nil
}

// Close invalidates the handle. Closing twice is an error, as for os.File.
func (f *memFile) Close() error {
	if err := f.fs.inject(OpClose, f.name); err != nil {
		return pathErr("close", f.name, err)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}
