package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// stamp is a value written whole: its four words are always equal and
// never zero, so a reader that sees a version before its value is complete
// (a zero value, or some words of one write and some of another) notices.
// Under -race a version published before its value was set is also a data
// race between the shard's write and the reader's copy.
type stamp [4]uint64

func (s stamp) whole() bool { return s[0] != 0 && s[0] == s[1] && s[1] == s[2] && s[2] == s[3] }

func newStamp(n uint64) stamp { return stamp{n, n, n, n} }

// TestReadsNeverSeeTornValues writes stamps to 32 keys from transactions
// (four keys at once, one stamp for all four) and autocommit inserts,
// while readers read them by every kind of read: Tx.Get and GetMany in a
// View, View and DB scans and streams, and autocommit Get. Every value
// read must be whole. In a View, the four keys a transaction wrote
// together must also agree with each other unless a later write replaced
// one of them, so each View also checks the group its transaction writers
// keep whole (see groupKeys).
func TestReadsNeverSeeTornValues(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) { runTornValues(t, shards) })
	}
}

// tornKeys are the keys the autocommit writers and the group-less
// transactions write; groupKeys are written only four at a time, by
// transactions, with one stamp, so every snapshot shows them equal.
var (
	tornKeys  = keysWhere("torn/", 28, func(string) bool { return true })
	groupKeys = keysWhere("torn/group/", 4, func(string) bool { return true })
)

func runTornValues(t *testing.T, shards int) {
	ctx := t.Context()
	db := build(t, fluxmap.New[string, stamp]().Shards(shards).
		AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond}))
	var next atomic.Uint64 // stamps, each written by one commit
	for _, k := range tornKeys {
		dbInsert(t, db, k, newStamp(next.Add(1)))
	}
	g := newStamp(next.Add(1))
	for _, k := range groupKeys {
		dbInsert(t, db, k, g) // equal before any reader starts
	}

	var (
		writes atomic.Int64
		reads  atomic.Int64
		wg     sync.WaitGroup
	)
	var ff firstFailure
	fail, stop := ff.fail, &ff.stop
	writeGroup := func(keys []string) error {
		return db.Transaction(ctx, func(tx *fluxmap.Tx[string, stamp]) error {
			s := newStamp(next.Add(1))
			for _, k := range keys {
				if err := tx.Insert(k, s); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(shards), uint64(w)))
			for !stop.Load() {
				var err error
				switch w {
				case 0: // autocommit, one key at a time
					err = db.Insert(ctx, tornKeys[rng.IntN(len(tornKeys))], newStamp(next.Add(1)))
				case 1: // four random keys in one transaction
					var ks []string
					for range 4 {
						ks = append(ks, tornKeys[rng.IntN(len(tornKeys))])
					}
					err = writeGroup(ks)
				default: // the group, always whole
					err = writeGroup(groupKeys)
				}
				if err != nil {
					fail(fmt.Errorf("writer %d: %w", w, err))
					return
				}
				writes.Add(1)
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			for i := r; !stop.Load(); i++ {
				if err := readTornOnce(ctx, db, i%7); err != nil {
					fail(fmt.Errorf("reader %d: %w", r, err))
					return
				}
				reads.Add(1)
			}
		})
	}
	start := time.Now()
	for !stop.Load() && (time.Since(start) < readStressFor() || writes.Load() == 0 || reads.Load() < 7) {
		if time.Since(start) > stressCap {
			fail(errors.New("too little work within the cap"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	require.NoError(t, ff.first())
	t.Logf("%d writes, %d read passes", writes.Load(), reads.Load())
}

// readTornOnce reads every key with one kind of read and checks each value
// is whole and present; reads within one snapshot also check the group.
func readTornOnce(ctx context.Context, db *fluxmap.DB[string, stamp], kind int) error {
	all := append(append([]string{}, tornKeys...), groupKeys...)
	var es []fluxmap.Entry[string, stamp]
	var err error
	var what string
	switch kind {
	case 0:
		what = "View+Get"
		err = db.View(ctx, func(tx *fluxmap.Tx[string, stamp]) error {
			for _, k := range all {
				v, ok, err := tx.Get(k)
				if err != nil {
					return err
				}
				if ok {
					es = append(es, fluxmap.Entry[string, stamp]{Key: k, Value: v})
				}
			}
			return nil
		})
	case 1:
		what = "View+GetMany"
		err = db.View(ctx, func(tx *fluxmap.Tx[string, stamp]) error {
			vals, found := make([]stamp, len(all)), make([]bool, len(all))
			if err := tx.GetMany(all, vals, found); err != nil {
				return err
			}
			for i, k := range all {
				if found[i] {
					es = append(es, fluxmap.Entry[string, stamp]{Key: k, Value: vals[i]})
				}
			}
			return nil
		})
	case 2:
		what = "View+PrefixScan"
		err = db.View(ctx, func(tx *fluxmap.Tx[string, stamp]) (err error) { es, err = tx.PrefixScan("torn/"); return err })
	case 3:
		what = "View+RangeStream"
		err = db.View(ctx, func(tx *fluxmap.Tx[string, stamp]) error {
			s := tx.RangeStream("torn/", "torn0")
			es = collect(s)
			return s.Err()
		})
	case 4:
		what = "DB.Range"
		es, err = db.Range(ctx, "torn/", "torn0")
	case 5:
		what = "DB.PrefixStream"
		s := db.PrefixStream(ctx, "torn/")
		es, err = collect(s), s.Err()
	case 6:
		// Separate snapshots: only each value is checked.
		for _, k := range all {
			v, ok, err := db.Get(ctx, k)
			if err != nil {
				return fmt.Errorf("DB.Get %s: %w", k, err)
			}
			if !ok || !v.whole() {
				return fmt.Errorf("DB.Get %s: found %v, value %v", k, ok, v)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(es) != len(all) {
		return fmt.Errorf("%s: %d keys, want %d", what, len(es), len(all))
	}
	var group []stamp
	for _, e := range es {
		if !e.Value.whole() {
			return fmt.Errorf("%s: %s = %v, a torn value", what, e.Key, e.Value)
		}
		for _, g := range groupKeys {
			if e.Key == g {
				group = append(group, e.Value)
			}
		}
	}
	if len(group) != len(groupKeys) || group[0] != group[1] || group[1] != group[2] || group[2] != group[3] {
		return fmt.Errorf("%s: the group written together reads %v: a torn snapshot", what, group)
	}
	return nil
}
