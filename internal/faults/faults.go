// Package faults holds switches that break the engine on purpose, so tests
// can prove that the isolation checker notices. Nothing in production sets
// them; every switch is off by default and costs one branch when off.
//
// This package is internal and carries no compatibility promise.
package faults

import "sync/atomic"

// DirtyReads, when set, makes a shard answer point reads with writes that
// are merely prepared (not committed, and possibly about to abort): the
// classic aborted-read (G1a) bug. Set it only in tests, before the database
// is built, and reset it when done.
var DirtyReads atomic.Bool
