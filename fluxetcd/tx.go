package fluxetcd

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fluxmap/fluxmap"
)

// Tx states. Only the goroutine holding busy moves a Tx out of txActive.
const (
	txActive    int32 = iota
	txCommitted       // Commit succeeded
	txDone            // rolled back, or Commit failed
)

// Tx is an optimistic transaction over the cluster, with the semantics of
// fluxmap.Tx under Serializable isolation.
//
// Reads are made at one etcd revision, the snapshot, taken by the first
// read (the cluster's revision then); each records what it saw: a key's
// ModRevision (0 for an absent key), and for a scan its range [lo, hi).
// Writes are buffered in the Tx and read back by its own reads. Commit sends
// one etcd Txn that applies every write only if nothing read has changed:
//
//   - a key read as present compares ModRevision(key) = the ModRevision
//     read. Revisions are never reused, so an equal ModRevision means the
//     same version, written by the same request: the key was neither
//     updated nor deleted and re-created (its CreateRevision is unchanged
//     too, which is why one compare suffices).
//   - a key read as absent compares CreateRevision(key) = 0: it still does
//     not exist.
//   - a scanned range compares ModRevision over [lo, hi) < snapshot + 1:
//     no key in the range was created or modified since the snapshot
//     (phantoms). A key deleted from the range leaves no trace there, so
//     every key the scan returned is also compared as a key read above.
//
// A failed compare fails the commit with fluxmap.ErrConflict and nothing is
// written. A Tx that wrote nothing commits without a request: its reads all
// came from one revision, a consistent state of the cluster, so it
// serializes at that revision and never conflicts.
//
// etcd bounds one Txn: at most --max-txn-ops compares and at most that many
// writes (Options.MaxTxnOps), and at most --max-request-bytes in all
// (Options.MaxRequestBytes). Commit refuses a larger transaction with
// fluxmap.ErrTxnTooLarge before sending it, and Insert or Remove refuse a
// write past MaxTxnOps at once. Scans that return many keys count one
// compare per key: large scans belong in View, which sends no compares.
//
// A Tx is for one goroutine at a time: a method called while another runs
// fails with fluxmap.ErrInvalidArgument and changes nothing. After Commit
// or Rollback every method returns fluxmap.ErrTxnDone. Once Begin's
// context is done, the transaction is rolled back and its methods return
// the context's error.
type Tx[K, V any] struct {
	db       *DB[K, V]
	ctx      context.Context
	readOnly bool
	state    atomic.Int32
	// busy is held by the method running on the Tx; the fields below are
	// touched only while holding it.
	busy atomic.Bool

	rev    int64            // the snapshot revision; 0 until the first read
	reads  map[string]int64 // etcd key -> ModRevision read at rev (0: absent)
	ranges []keyRange       // scanned ranges of etcd keys
	writes map[string]*pending[V]
}

// keyRange is a scanned range [lo, hi) of etcd keys.
type keyRange struct{ lo, hi string }

// pending is a buffered write: the value as given (read back by the
// transaction) and its encoding (sent at commit).
type pending[V any] struct {
	val V
	enc []byte
	del bool
}

var _ fluxmap.ReadWriteTx[string, []byte] = (*Tx[string, []byte])(nil)

func (tx *Tx[K, V]) enter(op string) error {
	if tx == nil || tx.db == nil {
		return fmt.Errorf("fluxetcd: %s: %w: a Tx must come from DB.Begin", op, fluxmap.ErrInvalidArgument)
	}
	if !tx.busy.CompareAndSwap(false, true) {
		return fmt.Errorf("fluxetcd: %s: %w: another goroutine is using the same Tx; a Tx is for one goroutine at a time", op, fluxmap.ErrInvalidArgument)
	}
	return nil
}

func (tx *Tx[K, V]) leave() { tx.busy.Store(false) }

// usableLocked reports why tx cannot be used, if it cannot; a done
// context rolls it back. The caller holds busy.
func (tx *Tx[K, V]) usableLocked(op string) error {
	switch tx.state.Load() {
	case txActive:
		if err := tx.ctx.Err(); err != nil {
			tx.endLocked(txDone)
			return fmt.Errorf("fluxetcd: %s: transaction rolled back: %w", op, err)
		}
	default:
		return fmt.Errorf("fluxetcd: %s: %w", op, fluxmap.ErrTxnDone)
	}
	return tx.db.check(tx.ctx, op)
}

func (tx *Tx[K, V]) writableLocked(op string) error {
	if err := tx.usableLocked(op); err != nil {
		return err
	}
	if tx.readOnly {
		return fmt.Errorf("fluxetcd: %s: %w", op, fluxmap.ErrReadOnly)
	}
	return nil
}

// endLocked ends the transaction in state and drops its buffers.
func (tx *Tx[K, V]) endLocked(state int32) {
	tx.state.Store(state)
	tx.reads, tx.ranges, tx.writes = nil, nil, nil
}

// Get returns key's value as this transaction sees it: its own buffered
// write, else the value at the snapshot revision.
func (tx *Tx[K, V]) Get(key K) (V, bool, error) {
	var zero V
	if err := tx.enter("get"); err != nil {
		return zero, false, err
	}
	defer tx.leave()
	if err := tx.usableLocked("get"); err != nil {
		return zero, false, err
	}
	k := tx.db.etcdKey(key)
	if w, ok := tx.writes[k]; ok {
		if w.del {
			return zero, false, nil
		}
		return w.val, true, nil
	}
	return tx.readLocked("get", k)
}

// readLocked reads the etcd key k at the snapshot and records the read.
func (tx *Tx[K, V]) readLocked(op, k string) (V, bool, error) {
	var zero V
	resp, err := tx.db.getAt(tx.ctx, k, tx.rev)
	if err != nil {
		return zero, false, tx.db.classify(tx.ctx, op, err, false)
	}
	if tx.rev == 0 {
		tx.rev = resp.Header.Revision
	}
	var mod int64
	if len(resp.Kvs) > 0 {
		mod = resp.Kvs[0].ModRevision
	}
	tx.recordLocked(k, mod)
	if mod == 0 {
		return zero, false, nil
	}
	v, err := tx.db.decodeValue(resp.Kvs[0].Value)
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

// recordLocked remembers that the etcd key k had ModRevision mod (0:
// absent) at the snapshot. Read-only transactions validate nothing and
// record nothing.
func (tx *Tx[K, V]) recordLocked(k string, mod int64) {
	if tx.readOnly {
		return
	}
	if tx.reads == nil {
		tx.reads = make(map[string]int64)
	}
	tx.reads[k] = mod
}

// Insert buffers key = val.
func (tx *Tx[K, V]) Insert(key K, val V) error {
	if err := tx.enter("insert"); err != nil {
		return err
	}
	defer tx.leave()
	if err := tx.writableLocked("insert"); err != nil {
		return err
	}
	enc, err := tx.db.opts.ValueCodec.AppendValue(nil, val)
	if err != nil {
		return fmt.Errorf("fluxetcd: insert: encode value: %w", err)
	}
	k := tx.db.etcdKey(key)
	if err := tx.roomForLocked(k); err != nil {
		return err
	}
	tx.bufferLocked(k, &pending[V]{val: val, enc: enc})
	return nil
}

// Remove buffers a delete of key and returns the value it had as this
// transaction sees it. The read is validated at commit like a Get's.
func (tx *Tx[K, V]) Remove(key K) (old V, existed bool, err error) {
	var zero V
	if err := tx.enter("remove"); err != nil {
		return zero, false, err
	}
	defer tx.leave()
	if err := tx.writableLocked("remove"); err != nil {
		return zero, false, err
	}
	k := tx.db.etcdKey(key)
	if err := tx.roomForLocked(k); err != nil {
		return zero, false, err
	}
	if w, ok := tx.writes[k]; ok {
		old, existed = w.val, !w.del
		if w.del {
			old = zero
		}
	} else if old, existed, err = tx.readLocked("remove", k); err != nil {
		return zero, false, err
	}
	tx.bufferLocked(k, &pending[V]{del: true})
	return old, existed, nil
}

func (tx *Tx[K, V]) bufferLocked(k string, w *pending[V]) {
	if tx.writes == nil {
		tx.writes = make(map[string]*pending[V])
	}
	tx.writes[k] = w
}

// roomForLocked refuses a write to a new key past Options.MaxTxnOps: the
// commit could not be sent.
func (tx *Tx[K, V]) roomForLocked(k string) error {
	if _, ok := tx.writes[k]; !ok && len(tx.writes) >= tx.db.opts.MaxTxnOps {
		return fmt.Errorf("fluxetcd: %w: more than %d writes (Options.MaxTxnOps, the cluster's --max-txn-ops)", fluxmap.ErrTxnTooLarge, tx.db.opts.MaxTxnOps)
	}
	return nil
}

// Range returns the entries with lo <= key < hi as this transaction sees
// them, in key order. The whole range is validated at commit: a key
// entering, changing in or leaving it is a conflict.
func (tx *Tx[K, V]) Range(lo, hi K) ([]fluxmap.Entry[K, V], error) {
	return collect(tx.RangeStream(lo, hi))
}

// PrefixScan returns the entries whose encoded key starts with prefix's
// encoding, as this transaction sees them, in key order, validated at
// commit as Range is.
func (tx *Tx[K, V]) PrefixScan(prefix K) ([]fluxmap.Entry[K, V], error) {
	return collect(tx.PrefixStream(prefix))
}

// RangeStream is the streaming form of Range.
func (tx *Tx[K, V]) RangeStream(lo, hi K) *Stream[K, V] {
	if tx == nil || tx.db == nil {
		return &Stream[K, V]{bad: fmt.Errorf("fluxetcd: scan: %w: a Tx must come from DB.Begin", fluxmap.ErrInvalidArgument)}
	}
	return &Stream[K, V]{db: tx.db, tx: tx, ctx: tx.ctx, lo: tx.db.etcdKey(lo), hi: tx.db.etcdKey(hi)}
}

// PrefixStream is the streaming form of PrefixScan.
func (tx *Tx[K, V]) PrefixStream(prefix K) *Stream[K, V] {
	if tx == nil || tx.db == nil {
		return &Stream[K, V]{bad: fmt.Errorf("fluxetcd: scan: %w: a Tx must come from DB.Begin", fluxmap.ErrInvalidArgument)}
	}
	lo := tx.db.etcdKey(prefix)
	return &Stream[K, V]{db: tx.db, tx: tx, ctx: tx.ctx, lo: lo, hi: prefixEnd(lo)}
}

// bufferedInLocked returns the buffered writes with keys in [lo, hi), in
// key order: a copy, so that a scan can merge them while the caller writes
// more.
func (tx *Tx[K, V]) bufferedInLocked(lo, hi string) []bufferedWrite[V] {
	var out []bufferedWrite[V]
	for k, w := range tx.writes {
		if k >= lo && (k < hi || hi == "\x00") {
			out = append(out, bufferedWrite[V]{key: k, val: w.val, del: w.del})
		}
	}
	slices.SortFunc(out, func(a, b bufferedWrite[V]) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out
}

type bufferedWrite[V any] struct {
	key string
	val V
	del bool
}

// Commit validates the transaction and applies its writes atomically, as
// one etcd Txn (see Tx). Its error says what became of them:
//   - nil: every write took effect.
//   - an error wrapping fluxmap.ErrConflict: something read changed since
//     the snapshot; nothing was written. Retry the whole transaction.
//   - an error wrapping fluxmap.ErrCommitUnknown (with ErrUnavailable or
//     the context's error): the request may or may not have been applied,
//     all of it or none. Read before repeating it.
//   - any other error (fluxmap.ErrTxnTooLarge, fluxmap.ErrTxnDone,
//     fluxmap.ErrClosed, ErrAccessDenied): nothing was written.
//
// The transaction has ended when Commit returns, whatever it returns.
func (tx *Tx[K, V]) Commit() error {
	if err := tx.enter("commit"); err != nil {
		return err
	}
	defer tx.leave()
	if err := tx.usableLocked("commit"); err != nil {
		return err
	}
	if len(tx.writes) == 0 {
		tx.endLocked(txCommitted)
		return nil
	}
	cmps, ops, err := tx.requestLocked()
	if err != nil {
		tx.endLocked(txDone)
		return err
	}
	resp, err := tx.db.client.Txn(tx.ctx).If(cmps...).Then(ops...).Commit()
	rev := tx.rev
	if err != nil {
		tx.endLocked(txDone)
		return tx.db.classify(tx.ctx, "commit", err, true)
	}
	if !resp.Succeeded {
		tx.endLocked(txDone)
		return fmt.Errorf("fluxetcd: commit: %w: a key or range read at revision %d changed before revision %d", fluxmap.ErrConflict, rev, resp.Header.Revision)
	}
	tx.endLocked(txCommitted)
	return nil
}

// Per-item bounds, from above, of what a compare and a write add to the
// encoded request besides their keys and values (protobuf tags, lengths,
// the revision), and of what the request adds besides its items (the Raft
// request header, the user name).
const (
	compareOverhead = 40
	opOverhead      = 24
	requestOverhead = 1 << 10
)

// requestLocked builds the commit's compares and writes and refuses them,
// with fluxmap.ErrTxnTooLarge, if the cluster would.
func (tx *Tx[K, V]) requestLocked() ([]clientv3.Cmp, []clientv3.Op, error) {
	size := requestOverhead
	cmps := make([]clientv3.Cmp, 0, len(tx.reads)+len(tx.ranges))
	for _, k := range sortedKeys(tx.reads) {
		if mod := tx.reads[k]; mod == 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", mod))
		}
		size += compareOverhead + len(k)
	}
	for _, r := range tx.ranges {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r.lo), "<", tx.rev+1).WithRange(r.hi))
		size += compareOverhead + len(r.lo) + len(r.hi)
	}
	ops := make([]clientv3.Op, 0, len(tx.writes))
	for _, k := range sortedKeys(tx.writes) {
		w := tx.writes[k]
		if w.del {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(w.enc)))
		}
		size += opOverhead + len(k) + len(w.enc)
	}
	o := tx.db.opts
	switch {
	case len(cmps) > o.MaxTxnOps:
		return nil, nil, fmt.Errorf("fluxetcd: commit: %w: %d compares (one per key read, one per range scanned) exceed %d (Options.MaxTxnOps, the cluster's --max-txn-ops)", fluxmap.ErrTxnTooLarge, len(cmps), o.MaxTxnOps)
	case len(ops) > o.MaxTxnOps:
		return nil, nil, fmt.Errorf("fluxetcd: commit: %w: %d writes exceed %d (Options.MaxTxnOps, the cluster's --max-txn-ops)", fluxmap.ErrTxnTooLarge, len(ops), o.MaxTxnOps)
	case size > o.MaxRequestBytes:
		return nil, nil, fmt.Errorf("fluxetcd: commit: %w: request of about %d bytes exceeds %d (Options.MaxRequestBytes, the cluster's --max-request-bytes)", fluxmap.ErrTxnTooLarge, size, o.MaxRequestBytes)
	}
	return cmps, ops, nil
}

// sortedKeys returns m's keys in order, so that a commit's request does
// not depend on map iteration order.
func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Rollback discards the transaction's writes. It sends nothing: an
// uncommitted transaction holds nothing in the cluster. It returns
// fluxmap.ErrTxnDone if the transaction had already ended.
func (tx *Tx[K, V]) Rollback() error {
	if err := tx.enter("rollback"); err != nil {
		return err
	}
	defer tx.leave()
	if tx.state.Load() != txActive {
		return fmt.Errorf("fluxetcd: rollback: %w", fluxmap.ErrTxnDone)
	}
	tx.endLocked(txDone)
	return nil
}
