package shard

import (
	"cmp"
	"slices"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// HotKeysCap is how many keys a shard's conflict summary tracks.
const HotKeysCap = 32

// HotKey is one key of a shard's conflict summary: Count conflicts named
// it, of which at most Over may belong to keys it displaced.
type HotKey struct {
	Key         string // encoded
	Count, Over uint64
}

// hotKeys is a Space-Saving summary of the keys that votes no name: a key
// that conflicts more often than 1/HotKeysCap of all conflicts is always in
// it, and every Count overestimates by at most its Over. It costs a map
// lookup per conflict and nothing per commit; the shard goroutine owns it.
type hotKeys struct {
	idx  map[string]int
	ents []HotKey
}

// note counts one conflict about the key that err (a vote no) names.
func (h *hotKeys) note(err error) {
	c, ok := err.(*errs.Conflict)
	if !ok || c.Key == "" {
		return
	}
	if h.idx == nil {
		h.idx = make(map[string]int, HotKeysCap)
		h.ents = make([]HotKey, 0, HotKeysCap)
	}
	if i, ok := h.idx[c.Key]; ok {
		h.ents[i].Count++
		return
	}
	if len(h.ents) < HotKeysCap {
		h.idx[c.Key] = len(h.ents)
		h.ents = append(h.ents, HotKey{Key: c.Key, Count: 1})
		return
	}
	// The least counted key makes room; the newcomer inherits its count as
	// an upper bound on the conflicts it may have had while untracked.
	m := 0
	for i := range h.ents {
		if h.ents[i].Count < h.ents[m].Count {
			m = i
		}
	}
	delete(h.idx, h.ents[m].Key)
	least := h.ents[m].Count
	h.ents[m] = HotKey{Key: c.Key, Count: least + 1, Over: least}
	h.idx[c.Key] = m
}

// top returns a copy of the summary, most conflicted first.
func (h *hotKeys) top() []HotKey {
	out := slices.Clone(h.ents)
	slices.SortFunc(out, func(a, b HotKey) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key))
	})
	return out
}
