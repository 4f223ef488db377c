package mvcc

import "github.com/fluxmap/fluxmap/evict"

// MaxLevel bounds a node's tower. With p = 1/4 it serves 4^32 keys.
const MaxLevel = 32

// Node is one key in the skiplist: its version chain and its commit-time
// lock state. Owned by the shard goroutine.
type Node[V any] struct {
	key string
	top Version[V] // newest version, valid when versions > 0

	// WriteLock is the id of the in-flight transaction that holds this key's
	// write lock between prepare and commit/abort, or 0.
	WriteLock uint64
	// ReadLocks counts in-flight transactions holding a read lock on the key.
	ReadLocks int32
	// Charge is the bytes the node itself (key and structure) is charged
	// against the memory limit. Owned by the shard.
	Charge int32
	// Epoch is the shard batch that last wrote the node; eviction spares
	// keys the current batch wrote (under LFU a new key is always the least
	// used, and evicting what was just written helps nobody).
	Epoch    uint32
	versions int32 // beside Epoch: the two pack into one word
	// Evict links the node into the shard's eviction order; allocated the
	// first time the node is tracked, so databases without a memory limit
	// do not pay for it on every key.
	Evict *evict.Links[Node[V]]

	// prefix holds the key's first 8 bytes, big-endian and zero-padded, so
	// most comparisons during a descent touch only this node and never the
	// key's separately allocated bytes.
	prefix uint64
	next   []*Node[V]
}

// towered nodes carry their tower in the same allocation as the node; with
// p = 1/4, 99.6% of nodes have at most 4 levels.
type (
	node1[V any] struct {
		Node[V]
		tower [1]*Node[V]
	}
	node2[V any] struct {
		Node[V]
		tower [2]*Node[V]
	}
	node4[V any] struct {
		Node[V]
		tower [4]*Node[V]
	}
)

func newNode[V any](key string, lvl int) *Node[V] {
	var n *Node[V]
	switch {
	case lvl == 1:
		x := &node1[V]{}
		x.next = x.tower[:]
		n = &x.Node
	case lvl == 2:
		x := &node2[V]{}
		x.next = x.tower[:]
		n = &x.Node
	case lvl <= 4:
		x := &node4[V]{}
		x.next = x.tower[:lvl]
		n = &x.Node
	default:
		n = &Node[V]{next: make([]*Node[V], lvl)}
	}
	n.key = key
	n.prefix = keyPrefix(key)
	return n
}

// Before reports whether n's key sorts before key, whose KeyPrefix is kp.
// Most calls decide on the prefix alone and never load the key's bytes.
func (n *Node[V]) Before(key string, kp uint64) bool { return n.less(key, kp) }

// KeyPrefix returns the first 8 bytes of k, big-endian and zero-padded: the
// form Before compares first.
func KeyPrefix(k string) uint64 { return keyPrefix(k) }

func keyPrefix(k string) uint64 {
	var p uint64
	for i := 0; i < 8; i++ {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

// less reports whether n's key sorts before key, whose prefix is kp.
func (n *Node[V]) less(key string, kp uint64) bool {
	if n.prefix != kp {
		return n.prefix < kp
	}
	return n.key < key
}

// Key returns the node's encoded key.
func (n *Node[V]) Key() string { return n.key }

// Next returns the following node in key order, or nil.
func (n *Node[V]) Next() *Node[V] { return n.next[0] }

// List is an ordered map from encoded key to Node: a skiplist with a
// configurable level probability (the Rust original's skiplist_p).
//
// A List must be used by one goroutine only.
//
// Besides the ordered skiplist, a hash index maps each key to its node, so a
// point lookup costs one hash probe instead of a descent with a cache miss
// per level. Ordered operations (Seek, and finding the insertion point of a
// new key) use the skiplist.
type List[V any] struct {
	index     index[V]
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
	l.index.init()
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
	kp := keyPrefix(key)
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for nx := x.next[i]; nx != nil && nx.less(key, kp); nx = x.next[i] {
			x = nx
		}
		l.prev[i] = x
	}
	return x.next[0]
}

// Seek returns the first node with Key >= key, or nil.
func (l *List[V]) Seek(key string) *Node[V] {
	kp := keyPrefix(key)
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for nx := x.next[i]; nx != nil && nx.less(key, kp); nx = x.next[i] {
			x = nx
		}
	}
	return x.next[0]
}

// First returns the smallest node, or nil.
func (l *List[V]) First() *Node[V] { return l.head.next[0] }

// Find returns the node for key, or nil.
func (l *List[V]) Find(key string) *Node[V] { return l.index.find(key) }

// Upsert returns the node for key, creating an empty one if needed. The list
// keeps key, so the caller must not mutate its backing bytes.
func (l *List[V]) Upsert(key string) *Node[V] {
	if n := l.index.find(key); n != nil {
		return n
	}
	l.findPrev(key)
	lvl := l.randomLevel()
	if lvl > l.level {
		for i := l.level; i < lvl; i++ {
			l.prev[i] = &l.head
		}
		l.level = lvl
	}
	n := newNode[V](key, lvl)
	for i := 0; i < lvl; i++ {
		n.next[i] = l.prev[i].next[i]
		l.prev[i].next[i] = n
	}
	l.index.insert(n)
	l.length++
	return n
}

// Delete unlinks the node for key and reports whether it was present.
func (l *List[V]) Delete(key string) bool {
	if l.index.find(key) == nil {
		return false
	}
	n := l.findPrev(key)
	l.index.remove(key)
	for i := 0; i < len(n.next); i++ {
		l.prev[i].next[i] = n.next[i]
	}
	for l.level > 1 && l.head.next[l.level-1] == nil {
		l.level--
	}
	l.length--
	return true
}
