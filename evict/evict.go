package evict

// Policy says how victims are chosen.
type Policy uint8

const (
	// LRU evicts the least recently used key first.
	LRU Policy = iota
	// LFU evicts the least frequently used key first, the least recently
	// used among equals.
	LFU
	// Reject never evicts: a commit that would exceed the limit fails.
	Reject
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case LRU:
		return "LRU"
	case LFU:
		return "LFU"
	case Reject:
		return "Reject"
	}
	return "Policy(?)"
}

// Links is embedded in every tracked item. The zero value is "not tracked".
type Links[T any] struct {
	prev, next *T
	bucket     *bucket[T]
	freq       uint32
	tracked    bool
}

// Tracker orders items for eviction under one policy. Items reach their
// Links through the accessor given to New. A Tracker is used by one
// goroutine only.
type Tracker[T any] struct {
	policy Policy
	links  func(*T) *Links[T]
	// lru is the recency list (LRU policy): head most recent.
	lru list[T]
	// buckets is the LFU frequency list, lowest frequency first; each
	// bucket holds its items in recency order.
	buckets *bucket[T]
	n       int
}

type list[T any] struct{ head, tail *T }

type bucket[T any] struct {
	freq       uint32
	items      list[T]
	prev, next *bucket[T]
}

// New returns a tracker for policy p.
func New[T any](p Policy, links func(*T) *Links[T]) *Tracker[T] {
	return &Tracker[T]{policy: p, links: links}
}

// Len returns the number of tracked items.
func (t *Tracker[T]) Len() int { return t.n }

func (t *Tracker[T]) pushFront(l *list[T], x *T) {
	lx := t.links(x)
	lx.prev, lx.next = nil, l.head
	if l.head != nil {
		t.links(l.head).prev = x
	} else {
		l.tail = x
	}
	l.head = x
}

func (t *Tracker[T]) unlink(l *list[T], x *T) {
	lx := t.links(x)
	if lx.prev != nil {
		t.links(lx.prev).next = lx.next
	} else {
		l.head = lx.next
	}
	if lx.next != nil {
		t.links(lx.next).prev = lx.prev
	} else {
		l.tail = lx.prev
	}
	lx.prev, lx.next = nil, nil
}

// Touch records an access to x, starting to track it if needed.
func (t *Tracker[T]) Touch(x *T) {
	if t.policy == Reject {
		return
	}
	lx := t.links(x)
	if t.policy == LRU {
		if lx.tracked {
			t.unlink(&t.lru, x)
		} else {
			lx.tracked = true
			t.n++
		}
		t.pushFront(&t.lru, x)
		return
	}
	// LFU: move x from its bucket to the next frequency's.
	var at *bucket[T] // the bucket x leaves (nil: new item)
	if lx.tracked {
		at = lx.bucket
		lx.freq++
	} else {
		lx.tracked = true
		lx.freq = 1
		t.n++
	}
	var dst *bucket[T]
	switch {
	case at == nil && t.buckets != nil && t.buckets.freq == lx.freq:
		dst = t.buckets
	case at == nil:
		dst = &bucket[T]{freq: lx.freq, next: t.buckets}
		if t.buckets != nil {
			t.buckets.prev = dst
		}
		t.buckets = dst
	case at.next != nil && at.next.freq == lx.freq:
		dst = at.next
	default:
		dst = &bucket[T]{freq: lx.freq, prev: at, next: at.next}
		if at.next != nil {
			at.next.prev = dst
		}
		at.next = dst
	}
	if at != nil {
		t.unlink(&at.items, x)
		if at.items.head == nil {
			t.dropBucket(at)
		}
	}
	lx.bucket = dst
	t.pushFront(&dst.items, x)
}

func (t *Tracker[T]) dropBucket(b *bucket[T]) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		t.buckets = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	}
}

// Remove stops tracking x.
func (t *Tracker[T]) Remove(x *T) {
	lx := t.links(x)
	if !lx.tracked {
		return
	}
	if t.policy == LRU {
		t.unlink(&t.lru, x)
	} else {
		b := lx.bucket
		t.unlink(&b.items, x)
		if b.items.head == nil {
			t.dropBucket(b)
		}
		lx.bucket, lx.freq = nil, 0
	}
	lx.tracked = false
	t.n--
}

// Candidates yields tracked items in eviction order (first victim first)
// until yield returns false. yield must not Touch or Remove items other
// than the one it was given (removing that one is fine).
func (t *Tracker[T]) Candidates(yield func(*T) bool) {
	if t.policy == LRU {
		for x := t.lru.tail; x != nil; {
			prev := t.links(x).prev
			if !yield(x) {
				return
			}
			x = prev
		}
		return
	}
	for b := t.buckets; b != nil; {
		next := b.next
		for x := b.items.tail; x != nil; {
			prev := t.links(x).prev
			if !yield(x) {
				return
			}
			x = prev
		}
		b = next
	}
}
