package shard

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/evict"
)

// recount sums what the shard's counters keep incrementally, from the list
// itself: the estimate, its old-version and tombstone parts, and the key
// counts. Call it only while the shard goroutine is idle (after a request
// it answered at the end of its batch).
func recount(s *Shard[string]) (bytes, old, tomb int64, keys, live int) {
	for n := s.list.First(); n != nil; n = n.Next() {
		v := n.Newest()
		if v == nil {
			continue
		}
		keys++
		bytes += int64(n.Charge) + n.VersionCharge()
		top := n.NewestCharge()
		old += n.VersionCharge() - top
		if v.Tombstone() {
			tomb += top + int64(n.Charge)
		} else {
			live++
		}
	}
	return
}

// TestAccountingMatchesTheList runs random writes (some with TTLs that
// run out), deletes, evictions and vacuums through a shard with a tight LRU limit and, after each, checks
// every incrementally kept counter against a recount over the list.
func TestAccountingMatchesTheList(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			s, clock := memTStartShard(t, Memory[string]{
				Budget:    4000,
				Policy:    evict.LRU,
				ValueSize: func(_ string, v string) int64 { return int64(len(v)) },
			})
			rng := rand.New(rand.NewPCG(seed, 1))
			for i := range 2000 {
				k := fmt.Sprint("k", rng.IntN(24))
				switch op := rng.IntN(10); {
				case op < 6:
					w := put(k, strings.Repeat("v", rng.IntN(400)))
					if rng.IntN(4) == 0 { // a TTL that may run out during the run
						w.Expiry = time.Now().Add(time.Duration(rng.IntN(2000)) * time.Microsecond).UnixNano()
					}
					blind(t, s, w)
				case op < 8:
					blind(t, s, del(k))
				case op < 9:
					r := NewRequest[string]()
					r.Kind, r.Blind, r.Evict, r.WantOld, r.Writes = KindCommitOne, true, true, true, []Write[string]{del(k)}
					s.Do(r)
					require.NoError(t, r.Err)
				default:
					r := NewRequest[string]()
					r.Kind, r.TS = KindVacuum, clock.Visible()
					s.Do(r)
					blind(t, s) // a batch that ends after the pass: the shard is idle after it
				}
				bytes, old, tomb, keys, live := recount(s)
				at := fmt.Sprintf("step %d", i)
				require.Equal(t, bytes, s.mem.bytes, "%s: estimate", at)
				require.Equal(t, old, s.mem.old, "%s: old versions", at)
				require.Equal(t, tomb, s.mem.tomb, "%s: tombstones", at)
				require.Equal(t, keys, s.stats.Keys, "%s: keys", at)
				require.Equal(t, live, s.stats.Live, "%s: live keys", at)
				require.Equal(t, int64(live), s.Live(), "%s: published live keys", at)
			}
			require.Positive(t, s.mem.expirations, "deadlines ran out and the shard deleted the keys")
			require.Positive(t, s.mem.evictions)
		})
	}
}

// TestDeadlinesLetGoOfUnlinkedKeys: keys written with a long TTL and then
// deleted are reclaimed; their entries in the deadline heap must go with
// them, or the heap would keep every such node alive outside the estimate.
func TestDeadlinesLetGoOfUnlinkedKeys(t *testing.T) {
	s, _ := memTStartShard(t, Memory[string]{
		Budget:    1 << 30,
		Policy:    evict.LRU,
		ValueSize: func(_ string, v string) int64 { return int64(len(v)) },
	})
	hour := time.Now().Add(time.Hour).UnixNano()
	for i := range 5000 {
		k := fmt.Sprint("session", i)
		w := put(k, "v")
		w.Expiry = hour
		blind(t, s, w)
		blind(t, s, del(k))
	}
	_, _, _, keys, _ := recount(s)
	require.Less(t, len(s.mem.deadlines), 2*keys+130,
		"the heap holds %d entries for %d keys left in the list", len(s.mem.deadlines), keys)
}

// TestRejectKeepsNoDeadlines: a shard that never evicts has no use for
// the deadline heap.
func TestRejectKeepsNoDeadlines(t *testing.T) {
	s := rejectShard(t)
	w := put("k", "v")
	w.Expiry = time.Now().Add(time.Hour).UnixNano()
	blind(t, s, w)
	blind(t, s, del("k"))
	require.Empty(t, s.mem.deadlines)
}
