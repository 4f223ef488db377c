package histcheck

import (
	"fmt"
	"slices"
	"strconv"
)

// Check analyses h and returns every anomaly it finds. It never fails: a
// malformed history (a value written twice, a read of a value nobody
// wrote) shows up as anomalies.
func Check(h History) Result {
	c := &checker{
		h:          h,
		writer:     make(map[keyValue]opRef),
		finalWrite: make(map[txnKey]int),
		writers:    make(map[string][]int),
		seen:       make(map[string]bool),
	}
	for _, t := range h.Txns {
		switch t.Status {
		case Committed:
			c.res.Committed++
		case Aborted:
			c.res.Aborted++
		default:
			c.res.Unknown++
		}
	}
	c.indexWrites()
	c.collectObservations()
	c.markLive()
	c.checkInternal()
	c.checkReads()
	c.checkLostUpdates()
	g := c.buildGraph()
	c.res.Edges = len(g.edges)
	c.findCycles(g)
	return c.res
}

type keyValue struct {
	key string
	v   int
}

type txnKey struct {
	txn int
	key string
}

type opRef struct{ txn, op int }

// observation is one key's state as one read saw it: a point read, one
// entry of a scan, or a key a scan's range held that the scan did not
// return.
type observation struct {
	txn, op int
	key     string
	found   bool
	list    []int // ListAppend
	value   int   // Register
	// pred: the key was absent from a scan whose range holds it.
	pred bool
	// external: the transaction had not written key before this read, so
	// the read shows committed state rather than the transaction's own.
	external bool
}

// checker holds the indexes one Check call builds. Everything is keyed by
// transaction index, key and value; iteration that reaches the result is
// in a deterministic order.
type checker struct {
	h   History
	res Result

	writer     map[keyValue]opRef // who wrote each (key, value)
	finalWrite map[txnKey]int     // a transaction's last value written to a key
	writers    map[string][]int   // key -> transactions that wrote it, in index order
	keys       []string           // every key written, sorted: the closed key set
	obs        []observation
	live       []bool // committed, or unknown but observed by a committed read
	seen       map[string]bool
}

func (c *checker) report(a Anomaly) {
	sig := fmt.Sprint(a.Kind, a.Txns, a.Key, a.Detail)
	if c.seen[sig] {
		return
	}
	c.seen[sig] = true
	c.res.Anomalies = append(c.res.Anomalies, a)
}

func (c *checker) indexWrites() {
	keySet := make(map[string]bool)
	for i, t := range c.h.Txns {
		for j, o := range t.Ops {
			if o.Kind != OpAppend && o.Kind != OpWrite {
				continue
			}
			kv := keyValue{o.Key, o.Value}
			if prev, dup := c.writer[kv]; dup {
				c.report(Anomaly{Kind: GarbageRead, Txns: []int{prev.txn, i}, Key: o.Key,
					Detail: fmt.Sprintf("value %d written to %s twice: the history is not usable", o.Value, o.Key)})
			}
			c.writer[kv] = opRef{i, j}
			c.finalWrite[txnKey{i, o.Key}] = o.Value
			if ws := c.writers[o.Key]; len(ws) == 0 || ws[len(ws)-1] != i {
				c.writers[o.Key] = append(ws, i)
			}
			keySet[o.Key] = true
		}
	}
	for k := range keySet {
		c.keys = append(c.keys, k)
	}
	slices.Sort(c.keys)
}

func (c *checker) collectObservations() {
	for i, t := range c.h.Txns {
		written := make(map[string]bool)
		for j, o := range t.Ops {
			switch o.Kind {
			case OpAppend, OpWrite:
				written[o.Key] = true
			case OpRead:
				c.obs = append(c.obs, observation{txn: i, op: j, key: o.Key, found: o.Found,
					list: o.List, value: o.Value, external: !written[o.Key]})
			case OpScan:
				got := make(map[string]bool, len(o.Entries))
				for _, e := range o.Entries {
					if e.Key < o.Lo || e.Key >= o.Hi {
						c.report(Anomaly{Kind: GarbageRead, Txns: []int{i}, Key: e.Key,
							Detail: fmt.Sprintf("T%d: scan [%q,%q) returned %s, outside its range", i, o.Lo, o.Hi, e.Key)})
					}
					got[e.Key] = true
					c.obs = append(c.obs, observation{txn: i, op: j, key: e.Key, found: true,
						list: e.List, value: e.Value, external: !written[e.Key]})
				}
				for _, k := range c.keysIn(o.Lo, o.Hi) {
					if !got[k] {
						c.obs = append(c.obs, observation{txn: i, op: j, key: k, pred: true, external: !written[k]})
					}
				}
			}
		}
	}
}

// keysIn returns the keys of the closed key set inside [lo, hi).
func (c *checker) keysIn(lo, hi string) []string {
	i, _ := slices.BinarySearch(c.keys, lo)
	j := i
	for j < len(c.keys) && c.keys[j] < hi {
		j++
	}
	return c.keys[i:j]
}

// writesSeen returns the (key, value) pairs o saw: every element of a list,
// or the one register value.
func (c *checker) writesSeen(o *observation) []keyValue {
	if !o.found {
		return nil
	}
	if c.h.Model == ListAppend {
		out := make([]keyValue, len(o.list))
		for i, v := range o.list {
			out[i] = keyValue{o.key, v}
		}
		return out
	}
	return []keyValue{{o.key, o.value}}
}

// markLive decides which transactions are nodes of the graph: the
// committed ones, and the unknown ones that some committed read observed.
func (c *checker) markLive() {
	c.live = make([]bool, len(c.h.Txns))
	for i, t := range c.h.Txns {
		c.live[i] = t.Status == Committed
	}
	for k := range c.obs {
		o := &c.obs[k]
		if c.h.Txns[o.txn].Status != Committed {
			continue
		}
		for _, kv := range c.writesSeen(o) {
			if w, ok := c.writer[kv]; ok && c.h.Txns[w.txn].Status == Unknown {
				c.live[w.txn] = true
			}
		}
	}
}

// ownState is what a transaction knows about one key from its own reads
// and writes so far.
type ownState struct {
	known bool  // a read (or a register write) fixed the whole state
	found bool  // when known
	list  []int // known: the whole list; not known: the values appended so far
	value int   // register, when known
}

// checkInternal checks every transaction (whatever its status) against
// itself: a read must show the transaction's earlier writes of the key and
// agree with its earlier reads of it.
func (c *checker) checkInternal() {
	for i, t := range c.h.Txns {
		state := make(map[string]*ownState)
		get := func(k string) *ownState {
			st := state[k]
			if st == nil {
				st = &ownState{}
				state[k] = st
			}
			return st
		}
		for _, o := range t.Ops {
			switch o.Kind {
			case OpAppend:
				st := get(o.Key)
				st.list = append(slices.Clip(st.list), o.Value)
				st.found = true
			case OpWrite:
				*get(o.Key) = ownState{known: true, found: true, value: o.Value}
			case OpRead:
				c.checkOwnRead(i, o.Key, get(o.Key), o.Found, o.List, o.Value, o.String())
			case OpScan:
				got := make(map[string]bool, len(o.Entries))
				for _, e := range o.Entries {
					got[e.Key] = true
					c.checkOwnRead(i, e.Key, get(e.Key), true, e.List, e.Value, o.String())
				}
				for _, k := range sortedKeys(state) {
					if k >= o.Lo && k < o.Hi && !got[k] {
						c.checkOwnRead(i, k, state[k], false, nil, 0, o.String())
					}
				}
			}
		}
	}
}

func (c *checker) checkOwnRead(txn int, key string, st *ownState, found bool, list []int, value int, op string) {
	ok := true
	switch {
	case c.h.Model == Register:
		ok = !st.known || (st.found == found && (!found || st.value == value))
	case st.known:
		ok = slices.Equal(st.list, list)
	case len(st.list) > 0:
		ok = len(list) >= len(st.list) && slices.Equal(list[len(list)-len(st.list):], st.list)
	}
	if !ok {
		var want string
		switch {
		case c.h.Model == Register && !st.found:
			want = "nil"
		case c.h.Model == Register:
			want = strconv.Itoa(st.value)
		case st.known:
			want = fmt.Sprint(st.list)
		default:
			want = fmt.Sprintf("a list ending in %v", st.list)
		}
		c.report(Anomaly{Kind: Internal, Txns: []int{txn}, Key: key,
			Detail: fmt.Sprintf("T%d: %s: %s should be %s after the transaction's own reads and writes", txn, op, key, want)})
	}
	*st = ownState{known: true, found: found, list: slices.Clone(list), value: value}
}

// checkReads reports garbage reads, duplicate elements, aborted reads
// (G1a) and intermediate reads (G1b).
func (c *checker) checkReads() {
	for k := range c.obs {
		o := &c.obs[k]
		if !o.found {
			continue
		}
		committed := c.h.Txns[o.txn].Status == Committed
		if c.h.Model == ListAppend {
			seen := make(map[int]bool, len(o.list))
			for _, v := range o.list {
				if seen[v] {
					c.report(Anomaly{Kind: DuplicateElements, Txns: []int{o.txn}, Key: o.key,
						Detail: fmt.Sprintf("T%d read %s = %v: %d appears twice", o.txn, o.key, o.list, v)})
				}
				seen[v] = true
			}
		}
		kvs := c.writesSeen(o)
		for _, kv := range kvs {
			w, ok := c.writer[kv]
			switch {
			case !ok:
				c.report(Anomaly{Kind: GarbageRead, Txns: []int{o.txn}, Key: o.key,
					Detail: fmt.Sprintf("T%d read %d in %s, which no transaction wrote there", o.txn, kv.v, o.key)})
			case committed && w.txn != o.txn && c.h.Txns[w.txn].Status == Aborted:
				c.report(Anomaly{Kind: G1a, Txns: []int{w.txn, o.txn}, Key: o.key,
					Detail: fmt.Sprintf("committed T%d read %s including %d, written by aborted T%d", o.txn, o.key, kv.v, w.txn)})
			}
		}
		if !committed || len(kvs) == 0 {
			continue
		}
		last := kvs[len(kvs)-1]
		if w, ok := c.writer[last]; ok && w.txn != o.txn {
			if final := c.finalWrite[txnKey{w.txn, o.key}]; final != last.v {
				c.report(Anomaly{Kind: G1b, Txns: []int{w.txn, o.txn}, Key: o.key,
					Detail: fmt.Sprintf("committed T%d read %s ending in %d, which T%d overwrote with %d", o.txn, o.key, last.v, w.txn, final)})
			}
		}
	}
}

// versionID names the version an observation saw, for grouping.
func (c *checker) versionID(o *observation) string {
	switch {
	case !o.found:
		return "nil"
	case c.h.Model == ListAppend:
		return fmt.Sprint(o.list)
	default:
		return strconv.Itoa(o.value)
	}
}

// checkLostUpdates reports committed transactions that read the same
// version of a key (before writing it) and then all wrote the key.
func (c *checker) checkLostUpdates() {
	type group struct {
		key, version string
		txns         []int
	}
	var groups []*group
	byID := make(map[[2]string]*group)
	first := make(map[txnKey]bool)
	for k := range c.obs {
		o := &c.obs[k]
		tk := txnKey{o.txn, o.key}
		if !o.external || !c.live[o.txn] || first[tk] {
			continue
		}
		first[tk] = true
		if _, writes := c.finalWrite[tk]; !writes {
			continue
		}
		id := [2]string{o.key, c.versionID(o)}
		g := byID[id]
		if g == nil {
			g = &group{key: o.key, version: id[1]}
			byID[id] = g
			groups = append(groups, g)
		}
		g.txns = append(g.txns, o.txn)
	}
	for _, g := range groups {
		if len(g.txns) > 1 {
			c.report(Anomaly{Kind: LostUpdate, Txns: g.txns, Key: g.key,
				Detail: fmt.Sprintf("T%v all read %s = %s and then wrote it", g.txns, g.key, g.version)})
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
