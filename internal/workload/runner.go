package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/histcheck"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

// Options configure one concurrent run.
type Options struct {
	Workers       int    // goroutines, each running its own transactions one after another
	TxnsPerWorker int    // transactions per goroutine
	Seed          uint64 // seeds the plans; the interleaving is up to the scheduler
	Workload      Workload
}

// Stats count what happened in a run.
type Stats struct {
	Txns      int // transactions run, the final read included
	Committed int
	Conflicts int // commits refused with ErrConflict
	Rollbacks int // planned rollbacks
	ReadOnly  int // committed transactions that wrote nothing
}

// AbortRate is the share of transactions whose commit was refused.
func (s Stats) AbortRate() float64 {
	if s.Txns == 0 {
		return 0
	}
	return float64(s.Conflicts) / float64(s.Txns)
}

// Add sums two Stats.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Txns:      s.Txns + o.Txns,
		Committed: s.Committed + o.Committed,
		Conflicts: s.Conflicts + o.Conflicts,
		Rollbacks: s.Rollbacks + o.Rollbacks,
		ReadOnly:  s.ReadOnly + o.ReadOnly,
	}
}

// String formats the counts and the abort rate.
func (s Stats) String() string {
	return fmt.Sprintf("%d txns: %d committed (%d read-only), %d conflicts (abort rate %.1f%%), %d rollbacks",
		s.Txns, s.Committed, s.ReadOnly, s.Conflicts, 100*s.AbortRate(), s.Rollbacks)
}

// Outcome is a recorded history and its counts.
type Outcome struct {
	History histcheck.History
	Stats   Stats
}

// RunListAppend runs opt's workload against db (which must be empty) as a
// list-append history: a write appends a unique value to the key's list.
func RunListAppend(ctx context.Context, db *fluxmap.DB[string, []int], opt Options) (Outcome, error) {
	return run(ctx, db, opt, listModel{})
}

// RunRegister runs opt's workload against db (which must be empty) as an
// rw-register history: a write sets the key to a unique value. The history
// asks the checker to order versions by commit timestamp.
func RunRegister(ctx context.Context, db *fluxmap.DB[string, int], opt Options) (Outcome, error) {
	out, err := run(ctx, db, opt, registerModel{})
	out.History.OrderByCommitTS = true
	return out, err
}

// model turns engine values into history operations.
type model[V any] interface {
	kind() histcheck.Model
	// write performs a StepWrite of the unique value v and returns the
	// operations it amounts to.
	write(tx *fluxmap.Tx[string, V], key string, v int) ([]histcheck.Op, error)
	read(key string, v V, found bool) histcheck.Op
	entry(key string, v V) histcheck.Entry
}

type listModel struct{}

func (listModel) kind() histcheck.Model { return histcheck.ListAppend }

func (m listModel) write(tx *fluxmap.Tx[string, []int], key string, v int) ([]histcheck.Op, error) {
	old, found, err := tx.Get(key)
	if err != nil {
		return nil, err
	}
	// The old list is shared with the database: build a new one.
	if err := tx.Insert(key, append(slices.Clone(old), v)); err != nil {
		return nil, err
	}
	return []histcheck.Op{m.read(key, old, found), histcheck.Append(key, v)}, nil
}

func (listModel) read(key string, v []int, found bool) histcheck.Op {
	if !found {
		return histcheck.ReadAbsent(key)
	}
	return histcheck.Op{Kind: histcheck.OpRead, Key: key, List: slices.Clone(v), Found: true}
}

func (listModel) entry(key string, v []int) histcheck.Entry {
	return histcheck.Entry{Key: key, List: slices.Clone(v)}
}

type registerModel struct{}

func (registerModel) kind() histcheck.Model { return histcheck.Register }

func (registerModel) write(tx *fluxmap.Tx[string, int], key string, v int) ([]histcheck.Op, error) {
	if err := tx.Insert(key, v); err != nil {
		return nil, err
	}
	return []histcheck.Op{histcheck.Write(key, v)}, nil
}

func (registerModel) read(key string, v int, found bool) histcheck.Op {
	if !found {
		return histcheck.ReadAbsent(key)
	}
	return histcheck.ReadReg(key, v)
}

func (registerModel) entry(key string, v int) histcheck.Entry {
	return histcheck.Entry{Key: key, Value: v}
}

// run starts opt.Workers goroutines together, each running its
// transactions, then records one read-only transaction that scans every
// key, so that every committed write is observed at least once.
func run[V any, M model[V]](ctx context.Context, db *fluxmap.DB[string, V], opt Options, m M) (Outcome, error) {
	if opt.Workers < 1 || opt.TxnsPerWorker < 1 || opt.Workload.Next == nil {
		return Outcome{}, fmt.Errorf("workload: bad options %+v", opt)
	}
	var (
		next    atomic.Int64 // the last unique value handed out
		start   = make(chan struct{})
		wg      sync.WaitGroup
		results = make([]workerResult, opt.Workers)
	)
	for w := range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := rand.New(rand.NewPCG(opt.Seed, uint64(w)))
			res := &results[w]
			for range opt.TxnsPerWorker {
				txn, err := runTxn(ctx, db, m, opt.Workload.Next(r), &next)
				txn.Process = w
				res.txns = append(res.txns, txn)
				res.stats.count(txn, err)
				if err != nil && !errors.Is(err, fluxmap.ErrConflict) {
					res.err = fmt.Errorf("worker %d: %w", w, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()

	out := Outcome{History: histcheck.History{Model: m.kind()}}
	var errs []error
	for _, res := range results {
		out.History.Txns = append(out.History.Txns, res.txns...)
		out.Stats = out.Stats.Add(res.stats)
		errs = append(errs, res.err)
	}
	final, err := runTxn(ctx, db, m, Plan{Steps: []Step{{Kind: StepRange, Lo: KeysLo, Hi: KeysHi}}}, &next)
	final.Process = opt.Workers
	out.History.Txns = append(out.History.Txns, final)
	out.Stats.count(final, err)
	errs = append(errs, err)
	return out, errors.Join(errs...)
}

type workerResult struct {
	txns  []histcheck.Txn
	stats Stats
	err   error
}

func (s *Stats) count(t histcheck.Txn, err error) {
	s.Txns++
	switch {
	case t.Status == histcheck.Committed:
		s.Committed++
		if t.CommitTS == 0 {
			s.ReadOnly++
		}
	case errors.Is(err, fluxmap.ErrConflict):
		s.Conflicts++
	case t.Status == histcheck.Aborted && err == nil:
		s.Rollbacks++
	}
}

// runTxn runs one plan in a manual transaction and records it. A commit
// refused with ErrConflict is recorded as aborted and returned; any other
// error leaves the transaction's status unknown.
func runTxn[V any, M model[V]](ctx context.Context, db *fluxmap.DB[string, V], m M, p Plan, next *atomic.Int64) (histcheck.Txn, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return histcheck.Txn{Status: histcheck.Aborted}, err
	}
	txn := histcheck.Txn{StartTS: txhook.StartTS(tx)}
	for _, s := range p.Steps {
		// Without a yield a goroutine tends to run its whole transaction
		// while the others wait their turn on the few Ps, and transactions
		// rarely overlap.
		runtime.Gosched()
		if err := step(tx, m, s, next, &txn); err != nil {
			// Nothing was committed: the rollback's own error (ErrTxnDone
			// if the context already ended it) adds nothing.
			_ = tx.Rollback()
			txn.Status = histcheck.Aborted
			return txn, fmt.Errorf("%v: %w", s, err)
		}
	}
	if p.Rollback {
		txn.Status = histcheck.Aborted
		return txn, tx.Rollback()
	}
	runtime.Gosched()
	ts, err := txhook.CommitTS(tx)
	switch {
	case err == nil:
		txn.Status, txn.CommitTS = histcheck.Committed, ts
	case errors.Is(err, fluxmap.ErrConflict):
		txn.Status = histcheck.Aborted
	default:
		txn.Status = histcheck.Unknown
	}
	return txn, err
}

func step[V any, M model[V]](tx *fluxmap.Tx[string, V], m M, s Step, next *atomic.Int64, txn *histcheck.Txn) error {
	switch s.Kind {
	case StepRead:
		v, found, err := tx.Get(s.Key)
		if err != nil {
			return err
		}
		txn.Ops = append(txn.Ops, m.read(s.Key, v, found))
	case StepWrite:
		ops, err := m.write(tx, s.Key, int(next.Add(1)))
		if err != nil {
			return err
		}
		txn.Ops = append(txn.Ops, ops...)
	case StepRange, StepPrefix:
		var ents []fluxmap.Entry[string, V]
		var err error
		lo, hi := s.Lo, s.Hi
		if s.Kind == StepRange {
			ents, err = tx.Range(lo, hi)
		} else {
			ents, err = tx.PrefixScan(lo)
			lo, hi = histcheck.PrefixRange(lo)
		}
		if err != nil {
			return err
		}
		op := histcheck.Scan(lo, hi)
		for _, e := range ents {
			op.Entries = append(op.Entries, m.entry(e.Key, e.Value))
		}
		txn.Ops = append(txn.Ops, op)
	default:
		return fmt.Errorf("workload: unknown step kind %d", s.Kind)
	}
	return nil
}
