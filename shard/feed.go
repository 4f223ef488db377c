package shard

import (
	"sync/atomic"
	"unsafe"
)

// Cause says why a write was committed.
type Cause uint8

const (
	CauseWrite  Cause = iota // a transaction's or an autocommit call's write
	CauseEvict               // the memory limit (or DB.Evict) removed the key
	CauseExpire              // the key's TTL deadline passed
)

// FeedRecord is one installed write, as the change feed reads it.
type FeedRecord[V any] struct {
	TS        uint64
	Key       string
	Value     V
	Expiry    int64
	Tombstone bool
	Cause     Cause
}

// feedChunkLen is the number of records per chunk of a Feed.
const feedChunkLen = 256

// feedChunk is a fixed run of records. The shard goroutine fills recs in
// order and publishes them by storing n; a record below n never changes,
// so readers read recs[:n] without locks. Once dropped, the chunk is
// unlinked (next is cleared) and only readers still holding it keep it
// alive, so a reader that fell behind pins one chunk, never the chain.
type feedChunk[V any] struct {
	recs [feedChunkLen]FeedRecord[V]
	n    atomic.Int32
	// maxTS is the largest TS in recs, stored before n reaches
	// feedChunkLen: only full chunks are skipped or dropped by it.
	maxTS   atomic.Uint64
	dropped atomic.Bool
	next    atomic.Pointer[feedChunk[V]]
	// The shard goroutine's: the largest TS so far, and an estimate of
	// what recs hold.
	max   uint64
	bytes int64
}

// Feed is a shard's log of the writes it installed, in install order, for
// the change feed: the shard goroutine appends (install), any goroutine
// reads through a FeedCursor. Install order is not timestamp order (two
// commits of a two-phase protocol may install in either order), but every
// record with a timestamp at or below the oracle's visible watermark is
// published before the watermark passes it, since a commit is marked done
// only after it is installed.
//
// The shard keeps the newest Window records at least; it keeps older ones
// while a registered reader still needs them (Pin), up to MaxRetained.
type Feed[V any] struct {
	Window, MaxRetained int
	// ValueSize estimates a value's bytes beyond the record (Memory's).
	ValueSize func(key string, v V) int64

	head atomic.Pointer[feedChunk[V]] // oldest chunk kept
	tail *feedChunk[V]                // the shard goroutine's
	// dropped is the largest TS of any record no longer kept: a reader
	// that needs a record above it finds every one.
	dropped atomic.Uint64
	// pin is the position of the slowest registered reader (every record
	// at or below it is consumed); chunks above it are kept up to
	// MaxRetained.
	pin atomic.Uint64
	// records and bytes are the shard goroutine's counts of what is kept,
	// published to Usage after every trim.
	records, bytes                   int64
	publishedRecords, publishedBytes atomic.Int64
}

// NewFeed returns a feed that keeps at least window records (at most
// maxRetained for registered readers) and reports records at or below
// from as dropped: they happened before the feed began.
func NewFeed[V any](window, maxRetained int, from uint64, valueSize func(string, V) int64) *Feed[V] {
	f := &Feed[V]{Window: max(window, 1), MaxRetained: max(maxRetained, window, 1), ValueSize: valueSize}
	if f.ValueSize == nil {
		f.ValueSize = func(string, V) int64 { return 0 }
	}
	f.tail = new(feedChunk[V])
	f.head.Store(f.tail)
	f.dropped.Store(from)
	f.pin.Store(^uint64(0))
	return f
}

// feedRecordBytes is a record's fixed size in a chunk.
const feedRecordBytes = int64(unsafe.Sizeof(FeedRecord[struct{}]{})) + 16

// Append adds a record recovered from the log, before the shard runs.
func (f *Feed[V]) Append(r FeedRecord[V]) { f.add(r) }

// Trim drops what the feed need not keep; the shard calls it after every
// batch, and its owner after Append.
func (f *Feed[V]) Trim() { f.trim() }

// add appends one record and publishes it to readers.
func (f *Feed[V]) add(r FeedRecord[V]) {
	c := f.tail
	i := c.n.Load()
	if i == feedChunkLen {
		nc := new(feedChunk[V])
		c.next.Store(nc)
		f.tail, c, i = nc, nc, 0
	}
	c.recs[i] = r
	b := feedRecordBytes + int64(len(r.Key))
	if !r.Tombstone {
		b += f.ValueSize(r.Key, r.Value)
	}
	c.bytes += b
	f.bytes += b
	f.records++
	c.max = max(c.max, r.TS)
	if i+1 == feedChunkLen {
		c.maxTS.Store(c.max)
	}
	c.n.Store(i + 1)
}

// trim drops the oldest chunks beyond what the feed keeps.
func (f *Feed[V]) trim() {
	defer func() {
		f.publishedRecords.Store(f.records)
		f.publishedBytes.Store(f.bytes)
	}()
	for {
		h := f.head.Load()
		if h == f.tail {
			return
		}
		n := int(f.records)
		if n-feedChunkLen < f.Window {
			return
		}
		if h.maxTS.Load() > f.pin.Load() && n-feedChunkLen < f.MaxRetained {
			return // a registered reader still needs it
		}
		next := h.next.Load()
		if d := h.maxTS.Load(); d > f.dropped.Load() {
			f.dropped.Store(d)
		}
		h.dropped.Store(true)
		f.head.Store(next)
		h.next.Store(nil)
		f.records -= feedChunkLen
		f.bytes -= h.bytes
	}
}

// Dropped returns the largest timestamp of a record the feed no longer
// keeps (or that happened before the feed began).
func (f *Feed[V]) Dropped() uint64 { return f.dropped.Load() }

// Pin records the position of the slowest registered reader; ^uint64(0)
// when none is registered.
func (f *Feed[V]) Pin(ts uint64) { f.pin.Store(ts) }

// Usage returns the records kept and their estimated bytes, as of the
// shard's last batch.
func (f *Feed[V]) Usage() (records int, bytes int64) {
	return int(f.publishedRecords.Load()), f.publishedBytes.Load()
}

// FeedCursor reads one shard's Feed from any goroutine.
type FeedCursor[V any] struct {
	c *feedChunk[V]
	i int32
}

// Cursor returns a cursor at the oldest record kept, or ok false if the
// feed has dropped a record above after (so a reader that must see every
// record above after cannot).
func (f *Feed[V]) Cursor(after uint64) (cur FeedCursor[V], ok bool) {
	for {
		h := f.head.Load()
		if f.dropped.Load() > after {
			return cur, false
		}
		if h.dropped.Load() {
			continue // dropped between the loads: the new head is kept
		}
		// Whole chunks at or below after need no visit.
		for h.n.Load() == feedChunkLen && h.maxTS.Load() <= after {
			next := h.next.Load()
			if next == nil {
				break
			}
			h = next
		}
		return FeedCursor[V]{c: h}, true
	}
}

// Scan calls fn for each published record from the cursor on, and moves
// the cursor past the longest run of records for which fn returned true
// (consumed); records after a false stay for the next Scan. It returns
// false if the feed dropped the chunk the cursor stood in before the scan
// could move past it (records may be lost, or the cursor may merely be
// stranded at the end of that chunk): the caller decides with Cursor.
func (cur *FeedCursor[V]) Scan(fn func(r *FeedRecord[V]) (consumed bool)) bool {
	c, i := cur.c, cur.i
	moving := true
	for {
		n := c.n.Load()
		for ; i < n; i++ {
			if !fn(&c.recs[i]) {
				moving = false
			}
			if moving {
				cur.c, cur.i = c, i+1
			}
		}
		if n < feedChunkLen {
			return true
		}
		next := c.next.Load()
		if next == nil {
			return !c.dropped.Load()
		}
		c, i = next, 0
		if moving {
			cur.c, cur.i = c, 0
		}
	}
}
