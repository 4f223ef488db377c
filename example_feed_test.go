package fluxmap_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/fluxmap/fluxmap"
)

// A consumer copies a consistent snapshot, then follows the feed from
// exactly where the snapshot ends: it misses nothing and sees nothing
// twice.
func ExampleDB_Changes() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().ChangeFeed(fluxmap.ChangeFeedOptions{}).Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_ = db.Insert(ctx, "stock/apples", 10)

	replica := map[string]int64{}
	var since uint64
	_ = db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		since = tx.Snapshot()
		entries, err := tx.PrefixScan("stock/")
		for _, e := range entries {
			replica[e.Key] = e.Value
		}
		return err
	})
	feed, err := db.Changes(fluxmap.FeedOptions[string]{Since: since, Prefixes: []string{"stock/"}})
	if err != nil {
		log.Fatal(err)
	}
	defer feed.Close()

	// One transaction moves stock; another key is outside the prefix.
	_ = db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		_ = tx.Insert("stock/apples", 7)
		return tx.Insert("stock/pears", 3)
	})
	_ = db.Insert(ctx, "audit/1", 1)
	_, _, _ = db.Remove(ctx, "stock/pears")

	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for range 2 {
		cs, err := feed.Next(wait)
		if err != nil {
			log.Fatal(err)
		}
		for _, c := range cs.Changes {
			if c.Op.IsDelete() {
				delete(replica, c.Key)
			} else {
				replica[c.Key] = c.Value
			}
		}
		fmt.Println(len(cs.Changes), "changes")
	}
	fmt.Println(replica)
	// Output:
	// 2 changes
	// 1 changes
	// map[stock/apples:7]
}

// Watch wakes a goroutine when a key under a prefix changes after the
// snapshot it read, as go-memdb's watch channels do.
func ExampleDB_Watch() {
	ctx := context.Background()
	db, err := fluxmap.New[string, string]().ChangeFeed(fluxmap.ChangeFeedOptions{}).Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var mode string
	var since uint64
	_ = db.View(ctx, func(tx *fluxmap.Tx[string, string]) error {
		since = tx.Snapshot()
		mode, _, _ = tx.Get("config/mode")
		return nil
	})
	changed, err := db.Watch(ctx, since, "config/")
	if err != nil {
		log.Fatal(err)
	}
	_ = db.Insert(ctx, "config/mode", "maintenance")
	<-changed
	mode, _, _ = db.Get(ctx, "config/mode")
	fmt.Println("mode is now", mode)
	// Output: mode is now maintenance
}
