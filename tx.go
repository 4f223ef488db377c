package fluxmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/fluxmap/fluxmap/coordinator"
	"github.com/fluxmap/fluxmap/shard"
	"github.com/fluxmap/fluxmap/wal"
)

// Tx states. Exactly one of Commit, Rollback and the context's AfterFunc
// moves a Tx out of txActive; only that winner touches the coordinator
// transaction's end, so the AfterFunc (which runs on its own goroutine)
// never races with the owner.
const (
	txActive    int32 = iota
	txEnding          // Commit in progress
	txCommitted       // Commit succeeded
	txDone            // rolled back, or Commit failed
	txAbandoned       // rolled back because its context ended
)

// Tx is a transaction. Reads see one snapshot (taken at Begin) plus the
// transaction's own writes; the snapshot includes TTL expiry, every
// deadline being compared with the wall-clock time Begin read (see
// DB.InsertWithTTL). Writes are buffered and become visible to others
// atomically at Commit. Under Serializable isolation Commit fails with
// ErrConflict if anything the transaction read has changed since its
// snapshot (including rows entering a scanned range, and keys whose TTL
// deadline has passed since) or another commit wrote a key it writes.
//
// A Tx is for one goroutine at a time: a method called while another
// method of the same Tx is running on another goroutine does nothing and
// fails with an error wrapping ErrInvalidArgument, and the Tx stays as it
// was. Calls that do not overlap may come from different goroutines. After
// Commit or Rollback every method returns ErrTxnDone.
type Tx[K, V any] struct {
	db *DB[K, V]
	// t is pooled (coordinator.Begin): whoever moves the Tx out of txActive
	// by Commit or Rollback recycles it once the transaction has ended, so
	// every method checks the state before it touches t. The context's
	// AfterFunc never recycles, as the owner may still be inside a method.
	t        *coordinator.Txn[V]
	start    uint64 // t's snapshot timestamp, kept for after t is recycled
	ctx      context.Context
	readOnly bool
	state    atomic.Int32
	// busy is held by the method running on the Tx (see enter): the write
	// buffer and read set are not safe for concurrent use.
	busy      atomic.Bool
	stopAfter func() bool // deregisters the context hook
	// logBytes bounds from above the WAL bytes of the writes buffered so
	// far (durable databases); see checkLogSize.
	logBytes int64
}

// abandon runs on the context's AfterFunc goroutine when ctx is done.
func (tx *Tx[K, V]) abandon() {
	if tx.state.CompareAndSwap(txActive, txAbandoned) {
		tx.t.Rollback()
	}
}

// enter takes tx for the method op, or refuses the call if another method
// holds it: two goroutines writing the transaction's buffers at once would
// kill the process (concurrent map writes), and one could recycle the
// coordinator transaction under the other. The cost is one uncontended
// CompareAndSwap and one Store per call. Holding busy also orders the
// calls of successive goroutines, so non-overlapping calls from different
// goroutines are safe. Every enter that succeeds is paired with a leave.
func (tx *Tx[K, V]) enter(op string) error {
	if tx == nil || tx.db == nil {
		return errorf("%s: %w: a Tx must come from DB.Begin", op, ErrInvalidArgument)
	}
	if !tx.busy.CompareAndSwap(false, true) {
		return errorf("%s: %w: another goroutine is using the same Tx; a Tx is for one goroutine at a time", op, ErrInvalidArgument)
	}
	return nil
}

func (tx *Tx[K, V]) leave() { tx.busy.Store(false) }

// usable reports why tx cannot be used, if it cannot. A transaction that
// has ended reports how it ended, even if its context ends later.
func (tx *Tx[K, V]) usable(op string) error {
	if tx == nil || tx.db == nil {
		return errorf("%s: %w: a Tx must come from DB.Begin", op, ErrInvalidArgument)
	}
	switch tx.state.Load() {
	case txActive:
		if err := tx.ctx.Err(); err != nil {
			tx.abandon()
			return errorf("%s: transaction rolled back: %w", op, err)
		}
	case txAbandoned:
		return errorf("%s: transaction rolled back: %w", op, tx.ctx.Err())
	default:
		return errorf("%s: %w", op, ErrTxnDone)
	}
	if tx.db.closed.Load() {
		return errorf("%s: %w", op, ErrClosed)
	}
	return nil
}

func (tx *Tx[K, V]) writable(op string) error {
	if err := tx.usable(op); err != nil {
		return err
	}
	if tx.readOnly {
		return errorf("%s: %w", op, ErrReadOnly)
	}
	return nil
}

// Get returns key's value as this transaction sees it.
func (tx *Tx[K, V]) Get(key K) (V, bool, error) {
	var zero V
	if err := tx.enter("get"); err != nil {
		return zero, false, err
	}
	defer tx.leave()
	if err := tx.usable("get"); err != nil {
		return zero, false, err
	}
	k, err := tx.db.keys.encode(key)
	if err != nil {
		return zero, false, err
	}
	v, ok, err := tx.t.Get(k)
	if err != nil {
		return zero, false, errorf("get: %w", err)
	}
	if err := tx.stillActive("get"); err != nil {
		return zero, false, err
	}
	return v, ok, nil
}

// stillActive is checked after a read from the shards: if the transaction
// ended meanwhile (its context, on another goroutine, released the
// snapshot while the read was in flight), vacuum may have pruned what the
// read needed, so the result is discarded. The state moves before the
// snapshot is released, so a transaction still active after the read had
// its snapshot for the whole read.
func (tx *Tx[K, V]) stillActive(op string) error {
	if tx.state.Load() != txActive {
		return tx.usable(op)
	}
	return nil
}

// GetMany reads several keys as this transaction sees them, like calling
// Get for each, in one call (reads run on the calling goroutine, so there
// is no round trip to save, only calls). vals[i]
// and found[i] receive keys[i]'s answer, so both must be as long as keys;
// otherwise GetMany returns an error and reads nothing. Under Serializable
// isolation every key counts as read.
func (tx *Tx[K, V]) GetMany(keys []K, vals []V, found []bool) error {
	if err := tx.enter("get many"); err != nil {
		return err
	}
	defer tx.leave()
	if err := tx.usable("get many"); err != nil {
		return err
	}
	if len(vals) != len(keys) || len(found) != len(keys) {
		return errorf("get many: %d keys but room for %d values and %d found flags: %w",
			len(keys), len(vals), len(found), ErrInvalidArgument)
	}
	var encBuf [8]string
	var resBuf [8]shard.ReadResult[V]
	enc, res := encBuf[:0], resBuf[:0]
	if len(keys) > len(encBuf) {
		enc, res = make([]string, 0, len(keys)), make([]shard.ReadResult[V], 0, len(keys))
	}
	for _, key := range keys {
		k, err := tx.db.keys.encode(key)
		if err != nil {
			return err
		}
		enc = append(enc, k)
	}
	res = res[:len(keys)]
	if err := tx.t.GetMany(enc, res); err != nil {
		return errorf("get many: %w", err)
	}
	if err := tx.stillActive("get many"); err != nil {
		return err
	}
	for i := range res {
		vals[i], found[i] = res[i].Value, res[i].Found
	}
	return nil
}

// Insert buffers key = val.
func (tx *Tx[K, V]) Insert(key K, val V) error {
	if err := tx.enter("insert"); err != nil {
		return err
	}
	defer tx.leave()
	if err := tx.writable("insert"); err != nil {
		return err
	}
	return tx.put(key, val, 0)
}

// put checks and buffers key = val with a TTL deadline (0: none).
func (tx *Tx[K, V]) put(key K, val V, expiry int64) error {
	k, err := tx.db.keys.encode(key)
	if err != nil {
		return err
	}
	val, encLen, err := tx.db.values.admit(val)
	if err != nil {
		return err
	}
	return tx.putAdmitted(k, val, encLen, expiry)
}

// putAdmitted buffers the encoded key k = val, a value admit already
// accepted with the length of its WAL encoding encLen.
func (tx *Tx[K, V]) putAdmitted(k string, val V, encLen int, expiry int64) error {
	if err := tx.roomFor(k); err != nil {
		return err
	}
	tx.t.PutWrite(shard.Write[V]{Key: k, Value: val, Expiry: expiry})
	tx.logBytes += int64(walWriteOverhead + len(k) + encLen)
	return nil
}

// deleteEncoded buffers a delete of the encoded key k without reading it:
// nothing is recorded for validation.
func (tx *Tx[K, V]) deleteEncoded(k string) error {
	if err := tx.roomFor(k); err != nil {
		return err
	}
	var zero V
	tx.t.Put(k, zero, true)
	tx.logBytes += int64(walWriteOverhead + len(k))
	return nil
}

// walWriteOverhead bounds what a WAL record spends on one write besides its
// key and encoded value (flags, key length, expiry and value length; see
// wal.AppendWrite).
const walWriteOverhead = 1 + binary.MaxVarintLen64 + 8 + 4

// checkLogSize refuses, before anything is installed, a durable
// transaction whose WAL record for some shard would exceed
// wal.MaxRecordSize: the log would refuse it after the install, and a
// commit that cannot be logged poisons the database. logBytes bounds the
// whole transaction's records from above (every write ever buffered
// counts, overwritten ones too), so the exact per-shard check, which
// encodes every value again, runs only for transactions near the limit.
func (tx *Tx[K, V]) checkLogSize() error {
	if tx.logBytes <= wal.MaxRecordSize-64<<10 { // 64 KiB: room for any header
		return nil
	}
	return tx.t.CheckLogSize()
}

func (tx *Tx[K, V]) roomFor(k string) error {
	if tx.t.NumWrites() >= tx.db.maxTxnWrites && !tx.t.HasWrite(k) {
		return fmt.Errorf("%w: more than %d writes", ErrTxnTooLarge, tx.db.maxTxnWrites)
	}
	return nil
}

// Remove buffers a delete of key and returns the value it had as this
// transaction sees it. The read counts for validation like any Get.
func (tx *Tx[K, V]) Remove(key K) (old V, existed bool, err error) {
	var zero V
	if err := tx.enter("remove"); err != nil {
		return zero, false, err
	}
	defer tx.leave()
	if err := tx.writable("remove"); err != nil {
		return zero, false, err
	}
	k, err := tx.db.keys.encode(key)
	if err != nil {
		return zero, false, err
	}
	if err := tx.roomFor(k); err != nil {
		return zero, false, err
	}
	old, existed, err = tx.t.Get(k)
	if err != nil {
		return zero, false, errorf("remove: %w", err)
	}
	if err := tx.stillActive("remove"); err != nil {
		return zero, false, err
	}
	tx.t.Put(k, zero, true)
	tx.logBytes += int64(walWriteOverhead + len(k))
	return old, existed, nil
}

// Range returns the entries with lo <= key < hi as this transaction sees
// them, in key order. Under Serializable isolation the whole range is
// validated at commit: a key entering or leaving it is a conflict.
func (tx *Tx[K, V]) Range(lo, hi K) ([]Entry[K, V], error) {
	return collect(tx.RangeStream(lo, hi))
}

// PrefixScan returns the entries whose encoded key starts with prefix's
// encoding, as this transaction sees them, in key order.
func (tx *Tx[K, V]) PrefixScan(prefix K) ([]Entry[K, V], error) {
	return collect(tx.PrefixStream(prefix))
}

// RangeStream is the streaming form of Range.
func (tx *Tx[K, V]) RangeStream(lo, hi K) *Stream[K, V] {
	if tx == nil {
		return &Stream[K, V]{bad: tx.usable("scan")}
	}
	s := &Stream[K, V]{db: tx.db, tx: tx, ctx: tx.ctx}
	s.span, s.bad = tx.db.rangeSpan(lo, hi)
	return s
}

// PrefixStream is the streaming form of PrefixScan.
func (tx *Tx[K, V]) PrefixStream(prefix K) *Stream[K, V] {
	if tx == nil {
		return &Stream[K, V]{bad: tx.usable("scan")}
	}
	s := &Stream[K, V]{db: tx.db, tx: tx, ctx: tx.ctx}
	s.span, s.bad = tx.db.prefixSpan(prefix)
	return s
}

// scan starts a scanner over span merged with the buffered writes. The
// scanner copies what it needs of the buffer, so only its creation, not its
// iteration, must hold tx (see enter).
func (tx *Tx[K, V]) scan(span shard.Span, reverse bool) *coordinator.TxnScanner[V] {
	return tx.t.Scan(span, reverse)
}

// Commit validates the transaction and makes its writes visible
// atomically. Its error says what became of them:
//   - nil: the writes took effect. Every later transaction sees them, and
//     they are durable to the configured level (with DurabilityFull they
//     survive any crash).
//   - an error wrapping ErrConflict: validation failed and nothing was
//     written; retry the whole transaction.
//   - an error wrapping ErrCommitUnknown (and ErrPoisoned): a WAL write or
//     fsync failed while the writes were being logged, so they may or may
//     not have taken effect. They are not visible while this DB is open;
//     after a reopen they are either all there or all absent. Read before
//     repeating the transaction.
//   - any other error (ErrPoisoned alone, ErrTxnDone if the transaction had
//     already ended, ctx's error if Begin's context is done, ErrClosed,
//     ErrTxnTooLarge, ErrMemoryLimit): the writes did not take effect, and
//     no reopen will bring them back.
func (tx *Tx[K, V]) Commit() error {
	_, err := tx.commitTS()
	return err
}

// commitTS commits like Commit and also returns the commit timestamp (0
// for a transaction without writes; white-box tests use it).
func (tx *Tx[K, V]) commitTS() (uint64, error) {
	if err := tx.enter("commit"); err != nil {
		return 0, err
	}
	defer tx.leave()
	if err := tx.usable("commit"); err != nil {
		return 0, err
	}
	if !tx.state.CompareAndSwap(txActive, txEnding) {
		return 0, tx.usable("commit")
	}
	tx.release()
	var ts uint64
	err := tx.checkLogSize()
	if err != nil {
		tx.t.Rollback()
	} else {
		ts, err = tx.t.Commit()
	}
	if err != nil {
		tx.state.Store(txDone)
		tx.t.Recycle()
		return 0, tx.db.conflictDetail(errorf("commit: %w", err))
	}
	tx.state.Store(txCommitted)
	tx.t.Recycle()
	return ts, nil
}

// Rollback discards the transaction's writes and releases its snapshot. It
// returns ErrTxnDone if the transaction had already ended.
func (tx *Tx[K, V]) Rollback() error {
	if err := tx.enter("rollback"); err != nil {
		return err
	}
	defer tx.leave()
	if !tx.state.CompareAndSwap(txActive, txDone) {
		return errorf("rollback: %w", ErrTxnDone)
	}
	tx.release()
	tx.t.Rollback()
	tx.t.Recycle()
	return nil
}

func (tx *Tx[K, V]) release() {
	if tx.stopAfter != nil {
		tx.stopAfter()
	}
}

func isConflict(err error) bool { return errors.Is(err, ErrConflict) }
