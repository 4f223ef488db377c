package vfs

import "sync/atomic"

// Op names a MemFS operation for Inject.
type Op int

const (
	OpCreate Op = iota + 1
	OpOpen
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpPreallocate
	OpClose
	OpRemove
	OpRename
	OpList
	OpMkdirAll
	OpSyncDir
	OpLock
)

var opNames = [...]string{
	OpCreate: "create", OpOpen: "open", OpRead: "read", OpWrite: "write",
	OpSync: "sync", OpTruncate: "truncate", OpPreallocate: "preallocate",
	OpClose: "close", OpRemove: "remove", OpRename: "rename", OpList: "list",
	OpMkdirAll: "mkdirall", OpSyncDir: "syncdir", OpLock: "lock",
}

func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// ShortWrite, returned by Inject for OpWrite, makes the first N bytes of
// the write land before the write fails with Err (a partial write).
type ShortWrite struct {
	N   int
	Err error
}

func (e *ShortWrite) Error() string { return "short write: " + e.Err.Error() }
func (e *ShortWrite) Unwrap() error { return e.Err }

// FailNthSync returns an Inject hook that fails the n-th file Sync
// (counting from 1) with err, and every later one too if persistent. Other
// operations pass. It is safe for concurrent use.
func FailNthSync(n int, err error, persistent bool) func(op Op, name string) error {
	var count atomic.Int64
	return func(op Op, _ string) error {
		if op != OpSync {
			return nil
		}
		c := count.Add(1)
		if c == int64(n) || (persistent && c > int64(n)) {
			return err
		}
		return nil
	}
}
