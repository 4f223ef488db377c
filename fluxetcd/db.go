package fluxetcd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fluxmap/fluxmap"
)

// DB is a FluxMap database kept in an etcd cluster under one key prefix.
// Its methods are safe for concurrent use by any number of goroutines, in
// any number of processes: the cluster, not the DB, orders transactions.
// A DB holds no goroutines or server resources of its own; the etcd client
// is the caller's, and stays open after Close.
type DB[K, V any] struct {
	client *clientv3.Client
	opts   Options[K, V]
	closed atomic.Bool
}

// Open returns a DB over client, storing keys under opts.Prefix. It reads
// one key to check that the cluster answers and the client may read the
// prefix, so a wrong endpoint or credentials fail here, within ctx, with
// ErrUnavailable or ErrAccessDenied.
//
// Open uses client as configured: TLS, client certificates and
// username/password are the caller's to set in clientv3.Config, and
// nothing here weakens or bypasses them.
func Open[K, V any](ctx context.Context, client *clientv3.Client, opts Options[K, V]) (*DB[K, V], error) {
	if client == nil {
		return nil, fmt.Errorf("fluxetcd: open: %w: nil client", fluxmap.ErrInvalidArgument)
	}
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	db := &DB[K, V]{client: client, opts: opts}
	if err := db.check(ctx, "open"); err != nil {
		return nil, err
	}
	if _, err := client.Get(ctx, opts.Prefix, clientv3.WithCountOnly()); err != nil {
		return nil, db.classify(ctx, "open", err, false)
	}
	return db, nil
}

// check refuses a call on a closed DB or client, or with a done context.
func (db *DB[K, V]) check(ctx context.Context, op string) error {
	if db == nil || db.client == nil {
		return fmt.Errorf("fluxetcd: %s: %w: a DB must come from Open", op, fluxmap.ErrInvalidArgument)
	}
	if db.closed.Load() {
		return fmt.Errorf("fluxetcd: %s: %w", op, fluxmap.ErrClosed)
	}
	if db.client.Ctx().Err() != nil {
		return fmt.Errorf("fluxetcd: %s: %w (etcd client closed)", op, fluxmap.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fluxetcd: %s: %w", op, err)
	}
	return nil
}

// Close marks the DB closed: later calls fail with fluxmap.ErrClosed. It
// does not close the etcd client, which belongs to the caller. Close is
// safe to call more than once.
func (db *DB[K, V]) Close() error {
	db.closed.Store(true)
	return nil
}

// Get returns the value of key in the latest committed state (a
// linearizable read), and whether the key exists.
func (db *DB[K, V]) Get(ctx context.Context, key K) (V, bool, error) {
	var zero V
	if err := db.check(ctx, "get"); err != nil {
		return zero, false, err
	}
	resp, err := db.client.Get(ctx, db.etcdKey(key))
	if err != nil {
		return zero, false, db.classify(ctx, "get", err, false)
	}
	if len(resp.Kvs) == 0 {
		return zero, false, nil
	}
	v, err := db.decodeValue(resp.Kvs[0].Value)
	return v, err == nil, err
}

// Insert sets key to val as one transaction. A conflict cannot happen.
// Its error says what became of the write as Tx.Commit's does.
func (db *DB[K, V]) Insert(ctx context.Context, key K, val V) error {
	if err := db.check(ctx, "insert"); err != nil {
		return err
	}
	enc, err := db.opts.ValueCodec.AppendValue(nil, val)
	if err != nil {
		return fmt.Errorf("fluxetcd: insert: encode value: %w", err)
	}
	if _, err := db.client.Put(ctx, db.etcdKey(key), string(enc)); err != nil {
		return db.classify(ctx, "insert", err, true)
	}
	return nil
}

// Remove deletes key as one transaction and returns the value it had.
// Like Insert, it cannot conflict.
func (db *DB[K, V]) Remove(ctx context.Context, key K) (old V, existed bool, err error) {
	var zero V
	if err := db.check(ctx, "remove"); err != nil {
		return zero, false, err
	}
	resp, err := db.client.Delete(ctx, db.etcdKey(key), clientv3.WithPrevKV())
	if err != nil {
		return zero, false, db.classify(ctx, "remove", err, true)
	}
	if len(resp.PrevKvs) == 0 {
		return zero, false, nil
	}
	old, err = db.decodeValue(resp.PrevKvs[0].Value)
	if err != nil {
		// The delete took effect; only the old value is lost.
		return zero, true, err
	}
	return old, true, nil
}

// Range returns the entries with lo <= key < hi in key order, read at one
// revision of the cluster.
func (db *DB[K, V]) Range(ctx context.Context, lo, hi K) ([]fluxmap.Entry[K, V], error) {
	return collect(db.RangeStream(ctx, lo, hi))
}

// PrefixScan returns the entries whose encoded key starts with prefix's
// encoding, in key order, read at one revision of the cluster.
func (db *DB[K, V]) PrefixScan(ctx context.Context, prefix K) ([]fluxmap.Entry[K, V], error) {
	return collect(db.PrefixStream(ctx, prefix))
}

// RangeStream is the streaming form of Range: each iteration reads pages of
// Options.PageSize entries, all at the revision of its first page.
func (db *DB[K, V]) RangeStream(ctx context.Context, lo, hi K) *Stream[K, V] {
	return &Stream[K, V]{db: db, ctx: ctx, lo: db.etcdKey(lo), hi: db.etcdKey(hi)}
}

// PrefixStream is the streaming form of PrefixScan.
func (db *DB[K, V]) PrefixStream(ctx context.Context, prefix K) *Stream[K, V] {
	lo := db.etcdKey(prefix)
	return &Stream[K, V]{db: db, ctx: ctx, lo: lo, hi: prefixEnd(lo)}
}

// Begin starts a read-write transaction. ctx governs the whole
// transaction: every read and the commit are requests made with it, and
// once it is done the transaction's methods return its error. The caller
// must end it with Commit or Rollback. Begin sends nothing: the snapshot is
// taken by the first read.
func (db *DB[K, V]) Begin(ctx context.Context) (*Tx[K, V], error) {
	return db.begin(ctx, false)
}

func (db *DB[K, V]) begin(ctx context.Context, readOnly bool) (*Tx[K, V], error) {
	if err := db.check(ctx, "begin"); err != nil {
		return nil, err
	}
	return &Tx[K, V]{db: db, ctx: ctx, readOnly: readOnly}, nil
}

// View runs fn in a read-only transaction on one snapshot (one etcd
// revision). Writes inside fn fail with fluxmap.ErrReadOnly; a read-only
// transaction never conflicts. fn's error is returned as is.
func (db *DB[K, V]) View(ctx context.Context, fn func(*Tx[K, V]) error) error {
	if fn == nil {
		return fmt.Errorf("fluxetcd: view: %w: nil function", fluxmap.ErrInvalidArgument)
	}
	tx, err := db.begin(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // ErrTxnDone after fn ended it is expected
	return fn(tx)
}

// Transaction runs fn in a read-write transaction and commits it when fn
// returns nil, as fluxmap.DB.Transaction does: an error or panic in fn
// rolls back, and a commit that fails with fluxmap.ErrConflict runs fn
// again on a fresh snapshot after a jittered backoff, until it commits or
// ctx ends. fn must therefore be safe to repeat. Transaction never repeats
// fn after a commit whose outcome is unknown (fluxmap.ErrCommitUnknown).
func (db *DB[K, V]) Transaction(ctx context.Context, fn func(*Tx[K, V]) error) error {
	if fn == nil {
		return fmt.Errorf("fluxetcd: transaction: %w: nil function", fluxmap.ErrInvalidArgument)
	}
	for attempt := 0; ; attempt++ {
		tx, err := db.begin(ctx, false)
		if err != nil {
			return err
		}
		if err := runTx(tx, fn); err != nil {
			return err
		}
		if tx.state.Load() == txCommitted {
			return nil // fn committed it itself
		}
		err = tx.Commit()
		if err == nil || !errors.Is(err, fluxmap.ErrConflict) || errors.Is(err, fluxmap.ErrCommitUnknown) {
			return err
		}
		if berr := backoff(ctx, attempt); berr != nil {
			return fmt.Errorf("fluxetcd: transaction: giving up after %d attempts: %w (last: %w)", attempt+1, berr, err)
		}
	}
}

// runTx calls fn, rolling tx back if fn fails or panics.
func runTx[K, V any](tx *Tx[K, V], fn func(*Tx[K, V]) error) (err error) {
	ok := false
	defer func() {
		if !ok {
			_ = tx.Rollback() // already ended is fine: it only needs to be ended
		}
	}()
	err = fn(tx)
	ok = err == nil
	return err
}

// backoff sleeps before retry attempt+1: a jittered delay from 1 ms that
// doubles per attempt up to 100 ms, so that transactions contending for the
// same keys spread out instead of colliding again.
func backoff(ctx context.Context, attempt int) error {
	d := time.Millisecond << min(attempt, 7)
	d = min(d, 100*time.Millisecond)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// etcdKey is key's encoding under the database's prefix.
func (db *DB[K, V]) etcdKey(key K) string {
	b := make([]byte, 0, len(db.opts.Prefix)+16)
	b = append(b, db.opts.Prefix...)
	return string(db.opts.KeyCodec.AppendKey(b, key))
}

func (db *DB[K, V]) decodeKey(etcdKey []byte) (K, error) {
	k, err := db.opts.KeyCodec.DecodeKey(etcdKey[len(db.opts.Prefix):])
	if err != nil {
		return k, fmt.Errorf("fluxetcd: decode key %q: %w", etcdKey, err)
	}
	return k, nil
}

func (db *DB[K, V]) decodeValue(enc []byte) (V, error) {
	v, err := db.opts.ValueCodec.DecodeValue(enc)
	if err != nil {
		return v, fmt.Errorf("fluxetcd: decode value: %w", err)
	}
	return v, nil
}

// prefixEnd returns the first key after every key starting with p: p with
// its last non-0xff byte incremented and the rest dropped. p is never all
// 0xff bytes here, as the database prefix is non-empty and user-chosen;
// such a p gets etcd's "to the end of the keyspace" marker, "\x00".
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}

// getAt reads key (with opts) at revision rev, or at the cluster's current
// revision, linearizably, when rev is 0. A read at a revision some earlier
// read returned is answered by the member the client talks to without a
// quorum round (WithSerializable): what a revision holds never changes, so
// every member that has applied it answers the same. A member that has not
// applied it yet refuses with a future-revision error, and the read is
// repeated linearizably.
func (db *DB[K, V]) getAt(ctx context.Context, key string, rev int64, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if rev == 0 {
		return db.client.Get(ctx, key, opts...)
	}
	opts = append(opts, clientv3.WithRev(rev))
	resp, err := db.client.Get(ctx, key, append(opts, clientv3.WithSerializable())...)
	if errors.Is(err, rpctypes.ErrFutureRev) {
		return db.client.Get(ctx, key, opts...)
	}
	return resp, err
}
