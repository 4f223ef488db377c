package coordinator

import (
	"errors"
	"slices"
	"strings"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/shard"
)

// Txn is a transaction on encoded keys. It buffers writes, reads at its
// snapshot, records what it read (under serializable isolation) and commits
// with the single-shard fast path or two-phase commit.
//
// A Txn is owned by one goroutine at a time; it is not safe for concurrent
// use.
type Txn[V any] struct {
	c    *Coordinator[V]
	snap Snapshot
	// now is the snapshot's wall-clock time (Unix nanoseconds), read once at
	// Begin: every read evaluates TTL deadlines at it, and validation
	// refuses the commit if one of them passed since (see doc.go, TTLs).
	now      int64
	readOnly bool
	done     bool

	writes writeSet[V]
	reads  readSet // empty under snapshot isolation and for read-only
	ranges []shard.Span
}

// Begin starts a transaction at the current visible timestamp. hint spreads
// snapshot registrations over the registry's stripes (any per-caller
// number will do).
//
// The Txn comes from a pool: a transaction object with its inline read and
// write sets is a few hundred bytes, and allocating one per transaction was
// most of the bytes a small transaction allocated (so most of the garbage
// collector's work under a transaction load). Hand it back with Recycle
// once it has finished and nothing will touch it again.
func (c *Coordinator[V]) Begin(readOnly bool, hint uint64) *Txn[V] {
	t := c.txns.Get().(*Txn[V])
	t.c, t.snap, t.readOnly = c, c.oracle.Acquire(hint), readOnly
	// After Acquire: every commit the snapshot sees was allocated before
	// this time.
	t.now = c.SnapshotTime()
	return t
}

// pooledSetCap is the largest read or write set whose storage a recycled
// Txn keeps; a bigger one is left to the garbage collector, so one huge
// transaction does not pin its buffers in the pool.
const pooledSetCap = 64

// Recycle returns a finished transaction (after Commit or Rollback) to its
// coordinator's pool. The caller must be the Txn's only user and must not
// touch it afterwards. Recycling an unfinished Txn does nothing, so its
// snapshot is never released twice.
func (t *Txn[V]) Recycle() {
	if !t.done || t.c == nil {
		return
	}
	c := t.c
	t.writes.reset()
	t.reads.reset()
	clear(t.ranges)
	ranges := t.ranges[:0]
	if cap(ranges) > pooledSetCap {
		ranges = nil
	}
	t.c, t.snap, t.now, t.readOnly, t.done, t.ranges = nil, Snapshot{}, 0, false, false, ranges
	c.txns.Put(t)
}

// StartTS returns the snapshot timestamp.
func (t *Txn[V]) StartTS() uint64 { return t.snap.TS }

// NumWrites returns how many distinct keys the transaction has written.
func (t *Txn[V]) NumWrites() int { return len(t.writes.list) }

// smallSet is how many entries a transaction's read or write set holds
// before it builds a map to find keys; below it a linear scan is cheaper
// than hashing, and typical transactions never allocate a map.
const smallSet = 8

// keyedList holds entries with distinct keys in the order they were first
// added. The first few live in the list itself; past smallSet entries a
// map finds keys instead of a linear scan.
type keyedList[T any] struct {
	list   []T
	idx    map[string]int // key -> index in list; nil until list outgrows smallSet
	inline [4]T
}

func (s *keyedList[T]) find(key string, keyOf func(*T) string) int {
	if s.idx != nil {
		if i, ok := s.idx[key]; ok {
			return i
		}
		return -1
	}
	for i := range s.list {
		if keyOf(&s.list[i]) == key {
			return i
		}
	}
	return -1
}

// add appends e, whose key is key, unless an entry with that key exists;
// it returns that entry's index and whether e was appended.
func (s *keyedList[T]) add(e T, key string, keyOf func(*T) string) (int, bool) {
	if i := s.find(key, keyOf); i >= 0 {
		return i, false
	}
	if s.list == nil {
		s.list = s.inline[:0]
	}
	s.list = append(s.list, e)
	n := len(s.list) - 1
	switch {
	case s.idx != nil:
		s.idx[key] = n
	case len(s.list) > smallSet:
		s.idx = make(map[string]int, 2*len(s.list))
		for i := range s.list {
			s.idx[keyOf(&s.list[i])] = i
		}
	}
	return n, true
}

// reset empties the list for reuse, keeping its storage unless it grew
// past pooledSetCap entries.
func (s *keyedList[T]) reset() {
	clear(s.list)
	clear(s.inline[:]) // a list that outgrew inline left its first entries here
	s.list = s.list[:0]
	if cap(s.list) > pooledSetCap {
		s.list = nil
	}
	s.idx = nil
}

// writeSet is a transaction's buffered writes, one per key.
type writeSet[V any] struct{ keyedList[shard.Write[V]] }

func writeKey[V any](w *shard.Write[V]) string { return w.Key }

func (s *writeSet[V]) find(key string) int { return s.keyedList.find(key, writeKey[V]) }

// put buffers w, replacing an earlier write of its key.
func (s *writeSet[V]) put(w shard.Write[V]) {
	if i, added := s.add(w, w.Key, writeKey[V]); !added {
		s.list[i] = w
	}
}

// readSet is the keys a serializable transaction read, each once.
type readSet struct{ keyedList[string] }

func readKey(k *string) string { return *k }

func (t *Txn[V]) recordRead(key string) {
	if t.readOnly || !t.c.serializable {
		return
	}
	t.reads.add(key, key, readKey)
}

// live reports whether a buffered write reads as present: not a delete,
// and not past its TTL deadline at the snapshot's time, the time at which
// the transaction reads everything else.
func (t *Txn[V]) live(w *shard.Write[V]) bool {
	return !w.Tombstone && (w.Expiry == 0 || t.now < w.Expiry)
}

// Get reads key: the transaction's own write if it has one, else the value
// at the snapshot.
func (t *Txn[V]) Get(key string) (V, bool, error) {
	if i := t.writes.find(key); i >= 0 {
		w := &t.writes.list[i]
		if !t.live(w) {
			var zero V
			return zero, false, nil
		}
		return w.Value, true, nil
	}
	if t.c.gate.closed.Load() {
		var zero V
		return zero, false, errs.ErrClosed
	}
	v, ok := t.c.shards[t.c.ShardOf(key)].ReadAt(key, t.snap.TS, t.now)
	t.recordRead(key)
	return v, ok, nil
}

// GetMany reads keys like Get; out[i] receives keys[i]'s answer; len(out)
// must be len(keys).
func (t *Txn[V]) GetMany(keys []string, out []shard.ReadResult[V]) error {
	if t.c.gate.closed.Load() {
		return errs.ErrClosed
	}
	for i, k := range keys {
		if j := t.writes.find(k); j >= 0 {
			if w := &t.writes.list[j]; t.live(w) {
				out[i] = shard.ReadResult[V]{Value: w.Value, Found: true}
			} else {
				out[i] = shard.ReadResult[V]{}
			}
			continue
		}
		v, ok := t.c.shards[t.c.ShardOf(k)].ReadAt(k, t.snap.TS, t.now)
		out[i] = shard.ReadResult[V]{Value: v, Found: ok}
		t.recordRead(k)
	}
	return nil
}

// Put buffers a write (tombstone for a delete). key must not alias memory
// the caller will reuse.
func (t *Txn[V]) Put(key string, val V, tombstone bool) {
	t.PutWrite(shard.Write[V]{Key: key, Value: val, Tombstone: tombstone})
}

// PutWrite buffers w (for example one with a TTL deadline).
func (t *Txn[V]) PutWrite(w shard.Write[V]) { t.writes.put(w) }

// HasWrite reports whether key is already in the write buffer.
func (t *Txn[V]) HasWrite(key string) bool { return t.writes.find(key) >= 0 }

// Scan returns a scanner over span at the snapshot merged with the
// transaction's buffered writes, in descending key order if reverse. Under
// serializable isolation the span is recorded for phantom validation,
// whichever the order and wherever the caller stops. The caller must Close
// the scanner.
func (t *Txn[V]) Scan(span shard.Span, reverse bool) *TxnScanner[V] {
	if !t.readOnly && t.c.serializable {
		t.ranges = append(t.ranges, span)
	}
	s := &TxnScanner[V]{base: t.c.NewScanner(span, t.snap.TS, t.now, reverse), reverse: reverse}
	for _, w := range t.writes.list {
		if span.Contains(w.Key) {
			if !t.live(&w) {
				// Expired at the snapshot's time: it still shadows the
				// snapshot's value, as its commit will.
				w = shard.Write[V]{Key: w.Key, Tombstone: true}
			}
			s.buf = append(s.buf, w)
		}
	}
	slices.SortFunc(s.buf, func(a, b shard.Write[V]) int { return strings.Compare(a.Key, b.Key) })
	if reverse {
		slices.Reverse(s.buf)
	}
	return s
}

// Rollback discards the transaction. Safe to call after Commit (no-op).
func (t *Txn[V]) Rollback() {
	if t.done {
		return
	}
	t.done = true
	t.snap.Release()
}

// Commit validates and installs the buffered writes. It returns the commit
// timestamp (0 when there was nothing to write), or an error: one wrapping
// ErrCommitUnknown if a WAL failure left the outcome open, any other (such
// as ErrConflict, or ErrPoisoned alone) if the commit did not take effect.
// Either way the transaction is finished.
func (t *Txn[V]) Commit() (uint64, error) {
	if t.done {
		return 0, errs.ErrTxnDone
	}
	defer t.Rollback()
	if len(t.writes.list) == 0 {
		// A read-only transaction read a snapshot at visible, which is a
		// prefix of the commit order: nothing to validate.
		return 0, nil
	}
	c := t.c
	// A poisoned database refuses every commit with the poisoning error,
	// not with the conflicts its never-visible installs would cause.
	if err := c.oracle.Poisoned(); err != nil {
		return 0, err
	}
	g, err := c.enter()
	if err != nil {
		return 0, err
	}
	defer c.gate.exit(g)
	var partsBuf [16]*shard.Request[V]
	var parts []*shard.Request[V]
	if len(c.shards) <= len(partsBuf) {
		parts = partsBuf[:len(c.shards)]
	} else {
		parts = make([]*shard.Request[V], len(c.shards))
	}
	touch := func(i int) *shard.Request[V] {
		if parts[i] == nil {
			r := c.getReq()
			r.TS, r.Now = t.snap.TS, t.now
			parts[i] = r
		}
		return parts[i]
	}
	for _, w := range t.writes.list {
		r := touch(c.ShardOf(w.Key))
		r.Writes = append(r.Writes, w)
	}
	for _, k := range t.reads.list {
		if t.writes.find(k) < 0 {
			r := touch(c.ShardOf(k))
			r.Reads = append(r.Reads, k)
		}
	}
	if len(t.ranges) > 0 {
		for i := range c.shards {
			r := touch(i)
			r.Ranges = append(r.Ranges, t.ranges...)
		}
	}
	var listBuf [16]int
	list := listBuf[:0]
	for i, r := range parts {
		if r != nil {
			list = append(list, i)
		}
	}
	if len(list) == 1 {
		return c.commitOne(c.shards[list[0]], parts[list[0]])
	}
	return c.commitTwoPhase(parts, list)
}

func (c *Coordinator[V]) commitOne(sh *shard.Shard[V], r *shard.Request[V]) (uint64, error) {
	if err := c.oracle.Admit(); err != nil {
		return 0, err
	}
	defer c.oracle.Release()
	r.Kind = shard.KindCommitOne
	sh.Do(r)
	if r.Err != nil {
		err := r.Err
		c.putReq(r)
		return 0, c.preferPoison(err)
	}
	ts := r.CommitTS
	c.putReq(r)
	return ts, c.waitVisible(ts)
}

func (c *Coordinator[V]) commitTwoPhase(parts []*shard.Request[V], list []int) (uint64, error) {
	// Phase one: prepare everywhere in parallel.
	for _, i := range list {
		for _, p := range list {
			parts[i].Participants = append(parts[i].Participants, uint32(p))
		}
		parts[i].Kind = shard.KindPrepare
		c.shards[i].Send(parts[i])
	}
	var err error
	var yesBuf [16]int
	yes := yesBuf[:0]
	for _, i := range list {
		c.shards[i].Wait(parts[i])
		if parts[i].Err != nil {
			if err == nil {
				err = parts[i].Err
			}
			c.putReq(parts[i])
			continue
		}
		yes = append(yes, i)
	}
	if err != nil {
		// Release the locks of those that voted yes.
		for _, i := range yes {
			parts[i].Kind = shard.KindAbort
			c.shards[i].Send(parts[i])
		}
		for _, i := range yes {
			c.shards[i].Wait(parts[i])
			c.putReq(parts[i])
		}
		return 0, c.preferPoison(err)
	}
	// Phase two: every participant voted yes; the commit is decided.
	if e := c.oracle.Admit(); e != nil {
		// A poisoned oracle refuses (a closing one cannot: the gate keeps
		// it open while we are in flight). Nothing is installed yet: release
		// the locks, and the commit did not take effect.
		for _, i := range list {
			parts[i].Kind = shard.KindAbort
			c.shards[i].Do(parts[i])
			c.putReq(parts[i])
		}
		return 0, e
	}
	defer c.oracle.Release()
	ts := c.oracle.Next()
	var groupBuf [16]*shard.Request[V]
	group := groupBuf[:0]
	for _, i := range list {
		parts[i].Kind = shard.KindCommit
		parts[i].TS = ts
		group = append(group, parts[i])
	}
	// The participant that installs last marks ts done (shard.CommitGroup).
	shard.CommitGroup(group)
	for _, i := range list {
		c.shards[i].Send(parts[i])
	}
	// Recovery keeps a transaction only if every participant has its
	// record, so if one participant's log refused it (its error does not
	// wrap ErrCommitUnknown) it did not take effect; if every failed
	// participant may have logged it, its outcome is unknown.
	var failed, refused error
	for _, i := range list {
		c.shards[i].Wait(parts[i])
		if e := parts[i].Err; e != nil {
			failed = errors.Join(failed, e)
			if refused == nil && !errors.Is(e, errs.ErrCommitUnknown) {
				refused = e
			}
		}
	}
	// Only now, with every participant done counting the group down on
	// the first request, may any of them be reused.
	for _, i := range list {
		c.putReq(parts[i])
	}
	if failed != nil {
		// A participant could not make its record durable: the database is
		// poisoned and ts never becomes visible (that participant never
		// counted the group down).
		if refused != nil {
			return 0, refused
		}
		return 0, failed
	}
	return ts, c.waitVisible(ts)
}

// TxnScanner merges a snapshot scan with a transaction's buffered writes.
type TxnScanner[V any] struct {
	base    *Scanner[V]
	buf     []shard.Write[V] // buffered writes inside the span, sorted
	bi      int
	peekKey string
	peekVal V
	peeked  bool // peekKey/peekVal hold the base's next entry
	baseEnd bool
	reverse bool  // descending key order; buf is sorted so too
	err     error // the base's Err when Close released it
}

// Next returns the next live entry in key order.
func (s *TxnScanner[V]) Next() (string, V, bool) {
	for {
		if !s.peeked && !s.baseEnd {
			s.peekKey, s.peekVal, s.peeked = s.base.Next()
			s.baseEnd = !s.peeked
			if s.base.Err() != nil {
				var zero V
				return "", zero, false
			}
		}
		haveBuf := s.bi < len(s.buf)
		switch {
		case !s.peeked && !haveBuf:
			var zero V
			return "", zero, false
		case haveBuf && (!s.peeked || s.buf[s.bi].Key == s.peekKey || (s.buf[s.bi].Key < s.peekKey) != s.reverse):
			w := s.buf[s.bi]
			s.bi++
			if s.peeked && w.Key == s.peekKey {
				s.peeked = false // the buffered write shadows the snapshot
			}
			if w.Tombstone {
				continue
			}
			return w.Key, w.Value, true
		default:
			s.peeked = false
			return s.peekKey, s.peekVal, true
		}
	}
}

// Err returns the error that ended the scan early, if any.
func (s *TxnScanner[V]) Err() error {
	if s.base == nil {
		return s.err
	}
	return s.base.Err()
}

// Close releases the scanner's buffers. It is safe to call more than once;
// Next must not be called after it.
func (s *TxnScanner[V]) Close() {
	if s.base != nil {
		s.err = s.base.Err()
		s.base.Close()
		s.base = nil
	}
}

// preferPoison returns the poisoning error instead of err, a commit's
// refusal before it installed anything, if the database was poisoned
// meanwhile: a conflict with a write that will never become visible is not
// worth retrying. Either way the commit did not take effect. An err from
// the log (which wraps ErrPoisoned, and ErrCommitUnknown when the outcome
// is unknown) is returned as is.
func (c *Coordinator[V]) preferPoison(err error) error {
	if errors.Is(err, errs.ErrPoisoned) {
		return err
	}
	if p := c.oracle.Poisoned(); p != nil {
		return p
	}
	return err
}
