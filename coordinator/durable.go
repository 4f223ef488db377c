package coordinator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/fanout"
	"github.com/fluxmap/fluxmap/shard"
	"github.com/fluxmap/fluxmap/wal"
)

// checkpointPoll is how often the checkpointer looks at WAL sizes.
const checkpointPoll = 50 * time.Millisecond

// durableState is the coordinator's side of durability: the directory lock,
// the generation, and checkpoints.
type durableState[V any] struct {
	cfg    *DurableConfig[V]
	gen    uint64
	unlock io.Closer

	ckptMu   sync.Mutex // one checkpoint at a time
	lastCkpt uint64     // Protected by ckptMu.

	stopCkpt chan struct{}
	ckptDone chan struct{}
	// kick wakes the checkpointer as soon as a shard's WAL passes
	// CheckpointBytes, instead of at its next poll: under a heavy write load
	// a poll interval of commits is a lot of log to replay.
	kick chan struct{}
	// flush makes the Relaxed fsync triggers count commits and bytes across
	// all shards (see shard.FlushGroup).
	flush *shard.FlushGroup
}

func newDurableState[V any](cfg *DurableConfig[V], rec *recovered[V]) *durableState[V] {
	return &durableState[V]{cfg: cfg, gen: rec.gen, unlock: rec.unlock, lastCkpt: rec.start,
		kick: make(chan struct{}, 1), flush: shard.NewFlushGroup()}
}

// grown is every shard writer's OnGrow. It kicks only when a WAL crosses
// the threshold: one that stays above it (a segment larger than the
// threshold cannot be recycled) is left to the poll, so it cannot make the
// checkpointer run back to back.
func (d *durableState[V]) grown(before, after int64) {
	if n := d.cfg.CheckpointBytes; n > 0 && before <= n && after > n {
		select {
		case d.kick <- struct{}{}:
		default: // a kick is pending already
		}
	}
}

func (d *durableState[V]) shardDurability(i int, l *wal.Log, o *Oracle, sig *Signal) *shard.Durability[V] {
	enc := d.cfg.Encode
	return &shard.Durability[V]{
		Log:           l,
		Full:          d.cfg.Full,
		FlushInterval: d.cfg.FlushInterval,
		FlushCommits:  d.cfg.FlushCommits,
		FlushBytes:    d.cfg.FlushBytes,
		Flush:         d.flush,
		EncodeRecord: func(dst []byte, ts uint64, parts []uint32, writes []shard.Write[V], cause shard.Cause) ([]byte, error) {
			dst = wal.AppendPayloadHeader(dst, ts, parts, len(writes))
			for i := range writes {
				w := &writes[i]
				if w.Tombstone {
					dst = wal.AppendTombstone(dst, w.Key, walCause(cause))
					continue
				}
				var err error
				dst, err = wal.AppendWrite(dst, w.Key, w.Tombstone, w.Expiry, func(b []byte) ([]byte, error) {
					return enc(b, w.Value)
				})
				if err != nil {
					return dst, fmt.Errorf("value of key %q: %w", w.Key, err)
				}
			}
			return dst, nil
		},
		OnPoison: func(err error) {
			o.Poison(err)
			sig.notify() // feeds waiting for commits learn there will be none
		},
		OnFail: o.Fail,
		OnGrow: d.grown,
	}
}

func (d *durableState[V]) startCheckpointer(c *Coordinator[V]) {
	d.stopCkpt = make(chan struct{})
	d.ckptDone = make(chan struct{})
	go func() {
		defer close(d.ckptDone)
		if d.cfg.CheckpointBytes <= 0 {
			<-d.stopCkpt
			return
		}
		t := time.NewTicker(checkpointPoll)
		defer t.Stop()
		for {
			select {
			case <-d.stopCkpt:
				return
			case <-t.C:
			case <-d.kick:
			}
			var biggest int64
			for _, s := range c.shards {
				biggest = max(biggest, s.WALSinceCheckpoint())
			}
			if biggest > d.cfg.CheckpointBytes {
				// A failure poisons the database or is retried on the next
				// tick; Checkpoint reports it to explicit callers.
				_ = c.Checkpoint()
			}
		}
	}()
}

func (d *durableState[V]) stopCheckpointer() {
	close(d.stopCkpt)
	<-d.ckptDone
}

func (d *durableState[V]) close(poisoned error) error {
	err := d.unlock.Close()
	if poisoned != nil {
		return poisoned
	}
	return err
}

// Checkpoint writes every shard's state at one snapshot timestamp C, then
// lets the WALs recycle the segments it covers. C is durable on every shard
// first (a sync barrier), as recovery requires: a checkpoint must never
// cover a transaction whose record another shard could still lose.
//
// The state is read with ordinary bounded scan requests at C, so a shard
// serves other requests between chunks, and encoding and file I/O happen on
// the checkpoint's own goroutines, not on the shards. In memory it is a
// no-op.
func (c *Coordinator[V]) Checkpoint() error {
	d := c.durable
	if d == nil {
		return nil
	}
	d.ckptMu.Lock()
	defer d.ckptMu.Unlock()
	if err := c.oracle.Poisoned(); err != nil {
		return err
	}
	g, err := c.enter()
	if err != nil {
		return err
	}
	defer c.gate.exit(g)
	snap := c.oracle.Acquire(0)
	defer snap.Release()
	ts := snap.TS
	if ts == d.lastCkpt {
		return nil
	}
	if err := c.broadcast(shard.KindSync, 0); err != nil {
		return err
	}
	err = fanout.Run(len(c.shards), runtime.GOMAXPROCS(0), func(i int) error {
		return c.checkpointShard(i, ts)
	})
	if err != nil {
		return fmt.Errorf("fluxmap: checkpoint at %d: %w", ts, err)
	}
	if err := c.recycle(ts); err != nil {
		return err
	}
	d.lastCkpt = ts
	return nil
}

// recycle lets every shard's WAL retire the segments a checkpoint at ts
// covers, except those holding commits the shard's change feed still
// keeps, so that a restart gives the feed back what it held.
func (c *Coordinator[V]) recycle(ts uint64) error {
	return c.broadcastEach(shard.KindRecycle, func(i int) uint64 {
		if c.feeds != nil {
			return min(ts, c.feeds[i].Dropped())
		}
		return ts
	})
}

// broadcast sends a control request to every shard and waits for all.
func (c *Coordinator[V]) broadcast(kind shard.Kind, ts uint64) error {
	return c.broadcastEach(kind, func(int) uint64 { return ts })
}

// broadcastEach is broadcast with timestamp tsOf(i) for shard i.
func (c *Coordinator[V]) broadcastEach(kind shard.Kind, tsOf func(i int) uint64) error {
	reqs := make([]*shard.Request[V], len(c.shards))
	for i, s := range c.shards {
		r := c.getReq()
		r.Kind, r.TS = kind, tsOf(i)
		reqs[i] = r
		s.Send(r)
	}
	var err error
	for i, s := range c.shards {
		s.Wait(reqs[i])
		err = errors.Join(err, reqs[i].Err)
		c.putReq(reqs[i])
	}
	return err
}

func (c *Coordinator[V]) checkpointShard(i int, ts uint64) error {
	d := c.durable
	cw, err := wal.CreateCheckpoint(d.cfg.FS, shardDir(d.cfg.Dir, d.gen, i), ts,
		wal.Owner{Shard: uint32(i), Shards: uint32(len(c.shards))})
	if err != nil {
		return err
	}
	// The checkpoint's snapshot at ts is registered, so the cursor may read
	// on this goroutine. Deadlines are evaluated now: an expired value is
	// left out, as a read would leave it out.
	var cu shard.Cursor[V]
	for c.shards[i].Seek(&cu, shard.Span{HiInf: true}, ts, c.now()); cu.Valid(); cu.Next() {
		if err := cw.Add(cu.Key(), cu.Expiry(), func(dst []byte) ([]byte, error) { return d.cfg.Encode(dst, cu.Value()) }); err != nil {
			return errors.Join(err, cw.Abort())
		}
	}
	if err := cw.Commit(); err != nil {
		return errors.Join(err, cw.Abort()) // closes the file a failed step left open
	}
	return nil
}

// Poisoned returns the durability failure that poisoned the database, or
// nil. Such an error wraps ErrPoisoned.
func (c *Coordinator[V]) Poisoned() error { return c.oracle.Poisoned() }

// CheckLogSize returns an error wrapping ErrTxnTooLarge if the WAL record
// that some participant shard would write for t's buffered writes exceeds
// wal.MaxRecordSize. The log refuses such a record only after the commit
// is installed, and a commit that cannot be logged poisons the database,
// so the caller checks first. It encodes every value once: call it only
// when a cheap bound says the limit is near. In memory it returns nil.
func (t *Txn[V]) CheckLogSize() error {
	c := t.c
	if c.durable == nil {
		return nil
	}
	sizes := make([]int, len(c.shards))
	var buf []byte
	for i := range t.writes.list {
		w := &t.writes.list[i]
		var err error
		buf, err = wal.AppendWrite(buf[:0], w.Key, w.Tombstone, w.Expiry, func(b []byte) ([]byte, error) {
			return c.durable.cfg.Encode(b, w.Value)
		})
		if err != nil {
			return errs.Errorf("encoding value of key %q: %w: %w", w.Key, errs.ErrInvalidArgument, err)
		}
		sizes[c.ShardOf(w.Key)] += len(buf)
	}
	// A header holds the timestamp, the participants and the write count,
	// each a uvarint.
	header := (3 + len(c.shards)) * binary.MaxVarintLen64
	for i, n := range sizes {
		if n+header > wal.MaxRecordSize {
			return errs.Errorf("%w: its WAL record on shard %d would take at least %d bytes, the limit is %d",
				errs.ErrTxnTooLarge, i, n, wal.MaxRecordSize)
		}
	}
	return nil
}

// walCause is cause as the WAL records it.
func walCause(cause shard.Cause) uint8 {
	switch cause {
	case shard.CauseEvict:
		return wal.CauseEvicted
	case shard.CauseExpire:
		return wal.CauseExpired
	}
	return wal.CauseWrite
}

// shardCause is the WAL's cause as the shard names it.
func shardCause(cause uint8) shard.Cause {
	switch cause {
	case wal.CauseEvicted:
		return shard.CauseEvict
	case wal.CauseExpired:
		return shard.CauseExpire
	}
	return shard.CauseWrite
}
