package fluxmap_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// Small deterministic cases of the eviction policies, on one shard (the
// whole limit is one budget). Two things about the engine shape them:
//
//   - A shard evicts at the end of every batch, reads included, and spares
//     the keys the batch itself wrote, so any request may evict what an
//     earlier batch spared. settleEvictions lets that happen before a test
//     looks.
//   - Scans do not count as uses (Get and writes do), so keysPresent reads
//     the key set with a scan without changing the eviction order.

// evictValue is the value of the policy cases: about four fifths of an
// entry's estimate.
var evictValue = strings.Repeat("x", 1000)

// bigEntryCost returns the estimate of one key of the given length holding
// evictValue, as the engine computes it.
func bigEntryCost(t *testing.T, keyLen int) int64 {
	t.Helper()
	db := build(t, fluxmap.New[string, string]().Shards(1))
	require.NoError(t, db.Insert(context.Background(), strings.Repeat("k", keyLen), evictValue))
	return shardMemory(t, db)
}

// shardMemory returns the shards' own estimate, asked of each shard (what
// MemoryInfo reads is what they published at the end of their last batch).
func shardMemory[K, V any](t *testing.T, db *fluxmap.DB[K, V]) int64 {
	t.Helper()
	st, err := db.Stats()
	require.NoError(t, err)
	return st.Memory.Current
}

// settleEvictions lets the shards evict what the last batch spared: the
// first Stats round trip's batch may evict, and the second waits for that
// batch to finish (its evictions are visible once it has).
func settleEvictions[K, V any](t *testing.T, db *fluxmap.DB[K, V]) {
	t.Helper()
	for range 2 {
		_, err := db.Stats()
		require.NoError(t, err)
	}
}

func evictionCount[K, V any](t *testing.T, db *fluxmap.DB[K, V]) uint64 {
	t.Helper()
	st, err := db.Stats()
	require.NoError(t, err)
	return st.Evictions
}

// keysPresent returns the keys db holds, in order, without touching them.
func keysPresent(t *testing.T, db *fluxmap.DB[string, string]) []string {
	t.Helper()
	settleEvictions(t, db)
	es, err := db.PrefixScan(context.Background(), "")
	require.NoError(t, err)
	var ks []string
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return ks
}

// fourEntryDB is a one-shard database whose limit holds four and a half
// entries of one-letter keys holding bigValue: the fifth big key evicts one.
func fourEntryDB(t *testing.T, p fluxmap.EvictionPolicy) (*fluxmap.DB[string, string], int64) {
	t.Helper()
	cost := bigEntryCost(t, 1)
	limit := 4*cost + cost/2
	return build(t, fluxmap.New[string, string]().Shards(1).MaxMemory(limit).EvictionPolicy(p)), limit
}

func insertBig(t *testing.T, db *fluxmap.DB[string, string], keys ...string) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, db.Insert(context.Background(), k, evictValue))
	}
}

func getAllFound(t *testing.T, db *fluxmap.DB[string, string], keys ...string) {
	t.Helper()
	for _, k := range keys {
		_, ok, err := db.Get(context.Background(), k)
		require.NoError(t, err)
		require.True(t, ok, k)
	}
}

// TestMemLimitRecencyVersusFrequency runs one sequence under LRU and LFU:
// a is read often but long ago, b, c and d once each since. LRU evicts a,
// the least recent; LFU keeps it, evicts b (the least recent of the keys
// used twice), and on the next insert evicts e, used once: under LFU a new
// key is the least used as soon as its own batch is over.
func TestMemLimitRecencyVersusFrequency(t *testing.T) {
	for _, c := range []struct {
		policy         fluxmap.EvictionPolicy
		afterE, afterF []string
	}{
		{fluxmap.LRU, []string{"b", "c", "d", "e"}, []string{"c", "d", "e", "f"}},
		{fluxmap.LFU, []string{"a", "c", "d", "e"}, []string{"a", "c", "d", "f"}},
	} {
		t.Run(c.policy.String(), func(t *testing.T) {
			db, limit := fourEntryDB(t, c.policy)
			insertBig(t, db, "a", "b", "c", "d")
			require.Equal(t, []string{"a", "b", "c", "d"}, keysPresent(t, db), "four entries fit")
			require.Zero(t, evictionCount(t, db))
			getAllFound(t, db, "a", "a", "a", "b", "c", "d")
			insertBig(t, db, "e")
			require.Equal(t, c.afterE, keysPresent(t, db))
			insertBig(t, db, "f")
			require.Equal(t, c.afterF, keysPresent(t, db))
			require.Equal(t, uint64(2), evictionCount(t, db))
			require.LessOrEqual(t, shardMemory(t, db), limit)
		})
	}
}

// TestMemLimitWritesAreUses checks that an overwrite (even by a small
// value) and a Get count as uses under both policies, that a victim is the
// least recently used among the least used, and that an overwritten
// version goes before any live key.
func TestMemLimitWritesAreUses(t *testing.T) {
	for _, p := range []fluxmap.EvictionPolicy{fluxmap.LRU, fluxmap.LFU} {
		t.Run(p.String(), func(t *testing.T) {
			ctx := context.Background()
			db, _ := fourEntryDB(t, p)
			insertBig(t, db, "a", "b", "c", "d")
			require.NoError(t, db.Insert(ctx, "a", "small")) // a second, small version fits
			getAllFound(t, db, "c")
			// Over budget, the shard first reclaims a's first version, which no
			// snapshot can read any more: e then fits with no eviction.
			insertBig(t, db, "e")
			require.Equal(t, []string{"a", "b", "c", "d", "e"}, keysPresent(t, db))
			require.Zero(t, evictionCount(t, db))
			insertBig(t, db, "f") // b: least recent (LRU), least recent of the keys used once (LFU)
			require.Equal(t, []string{"a", "c", "d", "e", "f"}, keysPresent(t, db))
			insertBig(t, db, "g") // d, by the same rules (under LFU e and f too are used once, but later)
			require.Equal(t, []string{"a", "c", "e", "f", "g"}, keysPresent(t, db))
			v, ok, err := db.Get(ctx, "a")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "small", v)
		})
	}
}

// TestMemLimitSparesCurrentBatch: keys written in the batch that took the
// shard over its budget are never its victims, even if nothing else is left
// to evict; they are fair game from the next batch on, whatever that batch
// holds. Stats shows the state between the two: a shard answers it before
// evicting at the end of its batch.
func TestMemLimitSparesCurrentBatch(t *testing.T) {
	for _, p := range []fluxmap.EvictionPolicy{fluxmap.LRU, fluxmap.LFU} {
		t.Run(p.String(), func(t *testing.T) {
			ctx := context.Background()
			db, limit := fourEntryDB(t, p)
			insertBig(t, db, "a", "b", "c")
			// One value bigger than the whole limit: every older key goes and
			// the shard is still over, with the new key kept.
			require.NoError(t, db.Insert(ctx, "h", strings.Repeat("h", int(2*limit))))
			st, err := db.Stats()
			require.NoError(t, err)
			require.Equal(t, uint64(3), st.Evictions, "a, b and c, not h")
			require.Greater(t, st.Memory.Current, limit, "nothing left that may be evicted")
			require.Empty(t, keysPresent(t, db), "the next batch evicts h")
			require.Equal(t, uint64(4), evictionCount(t, db))

			// A transaction of six big keys commits whole, over the limit:
			// all six were written in the same batch. The next batch evicts
			// two of them.
			six := []string{"p", "q", "r", "s", "t", "u"}
			require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
				for _, k := range six {
					if err := tx.Insert(k, evictValue); err != nil {
						return err
					}
				}
				return nil
			}))
			st, err = db.Stats()
			require.NoError(t, err)
			require.Equal(t, uint64(4), st.Evictions)
			require.Greater(t, st.Memory.Current, limit)
			got := keysPresent(t, db)
			require.Len(t, got, 4)
			require.Subset(t, six, got)
			require.Equal(t, uint64(6), evictionCount(t, db))
			require.LessOrEqual(t, shardMemory(t, db), limit)
			insertBig(t, db, "w") // five entries: one of the six goes, w stays
			got = keysPresent(t, db)
			require.Len(t, got, 4)
			require.Contains(t, got, "w")
			require.Equal(t, uint64(7), evictionCount(t, db))
			require.LessOrEqual(t, shardMemory(t, db), limit)
		})
	}
}

// TestMemLimitEvictionConflictsReaders: a policy eviction is a committed
// delete at its own timestamp, so a transaction that read the victim before
// it went conflicts, and a snapshot taken before it still reads the victim.
func TestMemLimitEvictionConflictsReaders(t *testing.T) {
	db, _ := fourEntryDB(t, fluxmap.LRU)
	insertBig(t, db, "a", "b", "c", "d")
	reader := begin(t, db)
	defer reader.Rollback() //nolint:errcheck // ended below; this one runs if a require stops the test
	snap := begin(t, db)
	defer snap.Rollback() //nolint:errcheck // as above
	require.Equal(t, evictValue, txMustGet(t, reader, "a"))
	txInsert(t, reader, "x", "small")
	getAllFound(t, db, "b", "c", "d") // a's last use is the reader's Get
	insertBig(t, db, "e")             // evicts a
	require.Equal(t, []string{"b", "c", "d", "e"}, keysPresent(t, db))
	require.Equal(t, evictValue, txMustGet(t, snap, "a"), "a snapshot from before the eviction still reads a")
	require.NoError(t, snap.Rollback())
	require.ErrorIs(t, reader.Commit(), fluxmap.ErrConflict, "the reader of an evicted key must not commit")
	requireAbsent(t, db, "x")
}

// TestMemLimitRejectChangesNothingAnyPath: under Reject every kind of write
// that would exceed the limit fails with ErrMemoryLimit and changes neither
// the data nor the estimate; deletes, evicting by hand and writes that fit
// still work.
func TestMemLimitRejectChangesNothingAnyPath(t *testing.T) {
	ctx := context.Background()
	db, limit := fourEntryDB(t, fluxmap.Reject)
	insertBig(t, db, "a", "b", "c", "d")
	before := shardMemory(t, db)
	want := []string{"a", "b", "c", "d"}
	for name, op := range map[string]func() error{
		"Insert":        func() error { return db.Insert(ctx, "e", evictValue) },
		"InsertWithTTL": func() error { return db.InsertWithTTL(ctx, "e", evictValue, time.Hour) },
		"overwrite":     func() error { return db.Insert(ctx, "a", evictValue) },
		"Transaction": func() error {
			return db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
				if err := tx.Insert("a", "small"); err != nil {
					return err
				}
				return tx.Insert("e", evictValue)
			})
		},
		"Tx.InsertWithTTL": func() error {
			return db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
				if _, _, err := tx.Remove("b"); err != nil {
					return err
				}
				return tx.InsertWithTTL("e", evictValue, time.Hour)
			})
		},
		"Begin+Commit": func() error {
			tx := begin(t, db)
			txInsert(t, tx, "e", evictValue)
			txInsert(t, tx, "f", evictValue)
			return tx.Commit()
		},
	} {
		err := op()
		require.ErrorIs(t, err, fluxmap.ErrMemoryLimit, name)
		require.NotErrorIs(t, err, fluxmap.ErrConflict, name)
		require.Equal(t, want, keysPresent(t, db), name)
		require.Equal(t, before, shardMemory(t, db), name)
		for _, k := range want {
			requireValue(t, db, k, evictValue)
		}
	}
	st, err := db.Stats()
	require.NoError(t, err)
	require.Zero(t, st.Evictions)
	require.Equal(t, fluxmap.Reject, st.Policy)

	// What fits still goes through.
	require.NoError(t, db.InsertWithTTL(ctx, "t", "small", time.Hour))
	_, existed, err := db.Remove(ctx, "b")
	require.NoError(t, err)
	require.True(t, existed)
	ok, err := db.Evict(ctx, "c")
	require.NoError(t, err)
	require.True(t, ok)
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "d", "t"}, keysPresent(t, db))
	require.NoError(t, db.Insert(ctx, "e", evictValue), "room was freed")
	require.LessOrEqual(t, shardMemory(t, db), limit)
}

// TestMemLimitVacuumReturnsToLiveSize overwrites every key ten times while
// a snapshot pins the old versions, then closes the snapshot: one Vacuum
// must bring the versions back to one per key and the estimate back to
// exactly that of a database that only ever held the final values (and
// within a stated factor of the raw key and value bytes).
func TestMemLimitVacuumReturnsToLiveSize(t *testing.T) {
	ctx := context.Background()
	const keys, rounds, valueLen = 64, 10, 100
	val := func(round int) string { return strings.Repeat(string(rune('a'+round)), valueLen) }
	key := func(i int) string { return fmt.Sprintf("key%03d", i) }
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			db := build(t, fluxmap.New[string, string]().Shards(shards).MaxMemory(1<<30))
			fresh := build(t, fluxmap.New[string, string]().Shards(shards))
			for i := range keys {
				require.NoError(t, db.Insert(ctx, key(i), val(0)))
				require.NoError(t, fresh.Insert(ctx, key(i), val(rounds-1)))
			}
			pin := begin(t, db)
			defer pin.Rollback() //nolint:errcheck // ended below
			txMustGet(t, pin, key(0))
			for r := 1; r < rounds; r++ {
				for i := range keys {
					require.NoError(t, db.Insert(ctx, key(i), val(r)))
				}
				_, err := db.Vacuum(ctx) // the snapshot keeps everything
				require.NoError(t, err)
			}
			ks, vs := stringDBVersions(t, db)
			require.Equal(t, keys, ks)
			require.Equal(t, keys*rounds, vs, "the open snapshot pins every version")
			live := shardMemory(t, fresh)
			pinned := shardMemory(t, db)
			require.Greater(t, pinned, 3*live)

			require.NoError(t, pin.Rollback())
			res, err := db.Vacuum(ctx)
			require.NoError(t, err)
			require.Equal(t, uint64(keys*(rounds-1)), res.Versions)
			require.Zero(t, res.Keys)
			ks, vs = stringDBVersions(t, db)
			require.Equal(t, keys, ks)
			require.Equal(t, keys, vs, "one version per key after one vacuum")
			require.Equal(t, live, shardMemory(t, db), "the estimate is back to that of the live data")
			settleEvictions(t, db)
			require.Equal(t, live, db.MemoryInfo().Current, "and MemoryInfo says so")
			// For 100-byte values and 6-byte keys the estimate is about 3.5x
			// the raw bytes (node, index entry and version overhead).
			raw := int64(keys * (len(key(0)) + valueLen))
			require.GreaterOrEqual(t, live, raw)
			require.LessOrEqual(t, live, 4*raw)
			t.Logf("live %d bytes (%.2fx the %d raw bytes), %d with the snapshot open", live, float64(live)/float64(raw), raw, pinned)
		})
	}
}

func stringDBVersions(t *testing.T, db *fluxmap.DB[string, string]) (keys, versions int) {
	t.Helper()
	st, err := db.Stats()
	require.NoError(t, err)
	for _, s := range st.Shards {
		keys += s.Keys
		versions += s.Versions
	}
	return keys, versions
}
