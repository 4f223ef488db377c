package histcheck

import (
	"fmt"
	"strings"
)

// Model says what the values of a history's keys are.
type Model uint8

const (
	// ListAppend: each key holds a list of ints; writes append a value that
	// is unique in the whole history; reads return the whole list, so the
	// longest list read of a key reveals that key's version order.
	ListAppend Model = iota + 1
	// Register: each key holds one int; writes overwrite it blindly with a
	// value unique in the whole history; reads return the current value.
	// Reads alone do not reveal the version order; see History.OrderByCommitTS.
	Register
)

// String returns the model's name.
func (m Model) String() string {
	switch m {
	case ListAppend:
		return "list-append"
	case Register:
		return "rw-register"
	}
	return fmt.Sprintf("Model(%d)", int(m))
}

// Status is how a transaction ended.
type Status uint8

const (
	// Committed: the commit was acknowledged.
	Committed Status = iota + 1
	// Aborted: the transaction certainly did not commit (a conflict or a
	// rollback).
	Aborted
	// Unknown: the outcome is not known (the commit failed with an error
	// that does not say). The checker treats such a transaction as committed
	// if a committed transaction observed one of its writes, and otherwise
	// leaves it out.
	Unknown
)

// String returns the status's name.
func (s Status) String() string {
	switch s {
	case Committed:
		return "committed"
	case Aborted:
		return "aborted"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// OpKind is the kind of one operation.
type OpKind uint8

const (
	// OpRead is a point read of Key: Found, and List (ListAppend) or Value
	// (Register) when found.
	OpRead OpKind = iota + 1
	// OpAppend appends Value to Key's list (ListAppend).
	OpAppend
	// OpWrite sets Key to Value (Register).
	OpWrite
	// OpScan is a predicate read: every key k with Lo <= k < Hi, returned
	// as Entries in key order. A prefix scan is the range [p, p+1).
	OpScan
)

// Op is one operation of a transaction, with its result.
type Op struct {
	Kind    OpKind
	Key     string  // OpRead, OpAppend, OpWrite
	Value   int     // OpAppend, OpWrite: the value written; OpRead on a Register: the value read
	List    []int   // OpRead on a ListAppend history: the list read
	Found   bool    // OpRead: whether the key existed
	Lo, Hi  string  // OpScan: the half-open key range
	Entries []Entry // OpScan: the entries read, in key order
}

// Entry is one key and its value as a scan returned it.
type Entry struct {
	Key   string
	Value int   // Register
	List  []int // ListAppend
}

// Txn is one transaction of a history. Its ID in anomalies is its index in
// History.Txns.
type Txn struct {
	Process int // the client (goroutine) that ran it; informational
	Status  Status
	Ops     []Op
	// StartTS and CommitTS are the engine's snapshot and commit timestamps
	// (0 when unknown, and CommitTS is 0 for a transaction that wrote
	// nothing). The graph checker uses CommitTS only with
	// History.OrderByCommitTS; the white-box replayer uses both.
	StartTS, CommitTS uint64
}

// History is a set of transactions run concurrently against one database
// that held no keys when they started.
type History struct {
	Model Model
	Txns  []Txn
	// OrderByCommitTS makes the version order of each key of a Register
	// history the commit-timestamp order of its committed writers. Without
	// it a Register history yields only write-read edges (and write-write
	// edges from a transaction that read a key and then wrote it).
	// ListAppend histories ignore it: their lists carry the order.
	OrderByCommitTS bool
}

// Read is a point read of key in a ListAppend history; no elements means
// the key was absent.
func Read(key string, list ...int) Op {
	return Op{Kind: OpRead, Key: key, List: list, Found: len(list) > 0}
}

// Append appends v to key's list.
func Append(key string, v int) Op { return Op{Kind: OpAppend, Key: key, Value: v} }

// ReadReg is a point read of key in a Register history that found v.
func ReadReg(key string, v int) Op { return Op{Kind: OpRead, Key: key, Value: v, Found: true} }

// ReadAbsent is a point read that found no key (either model).
func ReadAbsent(key string) Op { return Op{Kind: OpRead, Key: key} }

// Write sets key to v in a Register history.
func Write(key string, v int) Op { return Op{Kind: OpWrite, Key: key, Value: v} }

// Scan is a predicate read of [lo, hi) that returned entries.
func Scan(lo, hi string, entries ...Entry) Op {
	return Op{Kind: OpScan, Lo: lo, Hi: hi, Entries: entries}
}

// PrefixRange returns the half-open range [lo, hi) of the keys that start
// with prefix: hi is prefix with its last byte below 0xff incremented and
// the rest dropped. An empty prefix (or one of only 0xff bytes) has no upper
// bound; hi is then "\xff\xff\xff\xff", above every key this package's
// users generate.
func PrefixRange(prefix string) (lo, hi string) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return prefix, string(b[:i+1])
		}
	}
	return prefix, "\xff\xff\xff\xff"
}

// String formats the op in a compact, Elle-like notation.
func (o Op) String() string {
	switch o.Kind {
	case OpRead:
		switch {
		case !o.Found:
			return fmt.Sprintf("r %s nil", o.Key)
		case o.List != nil:
			return fmt.Sprintf("r %s %v", o.Key, o.List)
		default:
			return fmt.Sprintf("r %s %d", o.Key, o.Value)
		}
	case OpAppend:
		return fmt.Sprintf("append %s %d", o.Key, o.Value)
	case OpWrite:
		return fmt.Sprintf("w %s %d", o.Key, o.Value)
	case OpScan:
		var b strings.Builder
		fmt.Fprintf(&b, "scan [%q,%q) {", o.Lo, o.Hi)
		for i, e := range o.Entries {
			if i > 0 {
				b.WriteString(" ")
			}
			if e.List != nil {
				fmt.Fprintf(&b, "%s=%v", e.Key, e.List)
			} else {
				fmt.Fprintf(&b, "%s=%d", e.Key, e.Value)
			}
		}
		b.WriteString("}")
		return b.String()
	}
	return fmt.Sprintf("Op(%d)", int(o.Kind))
}

// String formats the transaction on one line.
func (t Txn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p%d %s", t.Process, t.Status)
	if t.StartTS != 0 || t.CommitTS != 0 {
		fmt.Fprintf(&b, " start=%d commit=%d", t.StartTS, t.CommitTS)
	}
	b.WriteString(" [")
	for i, o := range t.Ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.String())
	}
	b.WriteString("]")
	return b.String()
}
