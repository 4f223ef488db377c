package mvcc

import (
	"hash/maphash"
	"sync/atomic"
)

// index is the List's point-lookup table: open addressing with linear
// probing over node pointers, keyed by the node's own key. A slot costs 8
// bytes, against ~30-50 bytes per entry for a map[string]*Node (which also
// stores the key header).
//
// The owner writes it; any goroutine may find in it. Every slot is an
// atomic pointer, and a slot only ever changes from empty to a node, from a
// node to the tombstone (a removal), or from the tombstone to a node (an
// insert reusing it), so a probe never stops early: it ends at an empty
// slot, which no key beyond it can be hashed past. Growing, shrinking or
// clearing tombstones builds a new table and publishes it with one atomic
// store; a reader still probing the old one finds every node that was in
// it, and at worst a node removed since, whose versions tell it the key is
// gone.
//
// A table is rebuilt when its used slots (nodes and tombstones) would pass
// 3/4, to twice the size if more than half are live nodes and to the same
// size otherwise, and when live nodes fall below 1/8 of it, to half.
type index[V any] struct {
	seed maphash.Seed
	tab  atomic.Pointer[indexTable[V]]
	tomb *Node[V] // marks a removed entry
	live int      // nodes in the table
	used int      // nodes and tombstones in the table
}

type indexTable[V any] struct {
	slots []atomic.Pointer[Node[V]] // len is a power of two
}

const minIndexSlots = 8

func (ix *index[V]) init() {
	ix.seed = maphash.MakeSeed()
	ix.tomb = new(Node[V])
}

func (ix *index[V]) home(key string, mask int) int {
	return int(maphash.String(ix.seed, key) & uint64(mask))
}

// find returns key's node, or nil. Safe for any goroutine.
func (ix *index[V]) find(key string) *Node[V] {
	t := ix.tab.Load()
	if t == nil {
		return nil
	}
	mask := len(t.slots) - 1
	for i := ix.home(key, mask); ; i = (i + 1) & mask {
		n := t.slots[i].Load()
		if n == nil {
			return nil
		}
		if n != ix.tomb && n.key == key {
			return n
		}
	}
}

// insert adds n, whose key must not be present. Owner only.
func (ix *index[V]) insert(n *Node[V]) {
	t := ix.tab.Load()
	if t == nil || (ix.used+1)*4 > len(t.slots)*3 {
		size := minIndexSlots
		if t != nil {
			size = len(t.slots)
			if (ix.live+1)*2 > size {
				size *= 2
			}
		}
		t = ix.rebuild(size)
	}
	mask := len(t.slots) - 1
	i := ix.home(n.key, mask)
	for {
		cur := t.slots[i].Load()
		if cur == nil {
			ix.used++
			break
		}
		if cur == ix.tomb {
			break
		}
		i = (i + 1) & mask
	}
	t.slots[i].Store(n)
	ix.live++
}

// reserve grows the table, if needed, so that n nodes fit without another
// rebuild. Owner only.
func (ix *index[V]) reserve(n int) {
	size := minIndexSlots
	for size*3 < (n+1)*4 {
		size *= 2
	}
	if t := ix.tab.Load(); t == nil || len(t.slots) < size {
		ix.rebuild(size)
	}
}

// remove deletes key's node, if present. Owner only.
func (ix *index[V]) remove(key string) {
	t := ix.tab.Load()
	if t == nil {
		return
	}
	mask := len(t.slots) - 1
	for i := ix.home(key, mask); ; i = (i + 1) & mask {
		n := t.slots[i].Load()
		if n == nil {
			return
		}
		if n != ix.tomb && n.key == key {
			t.slots[i].Store(ix.tomb)
			ix.live--
			break
		}
	}
	if len(t.slots) > minIndexSlots && ix.live*8 < len(t.slots) {
		ix.rebuild(len(t.slots) / 2)
	}
}

// rebuild publishes a table of size slots holding the live nodes.
func (ix *index[V]) rebuild(size int) *indexTable[V] {
	nt := &indexTable[V]{slots: make([]atomic.Pointer[Node[V]], size)}
	mask := size - 1
	if old := ix.tab.Load(); old != nil {
		for j := range old.slots {
			n := old.slots[j].Load()
			if n == nil || n == ix.tomb {
				continue
			}
			i := ix.home(n.key, mask)
			for nt.slots[i].Load() != nil {
				i = (i + 1) & mask
			}
			nt.slots[i].Store(n)
		}
	}
	ix.used = ix.live
	ix.tab.Store(nt)
	return nt
}
