package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
	"github.com/fluxmap/fluxmap/internal/vfs"
)

// MetaKind is one operation of the metamorphic sequence.
type MetaKind uint8

const (
	// MetaGet reads Key.
	MetaGet MetaKind = iota + 1
	// MetaInsert sets Key to Value.
	MetaInsert
	// MetaRemove deletes Key and reports the value it had.
	MetaRemove
	// MetaRange scans [Lo, Hi).
	MetaRange
	// MetaPrefix scans the keys starting with Lo.
	MetaPrefix
)

// MetaOp is one operation of the metamorphic sequence.
type MetaOp struct {
	Kind   MetaKind
	Key    string
	Value  int64
	Lo, Hi string
}

// MetaStep is one unit of the sequence: a single autocommit operation, or a
// transaction of several operations that commits, rolls back, or is a
// read-only View.
type MetaStep struct {
	Ops      []MetaOp
	Txn      bool // run Ops in one transaction; otherwise Ops holds one autocommit op
	View     bool // the transaction is a read-only DB.View (reads only)
	Rollback bool // end the transaction with Rollback instead of Commit
}

// MetaConfig is one configuration of the metamorphic matrix. Open builds a
// database on dir: a fresh, empty directory the first time (in-memory
// configurations ignore it), the same directory again when the runner
// reopens a durable one. New configurations join by appending to MetaMatrix.
type MetaConfig struct {
	Name string
	Open func(ctx context.Context, dir string) (*fluxmap.DB[string, int64], error)
	// Reopens is how many times RunMetamorphicConfig closes the database
	// and opens it again on the same directory, at evenly spaced points of
	// the sequence: the state must come back exactly, and the operations
	// after it must still match the model. Only for durable configurations.
	Reopens int
	// VacuumEvery, if positive, makes RunMetamorphicConfig call db.Vacuum
	// before every VacuumEvery-th step and, in every VacuumEvery-th
	// transaction, after its first operation, while its snapshot is open.
	VacuumEvery int
	// MayEvict says the memory limit evicts: any batch a shard runs may
	// evict (the scans that compare the state around a reopen included), so
	// a reopened database must hold a subset of what the closed one held,
	// with the same values, rather than all of it.
	MayEvict bool
	// Check, if set, inspects the database (open on dir) after the
	// sequence, before it is closed: that nothing was evicted, that vacuum
	// ran, that the WAL rolled over and was checkpointed.
	Check func(ctx context.Context, dir string, db *fluxmap.DB[string, int64]) error
}

// MetaMatrix returns the configurations the metamorphic test runs, all
// single-threaded and deterministic in their results:
//
//   - shards 1, 4 and 16 under Serializable isolation, and 4 shards under
//     Snapshot (single-threaded, the isolation level must not change any
//     result);
//   - Full durability on a MemFS, with 4 KiB WAL segments and a checkpoint
//     every 16 KiB of WAL (so segments roll, are recycled and checkpoints
//     are written), reopened twice; Relaxed durability on real files (64 KiB
//     segments, fsync every 20 ms), also reopened twice;
//   - auto vacuum every millisecond plus explicit vacuum passes between
//     steps and inside open transactions;
//   - a memory limit under LRU and under Reject far above what the sequence
//     holds, which must change nothing (and evict or refuse nothing);
//   - all of it at once: Full durability, reopens, auto and explicit vacuum,
//     and a limit of 64 KiB that the sequence cannot reach because vacuum
//     runs every 7 steps (48 keys of about 250 bytes each, plus fewer than
//     40 versions of 40 bytes between passes, fit one shard's 16 KiB share
//     even if every key hashed to it).
//
// Configurations whose evictions the model cannot predict run in
// TestMetamorphicEvicting, against a weaker property.
func MetaMatrix() []MetaConfig {
	var out []MetaConfig
	add := func(shards int, iso fluxmap.IsolationLevel) {
		out = append(out, MetaConfig{
			Name: fmt.Sprintf("shards=%d/%s", shards, iso),
			Open: func(ctx context.Context, _ string) (*fluxmap.DB[string, int64], error) {
				return fluxmap.New[string, int64]().Shards(shards).Isolation(iso).Build(ctx)
			},
		})
	}
	for _, n := range []int{1, 4, 16} {
		add(n, fluxmap.Serializable)
	}
	add(4, fluxmap.Snapshot)

	fs := memFSPerDir()
	vacuumed := requireStats(func(st fluxmap.Stats) error {
		if st.Vacuum.Passes == 0 || st.Vacuum.Versions == 0 {
			return fmt.Errorf("vacuum removed nothing: %+v", st.Vacuum)
		}
		return nil
	})
	noEvictions := requireStats(func(st fluxmap.Stats) error {
		if st.Evictions != 0 || st.Memory.Current <= 0 || st.Memory.Current > st.Memory.Max {
			return fmt.Errorf("%d evictions, memory %+v: the limit was meant to be out of reach", st.Evictions, st.Memory)
		}
		return nil
	})
	out = append(out,
		MetaConfig{
			Name: "shards=4/Full/memfs/reopen",
			Open: func(ctx context.Context, dir string) (*fluxmap.DB[string, int64], error) {
				b := fluxmap.New[string, int64]().Shards(4).
					DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4 << 10, PoolSize: 1}).
					CheckpointAfterBytes(16 << 10)
				txhook.SetFS(b, fs(dir))
				return b.Build(ctx)
			},
			Reopens: 2,
			Check:   rolledAndCheckpointed(fs),
		},
		MetaConfig{
			Name: "shards=4/Relaxed/os/reopen",
			Open: func(ctx context.Context, dir string) (*fluxmap.DB[string, int64], error) {
				return fluxmap.New[string, int64]().Shards(4).
					DurabilityRelaxed(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 64 << 10}).
					FlushInterval(20 * time.Millisecond).Build(ctx)
			},
			Reopens: 2,
		},
		MetaConfig{
			Name: "shards=4/autovacuum=1ms/vacuum-every=7",
			Open: func(ctx context.Context, _ string) (*fluxmap.DB[string, int64], error) {
				return fluxmap.New[string, int64]().Shards(4).
					AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond}).Build(ctx)
			},
			VacuumEvery: 7,
			Check:       vacuumed,
		},
		MetaConfig{
			Name: "shards=4/maxmemory=64MiB/LRU",
			Open: func(ctx context.Context, _ string) (*fluxmap.DB[string, int64], error) {
				return fluxmap.New[string, int64]().Shards(4).MaxMemory(64 << 20).Build(ctx)
			},
			Check: noEvictions,
		},
		MetaConfig{
			Name: "shards=16/maxmemory=64MiB/Reject",
			Open: func(ctx context.Context, _ string) (*fluxmap.DB[string, int64], error) {
				return fluxmap.New[string, int64]().Shards(16).MaxMemory(64 << 20).
					EvictionPolicy(fluxmap.Reject).Build(ctx)
			},
			Check: noEvictions,
		},
		MetaConfig{
			Name: "shards=4/Full/memfs/reopen/autovacuum=1ms/vacuum-every=7/maxmemory=64KiB",
			Open: func(ctx context.Context, dir string) (*fluxmap.DB[string, int64], error) {
				b := fluxmap.New[string, int64]().Shards(4).
					DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4 << 10}).
					CheckpointAfterBytes(16 << 10).
					AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond}).
					MaxMemory(64 << 10)
				txhook.SetFS(b, fs(dir))
				return b.Build(ctx)
			},
			Reopens:     2,
			VacuumEvery: 7,
			Check: func(ctx context.Context, dir string, db *fluxmap.DB[string, int64]) error {
				return errors.Join(vacuumed(ctx, dir, db), noEvictions(ctx, dir, db), rolledAndCheckpointed(fs)(ctx, dir, db))
			},
		},
	)
	return out
}

// rolledAndCheckpointed returns a Check that requires the durable files
// under dir on fs to include a checkpoint and a WAL segment past the first:
// the configuration's small segments and checkpoint threshold must have
// made the engine roll and checkpoint, or the reopens tested only the
// simplest recovery.
func rolledAndCheckpointed(fs func(dir string) *vfs.MemFS) func(context.Context, string, *fluxmap.DB[string, int64]) error {
	return func(_ context.Context, dir string, _ *fluxmap.DB[string, int64]) error {
		var ckpts, laterSegments int
		var walk func(d string) error
		walk = func(d string) error {
			names, err := fs(dir).List(d)
			if err != nil {
				return err
			}
			for _, n := range names {
				switch {
				case strings.HasPrefix(n, "ckpt-") && strings.HasSuffix(n, ".ckpt"):
					ckpts++
				case strings.HasSuffix(n, ".wal"):
					if n != fmt.Sprintf("%016x.wal", 1) {
						laterSegments++
					}
				case !strings.Contains(n, "."):
					if _, err := fs(dir).List(filepath.Join(d, n)); err == nil {
						if err := walk(filepath.Join(d, n)); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}
		// Checkpoints are written in the background, promptly once a WAL
		// passes the threshold, but a short run can end first: give the one
		// its last commits triggered time to land.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			ckpts, laterSegments = 0, 0
			if err := walk(dir); err != nil {
				return err
			}
			if ckpts > 0 && laterSegments > 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d checkpoints and %d WAL segments past the first under %s", ckpts, laterSegments, dir)
			}
		}
	}
}

// memFSPerDir returns a function that gives every directory its own
// MemFS, the same one each time, so a reopened database finds its files.
func memFSPerDir() func(dir string) *vfs.MemFS {
	var mu sync.Mutex
	fss := make(map[string]*vfs.MemFS)
	return func(dir string) *vfs.MemFS {
		mu.Lock()
		defer mu.Unlock()
		if fss[dir] == nil {
			fss[dir] = vfs.New()
		}
		return fss[dir]
	}
}

func requireStats(check func(fluxmap.Stats) error) func(context.Context, string, *fluxmap.DB[string, int64]) error {
	return func(_ context.Context, _ string, db *fluxmap.DB[string, int64]) error {
		st, err := db.Stats()
		if err != nil {
			return err
		}
		return check(st)
	}
}

// metaKeys are 4 groups of 12 keys: "a00" ... "d11".
func metaKey(r *rand.Rand) string { return fmt.Sprintf("%c%02d", 'a'+r.IntN(4), r.IntN(12)) }

// metaBound is a scan bound: mostly a key, sometimes a shorter or longer
// string between keys.
func metaBound(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return string(rune('a' + r.IntN(5)))
	case 1:
		return metaKey(r) + "x"
	}
	return metaKey(r)
}

func metaPrefix(r *rand.Rand) string {
	switch r.IntN(8) {
	case 0:
		return ""
	case 1:
		return "e" // matches nothing
	case 2, 3:
		return metaKey(r) // exactly one key
	case 4, 5:
		return metaKey(r)[:2] // ten or fewer keys
	}
	return string(rune('a' + r.IntN(4)))
}

func metaOp(r *rand.Rand, readOnly bool) MetaOp {
	x := r.IntN(100)
	if readOnly {
		x = []int{0, 80, 90}[r.IntN(3)] // get, range, prefix
	}
	switch {
	case x < 30:
		return MetaOp{Kind: MetaGet, Key: metaKey(r)}
	case x < 60:
		return MetaOp{Kind: MetaInsert, Key: metaKey(r), Value: r.Int64N(1000)}
	case x < 75:
		return MetaOp{Kind: MetaRemove, Key: metaKey(r)}
	case x < 88:
		lo, hi := metaBound(r), metaBound(r)
		if lo > hi && r.IntN(4) != 0 {
			lo, hi = hi, lo // keep a quarter of the inverted (empty) ranges
		}
		return MetaOp{Kind: MetaRange, Lo: lo, Hi: hi}
	default:
		return MetaOp{Kind: MetaPrefix, Lo: metaPrefix(r)}
	}
}

// GenerateMetamorphic returns a seeded sequence of at least ops operations:
// about 40% autocommit operations, the rest in transactions of one to five
// operations, of which some are read-only Views and some roll back.
func GenerateMetamorphic(seed uint64, ops int) []MetaStep {
	r := rand.New(rand.NewPCG(seed, 0x6d657461))
	var steps []MetaStep
	for n := 0; n < ops; {
		if r.IntN(10) < 4 {
			steps = append(steps, MetaStep{Ops: []MetaOp{metaOp(r, false)}})
			n++
			continue
		}
		s := MetaStep{Txn: true, View: r.IntN(7) == 0}
		s.Rollback = !s.View && r.IntN(5) == 0
		for range 1 + r.IntN(5) {
			s.Ops = append(s.Ops, metaOp(r, s.View))
		}
		n += len(s.Ops)
		steps = append(steps, s)
	}
	return steps
}

// kvTarget is what one metamorphic operation runs against: the database's
// autocommit API, a transaction, or the reference model.
type kvTarget interface {
	get(k string) (int64, bool, error)
	insert(k string, v int64) error
	remove(k string) (int64, bool, error)
	scan(lo, hi string, prefix bool) ([]fluxmap.Entry[string, int64], error)
}

// apply runs op against t and formats its result; both the database and
// the model go through it, so equal behaviour gives equal strings.
func apply(t kvTarget, op MetaOp) string {
	switch op.Kind {
	case MetaGet:
		v, ok, err := t.get(op.Key)
		return result(fmt.Sprintf("get %s", op.Key), fmt.Sprintf("%d %t", v, ok), err)
	case MetaInsert:
		return result(fmt.Sprintf("insert %s=%d", op.Key, op.Value), "ok", t.insert(op.Key, op.Value))
	case MetaRemove:
		v, ok, err := t.remove(op.Key)
		return result(fmt.Sprintf("remove %s", op.Key), fmt.Sprintf("%d %t", v, ok), err)
	case MetaRange, MetaPrefix:
		ents, err := t.scan(op.Lo, op.Hi, op.Kind == MetaPrefix)
		var b strings.Builder
		for i, e := range ents {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", e.Key, e.Value)
		}
		if op.Kind == MetaPrefix {
			return result(fmt.Sprintf("prefix %q", op.Lo), b.String(), err)
		}
		return result(fmt.Sprintf("range [%q,%q)", op.Lo, op.Hi), b.String(), err)
	}
	return fmt.Sprintf("unknown op %d", op.Kind)
}

func result(op, res string, err error) string {
	if err != nil {
		return fmt.Sprintf("%s: error: %v", op, err)
	}
	return fmt.Sprintf("%s: %s", op, res)
}

// RunMetamorphic runs steps one after another on db and returns one result
// line per operation and per transaction end. It returns an error only if
// the database cannot start a transaction.
func RunMetamorphic(ctx context.Context, db *fluxmap.DB[string, int64], steps []MetaStep) ([]string, error) {
	var out []string
	for _, s := range steps {
		lines, err := runStep(ctx, db, s, nil)
		out = append(out, lines...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// RunMetamorphicConfig runs steps like RunMetamorphic on a database cfg
// opens on dir, with what cfg asks for around them: reopens, vacuum passes,
// a final Check. It closes the database. It returns an error if opening,
// closing, vacuum or Check fails, or if a reopened database does not hold
// exactly what the closed one held.
func RunMetamorphicConfig(ctx context.Context, cfg MetaConfig, dir string, steps []MetaStep) ([]string, error) {
	var out []string
	err := driveMeta(ctx, cfg, dir, steps, func(db *fluxmap.DB[string, int64], s MetaStep, mid func() error) error {
		lines, err := runStep(ctx, db, s, mid)
		out = append(out, lines...)
		return err
	})
	return out, err
}

// driveMeta opens cfg's database on dir and hands it each step in turn,
// reopening and vacuuming it as cfg says; mid is what the step must call
// after the first operation of a transaction (nil: nothing).
func driveMeta(ctx context.Context, cfg MetaConfig, dir string, steps []MetaStep,
	run func(db *fluxmap.DB[string, int64], s MetaStep, mid func() error) error,
) (err error) {
	db, err := cfg.Open(ctx, dir)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if db != nil {
			if cerr := db.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close: %w", cerr))
			}
		}
	}()
	vacuum := func() error {
		if _, err := db.Vacuum(ctx); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		return nil
	}
	every := len(steps) / (cfg.Reopens + 1) // steps between reopens
	for i, s := range steps {
		if cfg.Reopens > 0 && every > 0 && i > 0 && i%every == 0 && i/every <= cfg.Reopens {
			if db, err = reopenMeta(ctx, cfg, dir, db); err != nil {
				return fmt.Errorf("before step %d: %w", i, err)
			}
		}
		var mid func() error
		if cfg.VacuumEvery > 0 && i%cfg.VacuumEvery == 0 {
			if err := vacuum(); err != nil {
				return fmt.Errorf("before step %d: %w", i, err)
			}
			mid = vacuum
		}
		if err := run(db, s, mid); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	if cfg.Check != nil {
		if err := cfg.Check(ctx, dir, db); err != nil {
			return fmt.Errorf("check: %w", err)
		}
	}
	cerr := db.Close()
	db = nil
	if cerr != nil {
		return fmt.Errorf("close: %w", cerr)
	}
	return nil
}

// reopenMeta closes db and opens cfg's database on dir again; it must hold
// exactly what db held (a subset of it, if cfg.MayEvict). On error the
// returned database is nil or open.
func reopenMeta(ctx context.Context, cfg MetaConfig, dir string, db *fluxmap.DB[string, int64]) (*fluxmap.DB[string, int64], error) {
	before, err := db.PrefixScan(ctx, "")
	if err != nil {
		return db, fmt.Errorf("scan before reopen: %w", err)
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("close for reopen: %w", err)
	}
	if db, err = cfg.Open(ctx, dir); err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	after, err := db.PrefixScan(ctx, "")
	if err != nil {
		return db, fmt.Errorf("scan after reopen: %w", err)
	}
	same := slices.Equal(before, after)
	if !same && cfg.MayEvict {
		had := make(map[string]int64, len(before))
		for _, e := range before {
			had[e.Key] = e.Value
		}
		same = !slices.ContainsFunc(after, func(e fluxmap.Entry[string, int64]) bool {
			v, ok := had[e.Key]
			return !ok || v != e.Value
		})
	}
	if !same {
		return db, fmt.Errorf("reopen changed the state:\nbefore: %v\n after: %v", before, after)
	}
	return db, nil
}

// runStep runs one step on db and returns its result lines; mid, if not
// nil, runs after the first operation of a transaction.
func runStep(ctx context.Context, db *fluxmap.DB[string, int64], s MetaStep, mid func() error) ([]string, error) {
	var out []string
	ops := func(tx *fluxmap.Tx[string, int64]) error {
		for i, op := range s.Ops {
			out = append(out, apply(txTarget{tx}, op))
			if i == 0 && mid != nil {
				if err := mid(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	switch {
	case !s.Txn:
		out = append(out, apply(dbTarget{ctx, db}, s.Ops[0]))
	case s.View:
		var midErr error
		err := db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			midErr = ops(tx)
			return nil
		})
		if midErr != nil {
			return out, midErr
		}
		out = append(out, result("view", "ok", err))
	default:
		tx, err := db.Begin(ctx)
		if err != nil {
			return out, err
		}
		if err := ops(tx); err != nil {
			_ = tx.Rollback() // the step failed already; its error is the one to report
			return out, err
		}
		if s.Rollback {
			out = append(out, result("rollback", "ok", tx.Rollback()))
		} else {
			out = append(out, result("commit", "ok", tx.Commit()))
		}
	}
	return out, nil
}

// ReferenceMetamorphic runs steps against a plain map and returns what
// RunMetamorphic must return.
func ReferenceMetamorphic(steps []MetaStep) []string {
	state := make(map[string]int64)
	var out []string
	for _, s := range steps {
		t := &refTxn{state: state, own: make(map[string]*int64)}
		for _, op := range s.Ops {
			out = append(out, apply(t, op))
		}
		switch {
		case !s.Txn:
			t.commit()
		case s.View:
			out = append(out, result("view", "ok", nil))
		case s.Rollback:
			out = append(out, result("rollback", "ok", nil))
		default:
			t.commit()
			out = append(out, result("commit", "ok", nil))
		}
	}
	return out
}

// CompareMetamorphic returns an error describing the first line where got
// differs from want, with the step it belongs to.
func CompareMetamorphic(steps []MetaStep, got, want []string) error {
	line := 0
	for i, s := range steps {
		n := len(s.Ops)
		if s.Txn {
			n++
		}
		for j := line; j < line+n; j++ {
			if j >= len(got) || j >= len(want) {
				return fmt.Errorf("step %d (%+v): %d result lines, want %d", i, s, len(got), len(want))
			}
			if got[j] != want[j] {
				return fmt.Errorf("step %d (%+v), line %d:\n got: %s\nwant: %s", i, s, j, got[j], want[j])
			}
		}
		line += n
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d result lines, want %d", len(got), len(want))
	}
	return nil
}

type dbTarget struct {
	ctx context.Context
	db  *fluxmap.DB[string, int64]
}

func (t dbTarget) get(k string) (int64, bool, error)    { return t.db.Get(t.ctx, k) }
func (t dbTarget) insert(k string, v int64) error       { return t.db.Insert(t.ctx, k, v) }
func (t dbTarget) remove(k string) (int64, bool, error) { return t.db.Remove(t.ctx, k) }
func (t dbTarget) scan(lo, hi string, prefix bool) ([]fluxmap.Entry[string, int64], error) {
	if prefix {
		return t.db.PrefixScan(t.ctx, lo)
	}
	return t.db.Range(t.ctx, lo, hi)
}

type txTarget struct{ tx *fluxmap.Tx[string, int64] }

func (t txTarget) get(k string) (int64, bool, error)    { return t.tx.Get(k) }
func (t txTarget) insert(k string, v int64) error       { return t.tx.Insert(k, v) }
func (t txTarget) remove(k string) (int64, bool, error) { return t.tx.Remove(k) }
func (t txTarget) scan(lo, hi string, prefix bool) ([]fluxmap.Entry[string, int64], error) {
	if prefix {
		return t.tx.PrefixScan(lo)
	}
	return t.tx.Range(lo, hi)
}

// refTxn is the reference model of a transaction: the committed state and
// the transaction's own writes (nil: removed).
type refTxn struct {
	state map[string]int64
	own   map[string]*int64
}

func (t *refTxn) get(k string) (int64, bool, error) {
	if v, ok := t.own[k]; ok {
		if v == nil {
			return 0, false, nil
		}
		return *v, true, nil
	}
	v, ok := t.state[k]
	return v, ok, nil
}

func (t *refTxn) insert(k string, v int64) error { t.own[k] = &v; return nil }

func (t *refTxn) remove(k string) (int64, bool, error) {
	v, ok, _ := t.get(k)
	t.own[k] = nil
	return v, ok, nil
}

func (t *refTxn) scan(lo, hi string, prefix bool) ([]fluxmap.Entry[string, int64], error) {
	in := func(k string) bool {
		if prefix {
			return strings.HasPrefix(k, lo)
		}
		return k >= lo && k < hi
	}
	keys := make(map[string]bool)
	for k := range t.state {
		keys[k] = true
	}
	for k := range t.own {
		keys[k] = true
	}
	var out []fluxmap.Entry[string, int64]
	for _, k := range sortedKeys(keys) {
		if v, ok, _ := t.get(k); ok && in(k) {
			out = append(out, fluxmap.Entry[string, int64]{Key: k, Value: v})
		}
	}
	return out, nil
}

func (t *refTxn) commit() {
	for k, v := range t.own {
		if v == nil {
			delete(t.state, k)
		} else {
			t.state[k] = *v
		}
	}
}
