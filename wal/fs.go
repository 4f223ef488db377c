package wal

import (
	"io"
	"io/fs"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// FS is the file system seam: every file access of the WAL and the
// checkpoints goes through it, so tests can swap in an in-memory file system
// that drops unsynced data and injects errors (internal/vfs). Names are
// paths in the host's syntax (filepath).
//
// An FS must be safe for concurrent use by several goroutines (one per
// shard); a File it returns is used by one goroutine at a time.
type FS interface {
	// Create opens name read-write, creating it or truncating it to zero
	// (O_RDWR|O_CREATE|O_TRUNC). A file it creates has the FS's file
	// permission (DefaultFilePerm for OSFS); a truncated one keeps its own.
	Create(name string) (File, error)
	// Open opens an existing file read-write.
	Open(name string) (File, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	// List returns the base names of the entries of dir, sorted. It fails
	// with an error wrapping fs.ErrNotExist if dir does not exist.
	List(dir string) ([]string, error)
	// MkdirAll creates dir and any missing parents, with the FS's
	// directory permission (DirPerm(DefaultFilePerm) for OSFS).
	MkdirAll(dir string) error
	// SyncDir makes the creates, renames and removes in dir durable.
	SyncDir(dir string) error
	// Lstat returns the type and permission bits of name itself, not of
	// what a symbolic link points to. It fails with an error wrapping
	// fs.ErrNotExist if name does not exist.
	Lstat(name string) (fs.FileMode, error)
	// Lock takes an exclusive lock on the file name, creating it if needed
	// (with the FS's file permission).
	// If another holder has it, Lock fails at once with an error wrapping
	// ErrLocked. Closing the returned io.Closer releases the lock.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes the file's data durable (fdatasync on Linux).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	// Preallocate makes the file at least size bytes long with its blocks
	// allocated (fallocate on Linux, a plain Truncate elsewhere). It never
	// shrinks the file.
	Preallocate(size int64) error
	Close() error
}

// ErrLocked is wrapped by FS.Lock when another holder has the lock. It is
// the root package's ErrLocked.
var ErrLocked = errs.ErrLocked
