// Package floor is the "floor" store: bare shard goroutines that own plain
// Go maps behind the same request/reply channel shape as FluxMap's engine (a
// request with its own reply channel, hashed to a shard's inbox), with no
// MVCC, no validation and no timestamps. FluxMap's cost over the floor is
// its own overhead; the floor's cost over a function call is the shape's.
//
// It duplicates, and extends with writes, the floor in
// benchmarks/floor_bench_test.go (BenchmarkFloorGet), which is left as it is
// so that its numbers stay comparable with earlier runs; both hash keys the
// same way (xxhash, multiply-shift onto the shard count).
package floor

import (
	"sync"

	"github.com/cespare/xxhash/v2"
)

type op uint8

const (
	opGet op = iota
	opPut
	// opSwap stores val and returns the previous value: a single-key
	// read-modify-write, atomic because one goroutine owns the key.
	opSwap
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
}

// NewRequest returns a reusable request with its own reply channel.
func NewRequest() *Request { return &Request{done: make(chan struct{}, 1)} }

// Store is the floor store. Its methods are safe for concurrent use, but
// each Request must be used by one goroutine at a time. Every map is owned
// by its shard goroutine alone; values passed to Put are kept as they are,
// so callers must not modify them afterwards.
type Store struct {
	inboxes []chan *Request
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// New starts a floor store with the given number of shard goroutines.
func New(shards int) *Store {
	s := &Store{inboxes: make([]chan *Request, max(1, shards)), stop: make(chan struct{})}
	for i := range s.inboxes {
		inbox := make(chan *Request, 1024)
		s.inboxes[i] = inbox
		s.wg.Go(func() { serve(inbox, s.stop) })
	}
	return s
}

// serve is the shard goroutine: the only code that touches m.
func serve(inbox <-chan *Request, stop <-chan struct{}) {
	m := make(map[string][]byte)
	for {
		select {
		case r := <-inbox:
			switch r.op {
			case opGet:
				r.val, r.found = m[r.key]
			case opPut:
				m[r.key] = r.val
			case opSwap:
				old, ok := m[r.key]
				m[r.key] = r.val
				r.val, r.found = old, ok
			}
			r.done <- struct{}{}
		case <-stop:
			return
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

// Close stops the shard goroutines and waits for them. Calls after Close
// block forever; Close itself may be called more than once.
func (s *Store) Close() {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
}
