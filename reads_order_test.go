package fluxmap_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// TestReadsRealTimeOrder checks that reads respect real time: once an
// autocommit Insert or a Transaction has returned, every read that starts
// later, on any goroutine, sees that value or a newer one (DESIGN.md §3:
// a commit returns once visible has passed it, and a read starts at
// visible), and no goroutine ever reads a key backwards.
//
// Each key has one writer, which writes 1, 2, 3, ... (by Insert for even
// keys, by a read-modify-write Transaction for odd ones) and publishes each
// value once its write returned. Readers load that value, then read: an
// autocommit Get (which runs without a registered snapshot, so vacuum every
// millisecond may cut the versions below it: ReadLatest's floor re-check),
// or a Get in a View. A read must find the key, at or above what was
// published before it and at or above the reader's own last read.
func TestReadsRealTimeOrder(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			const keys, readers = 8, 8 // more readers than cores, so they are preempted mid-read
			ctx := t.Context()
			db := build(t, fluxmap.New[string, int64]().Shards(shards).
				AutoVacuum(fluxmap.VacuumOptions{Interval: time.Millisecond}))
			key := func(i int) string { return fmt.Sprintf("ctr%02d", i) }
			var acked [keys]atomic.Int64
			for i := range keys {
				dbInsert(t, db, key(i), 0)
			}

			var (
				writes atomic.Int64
				gets   atomic.Int64
				views  atomic.Int64
				wg     sync.WaitGroup
			)
			var ff firstFailure
			fail, stop := ff.fail, &ff.stop
			for i := range keys {
				wg.Go(func() {
					for n := int64(1); !stop.Load(); n++ {
						var err error
						if i%2 == 0 {
							err = db.Insert(ctx, key(i), n)
						} else {
							err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
								v, ok, err := tx.Get(key(i))
								if err == nil && (!ok || v != n-1) {
									err = fmt.Errorf("%s: the only writer read %d (found %v), wrote %d last", key(i), v, ok, n-1)
								}
								if err != nil {
									return err
								}
								return tx.Insert(key(i), n)
							})
						}
						if err != nil {
							fail(fmt.Errorf("writer %d: %w", i, err))
							return
						}
						acked[i].Store(n)
						writes.Add(1)
					}
				})
			}
			for r := range readers {
				wg.Go(func() {
					var last [keys]int64
					for j := r; !stop.Load(); j++ {
						i := j % keys
						floor := acked[i].Load()
						var v int64
						var ok bool
						var err error
						how := "Get"
						if j%16 == 0 {
							how = "View+Get"
							err = db.View(ctx, func(tx *fluxmap.Tx[string, int64]) (err error) {
								v, ok, err = tx.Get(key(i))
								return err
							})
							views.Add(1)
						} else {
							v, ok, err = db.Get(ctx, key(i))
							gets.Add(1)
						}
						switch {
						case err != nil:
							fail(fmt.Errorf("reader %d: %s %s: %w", r, how, key(i), err))
						case !ok:
							fail(fmt.Errorf("reader %d: %s %s: not found (acknowledged %d before the read)", r, how, key(i), floor))
						case v < floor:
							fail(fmt.Errorf("reader %d: %s %s = %d, but %d was acknowledged before the read", r, how, key(i), v, floor))
						case v < last[i]:
							fail(fmt.Errorf("reader %d: %s %s = %d after reading %d: backwards", r, how, key(i), v, last[i]))
						}
						last[i] = v
					}
				})
			}

			start := time.Now()
			for !stop.Load() && (time.Since(start) < readStressFor() || writes.Load() < keys || views.Load() == 0) {
				if time.Since(start) > stressCap {
					fail(errors.New("too little work within the cap"))
				}
				time.Sleep(5 * time.Millisecond)
			}
			stop.Store(true)
			wg.Wait()
			require.NoError(t, ff.first())
			st, err := db.Stats()
			require.NoError(t, err)
			t.Logf("%d writes, %d Gets, %d Views, %d vacuum passes removed %d versions",
				writes.Load(), gets.Load(), views.Load(), st.Vacuum.Passes, st.Vacuum.Versions)
			require.Positive(t, st.Vacuum.Versions, "vacuum must have cut versions while the readers ran")
		})
	}
}
