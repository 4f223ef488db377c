// Package vfs holds MemFS, an in-memory wal.FS that models what survives a
// power loss and fails operations on demand, so crash and I/O-error tests
// of the WAL and of whole databases run in plain Go, fast and
// deterministically.
//
// # Durability model
//
// A file has a current content and a durable content, the content as of
// its last Sync. A directory has current entries and durable entries, the
// entries as of its last SyncDir: a Create, Rename or Remove is durable
// only once its directory is synced. Crash throws away everything that is
// not durable; CrashRandom keeps, per file, a random prefix of the unsynced
// writes in the order they were made, the last one possibly torn (ordered
// write-back). Making a directory (MkdirAll) or removing an empty one is
// durable at once, a simplification: the WAL syncs a new directory's
// parent anyway.
//
// # Fault injection
//
// MemFS.Inject is called before every operation with the operation and the
// file name; a non-nil result fails the operation without effect (for
// OpWrite, a *ShortWrite makes a prefix land first). FailNthSync builds a
// hook that fails fsyncs.
//
// This package is internal and carries no compatibility promise.
package vfs
