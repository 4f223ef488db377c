package benchmarks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fluxmap/fluxmap"
)

// The cost of running at the memory limit: parallel autocommit inserts of
// fresh keys (100-byte values) into an empty database, with no limit, and
// with a limit of half what the run inserts, so that past the first half
// every insert takes the shard over its share and evicts the least
// recently used key (LRU, the default). Both format their keys the same
// way, so the difference is the eviction: choosing a victim, its delete
// commit, and the tombstone it leaves until vacuum (not run here).
//
//	cd benchmarks && go test -run=^$ -bench='InsertAtLimit|InsertNoLimit' -benchmem -count=3

// BenchmarkInsertNoLimit inserts b.N fresh keys from every goroutine at
// once into a database without a memory limit.
func BenchmarkInsertNoLimit(b *testing.B) {
	benchInsertFresh(b, false)
}

// BenchmarkInsertAtLimit is BenchmarkInsertNoLimit with MaxMemory set to
// half the estimate of the b.N entries it inserts. It reports the
// evictions per insert (about 0.5) and the estimate at the end relative to
// the limit.
func BenchmarkInsertAtLimit(b *testing.B) {
	benchInsertFresh(b, true)
}

// freshKey is the i-th key of the fresh-key benchmarks: the same width as
// every other, so all entries cost the same.
func freshKey(i uint64) string { return fmt.Sprintf("fresh%012d", i) }

func benchInsertFresh(b *testing.B, limited bool) {
	ctx := context.Background()
	builder := fluxmap.New[string, []byte]()
	limit := int64(0)
	if limited {
		limit = max(entryEstimate(b)*int64(b.N)/2, 1)
		builder.MaxMemory(limit)
	}
	db, err := builder.Build(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	}()
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Insert(ctx, freshKey(next.Add(1)), value); err != nil {
				b.Errorf("Insert: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	st, err := db.Stats()
	if err != nil {
		b.Fatal(err)
	}
	if limited {
		b.ReportMetric(float64(st.Evictions)/float64(b.N), "evictions/op")
		b.ReportMetric(float64(st.Memory.Current)/float64(limit), "mem/limit")
	} else if st.Evictions != 0 {
		b.Fatalf("%d evictions without a limit", st.Evictions)
	}
}

// entryEstimate returns the engine's memory estimate of one fresh-key
// entry with a 100-byte value.
func entryEstimate(b *testing.B) int64 {
	b.Helper()
	ctx := context.Background()
	db, err := fluxmap.New[string, []byte]().Shards(1).Build(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // a scratch database; its Close error changes no number
	if err := db.Insert(ctx, freshKey(0), value); err != nil {
		b.Fatal(err)
	}
	st, err := db.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return st.Memory.Current
}
