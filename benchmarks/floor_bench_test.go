package benchmarks

import (
	"runtime"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// The floor: bare shard goroutines that own plain Go maps behind the same
// request/reply channel shape as the engine (a pooled request with its own
// reply channel, hashed to a shard), with no MVCC, no validation and no
// timestamps. The engine's cost over this is its own overhead; the cost of
// this over a function call is the shape's.

type floorReq struct {
	key   string
	val   []byte
	found bool
	done  chan struct{}
}

type floorStore struct {
	inboxes []chan *floorReq
	stop    chan struct{}
	exited  chan struct{}
}

func newFloor(b *testing.B, shards int) *floorStore {
	f := &floorStore{
		inboxes: make([]chan *floorReq, shards),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}, shards),
	}
	ks := keys()
	for s := range shards {
		inbox := make(chan *floorReq, 1024)
		f.inboxes[s] = inbox
		m := make(map[string][]byte)
		for _, k := range ks {
			if f.shardOf(k) == s {
				m[k] = value
			}
		}
		go func() {
			defer func() { f.exited <- struct{}{} }()
			for {
				select {
				case r := <-inbox:
					r.val, r.found = m[r.key]
					r.done <- struct{}{}
				case <-f.stop:
					return
				}
			}
		}()
	}
	b.Cleanup(func() {
		close(f.stop)
		for range shards {
			<-f.exited
		}
	})
	b.ResetTimer()
	return f
}

func (f *floorStore) shardOf(k string) int {
	return int((xxhash.Sum64String(k) >> 32) * uint64(len(f.inboxes)) >> 32)
}

// BenchmarkFloorGet is BenchmarkGet against the floor store.
func BenchmarkFloorGet(b *testing.B) {
	f := newFloor(b, runtime.GOMAXPROCS(0))
	ks := keys()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rng := newRand()
		r := &floorReq{done: make(chan struct{}, 1)}
		for pb.Next() {
			r.key = ks[rng.IntN(len(ks))]
			f.inboxes[f.shardOf(r.key)] <- r
			<-r.done
			if !r.found {
				b.Error("floor lost a key")
				return
			}
		}
	})
}
