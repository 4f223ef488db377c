package workload

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/fluxmap/fluxmap/internal/histcheck"
)

// Violation is one disagreement the white-box replay found.
type Violation struct {
	Txn    int // index in the history
	Op     int // index in the transaction's ops, -1 for the transaction as a whole
	Detail string
}

// String formats the violation.
func (v Violation) String() string {
	if v.Op < 0 {
		return fmt.Sprintf("T%d: %s", v.Txn, v.Detail)
	}
	return fmt.Sprintf("T%d op %d: %s", v.Txn, v.Op, v.Detail)
}

// WhiteBox replays h's committed transactions in commit-timestamp order
// against a plain map and checks every read. It relies on the engine's
// design claim (DESIGN.md §4) that commit-timestamp order is a serial order:
//
//   - a read-write transaction (CommitTS > 0) must read exactly the state
//     after every commit with a smaller timestamp (and before any larger
//     one), plus its own earlier writes;
//   - a read-only transaction (CommitTS == 0) must read exactly the state
//     after every commit with a timestamp <= its StartTS.
//
// It also checks that commit timestamps are unique and above the start
// timestamp, and, with dense set (every commit made against the database
// is in h), that they are exactly 1..N. Aborted transactions are skipped;
// so are unknown ones, which makes the replay wrong if one committed, so
// callers should treat a history with unknown transactions as failed.
func WhiteBox(h histcheck.History, dense bool) []Violation {
	var vs []Violation
	var writers, readers []int
	for i, t := range h.Txns {
		if t.Status != histcheck.Committed {
			continue
		}
		if t.CommitTS == 0 {
			if writes(t) {
				vs = append(vs, Violation{i, -1, "committed with writes but commit timestamp 0"})
			}
			readers = append(readers, i)
			continue
		}
		if t.CommitTS <= t.StartTS {
			vs = append(vs, Violation{i, -1, fmt.Sprintf("commit timestamp %d not above start %d", t.CommitTS, t.StartTS)})
		}
		writers = append(writers, i)
	}
	byTS := func(ts func(histcheck.Txn) uint64) func(a, b int) int {
		return func(a, b int) int { return cmp.Compare(ts(h.Txns[a]), ts(h.Txns[b])) }
	}
	slices.SortStableFunc(writers, byTS(func(t histcheck.Txn) uint64 { return t.CommitTS }))
	slices.SortStableFunc(readers, byTS(func(t histcheck.Txn) uint64 { return t.StartTS }))
	for k, i := range writers {
		ts := h.Txns[i].CommitTS
		if k > 0 && h.Txns[writers[k-1]].CommitTS == ts {
			vs = append(vs, Violation{i, -1, fmt.Sprintf("commit timestamp %d also given to T%d", ts, writers[k-1])})
		} else if dense && ts != uint64(k+1) {
			vs = append(vs, Violation{i, -1, fmt.Sprintf("commit timestamp %d is commit number %d: timestamps are not dense", ts, k+1)})
			dense = false // one report is enough
		}
	}

	state := make(map[string]value)
	ri := 0
	replayReaders := func(below uint64) {
		for ; ri < len(readers) && h.Txns[readers[ri]].StartTS < below; ri++ {
			vs = replay(h, readers[ri], state, vs)
		}
	}
	for _, i := range writers {
		replayReaders(h.Txns[i].CommitTS)
		vs = replay(h, i, state, vs)
	}
	for ; ri < len(readers); ri++ { // everything has committed
		vs = replay(h, readers[ri], state, vs)
	}
	return vs
}

func writes(t histcheck.Txn) bool {
	return slices.ContainsFunc(t.Ops, func(o histcheck.Op) bool {
		return o.Kind == histcheck.OpAppend || o.Kind == histcheck.OpWrite
	})
}

// value is one key's state in the replay: a list or a register.
type value struct {
	list []int
	reg  int
}

func (v value) format(m histcheck.Model) string {
	if m == histcheck.ListAppend {
		return fmt.Sprint(v.list)
	}
	return fmt.Sprint(v.reg)
}

// replay runs transaction i against state: its reads are checked against
// state plus its own writes so far; if it has a commit timestamp its
// writes are then applied to state.
func replay(h histcheck.History, i int, state map[string]value, vs []Violation) []Violation {
	t := h.Txns[i]
	own := make(map[string]value)
	view := func(k string) (value, bool) {
		if v, ok := own[k]; ok {
			return v, true
		}
		v, ok := state[k]
		return v, ok
	}
	same := func(v value, l []int, r int) bool {
		if h.Model == histcheck.ListAppend {
			return slices.Equal(v.list, l)
		}
		return v.reg == r
	}
	for j, o := range t.Ops {
		switch o.Kind {
		case histcheck.OpAppend:
			v, _ := view(o.Key)
			own[o.Key] = value{list: append(slices.Clip(v.list), o.Value)}
		case histcheck.OpWrite:
			own[o.Key] = value{reg: o.Value}
		case histcheck.OpRead:
			v, found := view(o.Key)
			if found != o.Found || (found && !same(v, o.List, o.Value)) {
				want := "nil"
				if found {
					want = v.format(h.Model)
				}
				vs = append(vs, Violation{i, j, fmt.Sprintf("%s: the serial state has %s", o, want)})
			}
		case histcheck.OpScan:
			var want []histcheck.Entry
			keys := make(map[string]bool)
			for k := range state {
				keys[k] = true
			}
			for k := range own {
				keys[k] = true
			}
			for _, k := range sortedKeys(keys) {
				if k >= o.Lo && k < o.Hi {
					v, _ := view(k)
					want = append(want, histcheck.Entry{Key: k, List: v.list, Value: v.reg})
				}
			}
			if !slices.EqualFunc(want, o.Entries, func(a, b histcheck.Entry) bool {
				return a.Key == b.Key && same(value{list: a.List, reg: a.Value}, b.List, b.Value)
			}) {
				vs = append(vs, Violation{i, j, fmt.Sprintf("%s: the serial state has %s", o, histcheck.Scan(o.Lo, o.Hi, want...))})
			}
		}
	}
	if t.CommitTS != 0 {
		for k, v := range own {
			state[k] = v
		}
	}
	return vs
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
