// Concurrent histories under a memory limit that evicts: an eviction is a
// committed delete at its own timestamp that the history does not record,
// so neither the checker nor WhiteBox can take these histories as they
// are (see evictReplay).

package workload_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	hc "github.com/fluxmap/fluxmap/internal/histcheck"
	"github.com/fluxmap/fluxmap/internal/workload"
)

// evictReplay is WhiteBox for histories with evictions it does not see.
// The workloads never delete, so without evictions a key, once written,
// is present in every later state; with them it may vanish at any
// timestamp and come back only by a write. The replay runs the committed
// transactions in commit-timestamp order (read-only ones at their start
// timestamp), like WhiteBox, and the aborted ones too, at their start
// timestamp: their reads come from their snapshot as well, and checking
// them is how their operations get the right names. It infers each
// eviction at its first
// observation: a read or scan that finds absent a key the serial state
// holds deletes it from the state. Every other read must match the state
// exactly, so it still catches a changed value, a deleted key coming back
// without a write (absent, then present again), a read-only snapshot that
// misses a committed write before it, a transaction that does not see its
// own writes, and a torn snapshot (one transaction seeing a key, then not).
// The inferred evictions can be no more than the engine's count.
//
// What it cannot catch: a write lost by the engine (indistinguishable from
// an eviction), and a transaction that read a key, saw it evicted by a
// concurrent batch before its commit and committed anyway, unless another
// transaction observed the eviction in between (the history has no
// eviction timestamps). TestMemLimitEvictionConflictsReaders covers that
// case deterministically in the root package.
//
// It also rewrites the history into one the checker can judge soundly.
// The checker knows no deletes: absent means the initial version, and a
// list that restarts after an eviction is "incompatible" with the old one.
//
//   - List-append: every write reads the key first, so the replay sees the
//     exact point of every eviction that matters; each incarnation of a key
//     (the lists between two evictions) becomes its own key, "k03#2", which
//     sorts where "k03" does within every range the workload scans. An
//     absent read is a read of the initial version of the next incarnation.
//   - Rw-register: writes are blind, so incarnations are not known; versions
//     are ordered by commit timestamp anyway. An absent read of a key that
//     was already written is dropped (the checker would take it for the
//     initial version and draw an anti-dependency backwards in time).
//   - Scans: one that misses an earlier incarnation, or a written key, is
//     dropped for the same reason (a predicate edge from a key that left
//     the range; the checker's model has keys only entering ranges).
//
// Dropping operations only removes edges, so the checker may miss
// anomalies that involve them but cannot report false ones.
type evictReplay struct {
	h        hc.History
	out      []hc.Txn        // the rewritten transactions, for the checker
	universe []string        // every key written anywhere, sorted
	state    map[string]rval // the serial state
	inc      map[string]int  // per key, the incarnation a write would create or continue
	written  map[string]bool // keys some earlier commit wrote
	vs       []string
	inferred int // evictions inferred
	dropped  int // reads and scans left out of the rewritten history
	renamed  int // reads moved to a later incarnation's key
}

type rval struct {
	list []int
	reg  int
}

// replayEvicting checks h and returns the violations, the number of
// evictions inferred and the history rewritten for the checker.
func replayEvicting(h hc.History) (vs []string, inferred int, forChecker hc.History, dropped, renamed int) {
	r := &evictReplay{h: h, out: slices.Clone(h.Txns), state: map[string]rval{}, inc: map[string]int{}, written: map[string]bool{}}
	keys := map[string]bool{}
	var writers, readers []int
	for i, t := range h.Txns {
		for _, o := range t.Ops {
			if o.Kind == hc.OpAppend || o.Kind == hc.OpWrite {
				keys[o.Key] = true
			}
		}
		switch {
		case t.Status == hc.Unknown:
			r.fail(i, "unknown outcome")
		case t.Status != hc.Committed || t.CommitTS == 0:
			// Read-only and aborted transactions read their snapshot.
			readers = append(readers, i)
		default:
			if t.CommitTS <= t.StartTS {
				r.fail(i, "commit timestamp %d not above start %d", t.CommitTS, t.StartTS)
			}
			writers = append(writers, i)
		}
	}
	for k := range keys {
		r.universe = append(r.universe, k)
	}
	slices.Sort(r.universe)
	by := func(ts func(hc.Txn) uint64) func(a, b int) int {
		return func(a, b int) int { return cmp.Compare(ts(h.Txns[a]), ts(h.Txns[b])) }
	}
	slices.SortStableFunc(writers, by(func(t hc.Txn) uint64 { return t.CommitTS }))
	slices.SortStableFunc(readers, by(func(t hc.Txn) uint64 { return t.StartTS }))
	ri := 0
	for k, i := range writers {
		if k > 0 && h.Txns[writers[k-1]].CommitTS == h.Txns[i].CommitTS {
			r.fail(i, "commit timestamp %d also given to T%d", h.Txns[i].CommitTS, writers[k-1])
		}
		for ; ri < len(readers) && h.Txns[readers[ri]].StartTS < h.Txns[i].CommitTS; ri++ {
			r.replay(readers[ri])
		}
		r.replay(i)
	}
	for ; ri < len(readers); ri++ {
		r.replay(readers[ri])
	}
	forChecker = h
	forChecker.Txns = r.out
	return r.vs, r.inferred, forChecker, r.dropped, r.renamed
}

func (r *evictReplay) fail(txn int, format string, args ...any) {
	r.vs = append(r.vs, fmt.Sprintf("T%d: ", txn)+fmt.Sprintf(format, args...))
}

func (r *evictReplay) list() bool { return r.h.Model == hc.ListAppend }

// name is k's name in the rewritten history.
func (r *evictReplay) name(k string) string {
	if !r.list() || r.inc[k] == 0 {
		return k
	}
	return fmt.Sprintf("%s#%d", k, r.inc[k])
}

func (r *evictReplay) same(v rval, list []int, reg int) bool {
	if r.list() {
		return slices.Equal(v.list, list)
	}
	return v.reg == reg
}

// txnReplay is one transaction's replay: its own writes and the keys it saw
// present.
type txnReplay struct {
	i    int
	own  map[string]rval
	seen map[string]bool
}

func (r *evictReplay) replay(i int) {
	t := r.h.Txns[i]
	x := &txnReplay{i: i, own: map[string]rval{}, seen: map[string]bool{}}
	var ops []hc.Op
	for _, o := range t.Ops {
		switch o.Kind {
		case hc.OpAppend:
			v, ok := x.own[o.Key]
			if !ok {
				v = r.state[o.Key]
			}
			x.own[o.Key] = rval{list: append(slices.Clip(v.list), o.Value)}
			o.Key = r.name(o.Key)
			ops = append(ops, o)
		case hc.OpWrite:
			x.own[o.Key] = rval{reg: o.Value}
			ops = append(ops, o)
		case hc.OpRead:
			if r.observe(x, o.Key, o.Found, o.List, o.Value, fmt.Sprint(o)) {
				if o.Key != r.name(o.Key) {
					r.renamed++
				}
				o.Key = r.name(o.Key)
				ops = append(ops, o)
			} else {
				r.dropped++
			}
		case hc.OpScan:
			if r.scan(x, o) {
				ops = append(ops, o)
			} else {
				r.dropped++
			}
		}
	}
	if t.Status == hc.Committed && t.CommitTS != 0 {
		for k, v := range x.own {
			r.state[k] = v
			r.written[k] = true
		}
	}
	r.out[i].Ops = ops
}

// observe checks one observation of k and reports whether the checker may
// have it.
func (r *evictReplay) observe(x *txnReplay, k string, found bool, list []int, reg int, what string) bool {
	if v, ok := x.own[k]; ok {
		if !found || !r.same(v, list, reg) {
			r.fail(x.i, "%s: its own write was %v", what, v)
		}
		return true
	}
	v, ok := r.state[k]
	switch {
	case ok && found:
		if !r.same(v, list, reg) {
			r.fail(x.i, "%s: the serial state has %v", what, v)
		}
		x.seen[k] = true
		return true
	case ok: // absent: an eviction, seen for the first time
		if x.seen[k] {
			r.fail(x.i, "%s: the same transaction saw it present", what)
			return false
		}
		delete(r.state, k)
		r.inc[k]++
		r.inferred++
		return r.list() // the initial version of the next incarnation
	case found:
		r.fail(x.i, "%s: the serial state has nil (deleted or never written)", what)
		return false
	default:
		return r.list() || !r.written[k]
	}
}

// scan checks a scan and reports whether the checker may have it.
func (r *evictReplay) scan(x *txnReplay, o hc.Op) bool {
	shown := map[string]bool{}
	for j, e := range o.Entries {
		if j > 0 && o.Entries[j-1].Key >= e.Key || e.Key < o.Lo || e.Key >= o.Hi {
			r.fail(x.i, "%v: entries out of order or range", o)
			return false
		}
		r.observe(x, e.Key, true, e.List, e.Value, fmt.Sprintf("%v: %s", o, e.Key))
		shown[e.Key] = true
	}
	for k := range r.state {
		if k >= o.Lo && k < o.Hi && !shown[k] {
			r.observe(x, k, false, nil, 0, fmt.Sprintf("%v: missing %s", o, k))
		}
	}
	for k := range x.own {
		if k >= o.Lo && k < o.Hi && !shown[k] {
			r.fail(x.i, "%v: misses its own write of %s", o, k)
		}
	}
	for _, k := range r.universe {
		if k < o.Lo || k >= o.Hi {
			continue
		}
		if r.list() && r.inc[k] > 0 || !r.list() && !shown[k] && r.written[k] {
			return false
		}
	}
	return true
}

// The memory limits of the evicting histories. With list values charged
// at 8 bytes an element, a shard's share holds about 6 keys once lists
// have grown: at one shard, 6 of the 16; at four, where a shard has about
// 4 of them, 1 or 2. Either way evictions come steadily through the run.
const (
	evictLimit1Shard  = 2000
	evictLimit4Shards = 3000
)

// runEvictingHistory runs opt in model m on a database with a memory limit
// (LRU, auto vacuum every millisecond) and returns the outcome and the
// engine's eviction count.
func runEvictingHistory(t *testing.T, m model, shards int, limit int64, opt workload.Options) (workload.Outcome, uint64) {
	t.Helper()
	ctx := context.Background()
	vac := fluxmap.VacuumOptions{Interval: time.Millisecond}
	var out workload.Outcome
	var err error
	var st fluxmap.Stats
	switch m {
	case listAppend:
		db, berr := fluxmap.New[string, []int]().Shards(shards).MaxMemory(limit).AutoVacuum(vac).
			Sizer(func(_ string, v []int) int { return 8 * cap(v) }).Build(ctx)
		require.NoError(t, berr)
		defer db.Close() //nolint:errcheck // checked below; this one runs if a require stops the test
		out, err = workload.RunListAppend(ctx, db, opt)
		require.NoError(t, err, "seed %d", opt.Seed)
		st, err = db.Stats()
		require.NoError(t, err)
		require.NoError(t, db.Close())
	default:
		db, berr := fluxmap.New[string, int]().Shards(shards).MaxMemory(limit).AutoVacuum(vac).Build(ctx)
		require.NoError(t, berr)
		defer db.Close() //nolint:errcheck // as above
		out, err = workload.RunRegister(ctx, db, opt)
		require.NoError(t, err, "seed %d", opt.Seed)
		st, err = db.Stats()
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	return out, st.Evictions
}

// TestHistoriesEvicting runs concurrent histories (8 workers, 16 keys)
// under a memory limit that evicts keys all along, LRU, with auto vacuum,
// in both models: the Mixed workload at one and at four shards, and Mixed
// without its scans at four. The eviction-aware replay must find nothing
// and infer no more evictions than the engine made, and the checker must
// find no anomaly in the history rewritten for it (see evictReplay for what
// that leaves out).
//
// The scans at four shards are the regression test for evictions inside a
// range a prepared two-phase transaction had scanned: the shard used to
// evict such keys, so the transaction committed after deleting a key it
// read (see TestMemLimitEvictionRespectsRangeLocks in the root package).
func TestHistoriesEvicting(t *testing.T) {
	mixed := workload.Mixed(historyKeys, historyMinOps, historyMaxOps)
	runEvictingHistories(t, 1, evictLimit1Shard, mixed, 4)
	runEvictingHistories(t, 4, evictLimit4Shards, withoutScans(mixed), 4)
	runEvictingHistories(t, 4, evictLimit4Shards, mixed, 12)
}

// withoutScans is w with the range and prefix scans of every plan left
// out (a plan left empty reads its first key instead).
func withoutScans(w workload.Workload) workload.Workload {
	return workload.Workload{
		Name: w.Name + "-no-scans",
		Keys: w.Keys,
		Next: func(r *rand.Rand) workload.Plan {
			p := w.Next(r)
			p.Steps = slices.DeleteFunc(p.Steps, func(s workload.Step) bool {
				return s.Kind == workload.StepRange || s.Kind == workload.StepPrefix
			})
			if len(p.Steps) == 0 {
				p.Steps = []workload.Step{{Kind: workload.StepRead, Key: w.Keys[0]}}
			}
			return p
		},
	}
}

// runEvictingHistories runs perModel histories of w per model at shards
// shards under the evicting configuration with the given limit and checks
// them.
func runEvictingHistories(t *testing.T, shards int, limit int64, w workload.Workload, perModel int) {
	t.Helper()
	seed := baseSeed(t)
	var evicted uint64
	var inferred, dropped, renamed int
	var all workload.Stats
	for _, m := range []model{listAppend, register} {
		for i := range perModel {
			opt := workload.Options{
				Workers:       historyWorkers,
				TxnsPerWorker: 40,
				Seed:          seed + uint64(5000+1000*shards+100*int(m)+i),
				Workload:      w,
			}
			what := fmt.Sprintf("%s %s shards=%d seed=%d", m, w.Name, shards, opt.Seed)
			out, ev := runEvictingHistory(t, m, shards, limit, opt)
			vs, inf, h, dr, rn := replayEvicting(out.History)
			require.Empty(t, vs, "%s: the eviction-aware replay disagrees (first of %d): %v", what, len(vs), firstString(vs))
			require.LessOrEqual(t, uint64(inf), ev, "%s: more evictions inferred than the engine made", what)
			res := hc.Check(h)
			require.True(t, res.OK(), "%s: the checker found anomalies:\n%s", what, res.Report(h, 5))
			evicted += ev
			inferred += inf
			dropped += dr
			renamed += rn
			all = all.Add(out.Stats)
		}
	}
	msg := fmt.Sprintf("evicting histories, %s at %d shards: %d histories, %s; %d evictions, %d seen by reads (%d reads renamed to a later incarnation, %d reads and scans left out of the checker's history); 0 anomalies",
		w.Name, shards, 2*perModel, all, evicted, inferred, renamed, dropped)
	t.Log(msg)
	require.Positive(t, inferred, "no transaction ever saw an eviction: the limit is too loose")
}

// TestEvictReplayWithoutEvictions: on histories of a database without a
// limit the eviction-aware replay infers nothing and hands the checker the
// history unchanged, so on them it is exactly as strict as WhiteBox and
// the checker.
func TestEvictReplayWithoutEvictions(t *testing.T) {
	for _, m := range []model{listAppend, register} {
		opt := workload.Options{Workers: historyWorkers, TxnsPerWorker: 20, Seed: 31,
			Workload: workload.Mixed(historyKeys, historyMinOps, historyMaxOps)}
		out := runHistory(t, m, 4, fluxmap.Serializable, opt)
		vs, inferred, h, dropped, renamed := replayEvicting(out.History)
		require.Empty(t, vs, "%s", m)
		require.Zero(t, inferred+dropped+renamed, "%s", m)
		require.Equal(t, out.History, h, "%s", m)
	}
}

// TestEvictReplayHandBuilt: an eviction seen by reads is accepted, and
// what no eviction explains is not.
func TestEvictReplayHandBuilt(t *testing.T) {
	ok := hc.History{Model: hc.ListAppend, Txns: []hc.Txn{
		txnAt(0, 1, hc.Read("x"), hc.Append("x", 1)),
		txnAt(1, 2, hc.Read("x", 1), hc.Append("x", 2)),
		txnAt(3, 0, hc.Read("x")),                    // evicted at 3
		txnAt(3, 4, hc.Read("x"), hc.Append("x", 3)), // a new list
		txnAt(4, 0, hc.Read("x", 3), hc.Scan("a", "z", hc.Entry{Key: "x", List: []int{3}})),
	}}
	vs, inferred, h, _, renamed := replayEvicting(ok)
	require.Empty(t, vs)
	require.Equal(t, 1, inferred)
	require.Positive(t, renamed)
	res := hc.Check(h)
	require.True(t, res.OK(), res.Report(h, 3))
	require.False(t, hc.Check(ok).OK(), "the checker alone takes the restarted list for an anomaly")

	cases := map[string]struct {
		want string
		h    hc.History
	}{
		"back_without_write": {"serial state has nil", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(1, 0, hc.ReadAbsent("x")),
			txnAt(2, 0, hc.ReadReg("x", 1)),
		}}},
		"changed_value": {"serial state has", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(1, 0, hc.ReadReg("x", 7)),
		}}},
		"torn_snapshot": {"saw it present", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(1, 0, hc.ReadReg("x", 1), hc.Scan("a", "z")),
		}}},
		"own_write_missing": {"own write", hc.History{Model: hc.ListAppend, Txns: []hc.Txn{
			txnAt(0, 1, hc.Append("x", 1), hc.Read("x")),
		}}},
		"duplicate_commit_ts": {"also given to", hc.History{Model: hc.Register, Txns: []hc.Txn{
			txnAt(0, 1, hc.Write("x", 1)),
			txnAt(0, 1, hc.Write("y", 2)),
		}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			vs, _, _, _, _ := replayEvicting(c.h)
			require.NotEmpty(t, vs)
			require.Contains(t, vs[0], c.want)
		})
	}
}

func firstString(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
