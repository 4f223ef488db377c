package fluxmap

import (
	"context"
	"time"
)

// VacuumOptions configures automatic vacuum.
type VacuumOptions struct {
	// Interval is the time between vacuum passes; zero disables them.
	Interval time.Duration
}

// VacuumStats reports what a vacuum pass removed.
type VacuumStats struct {
	// Versions is the number of versions removed, tombstones included.
	Versions uint64
	// Keys is the number of deleted keys removed entirely.
	Keys uint64
}

// AutoVacuum runs a vacuum pass every o.Interval in the background; Close
// stops it and waits for it. Default: off (call Vacuum yourself).
func (b *Builder[K, V]) AutoVacuum(o VacuumOptions) *Builder[K, V] { b.vacuum = o; return b }

// Vacuum removes the versions no live reader can see: for each key it keeps
// the newest version at or below the horizon (the start of the oldest live
// transaction, View, scan or checkpoint) and everything newer, and removes
// keys whose only remaining version is a delete at or below the horizon. It
// runs on every shard in parallel, in bounded slices, so requests never wait
// behind a whole pass. A long-lived snapshot holds the horizon back; see
// Stats.
func (db *DB[K, V]) Vacuum(ctx context.Context) (VacuumStats, error) {
	if err := db.check(ctx, "vacuum"); err != nil {
		return VacuumStats{}, err
	}
	v, err := db.coord.Vacuum()
	if err != nil {
		return VacuumStats{}, errorf("vacuum: %w", err)
	}
	return VacuumStats{Versions: v.Versions, Keys: v.Keys}, nil
}
