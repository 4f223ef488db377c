package fluxmap_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/fluxmap/fluxmap"
)

// The portable interfaces must not tax the embedded engine: these
// benchmarks run the same work through *Tx and through ReadWriteTx.
//
//	go test -run='^$' -bench=Portable -benchmem -count=5 .

func transferDirect(tx *fluxmap.Tx[string, int64], from, to string) error {
	a, _, err := tx.Get(from)
	if err != nil {
		return err
	}
	b, _, err := tx.Get(to)
	if err != nil {
		return err
	}
	if err := tx.Insert(from, a-1); err != nil {
		return err
	}
	return tx.Insert(to, b+1)
}

func transferPortable(tx fluxmap.ReadWriteTx[string, int64], from, to string) error {
	a, _, err := tx.Get(from)
	if err != nil {
		return err
	}
	b, _, err := tx.Get(to)
	if err != nil {
		return err
	}
	if err := tx.Insert(from, a-1); err != nil {
		return err
	}
	return tx.Insert(to, b+1)
}

func benchBank(b *testing.B) (*fluxmap.DB[string, int64], []string) {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "acct" + strconv.Itoa(i)
		if err := db.Insert(ctx, keys[i], 1000); err != nil {
			b.Fatal(err)
		}
	}
	return db, keys
}

// BenchmarkPortableTransfer is a whole transfer transaction (two reads, two
// writes, commit) called directly and through ReadWriteTx.
func BenchmarkPortableTransfer(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"direct", "interface"} {
		b.Run(mode, func(b *testing.B) {
			db, keys := benchBank(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				from, to := keys[i%len(keys)], keys[(i+1)%len(keys)]
				i++
				err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
					if mode == "direct" {
						return transferDirect(tx, from, to)
					}
					return transferPortable(tx, from, to)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPortableGet is one read inside an open transaction, the
// cheapest call, where an indirect call would show most.
func BenchmarkPortableGet(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"direct", "interface"} {
		b.Run(mode, func(b *testing.B) {
			db, keys := benchBank(b)
			tx, err := db.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Rollback()
			var rw fluxmap.ReadTx[string, int64] = tx
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := keys[i%len(keys)]
				i++
				if mode == "direct" {
					_, _, err = tx.Get(k)
				} else {
					_, _, err = rw.Get(k)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
