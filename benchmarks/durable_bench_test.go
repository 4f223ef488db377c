package benchmarks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/wal"
)

// Durable benchmarks run on real files in b.TempDir(), so their numbers
// are those of the disk under the temporary directory. Compare
// BenchmarkFullCommit's commits/s with BenchmarkRawFdatasync's syncs/s on
// the same machine: group commit should let many committers share each
// fsync, so Full-mode throughput with 32 committers should be well above
// (the goal: 10x) what one fsync per commit would allow.
//
//	cd benchmarks && go test -run=^$ -bench='FullCommit|RawFdatasync' -benchtime=2s

// BenchmarkFullCommit measures acknowledged commits per second of a Full
// durability database (default shard count, 16 MiB segments) with 1, 8 and
// 32 committer goroutines, each doing autocommit inserts of random keys
// (insert) or 2-key transactions (txn2). b.N is the total number of
// commits, shared by the committers.
func BenchmarkFullCommit(b *testing.B) {
	for _, op := range []string{"insert", "txn2"} {
		for _, committers := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/committers=%d", op, committers), func(b *testing.B) {
				benchFullCommit(b, op == "txn2", committers)
			})
		}
	}
}

func benchFullCommit(b *testing.B, txn2 bool, committers int) {
	ctx := context.Background()
	db, err := fluxmap.New[string, []byte]().
		DurabilityFull(fluxmap.PersistenceOptions{Dir: b.TempDir()}).Build(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	}()
	ks := keys()
	value := make([]byte, valueSize)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range committers {
		rng := rand.New(rand.NewPCG(uint64(c), 42))
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				var err error
				if txn2 {
					k1, k2 := ks[rng.IntN(numKeys)], ks[rng.IntN(numKeys)]
					err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, []byte]) error {
						if err := tx.Insert(k1, value); err != nil {
							return err
						}
						return tx.Insert(k2, value)
					})
				} else {
					err = db.Insert(ctx, ks[rng.IntN(numKeys)], value)
				}
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkRawFdatasync is the baseline: one writer appending 128 bytes
// and calling fdatasync (f.Sync off Linux, through wal.OSFS, the file
// layer the WAL uses) per iteration, in a zero-filled file (see
// stores.ZeroFill) in the same
// kind of temporary directory. It is the rate at which a database that
// fsynced once per commit could acknowledge commits.
func BenchmarkRawFdatasync(b *testing.B) {
	const fileSize = 16 << 20
	fs := wal.OSFS()
	f, err := fs.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := stores.ZeroFill(f, fileSize); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 128)
	for i := range rec {
		rec[i] = byte(i)
	}
	var off int64
	b.ResetTimer()
	for range b.N {
		if _, err := f.WriteAt(rec, off); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		off = (off + int64(len(rec))) % fileSize
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
}
