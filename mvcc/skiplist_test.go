package mvcc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// trickyKeys are keys whose order the 8-byte zero-padded prefix cannot
// decide on its own: empty keys, keys that are prefixes of others, keys that
// differ only in trailing 0x00 bytes or past byte 8, and 0x00/0xff bytes.
var trickyKeys = []string{
	"",
	"\x00",
	"\x00\x00",
	"\x00\x00\x00\x00\x00\x00\x00\x00",
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	"\x01",
	"a",
	"a\x00",
	"a\x00\x00",
	"a\x00\x00\x00\x00\x00\x00\x00",
	"a\x00\x00\x00\x00\x00\x00\x00\x00",
	"a\x00\x00\x00\x00\x00\x00\x00\x01",
	"a\x01",
	"a\xff",
	"ab",
	"abcdefg",
	"abcdefg\x00",
	"abcdefg\xff",
	"abcdefgh",
	"abcdefgh\x00",
	"abcdefgh\x00\x00",
	"abcdefgha",
	"abcdefghb",
	"abcdefghab",
	"abcdefgi",
	"b",
	"\xfe",
	"\xff",
	"\xff\xff\xff\xff\xff\xff\xff",
	"\xff\xff\xff\xff\xff\xff\xff\xff",
	"\xff\xff\xff\xff\xff\xff\xff\xff\x00",
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
}

// keyPool returns trickyKeys plus random keys that share long prefixes and
// use a small alphabet with 0x00 and 0xff, so ties on the prefix are common.
func keyPool(rng *rand.Rand, n int) []string {
	pool := slices.Clone(trickyKeys)
	prefixes := []string{"", "a", "k\x00", "commonpr", "commonprefix/", "\xff\xff\xff\xff"}
	alphabet := []byte{0x00, 0x01, 'a', 'b', 0xfe, 0xff}
	seen := make(map[string]bool)
	for _, k := range pool {
		seen[k] = true
	}
	for len(pool) < n {
		b := []byte(prefixes[rng.IntN(len(prefixes))])
		for range rng.IntN(10) {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		if k := string(b); !seen[k] {
			seen[k] = true
			pool = append(pool, k)
		}
	}
	return pool
}

func randomProbe(rng *rand.Rand, pool []string) string {
	k := pool[rng.IntN(len(pool))]
	switch rng.IntN(4) {
	case 0:
		return k
	case 1:
		return k + "\x00"
	case 2:
		if k != "" {
			return k[:rng.IntN(len(k))]
		}
		return k
	default:
		return k + string([]byte{byte(rng.IntN(256))})
	}
}

// checkList compares the whole list against the sorted model.
func checkList(t *testing.T, l *List[int], model []string) {
	t.Helper()
	require.Equal(t, len(model), l.Len())
	var got []string
	prev := ""
	for n := l.First(); n != nil; n = n.Next() {
		if len(got) > 0 {
			require.Less(t, prev, n.Key(), "iteration must be strictly increasing")
		}
		prev = n.Key()
		got = append(got, n.Key())
		require.LessOrEqual(t, len(got), len(model), "iteration visits more nodes than the list holds")
	}
	if len(model) == 0 {
		require.Empty(t, got)
	} else {
		require.Equal(t, model, got)
	}
	// Every level must be a sorted sub-list of level 0 ending in nil.
	for lvl := 0; lvl < int(l.level.Load()); lvl++ {
		var last *Node[int]
		for n := l.head.link(lvl).Load(); n != nil; n = n.link(lvl).Load() {
			require.Greater(t, int(n.level), lvl, "node linked on a level above its tower")
			if last != nil {
				require.Less(t, last.key, n.key, "level %d out of order", lvl)
			}
			last = n
		}
	}
	for lvl := int(l.level.Load()); lvl < MaxLevel; lvl++ {
		require.Nil(t, l.head.link(lvl).Load(), "head links a level at or above l.level")
	}
}

func TestListRandomizedAgainstModel(t *testing.T) {
	for _, p := range []float64{0.1, 0.25, 0.5, 0.9} {
		for _, seed := range []uint64{1, 2, 0xdeadbeef} {
			t.Run(fmt.Sprintf("p=%v/seed=%d", p, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, uint64(p*1000)))
				pool := keyPool(rng, 400)
				l := NewList[int](p, seed)
				var model []string // sorted keys present
				nodes := make(map[string]*Node[int])

				for i := range 4000 {
					k := pool[rng.IntN(len(pool))]
					idx, present := slices.BinarySearch(model, k)
					switch op := rng.IntN(10); {
					case op < 4: // Upsert
						n := l.Upsert(k)
						require.NotNil(t, n)
						require.Equal(t, k, n.Key())
						if present {
							require.Same(t, nodes[k], n, "Upsert of a present key must return its node")
						} else {
							model = slices.Insert(model, idx, k)
							nodes[k] = n
						}
					case op < 6: // Delete
						require.Equal(t, present, l.Delete(k), "Delete(%q)", k)
						if present {
							model = slices.Delete(model, idx, idx+1)
							delete(nodes, k)
						}
						require.Nil(t, l.Find(k))
					case op < 8: // Find
						n := l.Find(k)
						if present {
							require.Same(t, nodes[k], n)
						} else {
							require.Nil(t, n)
						}
					default: // Seek
						q := randomProbe(rng, pool)
						j := sort.SearchStrings(model, q)
						n := l.Seek(q)
						if j == len(model) {
							require.Nil(t, n, "Seek(%q)", q)
						} else {
							require.NotNil(t, n, "Seek(%q)", q)
							require.Equal(t, model[j], n.Key(), "Seek(%q)", q)
							require.Same(t, nodes[model[j]], n)
						}
					}
					require.Equal(t, len(model), l.Len())
					if i%251 == 0 {
						checkList(t, l, model)
					}
				}
				checkList(t, l, model)

				// Drain everything: the list must end empty and level 1.
				for _, k := range slices.Clone(model) {
					require.True(t, l.Delete(k))
				}
				checkList(t, l, nil)
				require.Nil(t, l.First())
				require.Nil(t, l.Seek(""))
				require.Equal(t, 1, int(l.level.Load()))
			})
		}
	}
}

func TestListTrickyKeyOrder(t *testing.T) {
	want := slices.Clone(trickyKeys)
	sort.Strings(want)
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		l := NewList[int](0.5, seed)
		keys := slices.Clone(trickyKeys)
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		for _, k := range keys {
			l.Upsert(k)
		}
		checkList(t, l, want)
		for i, k := range want {
			n := l.Seek(k)
			require.NotNil(t, n)
			require.Equal(t, k, n.Key(), "Seek of a present key returns it")
			// A probe just above k (k + "\x00" is its immediate successor).
			n = l.Seek(k + "\x00")
			if i+1 < len(want) {
				require.NotNil(t, n)
				require.Equal(t, want[i+1], n.Key(), "Seek(%q)", k+"\x00")
			} else {
				require.Nil(t, n)
			}
		}
	}
}

func TestListEmptyKeyAndShortPrefixes(t *testing.T) {
	l := NewList[int](0.25, 3)
	l.Upsert("a\x00")
	l.Upsert("a")
	l.Upsert("")
	require.Equal(t, "", l.First().Key())
	require.Equal(t, "a", l.First().Next().Key())
	require.Equal(t, "a\x00", l.First().Next().Next().Key())
	require.Nil(t, l.First().Next().Next().Next())
	require.Equal(t, "a", l.Seek("\x00").Key())
	require.Equal(t, "a\x00", l.Seek("a\x00").Key())
	require.Nil(t, l.Seek("a\x00\x00"))
	require.True(t, l.Delete(""))
	require.False(t, l.Delete(""))
	require.Equal(t, "a", l.First().Key())
	require.Equal(t, 2, l.Len())
}

func TestListTowerHeights(t *testing.T) {
	const n = 100_000
	l := NewList[struct{}](0.25, 42)
	counts := make([]int, MaxLevel+1)
	for i := range n {
		node := l.Upsert(fmt.Sprintf("key%08d", i))
		counts[int(node.level)]++
	}
	require.Equal(t, n, l.Len())
	require.GreaterOrEqual(t, int(l.level.Load()), 6, "100k keys at p=1/4 should reach about log4(100k) ~ 8 levels")
	require.LessOrEqual(t, int(l.level.Load()), 20)
	// The fraction of nodes taller than one level must be close to p.
	taller := n - counts[1]
	require.InDelta(t, 0.25, float64(taller)/n, 0.02, "promotion probability")
	taller2 := taller - counts[2]
	require.InDelta(t, 0.0625, float64(taller2)/n, 0.01, "two promotions")

	for _, p := range []float64{0.1, 0.5, 0.9} {
		l := NewList[struct{}](p, 7)
		for i := range 20_000 {
			l.Upsert(fmt.Sprintf("k%06d", i))
		}
		require.LessOrEqual(t, int(l.level.Load()), MaxLevel, "p=%v", p)
		total, tall := 0, 0
		for x := l.First(); x != nil; x = x.Next() {
			total++
			if x.level > 1 {
				tall++
			}
		}
		require.InDelta(t, p, float64(tall)/float64(total), 0.03, "p=%v", p)
	}
}

// chain builds a node with one version per entry of tss (oldest first);
// each version holds ts*10 and is a tombstone when ts%3 == 0.
func chain(t *testing.T, tss ...uint64) *Node[uint64] {
	t.Helper()
	l := NewList[uint64](0.25, 1)
	n := l.Upsert("k")
	for _, ts := range tss {
		n.Install(ts, ts*10, ts%3 == 0, 0)
	}
	return n
}

func chainTS(n *Node[uint64]) []uint64 {
	var out []uint64
	for v := n.Newest(); v != nil; v = v.Older() {
		out = append(out, v.TS())
	}
	return out
}

func TestVersionChain(t *testing.T) {
	l := NewList[string](0.25, 1)
	n := l.Upsert("k")
	require.Nil(t, n.Newest())
	require.Zero(t, n.NewestTS())
	require.Zero(t, n.Versions())
	require.Nil(t, n.At(100))

	n.Install(10, "v10", false, 0)
	n.Install(20, "v20", false, 0)
	n.Install(30, "", true, 0)
	n.Install(40, "v40", false, 0)
	require.Equal(t, 4, n.Versions())
	require.Equal(t, uint64(40), n.NewestTS())
	require.Equal(t, "v40", n.Newest().Value)

	cases := []struct {
		ts        uint64
		wantTS    uint64 // 0: no version visible
		wantValue string
		tombstone bool
	}{
		{0, 0, "", false},
		{9, 0, "", false},
		{10, 10, "v10", false},
		{19, 10, "v10", false},
		{20, 20, "v20", false},
		{29, 20, "v20", false},
		{30, 30, "", true},
		{39, 30, "", true},
		{40, 40, "v40", false},
		{1 << 62, 40, "v40", false},
	}
	for _, c := range cases {
		v := n.At(c.ts)
		if c.wantTS == 0 {
			require.Nil(t, v, "At(%d)", c.ts)
			continue
		}
		require.NotNil(t, v, "At(%d)", c.ts)
		require.Equal(t, c.wantTS, v.TS(), "At(%d)", c.ts)
		require.Equal(t, c.wantValue, v.Value, "At(%d)", c.ts)
		require.Equal(t, c.tombstone, v.Tombstone(), "At(%d)", c.ts)
	}

	// Newest first, strictly decreasing timestamps.
	var tss []uint64
	for v := n.Newest(); v != nil; v = v.Older() {
		tss = append(tss, v.TS())
	}
	require.Equal(t, []uint64{40, 30, 20, 10}, tss)
}

func TestPrune(t *testing.T) {
	// Chain 10, 20, 30, 40 (newest first 40..10).
	cases := []struct {
		horizon uint64
		keep    []uint64
	}{
		{0, []uint64{40, 30, 20, 10}},
		{9, []uint64{40, 30, 20, 10}},
		{10, []uint64{40, 30, 20, 10}},
		{15, []uint64{40, 30, 20, 10}},
		{20, []uint64{40, 30, 20}},
		{25, []uint64{40, 30, 20}},
		{30, []uint64{40, 30}},
		{39, []uint64{40, 30}},
		{40, []uint64{40}},
		{1000, []uint64{40}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.horizon), func(t *testing.T) {
			n := chain(t, 10, 20, 30, 40)
			dropped, _ := n.Prune(c.horizon)
			require.Equal(t, 4-len(c.keep), dropped)
			require.Equal(t, len(c.keep), n.Versions())
			require.Equal(t, c.keep, chainTS(n))
			// Pruning again at the same horizon is a no-op.
			again, _ := n.Prune(c.horizon)
			require.Zero(t, again)
			require.Equal(t, c.keep, chainTS(n))
		})
	}

	t.Run("empty", func(t *testing.T) {
		n := chain(t)
		dropped, charge := n.Prune(100)
		require.Zero(t, dropped)
		require.Zero(t, charge)
		require.Nil(t, n.Newest())
	})
}

// TestPruneRandomized checks the contract directly: every reader at or
// above the horizon sees the same version before and after, and every
// version kept is still visible to some such reader.
func TestPruneRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		var tss []uint64
		ts := uint64(0)
		for range rng.IntN(8) {
			ts += 1 + uint64(rng.IntN(5))
			tss = append(tss, ts)
		}
		n := chain(t, tss...)
		horizon := uint64(rng.IntN(int(ts) + 3))
		maxTS := ts + 2
		before := make(map[uint64]*Version[uint64])
		for r := horizon; r <= maxTS; r++ {
			before[r] = n.At(r)
		}
		dropped, _ := n.Prune(horizon)
		require.Equal(t, len(tss)-dropped, n.Versions())
		require.Len(t, chainTS(n), n.Versions())
		for r := horizon; r <= maxTS; r++ {
			require.Same(t, before[r], n.At(r), "chain %v horizon %d reader %d", tss, horizon, r)
		}
		for v := n.Newest(); v != nil; v = v.Older() {
			needed := false
			for r := horizon; r <= maxTS; r++ {
				if n.At(r) == v {
					needed = true
					break
				}
			}
			require.True(t, needed, "chain %v horizon %d kept version %d no reader needs", tss, horizon, v.TS())
		}
	}
}

func TestUnused(t *testing.T) {
	l := NewList[int](0.25, 1)
	n := l.Upsert("k")
	require.True(t, n.Unused())

	n.Locked = true
	require.False(t, n.Unused())
	n.Locked = false
	require.True(t, n.Unused())

	n.Install(1, 0, true, 0) // even a tombstone is a version someone may read
	require.False(t, n.Unused())
	dropped, _ := n.Prune(5)
	require.Zero(t, dropped, "the newest version is always kept")
	require.False(t, n.Unused())
}

// TestKeyLessAgreesWithStrings: the prefix comparison orders keys exactly
// as Go compares strings, for keys around the 8- and 16-byte boundaries and
// with trailing zero bytes (which the zero padding makes look alike).
func TestKeyLessAgreesWithStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	alphabet := []byte{0, 1, 'a', 'b', 0xff}
	keys := []string{"", "\x00", "a", "a\x00", "abcdefgh", "abcdefgh\x00", "abcdefghijklmnop", "abcdefghijklmnop\x00", "abcdefghijklmnoq"}
	for range 3000 {
		b := make([]byte, rng.IntN(20))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	for _, a := range keys {
		for j := 0; j < 40; j++ {
			b := keys[rng.IntN(len(keys))]
			require.Equal(t, a < b, KeyLess(a, PrefixOf(a), b, PrefixOf(b)), "%q < %q", a, b)
			require.Equal(t, b < a, KeyLess(b, PrefixOf(b), a, PrefixOf(a)), "%q < %q", b, a)
		}
	}
}

// TestTowerFollowsNode: link finds a tower at the Node's size from its
// start, which holds only if every towered type puts its tower there.
func TestTowerFollowsNode(t *testing.T) {
	size := unsafe.Sizeof(Node[string]{})
	require.Equal(t, size, unsafe.Offsetof(node1[string]{}.tower))
	require.Equal(t, size, unsafe.Offsetof(node2[string]{}.tower))
	require.Equal(t, size, unsafe.Offsetof(node4[string]{}.tower))
	require.Equal(t, size, unsafe.Offsetof(nodeMax[string]{}.tower))
	x := &node2[string]{}
	require.Same(t, &x.tower[1], x.link(1))
}

// TestAppend builds lists from sorted keys with Append, mixed with Upserts
// and Deletes (which leave the tails stale) and with keys that do not sort
// last (which go through Upsert): the list, its levels and its index must
// match a model.
func TestAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 20 {
		l := NewList[int](0.25, uint64(round)+1)
		l.Reserve(rng.IntN(3000))
		set := map[string]bool{}
		next := 0
		for step := range 3000 {
			switch r := rng.IntN(100); {
			case r < 80: // the next key in order
				next += 1 + rng.IntN(3)
				k := fmt.Sprintf("k%08d", next)
				require.Equal(t, k, l.Append(k).Key())
				set[k] = true
			case r < 88: // a key that may not sort last
				k := fmt.Sprintf("k%08d", rng.IntN(next+10))
				require.Equal(t, k, l.Append(k).Key(), "step %d", step)
				set[k] = true
			case r < 94:
				k := fmt.Sprintf("k%08d", rng.IntN(next+10))
				l.Upsert(k)
				set[k] = true
			default:
				k := fmt.Sprintf("k%08d", rng.IntN(next+10))
				require.Equal(t, set[k], l.Delete(k))
				delete(set, k)
			}
		}
		model := make([]string, 0, len(set))
		for k := range set {
			model = append(model, k)
			require.NotNil(t, l.Find(k), k)
		}
		slices.Sort(model)
		checkList(t, l, model)
	}
}

// TestSeekBefore: the node SeekBefore returns sorts before the key, and a
// walk forward from it (or from First, when it returns nil) reaches the
// key's place within a bounded number of steps.
func TestSeekBefore(t *testing.T) {
	l := NewList[int](0.25, 3)
	require.Nil(t, l.SeekBefore("k", true), "empty list")
	for i := range 5000 {
		l.Upsert(fmt.Sprintf("k%05d", 2*i))
	}
	total := 0
	for i := range 10001 {
		key := fmt.Sprintf("k%05d", i)
		n := l.SeekBefore(key, false)
		steps := 0
		if n == nil {
			n = l.First()
		} else {
			require.Less(t, n.Key(), key)
		}
		for ; n != nil && n.Key() < key; n = n.Next() {
			steps++
		}
		require.LessOrEqual(t, steps, 2000, "walk from SeekBefore(%q)", key)
		total += steps
	}
	// A batch is some 32 to 64 nodes at p = 1/4: the walks average that,
	// neither one step nor the whole list.
	mean := float64(total) / 10001
	require.Greater(t, mean, 8.0)
	require.Less(t, mean, 200.0)
	last := l.SeekBefore("", true)
	require.NotNil(t, last)
	require.Less(t, last.Key(), "k09998")
}
