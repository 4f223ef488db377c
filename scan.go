package fluxmap

import (
	"context"

	"github.com/fluxmap/fluxmap/shard"
)

// Bound is one end of a key range: a key the range includes (Incl) or
// excludes (Excl), or, as the zero Bound, no end at all.
type Bound[K any] struct {
	key  K
	kind boundKind
}

type boundKind uint8

const (
	boundOpen boundKind = iota
	boundIncl
	boundExcl
)

// Incl returns a bound that includes k.
func Incl[K any](k K) Bound[K] { return Bound[K]{key: k, kind: boundIncl} }

// Excl returns a bound that excludes k.
func Excl[K any](k K) Bound[K] { return Bound[K]{key: k, kind: boundExcl} }

// ScanOptions selects the keys a Scan reads and their order. The zero
// value reads every key in ascending order; Lo and Hi narrow it, each end
// included, excluded or left open, and Reverse reads in descending order.
// Order is the key codec's encoding order, as for Range. For example, the
// ten largest keys below "m":
//
//	s := db.ScanStream(ctx, fluxmap.ScanOptions[string]{Hi: fluxmap.Excl("m"), Reverse: true})
//	for k, v := range s.All() { ... stop after ten ... }
//
// A reverse scan reads backwards in batches of a few dozen keys per
// shard, so stopping early costs what was read, as going forward does.
type ScanOptions[K any] struct {
	Lo, Hi  Bound[K]
	Reverse bool
}

// Scan returns the entries opts selects, in its order, from one consistent
// snapshot.
func (db *DB[K, V]) Scan(ctx context.Context, opts ScanOptions[K]) ([]Entry[K, V], error) {
	return collect(db.ScanStream(ctx, opts))
}

// ScanStream is the streaming form of Scan.
func (db *DB[K, V]) ScanStream(ctx context.Context, opts ScanOptions[K]) *Stream[K, V] {
	s := &Stream[K, V]{db: db, ctx: ctx, rev: opts.Reverse}
	s.span, s.bad = db.optionsSpan(opts)
	return s
}

// Scan returns the entries opts selects, in its order, as this transaction
// sees them. Under Serializable isolation the whole selected range is
// validated at commit, whatever the order and wherever a stream stopped:
// a key entering or leaving it is a conflict.
func (tx *Tx[K, V]) Scan(opts ScanOptions[K]) ([]Entry[K, V], error) {
	return collect(tx.ScanStream(opts))
}

// ScanStream is the streaming form of Scan.
func (tx *Tx[K, V]) ScanStream(opts ScanOptions[K]) *Stream[K, V] {
	if tx == nil {
		return &Stream[K, V]{bad: tx.usable("scan")}
	}
	s := &Stream[K, V]{db: tx.db, tx: tx, ctx: tx.ctx, rev: opts.Reverse}
	s.span, s.bad = tx.db.optionsSpan(opts)
	return s
}

// optionsSpan encodes opts' bounds as a span of encoded keys. A bound
// between two keys lies at the smallest encoding above the key: the key's
// own followed by a zero byte.
func (db *DB[K, V]) optionsSpan(opts ScanOptions[K]) (shard.Span, error) {
	if err := db.built("scan"); err != nil {
		return shard.Span{}, err
	}
	var sp shard.Span
	if opts.Lo.kind != boundOpen {
		lo, err := db.keys.encode(opts.Lo.key)
		if err != nil {
			return shard.Span{}, errorf("scan: lower bound: %w", err)
		}
		if opts.Lo.kind == boundExcl {
			lo += "\x00"
		}
		sp.Lo = lo
	}
	if opts.Hi.kind == boundOpen {
		sp.HiInf = true
	} else {
		hi, err := db.keys.encode(opts.Hi.key)
		if err != nil {
			return shard.Span{}, errorf("scan: upper bound: %w", err)
		}
		if opts.Hi.kind == boundIncl {
			hi += "\x00"
		}
		sp.Hi = hi
	}
	return sp, nil
}
