package histcheck

import (
	"cmp"
	"fmt"
	"slices"
)

// graph is the dependency graph over the live transactions. An edge From ->
// To means From must precede To in every serial order equivalent to the
// history; one pair may carry several kinds of dependency at once.
type graph struct {
	out   [][]int
	edges map[[2]int]*edgeInfo
}

type edgeInfo struct {
	mask depMask
	keys [numDeps]string // the first key that gave each kind
}

func newGraph(n int) *graph {
	return &graph{out: make([][]int, n), edges: make(map[[2]int]*edgeInfo)}
}

func (g *graph) add(from, to int, d Dep, key string) {
	e := g.edges[[2]int{from, to}]
	if e == nil {
		e = &edgeInfo{}
		g.edges[[2]int{from, to}] = e
		g.out[from] = append(g.out[from], to)
	}
	if e.mask&d.mask() == 0 {
		e.mask |= d.mask()
		e.keys[d] = key
	}
}

// edge adds a dependency between two live transactions; self-dependencies
// carry no information and are dropped.
func (c *checker) edge(g *graph, from, to int, d Dep, key string) {
	if from != to && from >= 0 && to >= 0 && c.live[from] && c.live[to] {
		g.add(from, to, d, key)
	}
}

// buildGraph derives every key's version order and adds the edges it
// implies. The rules are in doc.go.
func (c *checker) buildGraph() *graph {
	g := newGraph(len(c.h.Txns))
	byKey := make(map[string][]int) // key -> indexes into c.obs by live readers
	for k := range c.obs {
		if c.live[c.obs[k].txn] {
			byKey[c.obs[k].key] = append(byKey[c.obs[k].key], k)
		}
	}
	for _, key := range c.keys {
		switch {
		case c.h.Model == ListAppend:
			c.listEdges(g, key, byKey[key])
		case c.h.OrderByCommitTS:
			c.registerOrderEdges(g, key, byKey[key])
		default:
			c.registerReadEdges(g, key, byKey[key])
		}
	}
	return g
}

// listEdges orders key's versions by the longest list a live transaction
// read. Every list read must be a prefix of it; the live writers of key
// whose values it does not hold come after all of it, in an unknown order.
func (c *checker) listEdges(g *graph, key string, obs []int) {
	var longest []int
	for _, k := range obs {
		if l := c.obs[k].list; len(l) > len(longest) {
			longest = l
		}
	}
	for _, k := range obs {
		o := &c.obs[k]
		if len(o.list) <= len(longest) && slices.Equal(o.list, longest[:len(o.list)]) {
			continue
		}
		c.report(Anomaly{Kind: IncompatibleOrder, Txns: []int{o.txn}, Key: key,
			Detail: fmt.Sprintf("T%d read %s = %v, not a prefix of %v", o.txn, key, o.list, longest)})
		return
	}
	seq := make([]int, len(longest))
	inSeq := make(map[int]bool)
	for i, v := range longest {
		seq[i] = -1
		if w, ok := c.writer[keyValue{key, v}]; ok {
			seq[i] = w.txn
			inSeq[w.txn] = true
		}
	}
	var tail []int
	for _, w := range c.writers[key] {
		if c.live[w] && !inSeq[w] {
			tail = append(tail, w)
		}
	}
	c.orderEdges(g, key, seq, tail, obs, func(o *observation) (int, bool) { return len(o.list), true })
}

// registerOrderEdges orders key's versions by the commit timestamps of
// its committed writers.
func (c *checker) registerOrderEdges(g *graph, key string, obs []int) {
	var seq []int
	for _, w := range c.writers[key] {
		if c.live[w] && c.h.Txns[w].CommitTS != 0 {
			seq = append(seq, w)
		}
	}
	slices.SortStableFunc(seq, func(a, b int) int { return cmp.Compare(c.h.Txns[a].CommitTS, c.h.Txns[b].CommitTS) })
	pos := make(map[int]int, len(seq))
	for i, w := range seq {
		pos[w] = i
	}
	c.orderEdges(g, key, seq, nil, obs, func(o *observation) (int, bool) {
		if !o.found {
			return 0, true
		}
		w, ok := c.writer[keyValue{key, o.value}]
		if !ok || c.finalWrite[txnKey{w.txn, key}] != o.value {
			return 0, false // garbage or intermediate: reported already
		}
		p, ok := pos[w.txn]
		return p + 1, ok
	})
}

// orderEdges adds the edges implied by a version order: seq[i] installed
// version i+1 of key (version 0 is "absent"), tail installed versions after
// all of seq in an unknown order, and position says which version an
// observation saw.
func (c *checker) orderEdges(g *graph, key string, seq, tail []int, obs []int, position func(*observation) (int, bool)) {
	prev := -1
	for _, w := range seq {
		if w < 0 || !c.live[w] {
			continue
		}
		if prev >= 0 {
			c.edge(g, prev, w, WW, key)
		}
		prev = w
	}
	for _, w := range tail {
		c.edge(g, prev, w, WW, key)
	}
	for _, k := range obs {
		o := &c.obs[k]
		if !o.external {
			continue // it saw the reader's own writes, not a committed version
		}
		n, ok := position(o)
		if !ok {
			continue
		}
		r := o.txn
		if n > 0 {
			c.edge(g, seq[n-1], r, WR, key)
		}
		dep := RW
		if o.pred {
			dep = RWPredicate
		}
		next := false
		for _, w := range seq[n:] {
			if w == r || (w >= 0 && c.live[w]) {
				c.edge(g, r, w, dep, key)
				next = true
				break
			}
		}
		if !next {
			for _, w := range tail {
				c.edge(g, r, w, dep, key)
			}
		}
	}
}

// registerReadEdges is all a Register history without a version order
// supports: a read depends on the write it saw, and a transaction that read
// a key and then wrote it installed a version after the one it read.
func (c *checker) registerReadEdges(g *graph, key string, obs []int) {
	for _, k := range obs {
		o := &c.obs[k]
		if !o.external || !o.found {
			continue
		}
		w, ok := c.writer[keyValue{key, o.value}]
		if !ok {
			continue
		}
		c.edge(g, w.txn, o.txn, WR, key)
		if _, writes := c.finalWrite[txnKey{o.txn, key}]; writes {
			c.edge(g, w.txn, o.txn, WW, key)
		}
	}
}

// sccs returns the strongly connected components with more than one node
// (Tarjan's algorithm).
func (g *graph) sccs() [][]int {
	n := len(g.out)
	index := make([]int, n) // 0: not visited yet; else visit order + 1
	low := make([]int, n)
	onStack := make([]bool, n)
	var stack []int
	var out [][]int
	counter := 0
	var visit func(v int)
	visit = func(v int) {
		counter++
		index[v], low[v] = counter, counter
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g.out[v] {
			if index[w] == 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var comp []int
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		if len(comp) > 1 {
			slices.Sort(comp)
			out = append(out, comp)
		}
	}
	for v := range n {
		if index[v] == 0 && len(g.out[v]) > 0 {
			visit(v)
		}
	}
	return out
}

// findCycles reports, for each strongly connected component, the shortest
// cycle of each of G0 and G1c it holds, and the shortest of the first of
// G-single, G2-item and G2 it holds.
func (c *checker) findCycles(g *graph) {
	comps := g.sccs()
	c.res.Components = len(comps)
	in := make([]int, len(g.out)) // component number + 1
	s := newSearch(len(g.out))
	for ci, comp := range comps {
		for _, v := range comp {
			in[v] = ci + 1
		}
		member := func(v int) bool { return in[v] == ci+1 }
		if cyc := s.shortestCycle(g, comp, member, maskWW, maskWW); cyc != nil {
			c.reportCycle(G0, cyc)
		}
		if cyc := s.shortestCycle(g, comp, member, maskWR, maskWW|maskWR); cyc != nil {
			c.reportCycle(G1c, cyc)
		}
		if cyc := s.shortestCycle(g, comp, member, maskRW, maskWW|maskWR); cyc != nil {
			c.reportCycle(GSingle, cyc)
		} else if cyc := s.shortestCycle(g, comp, member, maskRW, maskWW|maskWR|maskRW); cyc != nil {
			c.reportCycle(G2Item, cyc)
		} else if cyc := s.shortestCycle(g, comp, member, maskRWPred, maskAll); cyc != nil {
			c.reportCycle(G2, cyc)
		}
	}
}

func (c *checker) reportCycle(k Kind, cyc []Edge) {
	txns := make([]int, len(cyc))
	for i, e := range cyc {
		txns[i] = e.From
	}
	c.report(Anomaly{Kind: k, Txns: txns, Cycle: cyc})
}

// search holds breadth-first-search buffers reused across components.
type search struct {
	dist   []int
	parent []int
	queue  []int
}

func newSearch(n int) *search {
	s := &search{dist: make([]int, n), parent: make([]int, n)}
	for i := range s.dist {
		s.dist[i] = -1
	}
	return s
}

// pick returns the preferred kind among mask: the weakest dependency, so
// that a cycle is labelled with as few anti-dependencies as it needs.
func pick(mask depMask) Dep {
	for d := WW; d < numDeps; d++ {
		if mask&d.mask() != 0 {
			return d
		}
	}
	return numDeps
}

// shortestCycle returns the shortest cycle inside one component that
// starts with an edge of a kind in first and continues along edges of
// kinds in rest, or nil if there is none.
func (s *search) shortestCycle(g *graph, comp []int, member func(int) bool, first, rest depMask) []Edge {
	// Group the candidate first edges by their target: one search from
	// each target serves all of them.
	var targets []int
	sources := make(map[int][]int)
	for _, u := range comp {
		for _, v := range g.out[u] {
			if member(v) && g.edges[[2]int{u, v}].mask&first != 0 {
				if sources[v] == nil {
					targets = append(targets, v)
				}
				sources[v] = append(sources[v], u)
			}
		}
	}
	slices.Sort(targets)
	var best []Edge
	for _, v := range targets {
		s.bfs(g, v, member, rest)
		for _, u := range sources[v] {
			if s.dist[u] < 0 || (best != nil && s.dist[u]+1 >= len(best)) {
				continue
			}
			e := g.edges[[2]int{u, v}]
			d := pick(e.mask & first)
			cyc := []Edge{{From: u, To: v, Dep: d, Key: e.keys[d]}}
			var path []int
			for x := u; x != v; x = s.parent[x] {
				path = append(path, x)
			}
			path = append(path, v)
			slices.Reverse(path)
			for i := 1; i < len(path); i++ {
				pe := g.edges[[2]int{path[i-1], path[i]}]
				pd := pick(pe.mask & rest)
				cyc = append(cyc, Edge{From: path[i-1], To: path[i], Dep: pd, Key: pe.keys[pd]})
			}
			best = cyc
		}
		s.reset()
		if len(best) == 2 {
			break // no cycle is shorter
		}
	}
	return best
}

// bfs fills dist and parent from src along edges of kinds in allowed that
// stay inside the component.
func (s *search) bfs(g *graph, src int, member func(int) bool, allowed depMask) {
	s.queue = append(s.queue[:0], src)
	s.dist[src] = 0
	for i := 0; i < len(s.queue); i++ {
		x := s.queue[i]
		for _, y := range g.out[x] {
			if s.dist[y] >= 0 || !member(y) || g.edges[[2]int{x, y}].mask&allowed == 0 {
				continue
			}
			s.dist[y] = s.dist[x] + 1
			s.parent[y] = x
			s.queue = append(s.queue, y)
		}
	}
}

func (s *search) reset() {
	for _, x := range s.queue {
		s.dist[x] = -1
	}
	s.queue = s.queue[:0]
}
