package evict

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

type item struct {
	id    int
	links Links[item]
}

func linksOf(x *item) *Links[item] { return &x.links }

func order(t *Tracker[item]) []int {
	var ids []int
	t.Candidates(func(x *item) bool { ids = append(ids, x.id); return true })
	return ids
}

func TestLRUOrder(t *testing.T) {
	tr := New(LRU, linksOf)
	items := make([]*item, 5)
	for i := range items {
		items[i] = &item{id: i}
		tr.Touch(items[i])
	}
	require.Equal(t, []int{0, 1, 2, 3, 4}, order(tr))
	tr.Touch(items[0])
	tr.Touch(items[2])
	require.Equal(t, []int{1, 3, 4, 0, 2}, order(tr))
	tr.Remove(items[3])
	tr.Remove(items[3]) // twice is fine
	require.Equal(t, []int{1, 4, 0, 2}, order(tr))
	require.Equal(t, 4, tr.Len())
}

func TestLFUOrderBreaksTiesByRecency(t *testing.T) {
	tr := New(LFU, linksOf)
	items := make([]*item, 4)
	for i := range items {
		items[i] = &item{id: i}
		tr.Touch(items[i])
	}
	tr.Touch(items[0]) // 0: 2 uses
	tr.Touch(items[0]) // 0: 3 uses
	tr.Touch(items[2]) // 2: 2 uses
	require.Equal(t, []int{1, 3, 2, 0}, order(tr))
	tr.Touch(items[1]) // 1: 2 uses, more recent than 2
	require.Equal(t, []int{3, 2, 1, 0}, order(tr))
	tr.Remove(items[3])
	require.Equal(t, []int{2, 1, 0}, order(tr))
}

func TestRejectTracksNothing(t *testing.T) {
	tr := New(Reject, linksOf)
	tr.Touch(&item{id: 1})
	require.Empty(t, order(tr))
}

// TestModel checks both policies against a brute-force model under random
// touches and removals.
func TestModel(t *testing.T) {
	for _, p := range []Policy{LRU, LFU} {
		rng := rand.New(rand.NewPCG(1, uint64(p)))
		tr := New(p, linksOf)
		items := make([]*item, 50)
		for i := range items {
			items[i] = &item{id: i}
		}
		type state struct{ freq, last int }
		model := map[int]*state{}
		for step := 1; step < 5000; step++ {
			x := items[rng.IntN(len(items))]
			if rng.IntN(5) == 0 {
				tr.Remove(x)
				delete(model, x.id)
			} else {
				tr.Touch(x)
				s := model[x.id]
				if s == nil {
					s = &state{}
					model[x.id] = s
				}
				s.freq++
				s.last = step
			}
			want := make([]int, 0, len(model))
			for id := range model {
				want = append(want, id)
			}
			slices.SortFunc(want, func(a, b int) int {
				sa, sb := model[a], model[b]
				if p == LFU && sa.freq != sb.freq {
					return sa.freq - sb.freq
				}
				return sa.last - sb.last
			})
			got := order(tr)
			if len(want) == 0 {
				require.Empty(t, got)
				continue
			}
			require.Equal(t, want, got, "policy %v step %d", p, step)
		}
	}
}
