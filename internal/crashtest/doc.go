// Package crashtest holds the pieces the database-level durability tests
// share: a file system wrapper that a simulated crash can freeze, and a
// checker that decides whether a recovered state is a gap-free prefix of a
// recorded history of commits.
//
// # Why a freezable file system
//
// A MemFS crash (vfs.MemFS.Crash) resets the files to their durable
// content, but the database that was using them keeps running: its WAL
// writers, flushers and checkpointer may still create, rename and remove
// files after the "power loss", and those changes would land on the
// post-crash image that the next open recovers from. A real crash stops
// the process. Killable wraps the MemFS and, under its write lock, marks
// itself dead before the crash happens, so every later call of the old
// database fails without touching the image; the reopened database gets a
// fresh wrapper on the same MemFS.
//
// # The prefix check
//
// Recovery must produce exactly the state after the commits with
// timestamps 1..T, for the T it recovered (DESIGN.md §6). Check gets the
// history the committers recorded (a transaction's writes, its commit
// timestamp when Commit reported one, and whether it was acknowledged)
// and T (read from the reopened database: its next commit gets T+1). A
// commit that failed because of the crash or a poisoned database has no
// known timestamp, yet it may have been assigned one and made durable; so
// the timestamps in 1..T that no recorded transaction has are filled, in
// every possible way, by the transactions whose outcome is unknown, and
// the state must match one of those replays.
//
// This package is internal and carries no compatibility promise.
package crashtest
