package fluxmap_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

func skey(i int) string { return fmt.Sprintf("k%03d", i) }

// entries builds the expected result for keys skey(lo)..skey(hi-1) whose
// value is the index.
func entries(lo, hi int) []fluxmap.Entry[string, int64] {
	var out []fluxmap.Entry[string, int64]
	for i := lo; i < hi; i++ {
		out = append(out, fluxmap.Entry[string, int64]{Key: skey(i), Value: int64(i)})
	}
	return out
}

// insertShuffled inserts skey(i)=i for i in [0,n) in a random order, so
// sorted scan output cannot come from insertion order.
func insertShuffled(t *testing.T, db *fluxmap.DB[string, int64], n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, i := range rng.Perm(n) {
		dbInsert(t, db, skey(i), int64(i))
	}
}

func TestScanRangeHalfOpenSorted(t *testing.T) {
	forEachShardCount(t, func(t *testing.T, shards int) {
		db := newStringDB(t, shards)
		ctx := t.Context()
		insertShuffled(t, db, 300, uint64(shards))

		es, err := db.Range(ctx, skey(50), skey(100))
		require.NoError(t, err)
		require.Equal(t, entries(50, 100), es, "[k050,k100): lo included, hi excluded, sorted")

		es, err = db.Range(ctx, "k", "l")
		require.NoError(t, err)
		require.Equal(t, entries(0, 300), es)

		// Bounds that are not keys themselves.
		es, err = db.Range(ctx, "k0495", "k0995")
		require.NoError(t, err)
		require.Equal(t, entries(50, 100), es)

		es, err = db.Range(ctx, skey(299), "\xff")
		require.NoError(t, err)
		require.Equal(t, entries(299, 300), es)

		for _, b := range [][2]string{{skey(100), skey(50)}, {skey(50), skey(50)}, {"z", "a"}, {"l", "m"}} {
			es, err = db.Range(ctx, b[0], b[1])
			require.NoError(t, err)
			require.Emptyf(t, es, "Range(%q, %q)", b[0], b[1])
		}

		// A Range inside a transaction agrees.
		require.NoError(t, db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			es, err := tx.Range(skey(10), skey(20))
			require.NoError(t, err)
			require.Equal(t, entries(10, 20), es)
			es, err = tx.Range(skey(20), skey(10))
			require.NoError(t, err)
			require.Empty(t, es)
			return nil
		}))
	})
}

func TestScanInt64KeysNumericOrder(t *testing.T) {
	db := build(t, fluxmap.New[int64, int64]().Shards(16))
	ctx := t.Context()
	keys := []int64{math.MinInt64, math.MaxInt64, -1, 0, 1, -256, 255, 256, -1 << 40, 1 << 40}
	for i := int64(-500); i <= 500; i += 5 {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	rng := rand.New(rand.NewPCG(7, 7))
	for _, i := range rng.Perm(len(keys)) {
		require.NoError(t, db.Insert(ctx, keys[i], keys[i]*3))
	}
	want := func(lo, hi int64) []fluxmap.Entry[int64, int64] {
		var out []fluxmap.Entry[int64, int64]
		for _, k := range keys {
			if k >= lo && k < hi {
				out = append(out, fluxmap.Entry[int64, int64]{Key: k, Value: k * 3})
			}
		}
		return out
	}

	es, err := db.Range(ctx, -100, 100)
	require.NoError(t, err)
	require.Equal(t, want(-100, 100), es)
	require.Equal(t, int64(-100), es[0].Key)

	es, err = db.Range(ctx, math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	require.Equal(t, want(math.MinInt64, math.MaxInt64), es, "MaxInt64 itself is excluded")
	require.Len(t, es, len(keys)-1)
	require.True(t, slices.IsSortedFunc(es, func(a, b fluxmap.Entry[int64, int64]) int { return cmp.Compare(a.Key, b.Key) }))
	require.Equal(t, int64(math.MinInt64), es[0].Key)

	es, err = db.Range(ctx, -2, 2)
	require.NoError(t, err)
	require.Equal(t, []fluxmap.Entry[int64, int64]{{Key: -1, Value: -3}, {Key: 0, Value: 0}, {Key: 1, Value: 3}}, es)

	es, err = db.Range(ctx, 5, -5)
	require.NoError(t, err)
	require.Empty(t, es)
}

func TestScanFloat64KeysNumericOrder(t *testing.T) {
	db := build(t, fluxmap.New[float64, string]().Shards(16))
	ctx := t.Context()
	keys := []float64{-1e9, -2.5, -1, -0.25, 0, 0.5, 3, 1e12, math.Inf(1), math.Inf(-1)}
	for _, i := range rand.New(rand.NewPCG(3, 3)).Perm(len(keys)) {
		require.NoError(t, db.Insert(ctx, keys[i], fmt.Sprint(keys[i])))
	}
	es, err := db.Range(ctx, -3, 1)
	require.NoError(t, err)
	var got []float64
	for _, e := range es {
		got = append(got, e.Key)
		require.Equal(t, fmt.Sprint(e.Key), e.Value)
	}
	require.Equal(t, []float64{-2.5, -1, -0.25, 0, 0.5}, got)

	es, err = db.Range(ctx, math.Inf(-1), math.Inf(1))
	require.NoError(t, err)
	got = got[:0]
	for _, e := range es {
		got = append(got, e.Key)
	}
	require.Equal(t, []float64{math.Inf(-1), -1e9, -2.5, -1, -0.25, 0, 0.5, 3, 1e12}, got)
}

func TestScanPrefix(t *testing.T) {
	forEachShardCount(t, func(t *testing.T, shards int) {
		db := newStringDB(t, shards)
		ctx := t.Context()
		all := []string{"a", "a/1", "a/2", "a/20", "ab", "b/1", "a\xff", "a\xff\x00", "a\xff\xff", "b", "\xff", "\xff\xff"}
		for i, k := range all {
			dbInsert(t, db, k, int64(i))
		}
		index := map[string]int64{}
		for i, k := range all {
			index[k] = int64(i)
		}
		want := func(prefix string) []fluxmap.Entry[string, int64] {
			var out []fluxmap.Entry[string, int64]
			for _, k := range all {
				if strings.HasPrefix(k, prefix) {
					out = append(out, fluxmap.Entry[string, int64]{Key: k, Value: index[k]})
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
			return out
		}
		for _, p := range []string{"", "a", "a/", "a/2", "ab", "b", "a\xff", "a\xff\xff", "\xff"} {
			es, err := db.PrefixScan(ctx, p)
			require.NoError(t, err)
			require.Equalf(t, want(p), es, "PrefixScan(%q)", p)
		}
		es, err := db.PrefixScan(ctx, "")
		require.NoError(t, err)
		require.Len(t, es, len(all), `PrefixScan("") returns everything`)
		for _, p := range []string{"zz", "a/3", "c"} {
			es, err := db.PrefixScan(ctx, p)
			require.NoError(t, err)
			require.Emptyf(t, es, "PrefixScan(%q)", p)
		}
	})
}

// ryowModel applies the same buffered writes the test does, to compute what
// the tx must see.
type ryowModel map[string]int64

func (m ryowModel) scan(lo, hi string) []fluxmap.Entry[string, int64] {
	var out []fluxmap.Entry[string, int64]
	for k, v := range m {
		if k >= lo && k < hi {
			out = append(out, fluxmap.Entry[string, int64]{Key: k, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// applyRYOWWrites buffers a mix of writes in tx and mirrors them in m:
// new keys, an overwrite, removes, a remove then re-insert, and an insert
// then remove.
func applyRYOWWrites(t *testing.T, tx *fluxmap.Tx[string, int64], m ryowModel) {
	t.Helper()
	ins := func(k string, v int64) { txInsert(t, tx, k, v); m[k] = v }
	rem := func(k string) {
		old, existed, err := tx.Remove(k)
		require.NoError(t, err)
		want, wantExisted := m[k]
		require.Equalf(t, wantExisted, existed, "Remove(%q) existed", k)
		require.Equalf(t, want, old, "Remove(%q) old", k)
		delete(m, k)
	}
	ins("k005", 500)    // new key between existing ones
	ins("k000", 1000)   // new first key
	ins("k999", 9990)   // new last key
	ins(skey(20), 2000) // overwrite
	ins(skey(20), 2001) // overwrite again
	rem(skey(30))       // hide an existing key
	rem(skey(40))       // remove then re-insert
	ins(skey(40), 4000) // ...
	ins("k0455", 4550)  // insert then remove: never visible
	rem("k0455")        // ...
	rem("k0777")        // remove of an absent key
	ins("j-outside", 1) // outside every scanned range below
	for i := 60; i < 70; i += 2 {
		rem(skey(i)) // a run of removes
	}
}

func TestScanReadYourOwnWrites(t *testing.T) {
	forEachShardCount(t, func(t *testing.T, shards int) {
		db := newStringDB(t, shards)
		m := ryowModel{}
		for i := 10; i < 100; i += 10 {
			dbInsert(t, db, skey(i), int64(i))
			m[skey(i)] = int64(i)
		}
		for i := 60; i < 70; i++ {
			dbInsert(t, db, skey(i), int64(i))
			m[skey(i)] = int64(i)
		}
		before := ryowModel{}
		for k, v := range m {
			before[k] = v
		}

		tx := begin(t, db)
		applyRYOWWrites(t, tx, m)

		for _, k := range []string{"k000", "k005", "k999", skey(20), skey(30), skey(40), "k0455", "k0777", skey(62), skey(63), skey(50)} {
			v, ok := txGet(t, tx, k)
			want, wantOK := m[k]
			require.Equalf(t, wantOK, ok, "Tx.Get(%q) found", k)
			require.Equalf(t, want, v, "Tx.Get(%q)", k)
		}
		for _, r := range [][2]string{{"k", "l"}, {skey(0), skey(50)}, {skey(25), skey(65)}, {"k0455", "k0456"}, {skey(60), skey(70)}} {
			es, err := tx.Range(r[0], r[1])
			require.NoError(t, err)
			want := m.scan(r[0], r[1])
			if len(want) == 0 {
				require.Emptyf(t, es, "Tx.Range(%q, %q)", r[0], r[1])
			} else {
				require.Equalf(t, want, es, "Tx.Range(%q, %q)", r[0], r[1])
			}
		}
		es, err := tx.PrefixScan("k")
		require.NoError(t, err)
		require.Equal(t, m.scan("k", "l"), es, "Tx.PrefixScan(k)")
		es, err = tx.PrefixScan("")
		require.NoError(t, err)
		require.Equal(t, m.scan("", "\xff"), es, "Tx.PrefixScan(\"\")")
		es, err = tx.PrefixScan("k04")
		require.NoError(t, err)
		require.Equal(t, m.scan("k04", "k05"), es, "Tx.PrefixScan(k04)")

		// Nobody else sees the buffered writes before Commit.
		es, err = db.PrefixScan(t.Context(), "")
		require.NoError(t, err)
		require.Equal(t, before.scan("", "\xff"), es)

		require.NoError(t, tx.Commit())
		es, err = db.PrefixScan(t.Context(), "")
		require.NoError(t, err)
		require.Equal(t, m.scan("", "\xff"), es, "after Commit the DB holds exactly the tx's view")
	})
}

const streamKeys = 5000

func streamKey(i int) string { return fmt.Sprintf("s%05d", i) }

// newStreamDB holds streamKey(i)=i for i in [0,streamKeys) plus a few keys
// outside the "s" prefix.
func newStreamDB(t *testing.T, shards int) *fluxmap.DB[string, int64] {
	t.Helper()
	db := newStringDB(t, shards)
	ctx := t.Context()
	perm := rand.New(rand.NewPCG(11, uint64(shards))).Perm(streamKeys)
	for start := 0; start < streamKeys; start += 500 {
		require.NoError(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			for _, i := range perm[start : start+500] {
				if err := tx.Insert(streamKey(i), int64(i)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for _, k := range []string{"r", "t", "s", "s/"} {
		dbInsert(t, db, k, -1)
	}
	return db
}

func TestScanStreams(t *testing.T) {
	for _, shards := range []int{1, 16} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			db := newStreamDB(t, shards)
			ctx := t.Context()

			t.Run("same_as_slices", func(t *testing.T) {
				want, err := db.Range(ctx, streamKey(1000), streamKey(4000))
				require.NoError(t, err)
				require.Len(t, want, 3000)
				s := db.RangeStream(ctx, streamKey(1000), streamKey(4000))
				require.Equal(t, want, collect(s))
				require.NoError(t, s.Err())

				want, err = db.PrefixScan(ctx, "s0")
				require.NoError(t, err)
				require.Len(t, want, streamKeys)
				s = db.PrefixStream(ctx, "s0")
				require.Equal(t, want, collect(s))
				require.NoError(t, s.Err())

				want, err = db.PrefixScan(ctx, "")
				require.NoError(t, err)
				require.Len(t, want, streamKeys+4)
				s = db.PrefixStream(ctx, "")
				require.Equal(t, want, collect(s))
				require.NoError(t, s.Err())

				s = db.RangeStream(ctx, streamKey(10), streamKey(10))
				require.Empty(t, collect(s))
				require.NoError(t, s.Err())
			})

			t.Run("break_early", func(t *testing.T) {
				for _, s := range []*fluxmap.Stream[string, int64]{
					db.RangeStream(ctx, streamKey(0), streamKey(streamKeys)),
					db.PrefixStream(ctx, "s0"),
				} {
					var got []fluxmap.Entry[string, int64]
					for k, v := range s.All() {
						got = append(got, fluxmap.Entry[string, int64]{Key: k, Value: v})
						if len(got) == 10 {
							break
						}
					}
					require.Equal(t, entriesS(0, 10), got)
					require.NoError(t, s.Err())
				}
				// The DB is fine after abandoned streams; Close (in cleanup)
				// must not find their goroutines (goleak checks).
				dbInsert(t, db, "after-break", 1)
			})

			t.Run("cancelled_before", func(t *testing.T) {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				s := db.RangeStream(cctx, streamKey(0), streamKey(streamKeys))
				require.Empty(t, collect(s))
				require.ErrorIs(t, s.Err(), context.Canceled)
				s = db.PrefixStream(cctx, "s")
				require.Empty(t, collect(s))
				require.ErrorIs(t, s.Err(), context.Canceled)
			})

			t.Run("cancelled_during", func(t *testing.T) {
				cctx, cancel := context.WithCancel(ctx)
				defer cancel()
				s := db.PrefixStream(cctx, "s0")
				n, bad := 0, ""
				for k, v := range s.All() {
					if k != streamKey(n) || v != int64(n) {
						bad = fmt.Sprintf("item %d: got %q=%d", n, k, v)
						break
					}
					n++
					if n == 100 {
						cancel()
					}
				}
				require.Empty(t, bad)
				require.ErrorIs(t, s.Err(), context.Canceled)
				require.GreaterOrEqual(t, n, 100)
				require.Less(t, n, streamKeys, "the stream must stop once ctx is cancelled")
			})

			t.Run("tx_streams_merge_buffered_writes", func(t *testing.T) {
				tx := begin(t, db)
				defer func() { require.NoError(t, tx.Rollback()) }()
				m := ryowModel{}
				for i := range streamKeys {
					m[streamKey(i)] = int64(i)
				}
				ins := func(k string, v int64) { txInsert(t, tx, k, v); m[k] = v }
				rem := func(k string) {
					_, _, err := tx.Remove(k)
					require.NoError(t, err)
					delete(m, k)
				}
				ins("s00000a", 1)       // between two existing keys
				ins(streamKey(2500), 7) // overwrite
				rem(streamKey(0))       // first key hidden
				rem(streamKey(4999))    // last key hidden
				for i := 1000; i < 1100; i++ {
					rem(streamKey(i)) // a run of hidden keys
				}
				ins("s0999z", 9) // new last key

				want := m.scan("s0", "s:")
				s := tx.PrefixStream("s0")
				got := collect(s)
				require.NoError(t, s.Err())
				require.Equal(t, want, got)
				sl, err := tx.PrefixScan("s0")
				require.NoError(t, err)
				require.Equal(t, want, sl)

				want = m.scan(streamKey(900), streamKey(2600))
				s = tx.RangeStream(streamKey(900), streamKey(2600))
				got = collect(s)
				require.NoError(t, s.Err())
				require.Equal(t, want, got)

				// Nothing leaked outside the tx.
				es, err := db.Range(ctx, streamKey(1000), streamKey(1100))
				require.NoError(t, err)
				require.Len(t, es, 100)
			})
		})
	}
}

func entriesS(lo, hi int) []fluxmap.Entry[string, int64] {
	var out []fluxmap.Entry[string, int64]
	for i := lo; i < hi; i++ {
		out = append(out, fluxmap.Entry[string, int64]{Key: streamKey(i), Value: int64(i)})
	}
	return out
}

// A DB stream reads one snapshot: commits made while it is being consumed
// (DESIGN.md §3 registers iterators as snapshots) do not show up in it.
func TestScanStreamSnapshot(t *testing.T) {
	db := newStreamDB(t, 16)
	ctx := t.Context()
	s := db.PrefixStream(ctx, "s0")
	n, bad := 0, ""
	var writeErr error
	for k, v := range s.All() {
		if k != streamKey(n) || v != int64(n) {
			bad = fmt.Sprintf("item %d: got %q=%d, want %q=%d", n, k, v, streamKey(n), n)
			break
		}
		n++
		if n == 10 {
			// Commits ahead of the cursor: a new key, an overwrite, a remove.
			writeErr = db.Insert(ctx, "s00020a", 1)
			if writeErr == nil {
				writeErr = db.Insert(ctx, streamKey(4000), -5)
			}
			if writeErr == nil {
				_, _, writeErr = db.Remove(ctx, streamKey(3000))
			}
			if writeErr != nil {
				break
			}
		}
	}
	require.NoError(t, writeErr, "writes while a stream is open")
	require.Empty(t, bad, "stream must not see commits made after it started")
	require.NoError(t, s.Err())
	requireValue(t, db, streamKey(4000), -5)
	requireAbsent(t, db, streamKey(3000))
	require.Equal(t, streamKeys, n, "stream saw exactly its snapshot")
}
