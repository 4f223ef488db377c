//go:build linux

package wal

import (
	"errors"
	"os"
	"syscall"
)

// preallocate extends f from cur to size bytes with fallocate, so later
// writes into the segment do not have to allocate blocks. A file system
// without fallocate gets a sparse Truncate instead.
func preallocate(f *os.File, cur, size int64) error {
	err := fdControl(f, func(fd int) error {
		return syscall.Fallocate(fd, 0, cur, size-cur)
	})
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return f.Truncate(size)
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}

// datasync is fdatasync: the data and the metadata needed to read it back
// (the size), not the timestamps.
func datasync(f *os.File) error {
	if err := fdControl(f, syscall.Fdatasync); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

// fdControl runs op on f's descriptor, retrying on EINTR.
func fdControl(f *os.File, op func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			opErr = op(int(fd))
			if opErr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return opErr
}
