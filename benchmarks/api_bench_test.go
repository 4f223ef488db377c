package benchmarks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fluxmap/fluxmap"
)

const (
	// numKeys is the size of the preloaded key space every benchmark draws from.
	numKeys = 100_000
	// valueSize is the length of the []byte values of the Get/Insert/Scan benchmarks.
	valueSize = 100
	// scanLen is how many consecutive keys BenchmarkScan100 reads.
	scanLen = 100
	// loadBatch is how many inserts one preload transaction carries; far
	// below the default MaxTxnWrites and large enough that preloading is not
	// dominated by per-commit cost.
	loadBatch = 1_000
	// startBalance is every account's balance in BenchmarkTxn2R2W.
	startBalance = 1_000
)

// keys holds "key%08d" for 0 <= i < numKeys, built once so that the timed
// loops index a slice instead of formatting (and allocating) a key. Because
// the numbers are zero-padded, keys[i] < keys[j] bytewise iff i < j, which
// BenchmarkScan100 relies on.
var keys = sync.OnceValue(func() []string {
	ks := make([]string, numKeys)
	for i := range ks {
		ks[i] = fmt.Sprintf("key%08d", i)
	}
	return ks
})

// value is the 100-byte payload stored under every key. The DB copies []byte
// values on insert, so sharing one slice across inserts is safe.
var value = func() []byte {
	v := make([]byte, valueSize)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}()

// seeds hands every RunParallel goroutine (and every serial benchmark) a
// distinct PCG seed, so goroutines do not walk the same key sequence in
// lockstep and contend on the same shards by construction.
var seeds atomic.Uint64

// newRand returns a generator with a seed no other caller in this process got.
func newRand() *rand.Rand {
	s := seeds.Add(1)
	return rand.New(rand.NewPCG(s, s*0x9e3779b97f4a7c15))
}

// newDB builds an in-memory DB with the default shard count (GOMAXPROCS, so
// it follows -cpu), stores load(i) under keys()[i] for every i, registers
// Close with b.Cleanup and resets the timer, so that only the caller's loop
// is measured.
func newDB[V any](b *testing.B, load func(i int) V) *fluxmap.DB[string, V] {
	b.Helper()
	return newDBWith(b, fluxmap.New[string, V](), load)
}

// newDBWith is newDB on a database built by bld.
func newDBWith[V any](b *testing.B, bld *fluxmap.Builder[string, V], load func(i int) V) *fluxmap.DB[string, V] {
	b.Helper()
	ctx := b.Context()
	db, err := bld.Build(ctx)
	if err != nil {
		b.Fatalf("Build: %v", err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	ks := keys()
	for lo := 0; lo < len(ks); lo += loadBatch {
		hi := min(lo+loadBatch, len(ks))
		err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, V]) error {
			for i := lo; i < hi; i++ {
				if err := tx.Insert(ks[i], load(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("preload keys [%d, %d): %v", lo, hi, err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	return db
}

func loadValue(int) []byte { return value }

// BenchmarkGet measures autocommit point reads of existing keys from every
// goroutine at once.
func BenchmarkGet(b *testing.B) {
	db := newDB(b, loadValue)
	ctx, ks := b.Context(), keys()
	b.RunParallel(func(pb *testing.PB) {
		rng := newRand()
		for pb.Next() {
			k := ks[rng.IntN(len(ks))]
			v, ok, err := db.Get(ctx, k)
			if err != nil || !ok || len(v) != valueSize {
				b.Errorf("Get(%q) = %d bytes, %v, %v; want %d bytes, true, nil", k, len(v), ok, err, valueSize)
				return
			}
		}
	})
}

// BenchmarkGetSerial is BenchmarkGet from a single goroutine: the latency of
// one read round trip to a shard, with no contention.
func BenchmarkGetSerial(b *testing.B) {
	db := newDB(b, loadValue)
	ctx, ks := b.Context(), keys()
	rng := newRand()
	for b.Loop() {
		k := ks[rng.IntN(len(ks))]
		v, ok, err := db.Get(ctx, k)
		if err != nil || !ok || len(v) != valueSize {
			b.Fatalf("Get(%q) = %d bytes, %v, %v; want %d bytes, true, nil", k, len(v), ok, err, valueSize)
		}
	}
}

// BenchmarkInsert measures autocommit overwrites of random existing keys
// from every goroutine at once. Goroutines collide on keys now and then;
// Insert resolves that internally and must never surface ErrConflict.
func BenchmarkInsert(b *testing.B) {
	runInserts(b, newDB(b, loadValue))
}

// BenchmarkInsertFeed is BenchmarkInsert on a database that keeps a change
// feed (the default window), with no feed open: what keeping it costs the
// write path.
func BenchmarkInsertFeed(b *testing.B) {
	runInserts(b, newDBWith(b, fluxmap.New[string, []byte]().ChangeFeed(fluxmap.ChangeFeedOptions{}), loadValue))
}

// BenchmarkInsertFeedFollowed is BenchmarkInsertFeed with one feed
// following every commit on its own goroutine.
func BenchmarkInsertFeedFollowed(b *testing.B) {
	db := newDBWith(b, fluxmap.New[string, []byte]().ChangeFeed(fluxmap.ChangeFeedOptions{}), loadValue)
	st, err := db.Stats()
	if err != nil {
		b.Fatal(err)
	}
	feed, err := db.Changes(fluxmap.FeedOptions[string]{Since: st.Visible})
	if err != nil {
		b.Fatal(err)
	}
	fctx, stop := context.WithCancel(b.Context())
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		for _, err := range feed.All(fctx) {
			if err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		stop()
		<-followed
		feed.Close()
	})
	runInserts(b, db)
}

// runInserts overwrites random existing keys of db from every goroutine.
func runInserts(b *testing.B, db *fluxmap.DB[string, []byte]) {
	ctx, ks := b.Context(), keys()
	b.RunParallel(func(pb *testing.PB) {
		rng := newRand()
		for pb.Next() {
			k := ks[rng.IntN(len(ks))]
			if err := db.Insert(ctx, k, value); err != nil {
				b.Errorf("Insert(%q): %v", k, err)
				return
			}
		}
	})
}

// BenchmarkTxn2R2W measures bank-style serializable transactions: read two
// random distinct accounts and move one unit from the first to the second.
// Conflicting transactions are retried inside db.Transaction, so ns/op
// includes the cost of retries.
func BenchmarkTxn2R2W(b *testing.B) {
	db := newDB(b, func(int) int64 { return startBalance })
	ctx, ks := b.Context(), keys()
	b.RunParallel(func(pb *testing.PB) {
		rng := newRand()
		// from and to are set before each call; fn is built once per
		// goroutine so that the loop itself allocates no closure.
		var from, to string
		fn := func(tx *fluxmap.Tx[string, int64]) error {
			fromBal, ok, err := tx.Get(from)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("account %q missing", from)
			}
			toBal, ok, err := tx.Get(to)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("account %q missing", to)
			}
			if err := tx.Insert(from, fromBal-1); err != nil {
				return err
			}
			return tx.Insert(to, toBal+1)
		}
		for pb.Next() {
			i := rng.IntN(len(ks))
			j := rng.IntN(len(ks) - 1)
			if j >= i {
				j++ // distinct from i, still uniform over the others
			}
			from, to = ks[i], ks[j]
			if err := db.Transaction(ctx, fn); err != nil {
				b.Errorf("transfer %q -> %q: %v", from, to, err)
				return
			}
		}
	})
}

// BenchmarkScan100 measures Range over 100 consecutive keys from a random
// start. Such a scan touches every shard, so it is the costliest read.
func BenchmarkScan100(b *testing.B) {
	db := newDB(b, loadValue)
	ctx, ks := b.Context(), keys()
	b.RunParallel(func(pb *testing.PB) {
		rng := newRand()
		for pb.Next() {
			i := rng.IntN(len(ks) - scanLen)
			entries, err := db.Range(ctx, ks[i], ks[i+scanLen])
			if err != nil || len(entries) != scanLen {
				b.Errorf("Range(%q, %q) = %d entries, %v; want %d, nil", ks[i], ks[i+scanLen], len(entries), err, scanLen)
				return
			}
		}
	})
}

// BenchmarkScan100Reverse is BenchmarkScan100 in descending order: the
// same 100 keys, read from the top of the range down.
func BenchmarkScan100Reverse(b *testing.B) {
	db := newDB(b, loadValue)
	ctx, ks := b.Context(), keys()
	b.RunParallel(func(pb *testing.PB) {
		rng := newRand()
		for pb.Next() {
			i := rng.IntN(len(ks) - scanLen)
			opts := fluxmap.ScanOptions[string]{Lo: fluxmap.Incl(ks[i]), Hi: fluxmap.Excl(ks[i+scanLen]), Reverse: true}
			entries, err := db.Scan(ctx, opts)
			if err != nil || len(entries) != scanLen {
				b.Errorf("Scan(%+v) = %d entries, %v; want %d, nil", opts, len(entries), err, scanLen)
				return
			}
		}
	})
}
