package crashtest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Write is one write of a transaction: Value for Key, or a delete.
type Write[V comparable] struct {
	Key    string
	Value  V
	Delete bool
}

// Outcome is what a committer learned about one transaction.
type Outcome int

const (
	// Acked: Commit returned nil, and TS is the commit timestamp.
	Acked Outcome = iota + 1
	// Unknown: Commit failed with an error other than a conflict (a crash,
	// a poisoned database). The transaction may have committed durably or
	// not; TS is its timestamp if Commit reported one, else 0.
	Unknown
	// Aborted: Commit failed in a way that guarantees nothing was
	// installed (a conflict). The checker ignores such transactions.
	Aborted
)

// Txn is one recorded transaction.
type Txn[V comparable] struct {
	Writes  []Write[V]
	TS      uint64
	Outcome Outcome
}

// maxAssignments bounds the search over ways to fill unknown timestamps.
const maxAssignments = 1 << 16

// Check returns nil if got is exactly the state after replaying, in
// timestamp order, the transactions of h with timestamps 1..t, where
// timestamps in 1..t that no transaction of h reported are filled by
// distinct Unknown transactions without a timestamp (in any way that
// matches). With full set, every Acked transaction must be at or below t.
// The error describes the first violation found.
func Check[V comparable](h []Txn[V], t uint64, got map[string]V, full bool) error {
	known := make(map[uint64]int)
	var unknown []int
	var maxAcked uint64
	for i, tx := range h {
		switch {
		case tx.Outcome == Aborted:
			continue
		case tx.TS == 0 && tx.Outcome == Acked:
			return fmt.Errorf("txn %d: acknowledged without a commit timestamp", i)
		case tx.TS == 0:
			unknown = append(unknown, i)
			continue
		}
		if j, dup := known[tx.TS]; dup {
			return fmt.Errorf("txns %d and %d both have commit timestamp %d", j, i, tx.TS)
		}
		known[tx.TS] = i
		if tx.Outcome == Acked {
			maxAcked = max(maxAcked, tx.TS)
		}
	}
	if full && maxAcked > t {
		return fmt.Errorf("lost acknowledged commits: recovered prefix ends at %d, acknowledged commit %d (txn %d) is missing",
			t, maxAcked, known[maxAcked])
	}
	var gaps []uint64
	for ts := uint64(1); ts <= t; ts++ {
		if _, ok := known[ts]; !ok {
			gaps = append(gaps, ts)
		}
	}
	if len(gaps) > len(unknown) {
		return fmt.Errorf("recovered prefix ends at %d, but %d timestamps in it (first %d) belong to no transaction that could have committed (%d unknown)",
			t, len(gaps), gaps[0], len(unknown))
	}
	order := make([]int, t) // order[ts-1] = txn index
	for ts := uint64(1); ts <= t; ts++ {
		if i, ok := known[ts]; ok {
			order[ts-1] = i
		}
	}
	var first map[string]V
	tried := 0
	used := make([]bool, len(unknown))
	var fill func(g int) bool
	fill = func(g int) bool {
		if g == len(gaps) {
			tried++
			want := replay(h, order)
			if first == nil {
				first = want
			}
			return maps.Equal(want, got)
		}
		for u, i := range unknown {
			if used[u] || tried >= maxAssignments {
				continue
			}
			used[u] = true
			order[gaps[g]-1] = i
			ok := fill(g + 1)
			used[u] = false
			if ok {
				return true
			}
		}
		return false
	}
	if fill(0) {
		return nil
	}
	return fmt.Errorf("recovered state is not the state after commits 1..%d (%d known, %d filled by unknown txns, %d assignments tried); first candidate differs: %s",
		t, int(t)-len(gaps), len(gaps), tried, Diff(first, got))
}

func replay[V comparable](h []Txn[V], order []int) map[string]V {
	st := make(map[string]V)
	for _, i := range order {
		for _, w := range h[i].Writes {
			if w.Delete {
				delete(st, w.Key)
			} else {
				st[w.Key] = w.Value
			}
		}
	}
	return st
}

// Diff describes how got differs from want, for failure messages; at most
// a few keys are listed.
func Diff[V comparable](want, got map[string]V) string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("%q missing (want %v)", k, want[k]))
		case g != want[k]:
			lines = append(lines, fmt.Sprintf("%q = %v, want %v", k, g, want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("%q = %v unexpected", k, got[k]))
		}
	}
	if len(lines) == 0 {
		return "no difference"
	}
	if len(lines) > 8 {
		lines = append(lines[:8], fmt.Sprintf("... %d more", len(lines)-8))
	}
	return strings.Join(lines, "; ")
}
