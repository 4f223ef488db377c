//go:build !unix || aix || solaris

package wal

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// lockFile creates name with O_EXCL. Unlike flock the lock survives a crash
// of the process: the stale file must then be removed by hand.
func lockFile(name string, perm fs.FileMode) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return nil, errs.Errorf("wal: lock %s: %w", name, ErrLocked)
	}
	if err != nil {
		return nil, err
	}
	return &exclLock{f: f, name: name}, nil
}

type exclLock struct {
	f    *os.File
	name string
}

func (l *exclLock) Close() error {
	err := l.f.Close()
	if rerr := os.Remove(l.name); err == nil {
		err = rerr
	}
	return err
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot flush a directory handle; NTFS journals
		// metadata changes itself.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
