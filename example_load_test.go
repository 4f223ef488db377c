package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/fluxmap/fluxmap"
)

func ExampleDB_Load() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Any iter.Seq2 will do: a map's entries (maps.All), a slice's
	// (slices.All), or a function reading a file. Here, 25 squares.
	squares := func(yield func(string, int) bool) {
		for i := range 25 {
			if !yield(fmt.Sprintf("sq:%02d", i), i*i) {
				return
			}
		}
	}
	// The zero LoadOptions is a good default; small batches here show the
	// progress callback, called after each batch commits.
	n, err := db.Load(ctx, squares, fluxmap.LoadOptions{
		BatchKeys: 10,
		Progress:  func(loaded int) { fmt.Println("committed", loaded) },
	})
	if err != nil {
		// Every error says how far the load got: entries [0, n) are
		// committed, and le.Key is the entry it stopped at.
		var le *fluxmap.LoadError
		if errors.As(err, &le) {
			log.Fatalf("loaded %d entries, stopped at %v: %v", le.Loaded, le.Key, le.Err)
		}
		log.Fatal(err)
	}
	v, _, err := db.Get(ctx, "sq:12")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "entries; sq:12 =", v)
	// Output:
	// committed 10
	// committed 20
	// committed 25
	// 25 entries; sq:12 = 144
}
