package mvcc

// MaxLevel bounds a node's tower. With p = 1/4 it serves 4^32 keys.
const MaxLevel = 32

// Node is one key in the skiplist: its version chain and its commit-time
// lock state. Owned by the shard goroutine.
type Node[V any] struct {
	key      string
	head     *Version[V]
	versions int

	// WriteLock is the id of the in-flight transaction that holds this key's
	// write lock between prepare and commit/abort, or 0.
	WriteLock uint64
	// ReadLocks counts in-flight transactions holding a read lock on the key.
	ReadLocks int32

	next []*Node[V]
}

// Key returns the node's encoded key.
func (n *Node[V]) Key() string { return n.key }

// Next returns the following node in key order, or nil.
func (n *Node[V]) Next() *Node[V] { return n.next[0] }

// List is an ordered map from encoded key to Node: a skiplist with a
// configurable level probability (the Rust original's skiplist_p).
//
// A List must be used by one goroutine only.
type List[V any] struct {
	head      Node[V]
	level     int
	threshold uint64 // a level is promoted while rand < threshold (p * 2^64)
	rng       uint64
	length    int
	prev      [MaxLevel]*Node[V]
}

// NewList returns an empty list whose towers grow with probability p per
// level. p must lie in (0, 1); seed picks the level sequence.
func NewList[V any](p float64, seed uint64) *List[V] {
	l := &List[V]{level: 1, rng: seed | 1}
	l.head.next = make([]*Node[V], MaxLevel)
	if t := p * (1 << 64); t >= 1<<64 {
		l.threshold = ^uint64(0)
	} else {
		l.threshold = uint64(t)
	}
	return l
}

// Len returns the number of nodes.
func (l *List[V]) Len() int { return l.length }

func (l *List[V]) randomLevel() int {
	lvl := 1
	for lvl < MaxLevel {
		// xorshift64*: cheap, good enough for tower heights.
		l.rng ^= l.rng >> 12
		l.rng ^= l.rng << 25
		l.rng ^= l.rng >> 27
		if l.rng*2685821657736338717 >= l.threshold {
			break
		}
		lvl++
	}
	return lvl
}

// findPrev fills l.prev with the rightmost node before key on every level
// and returns the first node with Key >= key.
func (l *List[V]) findPrev(key string) *Node[V] {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for nx := x.next[i]; nx != nil && nx.key < key; nx = x.next[i] {
			x = nx
		}
		l.prev[i] = x
	}
	return x.next[0]
}

// Seek returns the first node with Key >= key, or nil.
func (l *List[V]) Seek(key string) *Node[V] {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for nx := x.next[i]; nx != nil && nx.key < key; nx = x.next[i] {
			x = nx
		}
	}
	return x.next[0]
}

// First returns the smallest node, or nil.
func (l *List[V]) First() *Node[V] { return l.head.next[0] }

// Find returns the node for key, or nil.
func (l *List[V]) Find(key string) *Node[V] {
	if n := l.Seek(key); n != nil && n.key == key {
		return n
	}
	return nil
}

// Upsert returns the node for key, creating an empty one if needed. The list
// keeps key, so the caller must not mutate its backing bytes.
func (l *List[V]) Upsert(key string) *Node[V] {
	if n := l.findPrev(key); n != nil && n.key == key {
		return n
	}
	lvl := l.randomLevel()
	if lvl > l.level {
		for i := l.level; i < lvl; i++ {
			l.prev[i] = &l.head
		}
		l.level = lvl
	}
	n := &Node[V]{key: key, next: make([]*Node[V], lvl)}
	for i := 0; i < lvl; i++ {
		n.next[i] = l.prev[i].next[i]
		l.prev[i].next[i] = n
	}
	l.length++
	return n
}

// Delete unlinks the node for key and reports whether it was present.
func (l *List[V]) Delete(key string) bool {
	n := l.findPrev(key)
	if n == nil || n.key != key {
		return false
	}
	for i := 0; i < len(n.next); i++ {
		l.prev[i].next[i] = n.next[i]
	}
	for l.level > 1 && l.head.next[l.level-1] == nil {
		l.level--
	}
	l.length--
	return true
}
