package fluxmap

import (
	"bytes"
	"context"
	"fmt"
	"reflect"

	"github.com/fluxmap/fluxmap/coordinator"
)

// ValueEqual sets how CompareAndSwap and CompareAndDelete compare values.
// It runs on a shard's goroutine, so it must be fast and must not block;
// a panic in it counts as not equal and fails the call. Default: bytes.Equal
// for []byte, == for comparable types; other value types (slices, maps,
// structs holding them) need it.
func (b *Builder[K, V]) ValueEqual(eq func(a, b V) bool) *Builder[K, V] {
	b.valueEqual = eq
	return b
}

// InsertIfAbsent sets key to val, in its own transaction, only if key has
// no live value (it is absent, deleted or expired). It returns the key's
// value after the call and whether val was inserted. Like Insert it runs
// as one message to the key's shard, never fails with ErrConflict, and
// waits out in-flight transactions on the key.
func (db *DB[K, V]) InsertIfAbsent(ctx context.Context, key K, val V) (actual V, inserted bool, err error) {
	if err := db.check(ctx, "insert if absent"); err != nil {
		return actual, false, err
	}
	absent := func(_ V, found bool) bool { return !found }
	old, _, applied, err := db.writeIf(ctx, "insert if absent", key, val, false, absent)
	switch {
	case err != nil:
		return actual, false, err
	case applied:
		return val, true, nil
	}
	return old, false, nil
}

// CompareAndSwap sets key to new, in its own transaction, only if key's
// live value equals old (see Builder.ValueEqual), and reports whether it
// did. An absent key never matches. It runs as one message to the key's
// shard, never fails with ErrConflict, and waits out in-flight
// transactions on the key.
func (db *DB[K, V]) CompareAndSwap(ctx context.Context, key K, old, new V) (swapped bool, err error) {
	return db.compareAnd(ctx, "compare and swap", key, old, new, false)
}

// CompareAndDelete deletes key, in its own transaction, only if its live
// value equals old, and reports whether it did; otherwise as
// CompareAndSwap.
func (db *DB[K, V]) CompareAndDelete(ctx context.Context, key K, old V) (deleted bool, err error) {
	var zero V
	return db.compareAnd(ctx, "compare and delete", key, old, zero, true)
}

func (db *DB[K, V]) compareAnd(ctx context.Context, op string, key K, old, new V, del bool) (bool, error) {
	if err := db.check(ctx, op); err != nil {
		return false, err
	}
	eq, err := db.valueEqual()
	if err != nil {
		return false, errorf("%s: %w", op, err)
	}
	var panicked error
	matches := func(cur V, found bool) (ok bool) {
		defer func() {
			if p := recover(); p != nil {
				ok, panicked = false, fmt.Errorf("%w: ValueEqual panicked: %v", ErrInvalidArgument, p)
			}
		}()
		return found && eq(cur, old)
	}
	_, _, applied, err := db.writeIf(ctx, op, key, new, del, matches)
	if err == nil && panicked != nil {
		err = errorf("%s: %w", op, panicked)
	}
	return applied, err
}

// writeIf runs a conditional autocommit write of key (val, or a delete).
func (db *DB[K, V]) writeIf(ctx context.Context, op string, key K, val V, del bool, cond func(V, bool) bool) (old V, found, applied bool, err error) {
	if err := db.refuseNested(op); err != nil {
		return old, false, false, err
	}
	k, err := db.keys.encode(key)
	if err != nil {
		return old, false, false, err
	}
	if !del {
		if val, _, err = db.values.admit(val); err != nil {
			return old, false, false, err
		}
	}
	old, found, applied, err = db.coord.WriteIf(ctx, coordinator.WriteOp[V]{Key: k, Value: val, Tombstone: del, Cond: cond})
	if err != nil {
		return old, false, false, errorf("%s: %w", op, err)
	}
	return old, found, applied, nil
}

// valueEqual returns the equality CompareAndSwap uses: Builder.ValueEqual,
// or the default for V, or an error if V has none.
func (db *DB[K, V]) valueEqual() (func(a, b V) bool, error) {
	if db.equal != nil {
		return db.equal, nil
	}
	t := reflect.TypeFor[V]()
	switch {
	case t == reflect.TypeFor[[]byte]():
		return func(a, b V) bool { return bytes.Equal(any(a).([]byte), any(b).([]byte)) }, nil
	case t.Comparable():
		// An interface type is comparable, but a dynamic value in it may
		// not be: == then panics, which compareAnd turns into an error.
		return func(a, b V) bool { return any(a) == any(b) }, nil
	}
	return nil, fmt.Errorf("%w: values of type %v cannot be compared with ==: set Builder.ValueEqual", ErrInvalidArgument, t)
}
