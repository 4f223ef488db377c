package fluxmap

import (
	"context"
	"iter"
	"slices"

	"github.com/fluxmap/fluxmap/shard"
)

// Stream is a scan that yields entries one at a time, in key order (or
// descending, from ScanStream with Reverse), from
// one snapshot, holding at most a bounded chunk of entries per shard in
// memory. Use it with range-over-func and check Err afterwards:
//
//	s := db.PrefixStream(ctx, "user/")
//	for k, v := range s.All() {
//		...
//	}
//	if err := s.Err(); err != nil {
//		...
//	}
//
// A Stream from a DB takes a fresh snapshot each time All is ranged over
// (TTL deadlines compared with the time that iteration started); a Stream
// from a Tx reads at the transaction's snapshot merged with its buffered
// writes (and, under Serializable isolation, records the scanned
// range for validation). Breaking out of the loop early is fine: the
// snapshot and buffers are released when the loop ends. A Tx stream ends
// with its transaction: if the transaction commits, rolls back or is
// cancelled while the loop runs, the loop stops and Err reports why
// (ErrTxnDone, or the context's error). A Stream is for one goroutine.
type Stream[K, V any] struct {
	db   *DB[K, V]
	tx   *Tx[K, V] // nil for a DB stream
	ctx  context.Context
	span shard.Span
	rev  bool  // descending key order
	bad  error // a bound that could not be encoded: no iteration can run
	err  error // what ended the last iteration early
}

// ctxCheckEvery is how many entries pass between context checks.
const ctxCheckEvery = 64

// Err returns the error that ended the last iteration early, or nil if it
// ran to the end or the caller stopped it.
func (s *Stream[K, V]) Err() error {
	if s == nil {
		return errorf("scan: %w: nil Stream", ErrInvalidArgument)
	}
	if s.bad != nil {
		return s.bad
	}
	return s.err
}

// All returns the iterator. See Stream.
func (s *Stream[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if s == nil {
			return // Err says why
		}
		if s.bad != nil {
			return // nothing to scan; Err says why
		}
		s.err = s.run(yield)
	}
}

func (s *Stream[K, V]) run(yield func(K, V) bool) error {
	if s.tx != nil {
		return s.runTx(yield)
	}
	if err := s.db.check(s.ctx, "scan"); err != nil {
		return err
	}
	snap := s.db.coord.Oracle().Acquire(uint64(len(s.span.Lo)))
	defer snap.Release()
	sc := s.db.coord.NewScanner(s.span, snap.TS, s.db.coord.SnapshotTime(), s.rev)
	defer sc.Close()
	// The loop calls the concrete scanner, not an interface: a scan's cost
	// is its per-entry steps.
	for n := 1; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := s.ctx.Err(); err != nil {
				return errorf("scan: %w", err)
			}
		}
		k, v, ok := sc.Next()
		if !ok {
			return s.end(sc.Err())
		}
		if more, err := s.emit(yield, k, v); !more {
			return err
		}
	}
}

// runTx is run for a Tx stream: the transaction's snapshot merged with its
// buffered writes.
func (s *Stream[K, V]) runTx(yield func(K, V) bool) error {
	if err := s.tx.enter("scan"); err != nil {
		return err
	}
	if err := s.tx.usable("scan"); err != nil {
		s.tx.leave()
		return err
	}
	sc := s.tx.scan(s.span, s.rev)
	s.tx.leave() // the loop's body may use the Tx between entries
	defer sc.Close()
	for n := 1; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := s.ctx.Err(); err != nil {
				return errorf("scan: %w", err)
			}
		}
		k, v, ok := sc.Next()
		// A Tx stream reads at the transaction's snapshot, which ends with
		// the transaction: by Commit or Rollback inside the loop's body, or
		// by its context on another goroutine, possibly while Next fetched.
		// Entries fetched after that may come from a pruned snapshot.
		if err := s.tx.stillActive("scan"); err != nil {
			return err
		}
		if !ok {
			return s.end(sc.Err())
		}
		if more, err := s.emit(yield, k, v); !more {
			return err
		}
	}
}

// end is what a scan that ran out of entries returns: the scanner's error,
// or the context's if it ended the scan.
func (s *Stream[K, V]) end(err error) error {
	if err == nil {
		err = s.ctx.Err()
	}
	if err != nil {
		return errorf("scan: %w", err)
	}
	return nil
}

// emit decodes an entry's key and yields the entry; more is false when the
// scan must stop, with err saying why (nil if the caller stopped it).
func (s *Stream[K, V]) emit(yield func(K, V) bool, k string, v V) (more bool, err error) {
	key, err := s.db.keys.decode(k)
	if err != nil {
		return false, errorf("scan: %w", err)
	}
	return yield(key, v), nil
}

// maxPooledEntries bounds the scratch buffers collect keeps for reuse, so
// one huge scan does not pin its buffer for the life of the database.
const maxPooledEntries = 4096

// collect runs s and returns its entries in a slice of exactly their
// number (nil for none). It gathers them in a pooled scratch buffer first,
// so a scan allocates its result once instead of once per doubling.
func collect[K, V any](s *Stream[K, V]) ([]Entry[K, V], error) {
	if s.db == nil {
		return nil, s.Err() // a nil Tx's stream: Err says why
	}
	p, _ := s.db.entryBufs.Get().(*[]Entry[K, V])
	if p == nil {
		p = new([]Entry[K, V])
	}
	buf := (*p)[:0]
	for k, v := range s.All() {
		buf = append(buf, Entry[K, V]{Key: k, Value: v})
	}
	err := s.Err()
	var out []Entry[K, V]
	if err == nil && len(buf) > 0 {
		out = slices.Clone(buf)
	}
	clear(buf) // the pool must not keep keys and values alive
	if cap(buf) <= maxPooledEntries {
		*p = buf[:0]
		s.db.entryBufs.Put(p)
	}
	return out, err
}
