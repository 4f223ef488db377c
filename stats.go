package fluxmap

import (
	"cmp"
	"slices"
	"time"

	"github.com/fluxmap/fluxmap/shard"
)

// Stats is a point-in-time report of the database's counters.
type Stats struct {
	// Shards holds one entry per shard.
	Shards []ShardStats
	// Commits is the number of committed transactions' shard installs
	// (a transaction spanning three shards counts three times).
	Commits uint64
	// Conflicts is the number of validation failures on shards.
	Conflicts uint64
	// Retries counts transaction attempts that DB.Transaction retried after a
	// conflict.
	Retries uint64
	// Evictions counts keys removed by the memory limit (and DB.Evict),
	// under the configured Policy; Expirations counts keys whose TTL ran out
	// and that vacuum deleted (or a shard over its memory limit, before it
	// evicts).
	Evictions   uint64
	Policy      EvictionPolicy
	Expirations uint64
	// Memory is the limit and the current estimate, as MemoryInfo.
	Memory MemoryInfo
	// Vacuum totals every vacuum pass's removals; Passes counts per shard.
	Vacuum struct {
		Passes, Versions, Keys uint64
	}
	// OldestSnapshotAge is how long the oldest live snapshot (transaction,
	// View, scan or checkpoint) has been open; zero if none is. Versions it
	// may read cannot be vacuumed.
	OldestSnapshotAge time.Duration
	// Visible is the newest commit timestamp every new snapshot sees.
	Visible uint64
	// ConflictsBy splits Conflicts by cause: "locked" (an in-flight
	// transaction held the key or range), "stale-read", "phantom" (a scanned
	// range changed) and "write-write" (first committer wins).
	ConflictsBy map[string]uint64
	// HotKeys are the keys that conflicts named most often since the
	// database opened, most first, at most MaxHotKeys of them: where a
	// schema's contention is. Each shard tracks its HotKeysPerShard most
	// conflicted keys in a bounded summary, so a key that draws more than
	// 1/HotKeysPerShard of its shard's conflicts is always listed, and a
	// count may be an overestimate by up to the key's Overcount.
	HotKeys []HotKey
	// WAL is filled in for durable databases.
	WAL *WALStats
	// Feed is filled in for databases with a change feed.
	Feed *FeedStats
}

// Bounds of Stats.HotKeys.
const (
	MaxHotKeys      = 10
	HotKeysPerShard = shard.HotKeysCap
)

// HotKey is a key and the number of commits refused over it (ErrConflict;
// also autocommit writes that waited on its lock, which they retry).
type HotKey struct {
	// Key is a value of the database's key type, or the encoded key as a
	// string if it does not decode.
	Key any
	// Conflicts counts the votes no that named Key; up to Overcount of
	// them may have named keys the summary since dropped.
	Conflicts, Overcount uint64
}

// WALStats describes a durable database's write-ahead logs.
type WALStats struct {
	// Bytes is the size of the live WAL segments, all shards together.
	Bytes int64
	// Syncs counts fsyncs; SyncP50, SyncP99 and SyncP999 are latency
	// percentiles, as the upper bound of a power-of-two bucket.
	Syncs                      int64
	SyncP50, SyncP99, SyncP999 time.Duration
}

// percentile returns the upper bound of the bucket holding quantile q of a
// power-of-two microsecond histogram.
func percentile(buckets []int64, total int64, q float64) time.Duration {
	if total == 0 {
		return 0
	}
	want := int64(q*float64(total) + 0.5)
	var seen int64
	for i, n := range buckets {
		seen += n
		if seen >= want {
			return time.Duration(int64(2)<<i) * time.Microsecond
		}
	}
	return time.Duration(int64(2)<<(len(buckets)-1)) * time.Microsecond
}

// ShardStats are one shard's counters.
type ShardStats struct {
	// Keys counts live keys: keys whose newest version is a value (one
	// past its TTL deadline counts until vacuum deletes it).
	Keys int
	// Deleted counts deleted and evicted keys whose tombstone is still held
	// (a snapshot may read under it); vacuum, or under a memory limit the
	// shard itself, removes them.
	Deleted int
	// Versions counts all versions held, old ones included.
	Versions int
	// Bytes is the shard's memory estimate.
	Bytes int64
}

// Stats returns the database's counters. It asks every shard for its own
// (one round trip each, in parallel) and is safe to call concurrently.
func (db *DB[K, V]) Stats() (Stats, error) {
	var st Stats
	if err := db.built("stats"); err != nil {
		return st, err
	}
	if db.closed.Load() {
		return st, errorf("stats: %w", ErrClosed)
	}
	shards, err := db.coord.ShardStats()
	if err != nil {
		return st, errorf("stats: %w", err)
	}
	st.ConflictsBy = make(map[string]uint64)
	var hot []shard.HotKey
	for _, s := range shards {
		hot = append(hot, s.HotKeys...)
		for r, n := range s.ConflictsBy {
			st.ConflictsBy[shard.Reason(r).String()] += n
		}
		st.Shards = append(st.Shards, ShardStats{Keys: s.Live, Deleted: s.Keys - s.Live, Versions: s.Versions, Bytes: s.Bytes})
		st.Evictions += s.Evictions
		st.Expirations += s.Expirations
		st.Memory.Current += s.Bytes
		st.Memory.OldVersions += s.OldBytes
		st.Memory.Tombstones += s.TombBytes
		st.Commits += s.Commits
		st.Conflicts += s.Conflicts
		st.Vacuum.Passes += s.Vacuum.Passes
		st.Vacuum.Versions += s.Vacuum.Versions
		st.Vacuum.Keys += s.Vacuum.Keys
	}
	if bytes, syncs, buckets, ok := db.coord.WALStats(); ok {
		st.WAL = &WALStats{
			Bytes: bytes, Syncs: syncs,
			SyncP50:  percentile(buckets, syncs, 0.50),
			SyncP99:  percentile(buckets, syncs, 0.99),
			SyncP999: percentile(buckets, syncs, 0.999),
		}
	}
	st.HotKeys = db.hotKeys(hot)
	st.Feed = db.feedStats()
	st.Retries = db.retries.Load()
	st.Policy = db.policy
	st.Memory.Max = db.maxMemory
	st.Memory.Live = st.Memory.Current - st.Memory.OldVersions - st.Memory.Tombstones
	st.Visible = db.coord.Oracle().Visible()
	if since, ok := db.coord.Oracle().OldestSnapshotSince(); ok {
		st.OldestSnapshotAge = time.Since(since)
	}
	return st, nil
}

// hotKeys merges the shards' conflict summaries (their keys are disjoint:
// a key lives on one shard) into Stats.HotKeys.
func (db *DB[K, V]) hotKeys(hot []shard.HotKey) []HotKey {
	slices.SortFunc(hot, func(a, b shard.HotKey) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key))
	})
	hot = hot[:min(len(hot), MaxHotKeys)]
	out := make([]HotKey, len(hot))
	for i, h := range hot {
		out[i] = HotKey{Key: h.Key, Conflicts: h.Count, Overcount: h.Over}
		if k, err := db.keys.decode(h.Key); err == nil {
			out[i].Key = k
		}
	}
	return out
}
