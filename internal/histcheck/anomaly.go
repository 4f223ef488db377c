package histcheck

import (
	"fmt"
	"slices"
	"strings"
)

// Kind names an anomaly. The cycle kinds follow Adya's generalized isolation
// definitions as Elle reports them.
type Kind string

const (
	// G0 (write cycle): a cycle of write-write edges only.
	G0 Kind = "G0"
	// G1a (aborted read): a committed transaction read a value written by
	// an aborted one.
	G1a Kind = "G1a"
	// G1b (intermediate read): a committed transaction read a value that
	// another transaction overwrote before it committed.
	G1b Kind = "G1b"
	// G1c (circular information flow): a cycle of write-write and
	// write-read edges with at least one write-read edge.
	G1c Kind = "G1c"
	// GSingle (read skew): a cycle with exactly one anti-dependency
	// (item read-write) edge.
	GSingle Kind = "G-single"
	// G2Item (write skew and kin): a cycle with two or more item
	// anti-dependency edges and no predicate one.
	G2Item Kind = "G2-item"
	// G2 (predicate): a cycle that needs a predicate anti-dependency
	// edge: a scan that missed a key a later transaction created inside
	// its range (a phantom). Reported only for a strongly connected
	// component that holds no G-single or G2-item cycle.
	G2 Kind = "G2"
	// LostUpdate: two committed transactions read the same version of a
	// key and both wrote that key.
	LostUpdate Kind = "lost-update"
	// Internal (internal inconsistency): a transaction's read disagrees
	// with its own earlier reads and writes of the key, e.g. it does not
	// see its own write.
	Internal Kind = "internal"
	// GarbageRead: a read returned a value nobody wrote (or a scan returned
	// a key outside its range).
	GarbageRead Kind = "garbage-read"
	// DuplicateElements: a list read holds one appended value twice.
	DuplicateElements Kind = "duplicate-elements"
	// IncompatibleOrder: two committed reads of one key returned lists
	// neither of which is a prefix of the other, so the key has no single
	// version order. The key's edges are left out of the graph.
	IncompatibleOrder Kind = "incompatible-order"
)

// Dep is the kind of a dependency edge between two committed transactions.
type Dep uint8

const (
	// WW: the target installed the next version of a key the source wrote.
	WW Dep = iota
	// WR: the target read a version the source wrote.
	WR
	// RW: an item anti-dependency: the source read a version of a key and
	// the target installed a later one.
	RW
	// RWPredicate: a predicate anti-dependency: the source scanned a range
	// and did not see a key that the target created inside it.
	RWPredicate
	numDeps
)

// String returns the edge kind's short name.
func (d Dep) String() string {
	switch d {
	case WW:
		return "ww"
	case WR:
		return "wr"
	case RW:
		return "rw"
	case RWPredicate:
		return "rw-pred"
	}
	return fmt.Sprintf("Dep(%d)", int(d))
}

type depMask uint8

func (d Dep) mask() depMask { return 1 << d }

const (
	maskWW     = depMask(1 << WW)
	maskWR     = depMask(1 << WR)
	maskRW     = depMask(1 << RW)
	maskRWPred = depMask(1 << RWPredicate)
	maskAll    = maskWW | maskWR | maskRW | maskRWPred
)

// Edge is one step of a cycle: To depends on From in the way Dep says,
// because of Key (for a predicate edge, the key that entered the range).
type Edge struct {
	From, To int
	Dep      Dep
	Key      string
}

// String formats the edge as "T1 -ww(k)-> T2".
func (e Edge) String() string {
	return fmt.Sprintf("T%d -%s(%s)-> T%d", e.From, e.Dep, e.Key, e.To)
}

// Anomaly is one violation found in a history, with its evidence.
type Anomaly struct {
	Kind Kind
	// Txns are the transactions involved, by index in History.Txns.
	Txns []int
	// Key is the key involved, for the non-cycle kinds.
	Key string
	// Cycle is the evidence of a cycle kind: the shortest cycle of this
	// kind the search found in its strongly connected component.
	Cycle  []Edge
	Detail string
}

// String formats the anomaly on one line.
func (a Anomaly) String() string {
	var b strings.Builder
	b.WriteString(string(a.Kind))
	if len(a.Cycle) > 0 {
		b.WriteString(": ")
		for i, e := range a.Cycle {
			if i == 0 {
				fmt.Fprintf(&b, "T%d", e.From)
			}
			fmt.Fprintf(&b, " -%s(%s)-> T%d", e.Dep, e.Key, e.To)
		}
	}
	if a.Detail != "" {
		b.WriteString(": ")
		b.WriteString(a.Detail)
	}
	return b.String()
}

// Result is what Check found.
type Result struct {
	Anomalies []Anomaly
	// Counts of the history's transactions by status.
	Committed, Aborted, Unknown int
	// Edges is the number of distinct (from, to) pairs in the dependency
	// graph; Components the number of its strongly connected components
	// with more than one transaction.
	Edges, Components int
}

// OK reports whether no anomaly was found.
func (r Result) OK() bool { return len(r.Anomalies) == 0 }

// Has reports whether an anomaly of kind k was found.
func (r Result) Has(k Kind) bool {
	for _, a := range r.Anomalies {
		if a.Kind == k {
			return true
		}
	}
	return false
}

// Kinds returns the distinct kinds found, sorted.
func (r Result) Kinds() []Kind {
	var ks []Kind
	for _, a := range r.Anomalies {
		if !slices.Contains(ks, a.Kind) {
			ks = append(ks, a.Kind)
		}
	}
	slices.Sort(ks)
	return ks
}

// Report formats the result for a test log: the counts, then each anomaly
// (at most limit of them, all if limit <= 0) followed by the transactions
// it involves.
func (r Result) Report(h History, limit int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d committed, %d aborted, %d unknown; %d edges, %d cyclic components; %d anomalies %v\n",
		r.Committed, r.Aborted, r.Unknown, r.Edges, r.Components, len(r.Anomalies), r.Kinds())
	for i, a := range r.Anomalies {
		if limit > 0 && i == limit {
			fmt.Fprintf(&b, "... %d more\n", len(r.Anomalies)-limit)
			break
		}
		fmt.Fprintf(&b, "%s\n", a)
		for _, id := range a.Txns {
			if id >= 0 && id < len(h.Txns) {
				fmt.Fprintf(&b, "    T%d: %s\n", id, h.Txns[id])
			}
		}
	}
	return b.String()
}
