package mvcc

import (
	"sync/atomic"
	"unsafe"

	"github.com/fluxmap/fluxmap/evict"
)

// MaxLevel bounds a node's tower. With p = 1/4 it serves 4^32 keys.
const MaxLevel = 32

// Node is one key in the skiplist: its version chain and its commit-time
// lock state. The shard goroutine alone writes it. Readers on any goroutine
// may use Key, Next, Newest, NewestTS and At: key and prefix never change
// after the node is published, and the chain head and the tower links are
// atomic. Every other field is the owner's.
type Node[V any] struct {
	key  string
	head atomic.Pointer[Version[V]] // newest version; nil when there is none

	// Charge is the bytes the node itself (key and structure) is charged
	// against the memory limit. Owned by the shard.
	Charge int32
	// Epoch is the shard batch that last wrote the node; eviction spares
	// keys the current batch wrote (under LFU a new key is always the least
	// used, and evicting what was just written helps nobody).
	Epoch    uint32
	versions int32
	// Reads counts reads since the shard last drained them into the
	// eviction order; readers on any goroutine add to it (see package
	// shard).
	Reads atomic.Uint32
	// Evict links the node into the shard's eviction order; allocated the
	// first time the node is tracked, so databases without a memory limit
	// do not pay for it on every key.
	Evict *evict.Links[Node[V]]

	// prefix holds the key's first 16 bytes, as two big-endian words,
	// zero-padded, so most comparisons during a descent or a scan touch
	// only this node and never the key's separately allocated bytes.
	prefix Prefix
	level  uint8 // links in the tower that follows the node in its allocation
	// Locked is set while an in-flight transaction holds a commit-time
	// lock on the key. The locks themselves live in a table of the shard's,
	// since few keys are locked at any moment: the flag is all the node
	// pays, in what would be padding. Owned by the shard.
	Locked bool
	// Queued and Deadlined are set while the node waits in the shard's
	// reclaim queue and in its queue of TTL deadlines, so it waits in each
	// once. Owned by the shard.
	Queued, Deadlined bool
}

// A node's tower of links follows the Node in the same allocation: node1,
// node2 and node4 carry 1, 2 or 4 links (with p = 1/4, 99.6% of nodes need
// no more) and nodeMax carries MaxLevel. The Node itself holds only the
// tower's height, so the links cost no slice header, and link finds link i
// by its offset from the Node.
type (
	node1[V any] struct {
		Node[V]
		tower [1]atomic.Pointer[Node[V]]
	}
	node2[V any] struct {
		Node[V]
		tower [2]atomic.Pointer[Node[V]]
	}
	node4[V any] struct {
		Node[V]
		tower [4]atomic.Pointer[Node[V]]
	}
	nodeMax[V any] struct {
		Node[V]
		tower [MaxLevel]atomic.Pointer[Node[V]]
	}
)

func newNode[V any](key string, lvl int) *Node[V] {
	var n *Node[V]
	switch {
	case lvl == 1:
		n = &(&node1[V]{}).Node
	case lvl == 2:
		n = &(&node2[V]{}).Node
	case lvl <= 4:
		n = &(&node4[V]{}).Node
	default:
		n = &(&nodeMax[V]{}).Node
	}
	n.key = key
	n.prefix = PrefixOf(key)
	n.level = uint8(lvl)
	return n
}

// link returns the node's link on level i (i < its level). The tower
// starts right after the Node, within the same allocation (see node1), so
// the pointer stays inside the object.
func (n *Node[V]) link(i int) *atomic.Pointer[Node[V]] {
	off := unsafe.Sizeof(*n) + uintptr(i)*unsafe.Sizeof(atomic.Pointer[Node[V]]{})
	return (*atomic.Pointer[Node[V]])(unsafe.Add(unsafe.Pointer(n), off))
}

// Before reports whether n's key sorts before key, whose PrefixOf is kp.
// Most calls decide on the prefixes alone and never load the key's bytes.
func (n *Node[V]) Before(key string, kp Prefix) bool { return KeyLess(n.key, n.prefix, key, kp) }

// Prefix is a key's first 16 bytes as two big-endian words, zero-padded:
// what comparisons look at first.
type Prefix struct{ hi, lo uint64 }

// PrefixOf returns k's Prefix.
func PrefixOf(k string) Prefix {
	var p Prefix
	for i := 0; i < 16; i++ {
		var b uint64
		if i < len(k) {
			b = uint64(k[i])
		}
		if i < 8 {
			p.hi = p.hi<<8 | b
		} else {
			p.lo = p.lo<<8 | b
		}
	}
	return p
}

// KeyLess reports whether a < b, given their Prefixes ap and bp. Keys that
// differ in their first 16 bytes are decided by the prefixes; keys no
// longer than 16 bytes with equal (zero-padded) prefixes differ only in
// trailing zero bytes, so the shorter is smaller; others compare whole.
func KeyLess(a string, ap Prefix, b string, bp Prefix) bool {
	if ap.hi != bp.hi {
		return ap.hi < bp.hi
	}
	if ap.lo != bp.lo {
		return ap.lo < bp.lo
	}
	if len(a) <= 16 && len(b) <= 16 {
		return len(a) < len(b)
	}
	return a < b
}

// Prefix returns the node's key's Prefix. Safe for any goroutine.
func (n *Node[V]) Prefix() Prefix { return n.prefix }

// Key returns the node's encoded key.
func (n *Node[V]) Key() string { return n.key }

// Next returns the following node in key order, or nil. Safe for any
// goroutine: a reader on a node the owner has since unlinked still moves
// forward, to nodes that were its successors then.
func (n *Node[V]) Next() *Node[V] { return n.link(0).Load() }

// List is an ordered map from encoded key to Node: a skiplist with a
// configurable level probability (the Rust original's skiplist_p).
//
// One goroutine, the owner, writes a List (Upsert, Delete); any goroutine
// may read it (Find, Seek, First, and the readers' methods of Node) with no
// lock. A node is built whole, its tower links included, before the atomic
// stores that link it in, bottom level first; unlinking stores the
// successor into each predecessor and leaves the node's own links as they
// were, so a reader standing on it moves on. What a reader that started
// earlier may miss is only what was linked after it started (DESIGN.md
// §4a says why that is safe).
//
// Besides the ordered skiplist, a hash index maps each key to its node, so a
// point lookup costs one hash probe instead of a descent with a cache miss
// per level. Ordered operations (Seek, and finding the insertion point of a
// new key) use the skiplist.
type List[V any] struct {
	index     index[V]
	head      nodeMax[V]   // its tower heads every level
	level     atomic.Int32 // levels in use; readers may see it lag, which costs nothing
	threshold uint64       // a level is promoted while rand < threshold (p * 2^64)
	// backLevel is the lowest level whose nodes lie 32 or more nodes apart
	// (64 at p = 1/4): where SeekBefore stops a descent for a reverse
	// scan's next batch.
	backLevel int
	rng       uint64
	length    int
	prev      [MaxLevel]*Node[V]
	// tail[i] is the last node on level i while tailOK; Append keeps it so
	// a list built from sorted keys needs no descent per key, and Upsert
	// and Delete invalidate it.
	tail   [MaxLevel]*Node[V]
	tailOK bool
}

// NewList returns an empty list whose towers grow with probability p per
// level. p must lie in (0, 1); seed picks the level sequence.
func NewList[V any](p float64, seed uint64) *List[V] {
	l := &List[V]{rng: seed | 1}
	l.level.Store(1)
	l.index.init()
	if t := p * (1 << 64); t >= 1<<64 {
		l.threshold = ^uint64(0)
	} else {
		l.threshold = uint64(t)
	}
	// The first backLevel with (1/p)^backLevel >= 32.
	for gap := 1.0; gap < 32 && l.backLevel < MaxLevel-1; gap /= p {
		l.backLevel++
	}
	return l
}

// Len returns the number of nodes. Owner only.
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
// and returns the first node with Key >= key. Owner only.
func (l *List[V]) findPrev(key string) *Node[V] {
	kp := PrefixOf(key)
	x := &l.head.Node
	for i := int(l.level.Load()) - 1; i >= 0; i-- {
		for nx := x.link(i).Load(); nx != nil && nx.Before(key, kp); nx = x.link(i).Load() {
			x = nx
		}
		l.prev[i] = x
	}
	return x.link(0).Load()
}

// Seek returns the first node with Key >= key, or nil. Safe for any
// goroutine.
func (l *List[V]) Seek(key string) *Node[V] {
	kp := PrefixOf(key)
	x := &l.head.Node
	for i := int(l.level.Load()) - 1; i >= 0; i-- {
		for nx := x.link(i).Load(); nx != nil && nx.Before(key, kp); nx = x.link(i).Load() {
			x = nx
		}
	}
	return x.link(0).Load()
}

// SeekBefore returns a node with Key < key some 32 to 64 nodes before the
// first node with Key >= key (before the end, if inf: key is then
// ignored), or nil if there may be fewer: the rightmost such node on level
// backLevel. A reverse scan walks forward from it to collect its next
// batch, so one descent serves a batch of entries. Safe for any goroutine.
func (l *List[V]) SeekBefore(key string, inf bool) *Node[V] {
	kp := PrefixOf(key)
	x := &l.head.Node
	top := int(l.level.Load()) - 1
	if top < l.backLevel {
		return nil
	}
	for i := top; i >= l.backLevel; i-- {
		for nx := x.link(i).Load(); nx != nil && (inf || nx.Before(key, kp)); nx = x.link(i).Load() {
			x = nx
		}
	}
	if x == &l.head.Node {
		return nil
	}
	return x
}

// First returns the smallest node, or nil. Safe for any goroutine.
func (l *List[V]) First() *Node[V] { return l.head.link(0).Load() }

// Find returns the node for key, or nil. Safe for any goroutine.
func (l *List[V]) Find(key string) *Node[V] { return l.index.find(key) }

// Upsert returns the node for key, creating and linking an empty one if
// needed. The list keeps key, so the caller must not mutate its backing
// bytes. Owner only.
func (l *List[V]) Upsert(key string) *Node[V] {
	if n := l.index.find(key); n != nil {
		return n
	}
	l.tailOK = false
	l.findPrev(key)
	return l.linkNew(key)
}

// Append is Upsert for a key that sorts after every key in the list, as
// when a list is built from sorted input: it links the node after the last
// node of each level with no descent and no index probe. A key that does
// not sort last goes through Upsert. Owner only.
func (l *List[V]) Append(key string) *Node[V] {
	if !l.tailOK {
		x := &l.head.Node
		for i := MaxLevel - 1; i >= 0; i-- {
			for nx := x.link(i).Load(); nx != nil; nx = x.link(i).Load() {
				x = nx
			}
			l.tail[i] = x
		}
		l.tailOK = true
	}
	if last := l.tail[0]; last != &l.head.Node && !last.Before(key, PrefixOf(key)) {
		return l.Upsert(key)
	}
	l.prev = l.tail
	n := l.linkNew(key)
	for i := range int(n.level) {
		l.tail[i] = n
	}
	return n
}

// Reserve makes room in the hash index for n nodes in all, so that building
// a list of known size rebuilds the index once. Owner only.
func (l *List[V]) Reserve(n int) { l.index.reserve(n) }

// linkNew creates key's node and links it after l.prev. Owner only.
func (l *List[V]) linkNew(key string) *Node[V] {
	lvl := l.randomLevel()
	if cur := int(l.level.Load()); lvl > cur {
		for i := cur; i < lvl; i++ {
			l.prev[i] = &l.head.Node
		}
		l.level.Store(int32(lvl))
	}
	n := newNode[V](key, lvl)
	for i := 0; i < lvl; i++ {
		n.link(i).Store(l.prev[i].link(i).Load())
	}
	// Bottom level first: once a reader can reach n at all, it can reach it
	// at level 0, where every lookup ends.
	for i := 0; i < lvl; i++ {
		l.prev[i].link(i).Store(n)
	}
	l.index.insert(n)
	l.length++
	return n
}

// Delete unlinks the node for key and reports whether it was present. The
// node's own links stay as they are, for readers standing on it. Owner
// only.
func (l *List[V]) Delete(key string) bool {
	if l.index.find(key) == nil {
		return false
	}
	l.tailOK = false
	n := l.findPrev(key)
	l.index.remove(key)
	for i := int(n.level) - 1; i >= 0; i-- {
		l.prev[i].link(i).Store(n.link(i).Load())
	}
	lvl := int(l.level.Load())
	for lvl > 1 && l.head.link(lvl-1).Load() == nil {
		lvl--
	}
	l.level.Store(int32(lvl))
	l.length--
	return true
}
