package fluxmap_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// bound draws a random bound near the keys: open, or a key of the model
// or one between keys, included or excluded.
func bound(rng *rand.Rand, keys []string) (fluxmap.Bound[string], string, int) {
	kind := rng.IntN(3)
	if kind == 0 {
		return fluxmap.Bound[string]{}, "", 0
	}
	k := keys[rng.IntN(len(keys))]
	if rng.IntN(3) == 0 {
		k += "~" // between two keys
	}
	if kind == 1 {
		return fluxmap.Incl(k), k, 1
	}
	return fluxmap.Excl(k), k, 2
}

// TestScanBoundsAndOrder compares Scan, with every kind of bound on each
// side and in both orders, against a sorted model, at 1 and 4 shards, on
// enough keys that a reverse scan refills its batches many times, after
// overwrites and deletes.
func TestScanBoundsAndOrder(t *testing.T) {
	ctx := context.Background()
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprint("shards=", shards), func(t *testing.T) {
			db := build(t, fluxmap.New[string, int]().Shards(shards))
			rng := rand.New(rand.NewPCG(uint64(shards), 7))
			model := map[string]int{}
			var all []string
			for i := range 3000 {
				k := fmt.Sprintf("k%05d", rng.IntN(5000))
				all = append(all, k)
				require.NoError(t, db.Insert(ctx, k, i))
				model[k] = i
			}
			for range 800 {
				k := all[rng.IntN(len(all))]
				_, _, err := db.Remove(ctx, k)
				require.NoError(t, err)
				delete(model, k)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range model {
					if !yield(k) {
						return
					}
				}
			})
			for range 300 {
				lo, lk, lkind := bound(rng, all)
				hi, hk, hkind := bound(rng, all)
				rev := rng.IntN(2) == 0
				var want []fluxmap.Entry[string, int]
				for _, k := range keys {
					if (lkind == 1 && k < lk) || (lkind == 2 && k <= lk) || (hkind == 1 && k > hk) || (hkind == 2 && k >= hk) {
						continue
					}
					want = append(want, fluxmap.Entry[string, int]{Key: k, Value: model[k]})
				}
				if rev {
					slices.Reverse(want)
				}
				opts := fluxmap.ScanOptions[string]{Lo: lo, Hi: hi, Reverse: rev}
				got, err := db.Scan(ctx, opts)
				require.NoError(t, err)
				require.Equal(t, want, got, "%+v", opts)
			}
		})
	}
}

// TestScanIntegerEnds: an inclusive upper bound reaches the largest key
// there is, which Range's exclusive end never could, and open bounds read
// everything, in either order.
func TestScanIntegerEnds(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[int64, string]().Shards(3))
	ks := []int64{math.MinInt64, -5, 0, 7, math.MaxInt64 - 1, math.MaxInt64}
	for _, k := range ks {
		require.NoError(t, db.Insert(ctx, k, fmt.Sprint(k)))
	}
	keysOf := func(es []fluxmap.Entry[int64, string]) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.Key)
		}
		return out
	}
	es, err := db.Scan(ctx, fluxmap.ScanOptions[int64]{Lo: fluxmap.Excl(int64(7)), Hi: fluxmap.Incl(int64(math.MaxInt64))})
	require.NoError(t, err)
	require.Equal(t, []int64{math.MaxInt64 - 1, math.MaxInt64}, keysOf(es))
	es, err = db.Scan(ctx, fluxmap.ScanOptions[int64]{})
	require.NoError(t, err)
	require.Equal(t, ks, keysOf(es))
	es, err = db.Scan(ctx, fluxmap.ScanOptions[int64]{Reverse: true})
	require.NoError(t, err)
	require.Equal(t, []int64{math.MaxInt64, math.MaxInt64 - 1, 7, 0, -5, math.MinInt64}, keysOf(es))
	es, err = db.Scan(ctx, fluxmap.ScanOptions[int64]{Lo: fluxmap.Incl(int64(7)), Hi: fluxmap.Excl(int64(7))})
	require.NoError(t, err)
	require.Empty(t, es, "an empty range")
	es, err = db.Scan(ctx, fluxmap.ScanOptions[int64]{Lo: fluxmap.Incl(int64(8)), Hi: fluxmap.Incl(int64(0)), Reverse: true})
	require.NoError(t, err)
	require.Empty(t, es, "bounds the wrong way round")
}

// TestScanReverseInTransaction: a transaction's reverse scan merges its
// own writes (an insert, an overwrite, a delete) with its snapshot, in
// descending order, and a stream stopped early ends cleanly.
func TestScanReverseInTransaction(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int]().Shards(4))
	for i := range 200 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%03d", i), i))
	}
	require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int]) error {
		require.NoError(t, tx.Insert("k199", -1))  // overwrite the last
		require.NoError(t, tx.Insert("k1995", -2)) // a new key above it
		_, _, err := tx.Remove("k198")
		require.NoError(t, err)
		es, err := tx.Scan(fluxmap.ScanOptions[string]{Lo: fluxmap.Incl("k196"), Reverse: true})
		require.NoError(t, err)
		require.Equal(t, []fluxmap.Entry[string, int]{{Key: "k1995", Value: -2}, {Key: "k199", Value: -1}, {Key: "k197", Value: 197}, {Key: "k196", Value: 196}}, es)

		s := tx.ScanStream(fluxmap.ScanOptions[string]{Reverse: true})
		var top []string
		for k := range s.All() {
			if top = append(top, k); len(top) == 3 {
				break
			}
		}
		require.NoError(t, s.Err())
		require.Equal(t, []string{"k1995", "k199", "k197"}, top)
		return nil
	}))
}

// TestScanReverseIsValidated: a transaction that read only the top of a
// reverse, unbounded scan still conflicts with a commit that adds a key at
// the bottom: the whole range is validated, not what was read.
func TestScanReverseIsValidated(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int]().Shards(4))
	for i := range 100 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%03d", i), i))
	}
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	s := tx.ScanStream(fluxmap.ScanOptions[string]{Reverse: true})
	for range s.All() {
		break
	}
	require.NoError(t, s.Err())
	require.NoError(t, db.Insert(ctx, "a-new-first-key", 1))
	require.NoError(t, tx.Insert("k050", -1))
	require.ErrorIs(t, tx.Commit(), fluxmap.ErrConflict)
}
