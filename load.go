package fluxmap

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/fluxmap/fluxmap/coordinator"
	"github.com/fluxmap/fluxmap/shard"
	"github.com/fluxmap/fluxmap/wal"
)

// Defaults of LoadOptions.
const (
	// DefaultLoadBatchKeys is how many entries one Load batch writes when
	// LoadOptions.BatchKeys is zero: large enough that a batch's commit
	// (and, in a durable database, its fsync) is shared by many keys, small
	// enough that a batch's write set stays cheap to build and to retry.
	DefaultLoadBatchKeys = 10_000
	// DefaultLoadBatchBytes bounds one Load batch's keys and values when
	// LoadOptions.BatchBytes is zero.
	DefaultLoadBatchBytes = 16 << 20
)

// maxLoadBatchBytes keeps a batch's WAL record on any one shard under
// wal.MaxRecordSize with room for its header, so Commit's exact per-shard
// size check (see Tx.checkLogSize) never needs to run for a batch.
const maxLoadBatchBytes = wal.MaxRecordSize - 64<<10

// durableLoadDepth is how many batches a Load into a durable database
// keeps committing at once. A commit returns only after its fsync, and the
// shards' writers share an fsync between the commits queued behind it, so
// a second batch in flight is logged while the first one syncs; deeper
// pipelines add little on top and hold more memory. In memory a commit
// has no I/O to overlap, so batches commit one at a time.
const durableLoadDepth = 2

// LoadOptions tunes DB.Load. The zero value is a good default.
type LoadOptions struct {
	// BatchKeys is the most entries one batch (one transaction) writes.
	// Zero means DefaultLoadBatchKeys; either is lowered to the database's
	// MaxTxnWrites.
	BatchKeys int
	// BatchBytes bounds the size of one batch: its encoded keys, and its
	// values as the WAL logs them (in memory, the lengths of string and
	// []byte values; other value types count nothing), plus a few bytes
	// per entry. A batch always takes at least one entry. Zero means
	// DefaultLoadBatchBytes; any value is lowered so that a batch fits in
	// one WAL record.
	BatchBytes int64
	// TTL, if positive, gives every entry this time to live, as
	// DB.InsertWithTTL does; each batch's deadline is computed when the
	// batch is assembled. Zero means no TTL.
	TTL time.Duration
	// Progress, if not nil, is called after each batch commits with the
	// number of entries committed so far (the entries [0, loaded) of the
	// sequence). It runs on Load's goroutine, and Load waits for it.
	Progress func(loaded int)
}

// LoadError is the error of a Load that stopped before the end of its
// sequence: every error Load returns is a *LoadError (find it with
// errors.As). It says how far the load got: the entries [0, Loaded) of the
// sequence are committed. It wraps the cause, so errors.Is sees
// ErrMemoryLimit, ErrKeyTooLarge, context.Canceled and the like through it.
//
// In memory nothing at or after Loaded was committed by the Load. A durable
// database's Load pipelines its batches (see DB.Load), so there the batch
// that was already committing when the one at Loaded failed may have
// committed too; loading again from entry Loaded rewrites it in order,
// which is harmless. If the cause wraps ErrCommitUnknown, the batch
// starting at Loaded may have taken effect, wholly or not at all (see
// Tx.Commit).
type LoadError struct {
	// Loaded is how many entries, from the start of the sequence, are
	// committed.
	Loaded int
	// Key is the key of entry Loaded (a value of the database's key type):
	// the entry Load could not take, or the first entry of the batch whose
	// commit failed. It is nil if Load stopped before reading that entry
	// (a nil sequence, a closed database, a context done on entry).
	Key any
	// Err is the cause.
	Err error
}

func (e *LoadError) Error() string {
	if e.Key == nil {
		return errorf("load: stopped after %d entries: %w", e.Loaded, e.Err).Error()
	}
	key := fmt.Sprint(e.Key)
	switch k := e.Key.(type) {
	case string:
		key = fmt.Sprintf("%q", k)
	case []byte:
		key = fmt.Sprintf("%q", k)
	}
	return errorf("load: stopped at entry %d (key %s), entries before it committed: %w", e.Loaded, key, e.Err).Error()
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load writes the entries of a sequence, in order, in batches of about
// opts.BatchKeys entries, each batch committed atomically as one
// transaction; it returns how many entries it committed. It is the fast
// way to fill a database: a durable database fsyncs once per batch rather
// than once per key, and batches of blind writes skip the work of
// general transactions. The zero LoadOptions suits most loads.
//
// Later entries win: an entry whose key appeared earlier in the sequence
// overwrites it, as successive Inserts would. A batch writes without
// reading, so it conflicts only with concurrent writers of its keys;
// Load retries such a batch, as Transaction would, until it commits or ctx
// ends (the batch is the same writes each time, so repeating it is
// harmless). Each batch is a transaction of its own: concurrent readers
// may see some batches and not yet others.
//
// Load stops at the first entry it cannot take (a key too large, a value
// too large or that the value codec fails to encode), at the first batch
// whose commit fails (for example with ErrMemoryLimit under the Reject
// policy), or when ctx ends; ctx is checked before each batch. The entries
// read before a bad entry are committed first, so the error, a
// *LoadError, says exactly how far the load got: entries [0, n) are
// committed, n being both the count returned and LoadError.Loaded.
//
// In a durable database Load keeps a second batch committing while the
// first one's fsync runs, so the shards log one while they sync the other.
// A batch that shares a key with a batch still in flight waits for it, so
// later entries still win; Loaded is the committed prefix, though the batch
// after it may have committed too (see LoadError).
//
// Load may be called from any goroutine, concurrently with any other call;
// it must not be called inside a Transaction function on the same DB, and
// entries must not use the DB in a way that waits for Load.
func (db *DB[K, V]) Load(ctx context.Context, entries iter.Seq2[K, V], opts LoadOptions) (int, error) {
	if err := db.check(ctx, "load"); err != nil {
		return 0, &LoadError{Err: err}
	}
	// Here, on the caller's goroutine: a durable Load's batches begin on
	// goroutines of their own, whose stacks do not show a Transaction.
	if err := db.refuseNested("load"); err != nil {
		return 0, &LoadError{Err: err}
	}
	if entries == nil {
		return 0, &LoadError{Err: errorf("load: %w: nil sequence", ErrInvalidArgument)}
	}
	if opts.BatchKeys < 0 || opts.BatchBytes < 0 || opts.TTL < 0 {
		return 0, &LoadError{Err: errorf("load: %w: negative LoadOptions (BatchKeys %d, BatchBytes %d, TTL %v)",
			ErrInvalidArgument, opts.BatchKeys, opts.BatchBytes, opts.TTL)}
	}
	l := &loader[K, V]{db: db, ctx: ctx, opts: opts, depth: 1}
	l.maxKeys = min(cmpOr(opts.BatchKeys, DefaultLoadBatchKeys), db.maxTxnWrites)
	l.maxBytes = min(cmpOr(opts.BatchBytes, DefaultLoadBatchBytes), maxLoadBatchBytes)
	if db.values.codec != nil {
		l.depth = durableLoadDepth
	}
	return l.run(entries)
}

// cmpOr is cmp.Or for the two option types, spelled out so the defaults
// read at the call.
func cmpOr[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// loader is one Load call's state. It belongs to Load's goroutine; the
// batches it hands to commit goroutines are theirs until they report.
type loader[K, V any] struct {
	db       *DB[K, V]
	ctx      context.Context
	opts     LoadOptions
	maxKeys  int
	maxBytes int64
	depth    int // batches committing at once

	cur      *loadBatch[K, V]   // being assembled; nil between batches
	inflight []*loadBatch[K, V] // committing, oldest first
	loaded   int                // entries [0, loaded) are committed
	next     int                // index of the next entry the sequence yields
	fail     *LoadError         // the first failure; once set, nothing more is sent
	free     []*loadBatch[K, V] // finished batches, for reuse
}

// loadBatch is one batch: the entries [start, start+len(writes)) of the
// sequence, already encoded and admitted.
type loadBatch[K, V any] struct {
	start  int
	first  K // the key of entry start
	writes []shard.Write[V]
	bytes  int64 // the WAL bytes of writes, as Tx.put counts them
	// keys holds the encoded keys, when batches are pipelined: a batch
	// that shares a key with one in flight must commit after it.
	keys map[string]struct{}
	// waitAll is set when this batch shares a key with a batch in flight,
	// which must finish first.
	waitAll bool
	done    chan error
}

func (l *loader[K, V]) run(entries iter.Seq2[K, V]) (n int, err error) {
	defer func() {
		// Whatever ends the loop (a failure, or a panic in entries), the
		// batches in flight are waited for: their goroutines end here, and
		// the count covers what they committed.
		l.drain()
		n = l.loaded
		if l.fail != nil {
			err = l.fail
		}
	}()
	for k, v := range entries {
		if !l.add(k, v) {
			break
		}
	}
	if l.fail == nil && l.cur != nil {
		l.send()
	}
	return 0, nil
}

// add takes entry l.next; false stops the load.
func (l *loader[K, V]) add(k K, v V) bool {
	i := l.next
	l.next++
	enc, err := l.db.keys.encode(k)
	if err != nil {
		return l.stopAt(i, k, err)
	}
	v, encLen, err := l.db.values.admit(v)
	if err != nil {
		return l.stopAt(i, k, err)
	}
	if l.db.values.codec == nil {
		encLen = l.db.values.memLen(v)
	}
	size := int64(walWriteOverhead + len(enc) + encLen)
	if b := l.cur; b != nil && b.bytes+size > l.maxBytes {
		if !l.send() {
			return false
		}
	}
	if l.cur == nil {
		if err := l.ctx.Err(); err != nil {
			l.drain()
			return l.failAt(i, k, err)
		}
		l.cur = l.newBatch(i, k)
	}
	b := l.cur
	var expiry int64
	if l.opts.TTL > 0 {
		expiry = b.expiry(l)
	}
	b.writes = append(b.writes, shard.Write[V]{Key: enc, Value: v, Expiry: expiry})
	b.bytes += size
	if b.keys != nil {
		b.keys[enc] = struct{}{}
		if !b.waitAll {
			for _, f := range l.inflight {
				if _, ok := f.keys[enc]; ok {
					b.waitAll = true
					break
				}
			}
		}
	}
	if len(b.writes) >= l.maxKeys {
		return l.send()
	}
	return true
}

// expiry returns the TTL deadline of the batch's entries, computed when
// its first entry arrives.
func (b *loadBatch[K, V]) expiry(l *loader[K, V]) int64 {
	if len(b.writes) > 0 {
		return b.writes[0].Expiry
	}
	d, _ := l.db.deadline(l.opts.TTL) // TTL > 0: cannot fail
	return d
}

// stopAt stops the load at entry i, which cannot be written: the entries
// before it are committed first, so Loaded counts them.
func (l *loader[K, V]) stopAt(i int, k K, err error) bool {
	if l.cur != nil && !l.send() {
		return false
	}
	l.drain()
	return l.failAt(i, k, err)
}

// failAt records the load's failure at entry i, unless a batch before it
// failed; no batch may be in flight.
func (l *loader[K, V]) failAt(i int, k K, err error) bool {
	if l.fail == nil {
		l.fail = &LoadError{Loaded: i, Key: k, Err: err}
	}
	return false
}

func (l *loader[K, V]) newBatch(start int, first K) *loadBatch[K, V] {
	var b *loadBatch[K, V]
	if n := len(l.free); n > 0 {
		b, l.free = l.free[n-1], l.free[:n-1]
	} else {
		b = &loadBatch[K, V]{done: make(chan error, 1)}
		if l.depth > 1 {
			b.keys = make(map[string]struct{})
		}
	}
	b.start, b.first = start, first
	return b
}

// send starts committing the batch being assembled, after the oldest
// batches in flight have finished if the pipeline is full (or if this
// batch shares a key with one of them). It returns false once the load
// has failed.
func (l *loader[K, V]) send() bool {
	b := l.cur
	l.cur = nil
	for len(l.inflight) > 0 && (len(l.inflight) >= l.depth || b.waitAll) {
		if !l.finishOldest() {
			l.recycle(b)
			return false
		}
	}
	if l.depth == 1 {
		err := l.commit(b)
		return l.finish(b, err)
	}
	l.inflight = append(l.inflight, b)
	go func() { b.done <- l.commit(b) }()
	return true
}

// finishOldest waits for the oldest batch in flight and accounts for it.
func (l *loader[K, V]) finishOldest() bool {
	b := l.inflight[0]
	l.inflight = l.inflight[1:]
	return l.finish(b, <-b.done)
}

// finish accounts for batch b's commit, whose error is err. Batches finish
// in the order they were sent, so loaded only ever grows by whole batches
// that follow the committed prefix.
func (l *loader[K, V]) finish(b *loadBatch[K, V], err error) bool {
	defer l.recycle(b)
	if l.fail != nil {
		return false
	}
	if err != nil {
		l.fail = &LoadError{Loaded: b.start, Key: b.first, Err: err}
		return false
	}
	l.loaded = b.start + len(b.writes)
	if l.opts.Progress != nil {
		l.opts.Progress(l.loaded)
	}
	return true
}

// drain waits for every batch in flight.
func (l *loader[K, V]) drain() {
	for len(l.inflight) > 0 {
		l.finishOldest()
	}
}

func (l *loader[K, V]) recycle(b *loadBatch[K, V]) {
	clear(b.writes) // drop the values; the database holds its own
	b.writes = b.writes[:0]
	b.bytes, b.waitAll = 0, false
	clear(b.keys)
	var zero K
	b.first = zero
	l.free = append(l.free, b)
}

// commit commits batch b as one transaction of blind writes, retrying it
// after a conflict until it commits or the context ends.
func (l *loader[K, V]) commit(b *loadBatch[K, V]) error {
	db := l.db
	for attempt := 0; ; attempt++ {
		tx, err := db.begin(l.ctx, false)
		if err != nil {
			return err
		}
		for _, w := range b.writes {
			tx.t.PutWrite(w)
		}
		tx.logBytes = b.bytes
		err = tx.Commit()
		if err == nil || !isConflict(err) {
			return err
		}
		db.retries.Add(1)
		if berr := coordinator.Backoff(l.ctx, attempt); berr != nil {
			return errorf("giving up after %d attempts: %w (last: %w)", attempt+1, berr, err)
		}
	}
}
