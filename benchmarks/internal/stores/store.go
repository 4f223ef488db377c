// Package stores adapts FluxMap and its peers to one small interface so the
// harness can drive them with the same workloads.
//
// Every adapter goes through its store's public API the way a user would:
// reads and writes are autocommit operations (or the store's smallest
// transaction), and multi-key operations run in one transaction, retried
// on conflict where the store can conflict. Adapters whose store keeps the
// caller's []byte (floor, xsync, go-memdb) copy it first, as FluxMap, badger,
// buntdb and bbolt do internally, so that allocations and memory compare
// like with like.
//
// A Store's methods are safe for concurrent use by many goroutines, except
// that Load, LoadAccounts and Close must not overlap other calls.
package stores

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// ErrUnsupported is returned for an operation a store cannot perform (a
// range scan on a hash map, a transaction on a store without them).
var ErrUnsupported = errors.New("operation not supported by this store")

// Durability is where and how durably a store keeps committed data.
type Durability int

const (
	Mem     Durability = iota // in memory only
	Relaxed                   // on disk, fsync on a timer (OS crash may lose the newest commits)
	Full                      // on disk, fsync before a commit is acknowledged
)

// String returns the flag spelling: mem, relaxed or full.
func (d Durability) String() string {
	switch d {
	case Mem:
		return "mem"
	case Relaxed:
		return "relaxed"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// ParseDurability parses mem, relaxed or full.
func ParseDurability(s string) (Durability, error) {
	for _, d := range []Durability{Mem, Relaxed, Full} {
		if s == d.String() {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown durability %q (want mem, relaxed or full)", s)
}

// Caps says which operations beyond Put a store supports.
type Caps uint8

const (
	CapGet  Caps = 1 << iota // point reads
	CapScan                  // ordered range scans
	CapRMW                   // atomic single-key read-modify-write
	CapTxn                   // multi-key serializable (or stronger) transactions
)

// Has reports whether c includes every capability in want.
func (c Caps) Has(want Caps) bool { return c&want == want }

// Config configures a store for one run.
type Config struct {
	// Shards is the shard count of sharded stores (fluxmap, floor); others
	// ignore it. Zero means GOMAXPROCS.
	Shards     int
	Durability Durability
	// Dir is an empty directory the store may use; durable modes need it.
	Dir string
}

// Store is the harness's view of a key-value store. Keys are strings,
// values []byte; the bank workload's accounts hold int64 balances, which
// each adapter stores the way its store holds numbers best.
type Store interface {
	// Load stores val under key(i) for 0 <= i < n, in batches; the data is
	// committed when Load returns.
	Load(n int, key func(i int) string, val []byte) error
	// LoadAccounts sets every key(i), 0 <= i < n, to balance.
	LoadAccounts(n int, key func(i int) string, balance int64) error
	// Get reads key and reports whether it exists.
	Get(key string) (bool, error)
	// Put writes key = val as one committed write.
	Put(key string, val []byte) error
	// Scan reads up to limit entries with lo <= key < hi in key order from
	// one snapshot and returns how many it read.
	Scan(lo, hi string, limit int) (int, error)
	// RMW reads key and writes val to it atomically.
	RMW(key string, val []byte) error
	// Transfer moves amount from one account to another in one transaction
	// of two reads and two writes.
	Transfer(from, to string, amount int64) error
	// Total sums the balances of key(i), 0 <= i < n, from one snapshot.
	Total(n int, key func(i int) string) (int64, error)
	// Retries counts transaction attempts that aborted on a conflict and
	// were run again, since the store was opened.
	Retries() (uint64, error)
	Close() error
}

// System describes one store the harness can run.
type System struct {
	Name string
	// Caps are the operations beyond Put that the system supports; the
	// others fail with ErrUnsupported.
	Caps Caps
	// Durabilities lists the modes the system supports.
	Durabilities []Durability
	// Sharded is true when Config.Shards changes the store.
	Sharded bool
	// Note is a one-line description for --list and the reports.
	Note string
	Open func(Config) (Store, error)
}

// Supports reports whether the system runs in durability mode d.
func (s System) Supports(d Durability) bool { return slices.Contains(s.Durabilities, d) }

var registry = map[string]System{}

func register(s System) { registry[s.Name] = s }

// Lookup returns the named system.
func Lookup(name string) (System, error) {
	s, ok := registry[name]
	if !ok {
		return System{}, fmt.Errorf("unknown system %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// Names returns every registered system's name, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// unsupported is embedded by adapters to refuse what their store cannot do.
type unsupported struct{}

func (unsupported) Scan(string, string, int) (int, error) { return 0, ErrUnsupported }
func (unsupported) RMW(string, []byte) error              { return ErrUnsupported }
func (unsupported) Transfer(string, string, int64) error  { return ErrUnsupported }
func (unsupported) Total(int, func(int) string) (int64, error) {
	return 0, ErrUnsupported
}
func (unsupported) LoadAccounts(int, func(int) string, int64) error { return ErrUnsupported }
func (unsupported) Retries() (uint64, error)                        { return 0, nil }

// loadBatch is how many writes one load transaction carries.
const loadBatch = 1000

// inBatches calls fn(lo, hi) for consecutive [lo, hi) slices of [0, n).
func inBatches(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += loadBatch {
		if err := fn(lo, min(lo+loadBatch, n)); err != nil {
			return fmt.Errorf("loading keys [%d, %d): %w", lo, min(lo+loadBatch, n), err)
		}
	}
	return nil
}

// encodeBalance and decodeBalance are the 8-byte big-endian balances of the
// stores that hold only bytes.
func encodeBalance(b []byte, v int64) []byte {
	u := uint64(v)
	return append(b[:0], byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

func decodeBalance(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("balance of %d bytes, want 8", len(b))
	}
	var u uint64
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	return int64(u), nil
}

// shardsOrProcs returns n, or GOMAXPROCS when n is zero.
func shardsOrProcs(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}
