package fluxmap

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxmap/fluxmap/coordinator"
	"github.com/fluxmap/fluxmap/shard"
)

// Entry is one key and its value, as returned by scans.
type Entry[K, V any] struct {
	Key   K
	Value V
}

// DB is an open FluxMap database. All its methods are safe for concurrent
// use by any number of goroutines. Close it when done: it owns one goroutine
// per shard.
type DB[K, V any] struct {
	coord        *coordinator.Coordinator[V]
	keys         keyEncoder[K]
	values       valueRules[V]
	valueCodec   ValueCodec[V] // Builder's, else V's built-in, else nil; in memory only backups use it
	maxTxnWrites int
	isolation    IsolationLevel
	maxMemory    int64
	policy       EvictionPolicy
	now          func() time.Time

	closed  atomic.Bool
	retries atomic.Uint64 // Transaction attempts retried after a conflict
	// nestProbes counts the Transactions that conflicted nestProbeAfter
	// times in a row and still run: while it is positive, writes look for a
	// Transaction function on their stack (see refuseNested).
	nestProbes atomic.Int32
	equal      func(a, b V) bool // Builder.ValueEqual; nil: see valueEqual
	scratch    sync.Pool         // *[]byte for temporary key encodings
	entryBufs  sync.Pool         // *[]Entry[K, V], collect's scratch buffers
	feedReg    feedRegistry[K, V]
}

func (db *DB[K, V]) check(ctx context.Context, op string) error {
	if err := db.built(op); err != nil {
		return err
	}
	if db.closed.Load() {
		return errorf("%s: %w", op, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return errorf("%s: %w", op, err)
	}
	return nil
}

// built refuses a DB that did not come from Builder.Build (a zero or nil
// DB), which would otherwise panic on its first use.
func (db *DB[K, V]) built(op string) error {
	if db == nil || db.coord == nil {
		return errorf("%s: %w: a DB must come from Builder.Build", op, ErrInvalidArgument)
	}
	return nil
}

func (db *DB[K, V]) getScratch() *[]byte {
	if b, ok := db.scratch.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 64)
	return &b
}

// Get returns the value of key in the latest committed state, and whether
// the key exists.
func (db *DB[K, V]) Get(ctx context.Context, key K) (V, bool, error) {
	var zero V
	if err := db.check(ctx, "get"); err != nil {
		return zero, false, err
	}
	// String keys are their own encoding; only other key types need a
	// scratch buffer to encode into.
	var buf *[]byte
	if !db.keys.isString {
		buf = db.getScratch()
		defer db.scratch.Put(buf)
	}
	k, err := db.keys.encodeTemp(buf, key)
	if err != nil {
		return zero, false, err
	}
	v, ok, err := db.coord.Get(k)
	if err != nil {
		return zero, false, errorf("get: %w", err)
	}
	return v, ok, nil
}

// Insert sets key to val in its own transaction. It never fails with
// ErrConflict: it waits out in-flight transactions on the same key until
// ctx ends. Its error says what became of the write as Tx.Commit's does:
// nil means it took effect, an error wrapping ErrCommitUnknown means it may
// have, any other error means it did not.
func (db *DB[K, V]) Insert(ctx context.Context, key K, val V) error {
	if err := db.check(ctx, "insert"); err != nil {
		return err
	}
	return db.insert(ctx, key, val, 0)
}

// insert runs an autocommit write of key = val with a TTL deadline (0:
// none).
func (db *DB[K, V]) insert(ctx context.Context, key K, val V, expiry int64) error {
	if err := db.refuseNested("insert"); err != nil {
		return err
	}
	k, err := db.keys.encode(key)
	if err != nil {
		return err
	}
	if val, _, err = db.values.admit(val); err != nil {
		return err
	}
	if _, _, err := db.coord.Write(ctx, coordinator.WriteOp[V]{Key: k, Value: val, Expiry: expiry}); err != nil {
		return errorf("insert: %w", err)
	}
	return nil
}

// Remove deletes key in its own transaction and returns the value it had.
// Like Insert, it never fails with ErrConflict, and its error says what
// became of the delete as Tx.Commit's does.
func (db *DB[K, V]) Remove(ctx context.Context, key K) (old V, existed bool, err error) {
	if err := db.check(ctx, "remove"); err != nil {
		return old, false, err
	}
	if err := db.refuseNested("remove"); err != nil {
		return old, false, err
	}
	k, err := db.keys.encode(key)
	if err != nil {
		return old, false, err
	}
	var zero V
	old, existed, err = db.coord.Write(ctx, coordinator.WriteOp[V]{Key: k, Tombstone: true, WantOld: true})
	if err != nil {
		return zero, false, errorf("remove: %w", err)
	}
	return old, existed, nil
}

// Range returns the entries with lo <= key < hi in key order, read from one
// consistent snapshot. Key order is the order of the key codec's encoding
// (numeric for integers and floats, bytewise for strings).
func (db *DB[K, V]) Range(ctx context.Context, lo, hi K) ([]Entry[K, V], error) {
	return collect(db.RangeStream(ctx, lo, hi))
}

// PrefixScan returns the entries whose encoded key starts with prefix's
// encoding, in key order, from one consistent snapshot. For string keys that
// is the plain string prefix; the empty prefix matches every key.
func (db *DB[K, V]) PrefixScan(ctx context.Context, prefix K) ([]Entry[K, V], error) {
	return collect(db.PrefixStream(ctx, prefix))
}

// RangeStream is the streaming form of Range: its All method yields the
// entries one at a time from one snapshot while holding only a bounded
// buffer per shard.
func (db *DB[K, V]) RangeStream(ctx context.Context, lo, hi K) *Stream[K, V] {
	s := &Stream[K, V]{db: db, ctx: ctx}
	s.span, s.bad = db.rangeSpan(lo, hi)
	return s
}

// PrefixStream is the streaming form of PrefixScan.
func (db *DB[K, V]) PrefixStream(ctx context.Context, prefix K) *Stream[K, V] {
	s := &Stream[K, V]{db: db, ctx: ctx}
	s.span, s.bad = db.prefixSpan(prefix)
	return s
}

func (db *DB[K, V]) rangeSpan(lo, hi K) (shard.Span, error) {
	if err := db.built("scan"); err != nil {
		return shard.Span{}, err
	}
	l, err := db.keys.encode(lo)
	if err != nil {
		return shard.Span{}, err
	}
	h, err := db.keys.encode(hi)
	if err != nil {
		return shard.Span{}, err
	}
	return shard.Span{Lo: l, Hi: h}, nil
}

func (db *DB[K, V]) prefixSpan(prefix K) (shard.Span, error) {
	if err := db.built("scan"); err != nil {
		return shard.Span{}, err
	}
	p, err := db.keys.encode(prefix)
	if err != nil {
		return shard.Span{}, err
	}
	return prefixToSpan(p), nil
}

// prefixToSpan returns the span of keys starting with p: [p, p+1) where p+1
// is p with its last non-0xff byte incremented and the rest dropped.
func prefixToSpan(p string) shard.Span {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return shard.Span{Lo: p, Hi: string(b[:i+1])}
		}
	}
	return shard.Span{Lo: p, HiInf: true}
}

// Begin starts a read-write transaction. ctx governs the whole transaction:
// once it is done, the transaction is rolled back and its methods return
// ctx's error. The caller must end it with Commit or Rollback.
func (db *DB[K, V]) Begin(ctx context.Context) (*Tx[K, V], error) {
	return db.begin(ctx, false)
}

func (db *DB[K, V]) begin(ctx context.Context, readOnly bool) (*Tx[K, V], error) {
	if err := db.check(ctx, "begin"); err != nil {
		return nil, err
	}
	if !readOnly {
		if err := db.refuseNested("begin"); err != nil {
			return nil, err
		}
	}
	t := db.coord.Begin(readOnly, rand.Uint64())
	tx := &Tx[K, V]{db: db, t: t, start: t.StartTS(), ctx: ctx, readOnly: readOnly}
	if ctx.Done() != nil {
		tx.stopAfter = context.AfterFunc(ctx, tx.abandon)
	}
	return tx, nil
}

// View runs fn in a read-only transaction on one consistent snapshot (TTL
// deadlines included: see DB.InsertWithTTL). Writes
// inside fn fail with ErrReadOnly. A read-only transaction never conflicts.
// fn's error is returned as is; a panic in fn propagates after the
// snapshot is released.
func (db *DB[K, V]) View(ctx context.Context, fn func(*Tx[K, V]) error) error {
	if fn == nil {
		return errorf("view: %w: nil function", ErrInvalidArgument)
	}
	tx, err := db.begin(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // ErrTxnDone after a commit is expected
	return fn(tx)
}

// Transaction runs fn in a read-write transaction and commits it when fn
// returns nil. If fn returns an error or panics, the transaction is rolled
// back and the error returned (or the panic re-raised). If the commit fails
// with ErrConflict, fn runs again on a fresh snapshot after a jittered
// backoff, until it commits or ctx ends; so fn must be safe to repeat and
// should keep its effects inside the transaction. If fn commits the
// transaction itself and that commit succeeds, Transaction returns nil.
//
// fn must write through tx, not through db: a write through db (Insert,
// Remove, Evict, Begin, Transaction) commits before tx does and, touching
// the same keys, would make tx conflict on every attempt. Once a
// Transaction has conflicted a few times in a row, such a write made on
// fn's goroutine fails with an error wrapping ErrInvalidArgument, which
// ends the retries when fn returns it.
//
// The commit's error is returned as Tx.Commit describes it: in particular
// Transaction never repeats fn after ErrCommitUnknown, whose writes may
// have taken effect.
func (db *DB[K, V]) Transaction(ctx context.Context, fn func(*Tx[K, V]) error) error {
	if fn == nil {
		return errorf("transaction: %w: nil function", ErrInvalidArgument)
	}
	probing := false
	defer func() {
		if probing {
			db.nestProbes.Add(-1)
		}
	}()
	var lost error // the last attempt's conflict
	// end returns err, naming the last conflict too when ctx ended the
	// retries: whichever step noticed, the caller learns both why it
	// stopped and what it was retrying.
	end := func(attempts int, err error) error {
		if lost != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return errorf("transaction: giving up after %d attempts: %w (last: %w)", attempts, err, lost)
		}
		return err
	}
	for attempt := 0; ; attempt++ {
		tx, err := db.begin(ctx, false)
		if err != nil {
			return end(attempt, err)
		}
		if err := runTx(tx, fn); err != nil {
			return end(attempt+1, err)
		}
		if tx.state.Load() == txCommitted {
			return nil // fn committed it itself
		}
		err = tx.Commit()
		if err == nil || !isConflict(err) {
			return end(attempt+1, err)
		}
		lost = err
		db.retries.Add(1)
		if attempt+1 == nestProbeAfter {
			probing = true
			db.nestProbes.Add(1)
		}
		if berr := coordinator.Backoff(ctx, attempt); berr != nil {
			return errorf("transaction: giving up after %d attempts: %w (last: %w)", attempt+1, berr, err)
		}
	}
}

// runTx calls fn, rolling tx back if fn fails or panics.
func runTx[K, V any](tx *Tx[K, V], fn func(*Tx[K, V]) error) (err error) {
	ok := false
	defer func() {
		if !ok {
			_ = tx.Rollback() // already finished is fine: we only need it ended
		}
	}()
	err = fn(tx)
	ok = err == nil
	return err
}

// Close stops the database: it waits for the calls in flight, then for every
// goroutine it started (a durable database syncs and closes its files).
// Calls made after Close fail with ErrClosed. Close is safe to call more
// than once; later calls return nil. It returns an error wrapping
// ErrPoisoned if a write or fsync failed while the database was open.
func (db *DB[K, V]) Close() error {
	if err := db.built("close"); err != nil {
		return err
	}
	if db.closed.CompareAndSwap(false, true) {
		return db.coord.Close()
	}
	return nil
}

// Checkpoint writes a durable snapshot of every shard and recycles the WAL
// segments it covers; the database does this by itself when a shard's WAL
// exceeds CheckpointAfterBytes (unless that is set to 0). Writes go on while
// it runs. It is a no-op in memory.
func (db *DB[K, V]) Checkpoint(ctx context.Context) error {
	if err := db.check(ctx, "checkpoint"); err != nil {
		return err
	}
	if err := db.coord.Checkpoint(); err != nil {
		return errorf("checkpoint: %w", err)
	}
	return nil
}
