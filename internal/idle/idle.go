// Package idle decides how a goroutine that serves an inbox channel (a
// FluxMap shard, or the benchmark floor that mimics one) waits when the
// inbox is empty: park on the channel at once, or first yield the
// processor a few times and look again.
//
// Parking is right for one-hop work: the next sender readies the parked
// goroutine into its own P's runnext slot, and that ping-pong is the
// fastest exchange there is. A transaction that spans shards is different:
// its caller sends to several shards and waits for all of them, so the
// shard readied second pushes the first out of runnext into the run queue,
// and with the other P asleep (waking it is a futex away, slower still in
// a VM) the exchange runs on one core.
//
// So after serving part of a cross-shard exchange, a server yields
// (runtime.Gosched) and looks at its inbox again before it parks: it stays
// runnable without holding a P from anyone, the clients on its P run and
// queue their next messages, and the processors stay awake.
//
// The policy is narrow: a yield after work that is not part of an
// exchange, or under contention, costs more than it saves (it delays
// one-hop work, and running more transactions' rounds at once mostly makes
// more of them conflict, so a moving average of validation outcomes turns
// it off). Yields are bounded (MaxYields, and MaxYieldTime: a late yield
// means the P had other goroutines to run, and parking lets the next sender
// ready the server directly) and adaptive (a round that finds nothing
// halves the budget), so an idle server costs next to nothing.
// benchmarks/RESULTS.md has the measurements behind these choices.
//
// This package is internal to FluxMap's design and carries no compatibility
// promise.
package idle

import (
	"runtime"
	"sync/atomic"
	"time"
)

// off, when set, makes every server park at once (SetYield).
var off atomic.Bool

// SetYield turns the yield-before-park policy on (the default) or off for
// every server in the process. It exists for A/B measurements, such as the
// benchmark harness's --shard-yield flag: the policy was tuned on 2 cores,
// and runtime.Gosched takes the scheduler's global lock, so whether it
// pays on many cores has to be measured there.
func SetYield(on bool) { off.Store(!on) }

const (
	// MaxYields bounds how many times one wait yields before it parks.
	MaxYields = 16
	// MaxYieldTime bounds the time one wait spends yielding.
	MaxYieldTime = 50 * time.Microsecond
	// MaxContention is the share of no votes above which a server parks at
	// once even mid-exchange: under contention, running more transactions'
	// rounds in parallel mostly makes more of them conflict.
	MaxContention = 0.002
)

// Policy is one server's waiting state. The zero value is not ready: use
// New. A Policy belongs to its server goroutine alone.
type Policy struct {
	yields     int
	contention float64 // moving average of no votes, see NoteVote
	exchange   bool    // the last batch served part of a cross-shard exchange
}

// New returns a policy that parks until told otherwise.
func New() Policy { return Policy{yields: MaxYields} }

// NoteVote folds one validation's outcome into the contention average.
// With a weight of 1/256 one no vote lifts it above MaxContention for ~170
// votes, so a server that sees even a few percent of conflicts stays
// above it.
func (p *Policy) NoteVote(no bool) {
	p.contention -= p.contention / 256
	if no {
		p.contention += 1.0 / 256
	}
}

// Served records whether the batch just served held part of a cross-shard
// exchange (a read sent beside reads to other shards, or a phase of a
// two-phase commit) that the next wait should stay runnable for.
func (p *Policy) Served(crossShard bool) {
	p.exchange = crossShard && p.contention < MaxContention && !off.Load()
}

// Receive returns the next message from inbox, waiting as the policy says.
func Receive[T any](p *Policy, inbox <-chan T) T {
	if !p.exchange {
		return <-inbox
	}
	var start time.Time
	for i := range p.yields {
		select {
		case r := <-inbox:
			p.yields = MaxYields
			return r
		default:
		}
		if i == 0 {
			start = time.Now()
		} else if time.Since(start) > MaxYieldTime {
			break
		}
		runtime.Gosched()
	}
	p.yields = max(1, p.yields/2)
	return <-inbox
}
