package fluxetcd

import (
	"context"
	"fmt"
	"iter"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fluxmap/fluxmap"
)

// Stream is a scan that yields entries one at a time in key order, fetched
// from the cluster in pages of Options.PageSize entries, every page at the
// same revision. Use it with range-over-func and check Err afterwards, as
// fluxmap.Stream.
//
// A Stream from a DB reads at the cluster's revision when each iteration
// starts. A Stream from a Tx reads at the transaction's snapshot merged
// with its buffered writes (as they were when the iteration started) and
// records the range and every key it returns for validation at commit; the
// Tx may be used inside the loop. A Stream is for one goroutine.
type Stream[K, V any] struct {
	db     *DB[K, V]
	tx     *Tx[K, V] // nil for a DB stream
	ctx    context.Context
	lo, hi string // etcd keys; hi "\x00" is the end of the keyspace
	bad    error  // a Stream that cannot run at all
	err    error  // what ended the last iteration early
}

// Err returns the error that ended the last iteration early, or nil if it
// ran to the end or the caller stopped it.
func (s *Stream[K, V]) Err() error {
	if s == nil {
		return fmt.Errorf("fluxetcd: scan: %w: nil Stream", fluxmap.ErrInvalidArgument)
	}
	if s.bad != nil {
		return s.bad
	}
	return s.err
}

// All returns the iterator. See Stream.
func (s *Stream[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if s.bad != nil {
			return
		}
		s.err = s.run(yield)
	}
}

// empty reports whether [lo, hi) holds no key.
func (s *Stream[K, V]) empty() bool { return s.hi != "\x00" && s.lo >= s.hi }

func (s *Stream[K, V]) run(yield func(K, V) bool) error {
	var buf []bufferedWrite[V]
	var rev int64
	if s.tx == nil {
		if err := s.db.check(s.ctx, "scan"); err != nil {
			return err
		}
	} else {
		if err := s.tx.enter("scan"); err != nil {
			return err
		}
		err := s.tx.usableLocked("scan")
		if err == nil {
			buf = s.tx.bufferedInLocked(s.lo, s.hi)
			rev = s.tx.rev
		}
		s.tx.leave()
		if err != nil {
			return err
		}
	}
	if s.empty() {
		return nil
	}
	// emitBuffered yields the buffered writes with keys before limit (all
	// of them when all is set), skipping deletes.
	emitBuffered := func(limit string, all bool) (bool, error) {
		for len(buf) > 0 && (all || buf[0].key < limit) {
			w := buf[0]
			buf = buf[1:]
			if w.del {
				continue
			}
			k, err := s.db.decodeKey([]byte(w.key))
			if err != nil {
				return false, err
			}
			if !yield(k, w.val) {
				return false, nil
			}
		}
		return true, nil
	}
	from := s.lo
	first := true
	for {
		page, err := s.page(from, &rev, first)
		if err != nil {
			return err
		}
		first = false
		for _, kv := range page.Kvs {
			key := string(kv.Key)
			if more, err := emitBuffered(key, false); !more || err != nil {
				return err
			}
			if len(buf) > 0 && buf[0].key == key {
				continue // the transaction's own write wins; emitted next round
			}
			k, err := s.db.decodeKey(kv.Key)
			if err != nil {
				return err
			}
			v, err := s.db.decodeValue(kv.Value)
			if err != nil {
				return err
			}
			if !yield(k, v) {
				return nil
			}
		}
		if !page.More || len(page.Kvs) == 0 {
			break
		}
		from = string(page.Kvs[len(page.Kvs)-1].Key) + "\x00"
	}
	_, err := emitBuffered("", true)
	return err
}

// page fetches the entries from from on, at *rev (the cluster's current
// revision when *rev is 0, which then becomes *rev). A Tx stream takes the
// snapshot from it if the Tx had none, and records the page's keys (and,
// on the first page, the range) for validation.
func (s *Stream[K, V]) page(from string, rev *int64, first bool) (*clientv3.GetResponse, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, fmt.Errorf("fluxetcd: scan: %w", err)
	}
	opts := []clientv3.OpOption{clientv3.WithRange(s.hi), clientv3.WithLimit(int64(s.db.opts.PageSize))}
	if s.tx == nil {
		resp, err := s.db.getAt(s.ctx, from, *rev, opts...)
		if err != nil {
			return nil, s.db.classify(s.ctx, "scan", err, false)
		}
		if *rev == 0 {
			*rev = resp.Header.Revision
		}
		return resp, nil
	}
	tx := s.tx
	if err := tx.enter("scan"); err != nil {
		return nil, err
	}
	defer tx.leave()
	if err := tx.usableLocked("scan"); err != nil {
		return nil, err
	}
	if tx.rev != 0 && *rev == 0 {
		// An earlier read of the Tx took the snapshot after this
		// iteration started.
		*rev = tx.rev
	}
	resp, err := tx.db.getAt(tx.ctx, from, *rev, opts...)
	if err != nil {
		return nil, tx.db.classify(tx.ctx, "scan", err, false)
	}
	if *rev == 0 {
		*rev = resp.Header.Revision
	}
	if tx.rev == 0 {
		tx.rev = *rev
	}
	if !tx.readOnly {
		if r := (keyRange{lo: s.lo, hi: s.hi}); first && !slices.Contains(tx.ranges, r) {
			tx.ranges = append(tx.ranges, r)
		}
		for _, kv := range resp.Kvs {
			tx.recordLocked(string(kv.Key), kv.ModRevision)
		}
	}
	return resp, nil
}

// collect drains s into a slice.
func collect[K, V any](s *Stream[K, V]) ([]fluxmap.Entry[K, V], error) {
	var out []fluxmap.Entry[K, V]
	for k, v := range s.All() {
		out = append(out, fluxmap.Entry[K, V]{Key: k, Value: v})
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
