package txhook

import "time"

// CommitTS commits tx (a *fluxmap.Tx of any type parameters) like Commit and
// also returns its commit timestamp, or 0 for a transaction without writes.
var CommitTS func(tx any) (uint64, error)

// StartTS returns the snapshot timestamp tx (a *fluxmap.Tx) reads at.
var StartTS func(tx any) uint64

// SetFS makes a *fluxmap.Builder use fs (a wal.FS, e.g. a fault-injecting
// one) instead of the real file system.
var SetFS func(builder any, fs any)

// SetClock makes a *fluxmap.Builder use now as the wall clock for TTLs.
var SetClock func(builder any, now func() time.Time)
