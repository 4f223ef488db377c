// Package floor is the "floor" store: bare shard goroutines that own plain
// Go maps behind the same request/reply channel shape as FluxMap's engine (a
// request with its own reply channel, hashed to a shard's inbox), with no
// MVCC and no timestamps. Its bank transfers (Transfer) send the engine's
// messages and validate only what keeps money conserved. FluxMap's cost
// over the floor is its own overhead; the floor's cost over a function call
// is the shape's.
//
// It duplicates, and extends with writes, the floor in
// benchmarks/floor_bench_test.go (BenchmarkFloorGet), which is left as it is
// so that its numbers stay comparable with earlier runs; both hash keys the
// same way (xxhash, multiply-shift onto the shard count).
package floor

import (
	"context"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/fluxmap/fluxmap/coordinator"
	"github.com/fluxmap/fluxmap/internal/idle"
)

type op uint8

const (
	opGet op = iota
	opPut
	// opSwap stores val and returns the previous value: a single-key
	// read-modify-write, atomic because one goroutine owns the key.
	opSwap
	opStop

	// Bank accounts: int64 balances in a map of their own, with the
	// message pattern of FluxMap's transactions (see Transfer).
	opBalGet  // bal = balance of key
	opBalPut  // set key to bal (loading)
	opTxOne   // all of the transfer's keys are here: check and apply at once
	opPrepare // check and lock this shard's keys
	opCommit  // apply and unlock
	opAbort   // unlock
)

// Request is one operation in flight. A client reuses one Request for all
// its operations (as the engine pools its requests), so the steady state
// allocates nothing.
type Request struct {
	op    op
	key   string
	val   []byte
	found bool
	done  chan struct{}

	// Bank: up to two account writes, each with the balance it was read at.
	bal    int64
	n      int
	keys   [2]string
	expect [2]int64
	set    [2]int64
	ok     bool // opTxOne, opPrepare: the vote
	fanout bool // opBalGet: sent beside a read on another shard
}

// NewRequest returns a reusable request with its own reply channel.
func NewRequest() *Request { return &Request{done: make(chan struct{}, 1)} }

// Store is the floor store. Its methods are safe for concurrent use, but
// each Request must be used by one goroutine at a time. Every map is owned
// by its shard goroutine alone; values passed to Put are kept as they are,
// so callers must not modify them afterwards.
type Store struct {
	inboxes []chan *Request
	wg      sync.WaitGroup
	once    sync.Once
}

// New starts a floor store with the given number of shard goroutines.
func New(shards int) *Store {
	s := &Store{inboxes: make([]chan *Request, max(1, shards))}
	for i := range s.inboxes {
		inbox := make(chan *Request, 1024)
		s.inboxes[i] = inbox
		s.wg.Go(func() { serve(inbox) })
	}
	return s
}

// shardState is what one shard goroutine owns.
type shardState struct {
	m      map[string][]byte
	bal    map[string]int64
	locked map[string]*Request // account -> the prepared transfer holding it
}

// serve is the shard goroutine: the only code that touches its maps. Like
// the engine's shard it receives from its inbox alone; Close sends opStop.
func serve(inbox <-chan *Request) {
	st := shardState{m: map[string][]byte{}, bal: map[string]int64{}, locked: map[string]*Request{}}
	// The engine shard's idle policy (package internal/idle), so that the
	// floor keeps the engine's shape when idle too.
	wait := idle.New()
	for {
		r := idle.Receive(&wait, inbox)
		switch r.op {
		case opGet:
			r.val, r.found = st.m[r.key]
		case opPut:
			st.m[r.key] = r.val
		case opSwap:
			old, ok := st.m[r.key]
			st.m[r.key] = r.val
			r.val, r.found = old, ok
		case opStop:
			r.done <- struct{}{}
			return
		case opBalGet:
			r.bal, r.found = st.bal[r.key]
		case opBalPut:
			st.bal[r.key] = r.bal
		case opTxOne:
			if r.ok = st.check(r); r.ok {
				st.apply(r)
			}
			wait.NoteVote(!r.ok)
		case opPrepare:
			r.ok = st.check(r)
			wait.NoteVote(!r.ok)
			if r.ok {
				for i := range r.n {
					st.locked[r.keys[i]] = r
				}
			}
		case opCommit:
			st.apply(r)
			st.unlock(r)
		case opAbort:
			st.unlock(r)
		}
		// After this message's vote, as the engine decides after its batch;
		// before the reply, after which r is the caller's again.
		wait.Served((r.op == opBalGet && r.fanout) || r.op >= opPrepare)
		r.done <- struct{}{}
	}
}

// check is the floor's whole validation: no other transfer holds a key and
// every balance is still the one the transfer read.
func (st *shardState) check(r *Request) bool {
	for i := range r.n {
		if h := st.locked[r.keys[i]]; h != nil && h != r {
			return false
		}
		if st.bal[r.keys[i]] != r.expect[i] {
			return false
		}
	}
	return true
}

func (st *shardState) apply(r *Request) {
	for i := range r.n {
		st.bal[r.keys[i]] = r.set[i]
	}
}

func (st *shardState) unlock(r *Request) {
	for i := range r.n {
		if st.locked[r.keys[i]] == r {
			delete(st.locked, r.keys[i])
		}
	}
}

// ShardOf returns the shard that owns key.
func (s *Store) ShardOf(key string) int {
	return int((xxhash.Sum64String(key) >> 32) * uint64(len(s.inboxes)) >> 32)
}

func (s *Store) call(r *Request, o op, key string, val []byte) {
	r.op, r.key, r.val = o, key, val
	s.inboxes[s.ShardOf(key)] <- r
	<-r.done
}

// Get returns key's value and whether it exists.
func (s *Store) Get(r *Request, key string) ([]byte, bool) {
	s.call(r, opGet, key, nil)
	return r.val, r.found
}

// Put sets key to val.
func (s *Store) Put(r *Request, key string, val []byte) { s.call(r, opPut, key, val) }

// Swap sets key to val and returns the value it replaced.
func (s *Store) Swap(r *Request, key string, val []byte) ([]byte, bool) {
	s.call(r, opSwap, key, val)
	return r.val, r.found
}

// Balance returns account key's balance and whether it exists.
func (s *Store) Balance(r *Request, key string) (int64, bool) {
	r.op, r.key = opBalGet, key
	s.inboxes[s.ShardOf(key)] <- r
	<-r.done
	return r.bal, r.found
}

// SetBalance sets account key's balance.
func (s *Store) SetBalance(r *Request, key string, bal int64) {
	r.op, r.key, r.bal = opBalPut, key, bal
	s.inboxes[s.ShardOf(key)] <- r
	<-r.done
}

// Transfer moves amount from one account to another with the message
// pattern of a FluxMap bank transaction as the harness runs it: both reads
// in one round (Tx.GetMany), then one message when both accounts live on
// one shard (the engine's fast path) or else a prepare round and a commit
// round to both shards (its two-phase commit). Validation is the least that keeps it correct (locks and
// "balance unchanged since read"); there are no versions, snapshots or
// timestamps. It retries until it commits, after the engine's own backoff
// (coordinator.Backoff: without one, two transfers that lock each other's
// accounts can repeat the same interleaving forever), and returns the
// attempts it took. rs must be three distinct requests.
func (s *Store) Transfer(rs *[3]*Request, from, to string, amount int64) int {
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			_ = coordinator.Backoff(context.Background(), attempt-2) // no deadline: never fails
		}
		fs, ts := s.ShardOf(from), s.ShardOf(to)
		// Both reads at once, as FluxMap's adapter issues them (GetMany).
		ra, rb := rs[1], rs[2]
		ra.op, ra.key, rb.op, rb.key = opBalGet, from, opBalGet, to
		ra.fanout, rb.fanout = fs != ts, fs != ts
		s.inboxes[fs] <- ra
		s.inboxes[ts] <- rb
		<-ra.done
		<-rb.done
		fb, tb := ra.bal, rb.bal
		if fs == ts {
			r := rs[0]
			r.op, r.n = opTxOne, 2
			r.keys, r.expect, r.set = [2]string{from, to}, [2]int64{fb, tb}, [2]int64{fb - amount, tb + amount}
			s.inboxes[fs] <- r
			<-r.done
			if r.ok {
				return attempt
			}
			continue
		}
		a, b := rs[1], rs[2]
		a.n, a.keys[0], a.expect[0], a.set[0] = 1, from, fb, fb-amount
		b.n, b.keys[0], b.expect[0], b.set[0] = 1, to, tb, tb+amount
		a.op, b.op = opPrepare, opPrepare
		s.inboxes[fs] <- a
		s.inboxes[ts] <- b
		<-a.done
		<-b.done
		// Only a yes voter holds locks, so only the yes voters hear the
		// outcome: commit if both voted yes, else abort.
		outcome := opAbort
		if a.ok && b.ok {
			outcome = opCommit
		}
		parts := [2]struct {
			r  *Request
			sh int
		}{{a, fs}, {b, ts}}
		for _, p := range parts {
			if p.r.ok {
				p.r.op = outcome
				s.inboxes[p.sh] <- p.r
			}
		}
		for _, p := range parts {
			if p.r.ok {
				<-p.r.done
			}
		}
		if outcome == opCommit {
			return attempt
		}
	}
}

// Close stops the shard goroutines and waits for them. Calls after Close
// must not be made; Close itself may be called more than once.
func (s *Store) Close() {
	s.once.Do(func() {
		r := NewRequest()
		r.op = opStop
		for _, in := range s.inboxes {
			in <- r
			<-r.done
		}
	})
	s.wg.Wait()
}
