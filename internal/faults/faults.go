package faults

import "sync/atomic"

// DirtyReads, when set, makes a shard answer point reads with writes that
// are merely prepared (not committed, and possibly about to abort): the
// classic aborted-read (G1a) bug. Set it only in tests, before the database
// is built, and reset it when done.
var DirtyReads atomic.Bool
