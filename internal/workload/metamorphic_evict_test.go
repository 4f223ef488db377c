package workload

// The metamorphic sequence under a memory limit that evicts. This file is
// in package workload (not workload_test) because it checks results with
// the reference model's own pieces (refTxn, the targets, driveMeta).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

// metaEvictionMatrix returns configurations whose memory limit is small
// enough that the sequence evicts keys all along (the limits hold about 16
// to 20 of the 48 keys). Which keys go depends on the engine's accounting
// and on how requests fall into shard batches, which the model does not
// know, so runMetaEvicting checks them against a weaker property than
// equality.
func metaEvictionMatrix() []MetaConfig {
	fs := memFSPerDir()
	return []MetaConfig{
		{
			Name: "shards=1/maxmemory=5000/LRU/vacuum-every=11",
			Open: func(ctx context.Context, _ string) (*fluxmap.DB[string, int64], error) {
				return fluxmap.New[string, int64]().Shards(1).MaxMemory(5000).Build(ctx)
			},
			VacuumEvery: 11,
		},
		{
			Name: "shards=4/maxmemory=4000/LFU/autovacuum=1ms",
			Open: func(ctx context.Context, _ string) (*fluxmap.DB[string, int64], error) {
				return fluxmap.New[string, int64]().Shards(4).MaxMemory(4000).EvictionPolicy(fluxmap.LFU).
					AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond}).Build(ctx)
			},
		},
		{
			// Evictions are logged deletes: each reopen must bring back
			// the state the evictions left, or a subset of it (reopenMeta
			// compares; the scans around the reopen may evict too).
			Name: "shards=4/maxmemory=4000/LRU/Full/memfs/reopen/vacuum-every=5",
			Open: func(ctx context.Context, dir string) (*fluxmap.DB[string, int64], error) {
				b := fluxmap.New[string, int64]().Shards(4).MaxMemory(4000).
					DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4 << 10}).
					CheckpointAfterBytes(16 << 10)
				txhook.SetFS(b, fs(dir))
				return b.Build(ctx)
			},
			Reopens:     3,
			VacuumEvery: 5,
			MayEvict:    true,
		},
	}
}

// evictReport counts what an evicting run saw.
type evictReport struct {
	ops       int    // operations checked
	misses    int    // reads that found absent a key the model holds: evictions seen
	conflicts int    // commits refused (single-threaded, only an eviction can cause one)
	evictions uint64 // the database's own count since it was last opened
	keys      int    // keys the database holds at the end
}

// evictChecker runs the sequence against a database that may evict any
// key at any moment and checks what can be checked without knowing which:
//
//   - whatever the database returns for a key the model holds is the
//     model's value: an eviction deletes, it never changes a value;
//   - it never returns a key the model does not hold (deleted, never
//     written): no resurrection of deletes, no phantoms;
//   - once it has shown a key absent, it shows it absent until the
//     sequence writes the key again: an evicted key does not come back
//     (single-threaded, each step's snapshot is at least as new as the
//     previous one's, so this holds across steps);
//   - a transaction sees its own writes exactly, and one snapshot: a key it
//     saw present it does not later see absent;
//   - every commit succeeds, or fails with ErrConflict (a read key was
//     evicted meanwhile; the model then drops the transaction's writes);
//   - every so often and at the end, the database's whole key set is a
//     subset of the model's, with the model's values.
type evictChecker struct {
	ctx   context.Context
	state map[string]int64 // the model's committed state: every acknowledged write
	gone  map[string]bool  // keys of state the database has shown absent since they were last written
	rep   evictReport
}

// txView is the model side of one step: the transaction's own writes and
// the keys it has seen present.
type txView struct {
	m    *refTxn
	seen map[string]bool
}

func (c *evictChecker) newView() txView {
	return txView{m: &refTxn{state: c.state, own: make(map[string]*int64)}, seen: make(map[string]bool)}
}

func (c *evictChecker) commit(v txView) {
	for k := range v.m.own {
		delete(c.gone, k)
	}
	v.m.commit()
}

func (c *evictChecker) step(db *fluxmap.DB[string, int64], s MetaStep, mid func() error) error {
	switch {
	case !s.Txn:
		v := c.newView()
		if err := c.op(dbTarget{c.ctx, db}, v, s.Ops[0], false); err != nil {
			return err
		}
		c.commit(v)
	case s.View:
		var cerr error
		err := db.View(c.ctx, func(tx *fluxmap.Tx[string, int64]) error {
			cerr = c.ops(txTarget{tx}, c.newView(), s.Ops, mid)
			return cerr
		})
		if cerr != nil {
			return cerr
		}
		return err
	default:
		tx, err := db.Begin(c.ctx)
		if err != nil {
			return err
		}
		v := c.newView()
		if err := c.ops(txTarget{tx}, v, s.Ops, mid); err != nil {
			_ = tx.Rollback() // the check failed already; that is the error to report
			return err
		}
		if s.Rollback {
			return tx.Rollback()
		}
		switch err := tx.Commit(); {
		case err == nil:
			c.commit(v)
		case errors.Is(err, fluxmap.ErrConflict):
			c.rep.conflicts++
		default:
			return fmt.Errorf("commit: %w", err)
		}
	}
	return nil
}

func (c *evictChecker) ops(t kvTarget, v txView, ops []MetaOp, mid func() error) error {
	for i, op := range ops {
		if err := c.op(t, v, op, true); err != nil {
			return err
		}
		if i == 0 && mid != nil {
			if err := mid(); err != nil {
				return err
			}
		}
	}
	return nil
}

// op runs op on t and checks its result against the model view v; inTx
// says whether one snapshot serves the whole step.
func (c *evictChecker) op(t kvTarget, v txView, op MetaOp, inTx bool) error {
	c.rep.ops++
	switch op.Kind {
	case MetaInsert:
		if err := t.insert(op.Key, op.Value); err != nil {
			return fmt.Errorf("insert %s: %w", op.Key, err)
		}
		_ = v.m.insert(op.Key, op.Value) // the model's writes cannot fail
	case MetaGet, MetaRemove:
		var got int64
		var found bool
		var err error
		if op.Kind == MetaGet {
			got, found, err = t.get(op.Key)
		} else {
			got, found, err = t.remove(op.Key)
		}
		if err != nil {
			return fmt.Errorf("op %+v: %w", op, err)
		}
		want, wantFound, _ := v.m.get(op.Key)
		if err := c.read(v, inTx, op.Key, got, found, want, wantFound); err != nil {
			return fmt.Errorf("op %+v: %w", op, err)
		}
		if op.Kind == MetaRemove {
			_, _, _ = v.m.remove(op.Key)
		}
	case MetaRange, MetaPrefix:
		got, err := t.scan(op.Lo, op.Hi, op.Kind == MetaPrefix)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		want, _ := v.m.scan(op.Lo, op.Hi, op.Kind == MetaPrefix)
		wantByKey := make(map[string]int64, len(want))
		for _, e := range want {
			wantByKey[e.Key] = e.Value
		}
		shown := make(map[string]bool, len(got))
		for i, e := range got {
			if i > 0 && got[i-1].Key >= e.Key {
				return fmt.Errorf("scan %+v: keys out of order: %q then %q", op, got[i-1].Key, e.Key)
			}
			w, ok := wantByKey[e.Key]
			if err := c.read(v, inTx, e.Key, e.Value, true, w, ok); err != nil {
				return fmt.Errorf("scan %+v: %w", op, err)
			}
			shown[e.Key] = true
		}
		for _, e := range want {
			if !shown[e.Key] {
				if err := c.read(v, inTx, e.Key, 0, false, e.Value, true); err != nil {
					return fmt.Errorf("scan %+v: %w", op, err)
				}
			}
		}
	default:
		return fmt.Errorf("unknown op %d", op.Kind)
	}
	return nil
}

// read checks one observation of key k: found with value got, against the
// model's want and wantFound.
func (c *evictChecker) read(v txView, inTx bool, k string, got int64, found bool, want int64, wantFound bool) error {
	_, own := v.m.own[k]
	switch {
	case own || !wantFound:
		// The step's own write, or a key the model does not hold: exact.
		if found != wantFound || (found && got != want) {
			return fmt.Errorf("%s: got %d %t, the model has %d %t", k, got, found, want, wantFound)
		}
	case found:
		if got != want {
			return fmt.Errorf("%s: got %d, the model has %d: an eviction changed a value", k, got, want)
		}
		if c.gone[k] {
			return fmt.Errorf("%s=%d: came back after it was seen evicted", k, got)
		}
		if inTx {
			v.seen[k] = true
		}
	default:
		if v.seen[k] {
			return fmt.Errorf("%s: absent after the same snapshot showed it", k)
		}
		if !c.gone[k] {
			c.rep.misses++
		}
		c.gone[k] = true
	}
	return nil
}

// subset checks that db holds a subset of the model's keys, with its
// values, and none it has shown evicted.
func (c *evictChecker) subset(db *fluxmap.DB[string, int64]) error {
	es, err := db.PrefixScan(c.ctx, "")
	if err != nil {
		return err
	}
	v := c.newView()
	shown := make(map[string]bool, len(es))
	for _, e := range es {
		want, ok := c.state[e.Key]
		if err := c.read(v, false, e.Key, e.Value, true, want, ok); err != nil {
			return fmt.Errorf("whole state: %w", err)
		}
		shown[e.Key] = true
	}
	for k, want := range c.state {
		if !shown[k] {
			if err := c.read(v, false, k, 0, false, want, true); err != nil {
				return err
			}
		}
	}
	c.rep.keys = len(es)
	return nil
}

// runMetaEvicting runs steps under cfg (reopens and vacuum included) with
// the checks of evictChecker, and the subset check every 250 steps and at
// the end.
func runMetaEvicting(ctx context.Context, cfg MetaConfig, dir string, steps []MetaStep) (evictReport, error) {
	c := &evictChecker{ctx: ctx, state: make(map[string]int64), gone: make(map[string]bool)}
	n := 0
	cfg.Check = func(_ context.Context, _ string, db *fluxmap.DB[string, int64]) error {
		st, err := db.Stats()
		if err != nil {
			return err
		}
		c.rep.evictions = st.Evictions
		return c.subset(db)
	}
	err := driveMeta(ctx, cfg, dir, steps, func(db *fluxmap.DB[string, int64], s MetaStep, mid func() error) error {
		if n++; n%250 == 0 {
			if err := c.subset(db); err != nil {
				return err
			}
		}
		return c.step(db, s, mid)
	})
	return c.rep, err
}

// TestMetamorphicEvicting runs the metamorphic sequence (two seeds) under
// limits that evict all along, and requires the weak property of
// evictChecker, that evictions really happened and were seen, and that
// the database still holds keys at the end. A transaction that read a key
// an eviction then deleted conflicts, even single-threaded: its own reads
// are shard batches, and every batch may evict.
func TestMetamorphicEvicting(t *testing.T) {
	for _, seed := range []uint64{42, 7} {
		steps := GenerateMetamorphic(seed, 5000)
		for _, cfg := range metaEvictionMatrix() {
			t.Run(fmt.Sprintf("seed=%d/%s", seed, cfg.Name), func(t *testing.T) {
				rep, err := runMetaEvicting(context.Background(), cfg, t.TempDir(), steps)
				require.NoError(t, err)
				t.Logf("%d ops: %d evictions, %d seen by reads, %d conflicts; %d keys left", rep.ops, rep.evictions, rep.misses, rep.conflicts, rep.keys)
				require.Positive(t, rep.evictions)
				require.Positive(t, rep.misses, "no read ever found an evicted key missing")
				require.Positive(t, rep.keys)
			})
		}
	}
}

// TestEvictCheckerCatchesWrongResults feeds the checker observations a
// correct engine never makes, one per case, and requires each to fail.
func TestEvictCheckerCatchesWrongResults(t *testing.T) {
	newChecker := func() *evictChecker {
		return &evictChecker{state: map[string]int64{"a": 1, "b": 2}, gone: map[string]bool{}}
	}
	cases := map[string]func(c *evictChecker) error{
		"changed value": func(c *evictChecker) error { return c.read(c.newView(), false, "a", 9, true, 1, true) },
		"resurrected delete": func(c *evictChecker) error {
			return c.read(c.newView(), false, "z", 5, true, 0, false)
		},
		"evicted key back": func(c *evictChecker) error {
			if err := c.read(c.newView(), false, "a", 0, false, 1, true); err != nil {
				return nil // the miss itself is allowed; the test wants the second read to fail
			}
			return c.read(c.newView(), false, "a", 1, true, 1, true)
		},
		"own write lost": func(c *evictChecker) error {
			v := c.newView()
			_ = v.m.insert("a", 3)
			return c.read(v, true, "a", 0, false, 3, true)
		},
		"torn snapshot": func(c *evictChecker) error {
			v := c.newView()
			if err := c.read(v, true, "b", 2, true, 2, true); err != nil {
				return nil
			}
			return c.read(v, true, "b", 0, false, 2, true)
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			require.Error(t, f(newChecker()))
		})
	}
	// And what an evicting engine does is fine: a miss, then absent again.
	c := newChecker()
	require.NoError(t, c.read(c.newView(), false, "a", 0, false, 1, true))
	require.NoError(t, c.read(c.newView(), false, "a", 0, false, 1, true))
	require.NoError(t, c.read(c.newView(), false, "b", 2, true, 2, true))
	require.Equal(t, 1, c.rep.misses)
	require.True(t, strings.Contains(fmt.Sprint(c.gone), "a"))
}
