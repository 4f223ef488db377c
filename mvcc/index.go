package mvcc

import "hash/maphash"

// index is the List's point-lookup table: open addressing with linear
// probing over node pointers, keyed by the node's own key. A slot costs 8
// bytes and the table stays between 1/4 and 3/4 full, against ~30-50 bytes
// per entry for a map[string]*Node (which also stores the key header), the
// difference being most of what one more key costs beyond its own bytes.
// Deletion shifts later entries of the probe run back, so there are no
// tombstones and lookups never degrade.
type index[V any] struct {
	seed  maphash.Seed
	slots []*Node[V] // len is a power of two, or 0
	n     int
}

const minIndexSlots = 8

func (ix *index[V]) init() { ix.seed = maphash.MakeSeed() }

func (ix *index[V]) home(key string) int {
	return int(maphash.String(ix.seed, key) & uint64(len(ix.slots)-1))
}

func (ix *index[V]) find(key string) *Node[V] {
	if ix.n == 0 {
		return nil
	}
	mask := len(ix.slots) - 1
	for i := ix.home(key); ; i = (i + 1) & mask {
		n := ix.slots[i]
		if n == nil {
			return nil
		}
		if n.key == key {
			return n
		}
	}
}

// insert adds n, whose key must not be present.
func (ix *index[V]) insert(n *Node[V]) {
	if (ix.n+1)*4 > len(ix.slots)*3 {
		ix.resize(max(minIndexSlots, len(ix.slots)*2))
	}
	mask := len(ix.slots) - 1
	i := ix.home(n.key)
	for ix.slots[i] != nil {
		i = (i + 1) & mask
	}
	ix.slots[i] = n
	ix.n++
}

// remove deletes key's node, if present.
func (ix *index[V]) remove(key string) {
	if ix.n == 0 {
		return
	}
	mask := len(ix.slots) - 1
	i := ix.home(key)
	for {
		n := ix.slots[i]
		if n == nil {
			return
		}
		if n.key == key {
			break
		}
		i = (i + 1) & mask
	}
	// Backward-shift deletion: move each later member of the run into the
	// hole if its home slot does not lie cyclically in (hole, its slot].
	hole := i
	for j := (i + 1) & mask; ix.slots[j] != nil; j = (j + 1) & mask {
		h := ix.home(ix.slots[j].key)
		if (j > hole && (h <= hole || h > j)) || (j < hole && h <= hole && h > j) {
			ix.slots[hole] = ix.slots[j]
			hole = j
		}
	}
	ix.slots[hole] = nil
	ix.n--
	if len(ix.slots) > minIndexSlots && ix.n*4 < len(ix.slots)/2 {
		ix.resize(len(ix.slots) / 2)
	}
}

func (ix *index[V]) resize(size int) {
	old := ix.slots
	ix.slots = make([]*Node[V], size)
	mask := size - 1
	for _, n := range old {
		if n == nil {
			continue
		}
		i := ix.home(n.key)
		for ix.slots[i] != nil {
			i = (i + 1) & mask
		}
		ix.slots[i] = n
	}
}
