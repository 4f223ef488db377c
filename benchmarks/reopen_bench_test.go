package benchmarks

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxmap/fluxmap"
)

// BenchmarkReopen measures recovery: how fast Build reopens a durable
// database (Relaxed, 2 shards, 100-byte values, loaded in 1,000-write
// transactions and closed). Each iteration is one reopen and close; the
// keys/s metric is what a restart cares about. FLUXBENCH_REOPEN_KEYS sets
// the size (default 20,000, small enough for CI's smoke run); the restart
// target is stated for 1,000,000:
//
//	cd benchmarks && FLUXBENCH_REOPEN_KEYS=1000000 go test -run=^$ -bench=Reopen -benchtime=5x
func BenchmarkReopen(b *testing.B) {
	n := 20_000
	if s := os.Getenv("FLUXBENCH_REOPEN_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("FLUXBENCH_REOPEN_KEYS=%q: want a positive count", s)
		}
	}
	ctx := context.Background()
	dir := b.TempDir()
	open := func() *fluxmap.DB[string, []byte] {
		db, err := fluxmap.New[string, []byte]().Shards(2).
			DurabilityRelaxed(fluxmap.PersistenceOptions{Dir: dir}).FlushInterval(10 * time.Millisecond).Build(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return db
	}
	db := open()
	val := []byte(strings.Repeat("v", valueSize))
	for i := 0; i < n; i += 1000 {
		err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, []byte]) error {
			for j := i; j < min(i+1000, n); j++ {
				if err := tx.Insert(fmt.Sprintf("user%012d", j), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		db := open()
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}
