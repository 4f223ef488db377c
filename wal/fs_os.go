package wal

import (
	"io"
	"io/fs"
	"os"
)

// DefaultFilePerm is the permission of the files OSFS creates: the owner
// alone may read and write them, as a database's contents are nobody
// else's business. DirPerm(DefaultFilePerm) (0o700) is that of its
// directories.
const DefaultFilePerm fs.FileMode = 0o600

// DirPerm returns the permission of a directory that holds files of
// permission file: the same bits, with execute (search) wherever read is
// set, so whoever may read the files may also reach them.
func DirPerm(file fs.FileMode) fs.FileMode {
	file &= fs.ModePerm
	return file | (file&0o444)>>2
}

// OSFS returns the FS of the operating system, which creates files with
// DefaultFilePerm and directories with DirPerm(DefaultFilePerm). It is safe
// for concurrent use. Lock uses flock(LOCK_EX|LOCK_NB) where the platform
// has it (the lock dies with the process) and an O_EXCL lock file elsewhere
// (a crash leaves that file behind, and it must be removed by hand).
func OSFS() FS { return OSFSWithPerm(DefaultFilePerm) }

// OSFSWithPerm is OSFS creating files with permission file and directories
// with DirPerm(file). The process's umask narrows both, as it does for
// every file the process creates; the permissions of existing files and
// directories are left alone.
func OSFSWithPerm(file fs.FileMode) FS {
	file &= fs.ModePerm
	return osFS{file: file, dir: DirPerm(file)}
}

type osFS struct{ file, dir fs.FileMode }

func (o osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, o.file)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (o osFS) MkdirAll(dir string) error          { return os.MkdirAll(dir, o.dir) }
func (osFS) SyncDir(dir string) error             { return syncDir(dir) }
func (o osFS) Lock(name string) (io.Closer, error) {
	return lockFile(name, o.file)
}

func (osFS) Lstat(name string) (fs.FileMode, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return 0, err
	}
	return fi.Mode(), nil
}

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

type osFile struct{ f *os.File }

func (o osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Sync() error                              { return datasync(o.f) }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Close() error                             { return o.f.Close() }

func (o osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (o osFile) Preallocate(size int64) error {
	cur, err := o.Size()
	if err != nil || cur >= size {
		return err
	}
	return preallocate(o.f, cur, size)
}
