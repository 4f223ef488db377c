package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/fluxmap/fluxmap"
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
// fresh, empty database; dir is a fresh empty directory for configurations
// that keep files (in-memory ones ignore it). Later configurations
// (durability, eviction, vacuum) join by appending to MetaMatrix.
type MetaConfig struct {
	Name string
	Open func(ctx context.Context, dir string) (*fluxmap.DB[string, int64], error)
}

// MetaMatrix returns the configurations the metamorphic test runs: shards
// 1, 4 and 16 under Serializable isolation, and 4 shards under Snapshot
// (single-threaded, the isolation level must not change any result).
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
	return out
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
		switch {
		case !s.Txn:
			out = append(out, apply(dbTarget{ctx, db}, s.Ops[0]))
		case s.View:
			err := db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
				for _, op := range s.Ops {
					out = append(out, apply(txTarget{tx}, op))
				}
				return nil
			})
			out = append(out, result("view", "ok", err))
		default:
			tx, err := db.Begin(ctx)
			if err != nil {
				return out, err
			}
			for _, op := range s.Ops {
				out = append(out, apply(txTarget{tx}, op))
			}
			if s.Rollback {
				out = append(out, result("rollback", "ok", tx.Rollback()))
			} else {
				out = append(out, result("commit", "ok", tx.Commit()))
			}
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
