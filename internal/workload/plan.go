package workload

import (
	"fmt"
	"math/rand/v2"
)

// StepKind is one operation a transaction plan asks for.
type StepKind uint8

const (
	// StepRead is a point read of Key.
	StepRead StepKind = iota + 1
	// StepWrite writes a fresh unique value to Key: an append (a read of
	// the list and a write of the list plus the value) in list-append, a
	// blind write in rw-register.
	StepWrite
	// StepRange is a range scan of [Lo, Hi).
	StepRange
	// StepPrefix is a prefix scan of the keys starting with Lo.
	StepPrefix
)

// Step is one planned operation.
type Step struct {
	Kind   StepKind
	Key    string
	Lo, Hi string
}

// String formats the step for error messages.
func (s Step) String() string {
	switch s.Kind {
	case StepRead:
		return "read " + s.Key
	case StepWrite:
		return "write " + s.Key
	case StepRange:
		return fmt.Sprintf("range [%s, %s)", s.Lo, s.Hi)
	case StepPrefix:
		return fmt.Sprintf("prefix %q", s.Lo)
	}
	return fmt.Sprintf("step kind %d", s.Kind)
}

// Plan is one transaction to run: its steps, then a commit, or a rollback
// when Rollback is set.
type Plan struct {
	Steps    []Step
	Rollback bool
}

// Workload generates transaction plans over a closed set of keys. Next
// must be safe to call from several goroutines with their own *rand.Rand.
type Workload struct {
	Name string
	Keys []string
	Next func(r *rand.Rand) Plan
}

// KeyName is the name of the i-th key of a workload: fixed width, so that
// key order is index order and "k0" is the prefix of keys 0 to 9.
func KeyName(i int) string { return fmt.Sprintf("k%02d", i) }

// KeysLo and KeysHi bound every key a workload uses: a scan of [KeysLo,
// KeysHi) reads them all.
const (
	KeysLo = "k"
	KeysHi = "l"
)

func keyNames(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = KeyName(i)
	}
	return ks
}

// Mixed is the general workload: transactions of minOps to maxOps steps
// over keys keys, mixing point reads, writes, range scans and prefix
// scans. Keys are picked with a quadratic skew towards the low indexes, so
// a few keys are hot and the high ones are created late in a history, when
// scans over them can miss them (phantoms). About one transaction in seven
// is read-only and one in thirty rolls back on its own.
func Mixed(keys, minOps, maxOps int) Workload {
	names := keyNames(keys)
	pick := func(r *rand.Rand) int {
		u := r.Float64()
		return int(float64(keys) * u * u)
	}
	return Workload{
		Name: fmt.Sprintf("mixed-%dkeys-%d-%dops", keys, minOps, maxOps),
		Keys: names,
		Next: func(r *rand.Rand) Plan {
			readOnly := r.IntN(7) == 0
			p := Plan{Rollback: r.IntN(30) == 0}
			n := minOps + r.IntN(maxOps-minOps+1)
			for range n {
				x := r.IntN(100)
				switch {
				case x < 35 || (readOnly && x < 70):
					p.Steps = append(p.Steps, Step{Kind: StepRead, Key: names[pick(r)]})
				case x < 75 && !readOnly:
					p.Steps = append(p.Steps, Step{Kind: StepWrite, Key: names[pick(r)]})
				case x < 88:
					lo := r.IntN(keys)
					hi := min(keys, lo+1+r.IntN(6))
					p.Steps = append(p.Steps, Step{Kind: StepRange, Lo: names[lo], Hi: KeyName(hi)})
				default:
					var prefix string
					switch y := r.IntN(10); {
					case y < 4:
						prefix = names[pick(r)][:2] // "k0", "k1", ...: ten keys
					case y < 9:
						prefix = names[pick(r)] // exactly one key
					default:
						prefix = KeysLo // every key
					}
					p.Steps = append(p.Steps, Step{Kind: StepPrefix, Lo: prefix})
				}
			}
			return p
		},
	}
}

// WriteSkew is built for write skew: each transaction reads two distinct
// keys of a small hot set and writes one of them. Serializable isolation
// must refuse one of two such transactions that overlap in time; snapshot
// isolation lets both commit, a G2-item cycle.
func WriteSkew(keys int) Workload {
	names := keyNames(keys)
	return Workload{
		Name: fmt.Sprintf("write-skew-%dkeys", keys),
		Keys: names,
		Next: func(r *rand.Rand) Plan {
			a := r.IntN(keys)
			b := (a + 1 + r.IntN(keys-1)) % keys
			w := a
			if r.IntN(2) == 0 {
				w = b
			}
			return Plan{Steps: []Step{
				{Kind: StepRead, Key: names[a]},
				{Kind: StepRead, Key: names[b]},
				{Kind: StepWrite, Key: names[w]},
			}}
		},
	}
}

// MultiShardWrites alternates writers of several distinct keys (so with
// several shards they commit by two-phase commit, and conflicting ones
// abort after some shards prepared) with read-only transactions that read
// several keys. It is the workload for the dirty-read fault: readers see
// prepared writes that then abort.
func MultiShardWrites(keys int) Workload {
	names := keyNames(keys)
	return Workload{
		Name: fmt.Sprintf("multi-shard-writes-%dkeys", keys),
		Keys: names,
		Next: func(r *rand.Rand) Plan {
			kind, n := StepRead, 4
			if r.IntN(2) == 0 {
				kind, n = StepWrite, 3
			}
			var p Plan
			for _, i := range r.Perm(keys)[:n] {
				p.Steps = append(p.Steps, Step{Kind: kind, Key: names[i]})
			}
			return p
		},
	}
}

// PhantomSkew is built for predicate write skew: each transaction
// prefix-scans one group of ten keys ("k0", "k1", ...) and writes one key
// of that group, usually one that does not exist yet. Serializable
// isolation must refuse one of two overlapping such transactions; snapshot
// isolation lets both commit, each having missed the key the other
// created: a G2 cycle of predicate anti-dependencies.
func PhantomSkew(groups int) Workload {
	names := keyNames(10 * groups)
	return Workload{
		Name: fmt.Sprintf("phantom-skew-%dgroups", groups),
		Keys: names,
		Next: func(r *rand.Rand) Plan {
			g := r.IntN(groups)
			return Plan{Steps: []Step{
				{Kind: StepPrefix, Lo: KeyName(10 * g)[:2]},
				{Kind: StepWrite, Key: names[10*g+r.IntN(10)]},
			}}
		},
	}
}
