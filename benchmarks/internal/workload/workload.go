// Package workload defines the harness's workloads (YCSB A-F, bank,
// hot-spot, scan, update) and generates each client's operations.
//
// A Spec is an immutable description; a Gen is one client's operation
// stream and belongs to that client's goroutine. The Keyspace is shared:
// its insert counter is the only state clients change together.
package workload

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/zipf"
)

// Kind is an operation's kind.
type Kind uint8

const (
	Read     Kind = iota // point read of an existing key
	Update               // blind write of an existing key
	Insert               // write of a new key
	Scan                 // ordered scan from a key
	RMW                  // read a key and write it back, atomically
	Transfer             // bank transfer: 2 reads + 2 writes, one transaction
)

// Dist is a request distribution: how keys are drawn.
type Dist string

const (
	Uniform Dist = "uniform"
	Zipfian Dist = "zipfian" // scrambled, theta 0.99, as YCSB
	Latest  Dist = "latest"  // zipfian over the newest keys (YCSB D)
	Hotspot Dist = "hotspot" // a few hot keys take most draws
)

// ParseDist parses a distribution a user may choose: uniform or zipfian.
func ParseDist(s string) (Dist, error) {
	switch d := Dist(s); d {
	case Uniform, Zipfian:
		return d, nil
	}
	return "", fmt.Errorf("unknown distribution %q (want uniform or zipfian)", s)
}

// Mix is the fraction of each operation kind; fractions sum to 1.
type Mix struct{ Read, Update, Insert, Scan, RMW, Transfer float64 }

// Spec describes a workload.
type Spec struct {
	Name string
	Desc string
	Mix  Mix
	// Fixed, when set, is the distribution the workload always uses;
	// otherwise it takes the run's --dist.
	Fixed Dist
	// ScanLen is the scan length; ScanUniform makes it uniform in
	// [1, ScanLen] (YCSB E) instead of exact.
	ScanLen     int
	ScanUniform bool
	// Accounts makes the keys bank accounts with int64 balances.
	Accounts bool
}

// StartBalance is every account's balance when a bank workload starts.
const StartBalance = 1000

var specs = map[string]Spec{
	"ycsb-a": {Name: "ycsb-a", Desc: "50% read, 50% update", Mix: Mix{Read: .5, Update: .5}},
	"ycsb-b": {Name: "ycsb-b", Desc: "95% read, 5% update", Mix: Mix{Read: .95, Update: .05}},
	"ycsb-c": {Name: "ycsb-c", Desc: "100% read (point get)", Mix: Mix{Read: 1}},
	"ycsb-d": {Name: "ycsb-d", Desc: "95% read of recent keys, 5% insert", Mix: Mix{Read: .95, Insert: .05}, Fixed: Latest},
	"ycsb-e": {Name: "ycsb-e", Desc: "95% scan of 1-100 keys, 5% insert", Mix: Mix{Scan: .95, Insert: .05}, ScanLen: 100, ScanUniform: true},
	"ycsb-f": {Name: "ycsb-f", Desc: "50% read, 50% read-modify-write", Mix: Mix{Read: .5, RMW: .5}},
	"bank":   {Name: "bank", Desc: "transfer between 2 uniform random accounts: 2 reads + 2 writes in one transaction", Mix: Mix{Transfer: 1}, Fixed: Uniform, Accounts: true},
	"hotspot": {Name: "hotspot", Desc: "bank transfers where 90% of account picks hit the --hot hottest accounts",
		Mix: Mix{Transfer: 1}, Fixed: Hotspot, Accounts: true},
	"scan":   {Name: "scan", Desc: "ordered scan of 100 consecutive keys from a uniform random start", Mix: Mix{Scan: 1}, Fixed: Uniform, ScanLen: 100},
	"update": {Name: "update", Desc: "100% blind single-key writes (commit throughput; use with --durability)", Mix: Mix{Update: 1}},
}

// Lookup returns the named workload.
func Lookup(name string) (Spec, error) {
	s, ok := specs[name]
	if !ok {
		return Spec{}, fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// Names returns every workload's name, sorted.
func Names() []string {
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Needs returns the store capabilities the workload uses.
func (s Spec) Needs() stores.Caps {
	var c stores.Caps
	if s.Mix.Read > 0 {
		c |= stores.CapGet
	}
	if s.Mix.Scan > 0 {
		c |= stores.CapScan
	}
	if s.Mix.RMW > 0 {
		c |= stores.CapRMW
	}
	if s.Mix.Transfer > 0 {
		c |= stores.CapTxn
	}
	return c
}

// DistFor returns the distribution the workload uses when the run asks for d.
func (s Spec) DistFor(d Dist) Dist {
	if s.Fixed != "" {
		return s.Fixed
	}
	return d
}

// KeyName returns the key of item i: "user" and 12 zero-padded digits, 16
// bytes, so that key order is item order.
func KeyName(i uint64) string {
	var b [16]byte
	var digits [20]byte
	copy(b[:], "user000000000000")
	d := strconv.AppendUint(digits[:0], i, 10)
	if len(d) > 12 {
		return "user" + string(d)
	}
	copy(b[16-len(d):], d)
	return string(b[:])
}

// Keyspace is the set of keys a run uses: Loaded keys loaded before the run
// (their names made once, so that drawing one allocates nothing) and the
// keys inserted during it. It is shared by all clients.
type Keyspace struct {
	loaded []string
	next   atomic.Uint64 // id of the next key to insert
}

// NewKeyspace returns a keyspace of n loaded keys.
func NewKeyspace(n int) *Keyspace {
	k := &Keyspace{loaded: make([]string, n)}
	for i := range k.loaded {
		k.loaded[i] = KeyName(uint64(i))
	}
	k.next.Store(uint64(n))
	return k
}

// Loaded returns the number of loaded keys.
func (k *Keyspace) Loaded() int { return len(k.loaded) }

// Key returns item i's key.
func (k *Keyspace) Key(i uint64) string {
	if i < uint64(len(k.loaded)) {
		return k.loaded[i]
	}
	return KeyName(i)
}

// LoadedKey is Key for the loader's callbacks.
func (k *Keyspace) LoadedKey(i int) string { return k.loaded[i] }

// Op is one operation to run. Key2 is the second account of a Transfer and
// the exclusive end of a Scan.
type Op struct {
	Kind    Kind
	Key     string
	Key2    string
	ScanLen int
}

// Params are what every client's Gen shares.
type Params struct {
	Spec Spec
	Dist Dist // the run's --dist; Spec.DistFor picks the one used
	Keys *Keyspace
	// Hot is the hot set's size for the hot-spot distribution.
	Hot int
}

// HotProb is the fraction of hot-spot draws that go to the hot set.
const HotProb = 0.9

// Gen generates one client's operations. It belongs to one goroutine.
type Gen struct {
	p      Params
	dist   Dist
	cum    [6]float64 // cumulative Mix, in Kind order
	r      *rand.Rand
	zipf   *zipf.Scrambled
	latest *zipf.Latest
}

// Shared holds the generators' precomputed zipfian constants, built once
// per run (an O(keys) sum) and read by every client.
type Shared struct {
	zipf   *zipf.Scrambled
	latest *zipf.Latest
}

// NewShared precomputes what p's distribution needs.
func NewShared(p Params) (*Shared, error) {
	n := uint64(p.Keys.Loaded())
	var sh Shared
	var err error
	switch p.Spec.DistFor(p.Dist) {
	case Zipfian:
		sh.zipf, err = zipf.NewScrambled(n, zipf.YCSBTheta)
	case Latest:
		sh.latest, err = zipf.NewLatest(n, zipf.YCSBTheta)
	case Hotspot:
		if p.Hot < 2 || p.Hot >= int(n) {
			err = fmt.Errorf("hot set of %d keys: want 2 <= hot < keys (%d)", p.Hot, n)
		}
	case Uniform:
	default:
		err = fmt.Errorf("unknown distribution %q", p.Dist)
	}
	if p.Spec.ScanLen > 0 && int(n) <= p.Spec.ScanLen {
		err = fmt.Errorf("%s scans %d keys: load more than that (have %d)", p.Spec.Name, p.Spec.ScanLen, n)
	}
	if p.Spec.Accounts && n < 2 {
		err = fmt.Errorf("%s needs at least 2 accounts", p.Spec.Name)
	}
	return &sh, err
}

// NewGen returns a client's generator, seeded with seed.
func NewGen(p Params, sh *Shared, seed uint64) *Gen {
	g := &Gen{p: p, dist: p.Spec.DistFor(p.Dist), r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		zipf: sh.zipf, latest: sh.latest}
	m := p.Spec.Mix
	sum := 0.0
	for i, f := range []float64{m.Read, m.Update, m.Insert, m.Scan, m.RMW, m.Transfer} {
		sum += f
		g.cum[i] = sum
	}
	return g
}

// item draws an item of the loaded (or, for Latest, inserted) keys.
func (g *Gen) item() uint64 {
	n := uint64(g.p.Keys.Loaded())
	switch g.dist {
	case Zipfian:
		return g.zipf.Next(g.r)
	case Latest:
		return g.latest.Next(g.r, g.p.Keys.next.Load()-1)
	case Hotspot:
		if g.r.Float64() < HotProb {
			return g.r.Uint64N(uint64(g.p.Hot))
		}
	}
	return g.r.Uint64N(n)
}

// Next returns the client's next operation.
func (g *Gen) Next() Op {
	u := g.r.Float64() * g.cum[len(g.cum)-1]
	kind := Kind(0)
	for int(kind) < len(g.cum)-1 && u >= g.cum[kind] {
		kind++
	}
	op := Op{Kind: kind}
	ks := g.p.Keys
	switch kind {
	case Insert:
		op.Key = KeyName(ks.next.Add(1) - 1)
	case Scan:
		n, start := g.p.Spec.ScanLen, uint64(0)
		if g.p.Spec.ScanUniform {
			n = 1 + g.r.IntN(n)
		}
		if g.dist == Uniform {
			start = g.r.Uint64N(uint64(ks.Loaded() - n))
		} else {
			start = g.item()
		}
		op.Key, op.Key2, op.ScanLen = ks.Key(start), ks.Key(start+uint64(n)), n
	case Transfer:
		i := g.item()
		j := g.item()
		for j == i {
			j = g.item()
		}
		op.Key, op.Key2 = ks.Key(i), ks.Key(j)
	default:
		op.Key = ks.Key(g.item())
	}
	return op
}
