package fluxmap

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxmap/fluxmap/shard"
)

// ErrFeedTruncated is returned by a change feed that needs commits the
// database no longer keeps: the feed started, or fell, behind the oldest
// change retained (see ChangeFeedOptions). Restart from a snapshot: read
// it in a View and follow a new feed from Tx.Snapshot.
var ErrFeedTruncated = errors.New("fluxmap: change feed truncated")

// ChangeFeedOptions size what the database keeps for change feeds (see
// Builder.ChangeFeed). Counts are of writes, all shards together; each
// shard keeps its even share, in chunks of 256.
type ChangeFeedOptions struct {
	// Window is how many of the newest writes are kept whether or not a
	// feed is open, so that a feed can start at a snapshot taken a moment
	// ago. Default: 65,536.
	Window int
	// MaxRetained bounds what open feeds hold back past Window: a feed
	// that falls further behind fails with ErrFeedTruncated rather than
	// hold memory without limit. Default: 16 × Window.
	MaxRetained int
}

// Default change feed retention; see ChangeFeedOptions.
const DefaultFeedWindow = 1 << 16

// ChangeFeed makes the database keep its recent writes for DB.Changes and
// DB.Watch, which otherwise fail with ErrConfig. What it keeps is bounded
// by o and reported in Stats.Feed; keeping it costs each write one record
// appended by the shard that installs it.
func (b *Builder[K, V]) ChangeFeed(o ChangeFeedOptions) *Builder[K, V] {
	if o.Window == 0 {
		o.Window = DefaultFeedWindow
	}
	if o.MaxRetained == 0 {
		o.MaxRetained = 16 * o.Window
	}
	b.feed = &o
	return b
}

// Op is what a Change did to its key.
type Op uint8

const (
	// OpPut set the key's value.
	OpPut Op = iota + 1
	// OpDelete removed the key (Remove, or a transaction's Remove).
	OpDelete
	// OpEvict removed the key under the memory limit, or by DB.Evict.
	OpEvict
	// OpExpire removed the key once its TTL deadline passed: it is
	// committed when vacuum, or a shard over its memory limit, deletes the
	// key, which may be some time after the deadline.
	OpExpire
)

// String returns the op's name.
func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpEvict:
		return "evict"
	case OpExpire:
		return "expire"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// IsDelete reports whether the op removed its key.
func (o Op) IsDelete() bool { return o >= OpDelete }

// Change is one key's write in a committed transaction.
type Change[K, V any] struct {
	Key K
	// Value is the value written by OpPut; the zero value otherwise. Like
	// a value read with Get, it is shared: do not modify it.
	Value V
	Op    Op
	// Expiry is the TTL deadline an OpPut set; zero if none.
	Expiry time.Time
}

// ChangeSet is one committed transaction's writes (of the keys the feed
// selects): the Changes of one commit timestamp, TS.
type ChangeSet[K, V any] struct {
	TS      uint64
	Changes []Change[K, V]
}

// FeedOptions selects what a change feed yields.
type FeedOptions[K any] struct {
	// Since is the commit timestamp to follow from: the feed yields the
	// transactions committed after it. Pass Tx.Snapshot of a transaction
	// or View to continue exactly where its snapshot ends, or the TS of the
	// last ChangeSet consumed to resume; 0 means from the first commit the
	// database keeps, and fails unless it still keeps the very first.
	//
	// Under DurabilityRelaxed a crash may lose the newest commits, which a
	// feed may already have returned, and the reopened database gives
	// their timestamps to new commits: after a crash, resume a Relaxed
	// database's consumer from a snapshot, not from a position.
	Since uint64
	// Prefixes limits the feed to keys whose encoding starts with one of
	// these keys' (as PrefixScan); none means every key. A transaction
	// with no write under them yields nothing.
	Prefixes []K
}

// maxFeedSpan bounds how many commit timestamps one read of the shards'
// feeds covers, so a feed catching up holds a bounded batch.
const maxFeedSpan = 4096

// Feed follows the database's commits in commit-timestamp order, one
// ChangeSet per transaction with all its selected writes, across shards.
// Evictions and TTL expiries appear as their own ChangeSets (see Op).
// Create one with DB.Changes and Close it when done: an open Feed holds
// back the changes it has not read yet (up to ChangeFeedOptions'
// MaxRetained), never commits. A Feed is for one goroutine at a time.
type Feed[K, V any] struct {
	db       *DB[K, V]
	prefixes []string
	curs     []shard.FeedCursor[V]
	pos      atomic.Uint64 // every commit at or below it has been read
	buf      []shard.FeedRecord[V]
	ready    []ChangeSet[K, V]
	err      error
	closed   atomic.Bool
	done     chan struct{} // closed by Close, to end a Next waiting on another goroutine
}

// feedRegistry tracks open feeds, so the shards keep what the slowest
// one still needs.
type feedRegistry[K, V any] struct {
	mu    sync.Mutex
	feeds map[*Feed[K, V]]struct{}
}

// repin tells the shards the slowest open feed's position.
func (db *DB[K, V]) repin() {
	r := &db.feedReg
	r.mu.Lock()
	defer r.mu.Unlock()
	pin := ^uint64(0)
	for f := range r.feeds {
		pin = min(pin, f.pos.Load())
	}
	for _, sf := range db.coord.Feeds() {
		sf.Pin(pin)
	}
}

// Changes opens a change feed from opts.Since. It fails with ErrConfig if
// the database was built without Builder.ChangeFeed, with
// ErrFeedTruncated if the changes after opts.Since are no longer all kept,
// and with ErrInvalidArgument if opts.Since is past the newest commit (a
// position from before a crash that lost commits, under Relaxed
// durability).
func (db *DB[K, V]) Changes(opts FeedOptions[K]) (*Feed[K, V], error) {
	if err := db.built("changes"); err != nil {
		return nil, err
	}
	if db.closed.Load() {
		return nil, errorf("changes: %w", ErrClosed)
	}
	sfs := db.coord.Feeds()
	if sfs == nil {
		return nil, errorf("changes: %w: the change feed is off; turn it on with Builder.ChangeFeed", ErrConfig)
	}
	if v := db.coord.Oracle().Visible(); opts.Since > v {
		return nil, errorf("changes: %w: since %d is past the newest commit %d", ErrInvalidArgument, opts.Since, v)
	}
	f := &Feed[K, V]{db: db, curs: make([]shard.FeedCursor[V], len(sfs)), done: make(chan struct{})}
	for _, p := range opts.Prefixes {
		k, err := db.keys.encode(p)
		if err != nil {
			return nil, errorf("changes: prefix: %w", err)
		}
		if k == "" {
			f.prefixes = nil // the empty prefix selects every key
			break
		}
		f.prefixes = append(f.prefixes, k)
	}
	f.pos.Store(opts.Since)
	// Registered first: from here on the shards keep what f needs, so a
	// cursor that finds nothing dropped stays complete.
	r := &db.feedReg
	r.mu.Lock()
	if r.feeds == nil {
		r.feeds = make(map[*Feed[K, V]]struct{})
	}
	r.feeds[f] = struct{}{}
	r.mu.Unlock()
	db.repin()
	for i, sf := range sfs {
		cur, ok := sf.Cursor(opts.Since)
		if !ok {
			f.Close()
			return nil, errorf("changes: since %d: %w: the oldest change kept is after commit %d",
				opts.Since, ErrFeedTruncated, oldestKept(sfs))
		}
		f.curs[i] = cur
	}
	return f, nil
}

// oldestKept returns the timestamp below which some shard dropped changes.
func oldestKept[V any](sfs []*shard.Feed[V]) uint64 {
	var d uint64
	for _, sf := range sfs {
		d = max(d, sf.Dropped())
	}
	return d
}

// Position returns the commit timestamp the feed has read up to: every
// ChangeSet at or below it was returned (or held none of the selected
// keys), none above it was. Resume a feed from it with FeedOptions.Since.
func (f *Feed[K, V]) Position() uint64 {
	if len(f.ready) > 0 {
		return f.ready[0].TS - 1
	}
	return f.pos.Load()
}

// Close releases the feed. It is safe to call more than once, and from
// another goroutine than the one calling Next: a Next waiting for a commit
// then returns ErrClosed.
func (f *Feed[K, V]) Close() error {
	if f.closed.CompareAndSwap(false, true) {
		close(f.done)
		r := &f.db.feedReg
		r.mu.Lock()
		delete(r.feeds, f)
		r.mu.Unlock()
		f.db.repin()
	}
	return nil
}

// Next returns the next ChangeSet, waiting for one to be committed. It
// returns ctx's error when ctx ends first, ErrClosed once the feed or the
// database is closed, ErrFeedTruncated (for good) if the feed fell behind
// what the database keeps, and the error wrapping ErrPoisoned once a
// durable database stopped committing after an I/O failure and the feed
// has returned every commit made before it.
func (f *Feed[K, V]) Next(ctx context.Context) (ChangeSet[K, V], error) {
	for {
		if f.closed.Load() {
			f.ready, f.buf = nil, nil
			return ChangeSet[K, V]{}, errorf("feed: %w", ErrClosed)
		}
		if len(f.ready) > 0 {
			cs := f.ready[0]
			f.ready[0] = ChangeSet[K, V]{}
			f.ready = f.ready[1:]
			return cs, nil
		}
		if f.err != nil {
			return ChangeSet[K, V]{}, f.err
		}
		if err := ctx.Err(); err != nil {
			return ChangeSet[K, V]{}, errorf("feed: %w", err)
		}
		if f.db.closed.Load() {
			return ChangeSet[K, V]{}, errorf("feed: %w", ErrClosed)
		}
		sig := f.db.coord.CommitSignal()
		if f.db.coord.Oracle().Visible() > f.pos.Load() {
			f.read()
			continue
		}
		if err := f.db.coord.Poisoned(); err != nil {
			return ChangeSet[K, V]{}, errorf("feed: %w", err)
		}
		ch, done := sig.Wait()
		if f.db.coord.Oracle().Visible() > f.pos.Load() || f.db.closed.Load() || f.db.coord.Poisoned() != nil {
			done()
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
		case <-f.done:
		}
		done()
	}
}

// All yields the feed's ChangeSets until ctx ends or an error occurs,
// which it yields last (with a zero ChangeSet). Breaking out of the loop
// leaves the feed open, at the ChangeSet after the last one yielded.
func (f *Feed[K, V]) All(ctx context.Context) iter.Seq2[ChangeSet[K, V], error] {
	return func(yield func(ChangeSet[K, V], error) bool) {
		for {
			cs, err := f.Next(ctx)
			if !yield(cs, err) || err != nil {
				return
			}
		}
	}
}

// read collects the changes committed after pos, up to what is visible
// (at most maxFeedSpan timestamps), into ready.
func (f *Feed[K, V]) read() {
	from := f.pos.Load()
	to := min(f.db.coord.Oracle().Visible(), from+maxFeedSpan)
	f.buf = f.buf[:0]
	sfs := f.db.coord.Feeds()
	for i := range f.curs {
		scan := func(r *shard.FeedRecord[V]) bool {
			switch {
			case r.TS <= from:
				return true
			case r.TS > to:
				return false // not visible yet: read it next time
			}
			if f.selects(r.Key) {
				f.buf = append(f.buf, *r)
			}
			return true
		}
		ok := f.curs[i].Scan(scan)
		for !ok {
			// The shard dropped the chunk the cursor stood in (perhaps at
			// its end, all of it read), so the cursor cannot move on. Every
			// record at or below from is consumed: if the shard dropped
			// none above it, a new cursor loses nothing. (Had this scan
			// taken a record from a dropped chunk, one above from would be
			// dropped, and Cursor refuses.)
			cur, kept := sfs[i].Cursor(from)
			if !kept {
				break
			}
			f.curs[i] = cur
			ok = f.curs[i].Scan(scan)
		}
		if !ok {
			f.err = errorf("feed: after commit %d: %w: the feed fell more than the retained changes behind",
				from, ErrFeedTruncated)
			f.buf = f.buf[:0]
			return
		}
	}
	slices.SortStableFunc(f.buf, func(a, b shard.FeedRecord[V]) int { return cmp.Compare(a.TS, b.TS) })
	for i := 0; i < len(f.buf); {
		j := i + 1
		for j < len(f.buf) && f.buf[j].TS == f.buf[i].TS {
			j++
		}
		cs := ChangeSet[K, V]{TS: f.buf[i].TS, Changes: make([]Change[K, V], 0, j-i)}
		for _, r := range f.buf[i:j] {
			c, err := f.change(&r)
			if err != nil {
				// The codec cannot read back a key it encoded: the feed
				// yields what came before and then stops here, for good.
				f.err = errorf("feed: decoding a key of commit %d: %w", r.TS, err)
				f.pos.Store(r.TS - 1) // what came before is in ready
				clear(f.buf)
				return
			}
			cs.Changes = append(cs.Changes, c)
		}
		f.ready = append(f.ready, cs)
		i = j
	}
	clear(f.buf)
	f.pos.Store(to)
	f.db.repin()
}

func (f *Feed[K, V]) selects(key string) bool {
	if len(f.prefixes) == 0 {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// change converts a shard's record to the API's form.
func (f *Feed[K, V]) change(r *shard.FeedRecord[V]) (Change[K, V], error) {
	k, err := f.db.keys.decode(r.Key)
	if err != nil {
		return Change[K, V]{}, err
	}
	c := Change[K, V]{Key: k, Op: OpPut}
	switch {
	case !r.Tombstone:
		c.Value = r.Value
		if r.Expiry != 0 {
			c.Expiry = time.Unix(0, r.Expiry)
		}
	case r.Cause == shard.CauseEvict:
		c.Op = OpEvict
	case r.Cause == shard.CauseExpire:
		c.Op = OpExpire
	default:
		c.Op = OpDelete
	}
	return c, nil
}

// Watch returns a channel that is closed once a transaction committed after
// since writes a key under one of prefixes (any key if none is given), or
// when ctx ends, the database closes, or the changes after since are no
// longer kept: every case in which what was read at since may be stale.
// Pass the Tx.Snapshot of the View that read the data, so a change made
// between that read and the call to Watch is not missed. It fails as
// DB.Changes does.
func (db *DB[K, V]) Watch(ctx context.Context, since uint64, prefixes ...K) (<-chan struct{}, error) {
	if err := db.check(ctx, "watch"); err != nil {
		return nil, err
	}
	f, err := db.Changes(FeedOptions[K]{Since: since, Prefixes: prefixes})
	if err != nil {
		return nil, errorf("watch: %w", err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer f.Close()
		_, _ = f.Next(ctx) // a ChangeSet, or an error: either way, wake the watcher
	}()
	return ch, nil
}

// Snapshot returns the commit timestamp the transaction reads at: it sees
// every commit at or below it and none above. A change feed from it
// (FeedOptions.Since) continues exactly where the snapshot ends.
func (tx *Tx[K, V]) Snapshot() uint64 { return tx.start }

// FeedStats reports what the database keeps for change feeds.
type FeedStats struct {
	// Feeds is the number of open feeds (Watch calls included).
	Feeds int
	// Changes is the number of writes kept, Bytes their estimated memory
	// (keys, values and records).
	Changes int
	Bytes   int64
	// Oldest is the commit timestamp a new feed can start from at the
	// earliest (FeedOptions.Since).
	Oldest uint64
}

func (db *DB[K, V]) feedStats() *FeedStats {
	sfs := db.coord.Feeds()
	if sfs == nil {
		return nil
	}
	st := &FeedStats{Oldest: oldestKept(sfs)}
	for _, sf := range sfs {
		n, b := sf.Usage()
		st.Changes += n
		st.Bytes += b
	}
	db.feedReg.mu.Lock()
	st.Feeds = len(db.feedReg.feeds)
	db.feedReg.mu.Unlock()
	return st
}
