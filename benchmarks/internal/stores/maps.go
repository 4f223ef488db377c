package stores

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/fluxmap/fluxmap/benchmarks/internal/floor"
)

// The two systems without MVCC: the floor (FluxMap's channel shape over
// bare maps, with just enough validation to run the bank workload's
// transfers correctly) and xsync's concurrent hash map (a ceiling: no
// shards' round trips, no transactions, no order). Neither can scan in key
// order, and xsync cannot run a bank transaction, so those workloads report
// n/a for them.

func init() {
	register(System{
		Name:         "floor",
		Caps:         CapGet | CapRMW | CapTxn,
		Durabilities: []Durability{Mem},
		Sharded:      true,
		Note:         "bare shard goroutines over Go maps, FluxMap's channel shape; no MVCC; bank = FluxMap's message pattern, minimal validation",
		Open: func(cfg Config) (Store, error) {
			return &floorStore{s: floor.New(shardsOrProcs(cfg.Shards))}, nil
		},
	})
	register(System{
		Name:         "xsync",
		Caps:         CapGet | CapRMW,
		Durabilities: []Durability{Mem},
		Note:         "xsync.Map concurrent hash map: a non-transactional ceiling",
		Open: func(Config) (Store, error) {
			return &xsyncStore{m: xsync.NewMap[string, []byte]()}, nil
		},
	})
}

type floorStore struct {
	unsupported
	s       *floor.Store
	reqs    sync.Pool // *floor.Request, as the engine pools its requests
	txReqs  sync.Pool // *[3]*floor.Request for Transfer
	retries atomic.Uint64
}

func (f *floorStore) LoadAccounts(n int, key func(int) string, balance int64) error {
	r := f.req()
	for i := range n {
		f.s.SetBalance(r, key(i), balance)
	}
	f.reqs.Put(r)
	return nil
}

// Transfer runs floor.Store.Transfer, FluxMap's bank message pattern over
// bare maps.
func (f *floorStore) Transfer(from, to string, amount int64) error {
	rs, ok := f.txReqs.Get().(*[3]*floor.Request)
	if !ok {
		rs = &[3]*floor.Request{floor.NewRequest(), floor.NewRequest(), floor.NewRequest()}
	}
	if attempts := f.s.Transfer(rs, from, to, amount); attempts > 1 {
		f.retries.Add(uint64(attempts - 1))
	}
	f.txReqs.Put(rs)
	return nil
}

// Total sums the balances; the harness calls it when no transfer runs,
// which is the only snapshot the floor has.
func (f *floorStore) Total(n int, key func(int) string) (int64, error) {
	r := f.req()
	defer f.reqs.Put(r)
	var sum int64
	for i := range n {
		b, ok := f.s.Balance(r, key(i))
		if !ok {
			return 0, fmt.Errorf("floor: account %q missing", key(i))
		}
		sum += b
	}
	return sum, nil
}

func (f *floorStore) Retries() (uint64, error) { return f.retries.Load(), nil }

func (f *floorStore) req() *floor.Request {
	if r, ok := f.reqs.Get().(*floor.Request); ok {
		return r
	}
	return floor.NewRequest()
}

func (f *floorStore) Load(n int, key func(int) string, val []byte) error {
	r := f.req()
	for i := range n {
		f.s.Put(r, key(i), bytes.Clone(val))
	}
	f.reqs.Put(r)
	return nil
}

func (f *floorStore) Get(key string) (bool, error) {
	r := f.req()
	_, ok := f.s.Get(r, key)
	f.reqs.Put(r)
	return ok, nil
}

func (f *floorStore) Put(key string, val []byte) error {
	r := f.req()
	f.s.Put(r, key, bytes.Clone(val))
	f.reqs.Put(r)
	return nil
}

// RMW swaps in the new value in one round trip: the shard goroutine owns
// the key, so the read and the write are atomic.
func (f *floorStore) RMW(key string, val []byte) error {
	r := f.req()
	f.s.Swap(r, key, bytes.Clone(val))
	f.reqs.Put(r)
	return nil
}

func (f *floorStore) Close() error { f.s.Close(); return nil }

type xsyncStore struct {
	unsupported
	m *xsync.Map[string, []byte]
}

func (x *xsyncStore) Load(n int, key func(int) string, val []byte) error {
	for i := range n {
		x.m.Store(key(i), bytes.Clone(val))
	}
	return nil
}

func (x *xsyncStore) Get(key string) (bool, error) {
	_, ok := x.m.Load(key)
	return ok, nil
}

func (x *xsyncStore) Put(key string, val []byte) error {
	x.m.Store(key, bytes.Clone(val))
	return nil
}

// RMW uses Compute, which holds the key's bucket lock across the read and
// the write.
func (x *xsyncStore) RMW(key string, val []byte) error {
	v := bytes.Clone(val)
	x.m.Compute(key, func([]byte, bool) ([]byte, xsync.ComputeOp) { return v, xsync.UpdateOp })
	return nil
}

func (x *xsyncStore) Close() error { return nil }
