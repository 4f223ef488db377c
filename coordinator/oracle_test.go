package coordinator

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// waitAsync runs WaitVisible in a goroutine and returns its result channel.
func waitAsync(o *Oracle, ts uint64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- o.WaitVisible(ts, NewWaiter()) }()
	return ch
}

func requireBlocked(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("WaitVisible returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
}

func requireReturns(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("WaitVisible did not return")
		return nil
	}
}

func TestOracleNextDenseAndUnique(t *testing.T) {
	const (
		start      = 100
		goroutines = 8
		per        = 2000
	)
	o := NewOracle(start)
	require.Equal(t, uint64(start), o.Visible())
	got := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range per {
				got[g] = append(got[g], o.Next())
			}
		})
	}
	wg.Wait()
	all := slices.Concat(got...)
	slices.Sort(all)
	require.Len(t, all, goroutines*per)
	for i, ts := range all {
		require.Equal(t, uint64(start+1+i), ts, "timestamps must be dense and unique")
	}
	require.Equal(t, uint64(start), o.Visible(), "allocation alone must not advance visible")
}

func TestOracleDoneOutOfOrder(t *testing.T) {
	type step struct {
		done    uint64
		visible uint64 // expected Visible after Done
	}
	cases := []struct {
		name  string
		start uint64
		next  int // timestamps to allocate
		steps []step
	}{
		{"in order", 0, 3, []step{{1, 1}, {2, 2}, {3, 3}}},
		{"reverse", 0, 3, []step{{3, 0}, {2, 0}, {1, 3}}},
		{"gaps", 0, 5, []step{{2, 0}, {4, 0}, {1, 2}, {5, 2}, {3, 5}}},
		{"last first", 0, 4, []step{{4, 0}, {1, 1}, {2, 2}, {3, 4}}},
		{"offset start", 1000, 3, []step{{1002, 1000}, {1003, 1000}, {1001, 1003}}},
		{"ring wrap", ringSize - 2, 4, []step{
			{ringSize + 1, ringSize - 2}, {ringSize + 2, ringSize - 2},
			{ringSize - 1, ringSize - 1}, {ringSize, ringSize + 2},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := NewOracle(c.start)
			for i := range c.next {
				require.Equal(t, c.start+uint64(i)+1, o.Next())
			}
			for _, s := range c.steps {
				o.Done(s.done)
				require.Equal(t, s.visible, o.Visible(), "after Done(%d)", s.done)
			}
		})
	}
}

// TestOracleRingSlotReuse: a slot still holding a timestamp one ring length
// older must not count as done for the new timestamp mapping to it.
func TestOracleRingSlotReuse(t *testing.T) {
	o := NewOracle(0)
	for range ringSize {
		o.Done(o.Next())
	}
	require.Equal(t, uint64(ringSize), o.Visible())
	a, b := o.Next(), o.Next() // ringSize+1, ringSize+2: slots 1 and 2 hold 1 and 2
	o.Done(b)
	require.Equal(t, uint64(ringSize), o.Visible(), "stale slot for %d must not look done", a)
	w := waitAsync(o, b)
	requireBlocked(t, w)
	o.Done(a)
	require.Equal(t, b, o.Visible())
	require.NoError(t, requireReturns(t, w))
}

func TestOracleWaitVisible(t *testing.T) {
	o := NewOracle(10)
	require.NoError(t, o.WaitVisible(10, NewWaiter()), "already visible")
	require.NoError(t, o.WaitVisible(3, NewWaiter()), "already visible")

	t1, t2, t3 := o.Next(), o.Next(), o.Next()
	w1, w2, w3 := waitAsync(o, t1), waitAsync(o, t2), waitAsync(o, t3)
	requireBlocked(t, w2)

	o.Done(t2) // not a gap-free prefix yet
	requireBlocked(t, w1)
	requireBlocked(t, w2)

	o.Done(t1)
	require.NoError(t, requireReturns(t, w1))
	require.NoError(t, requireReturns(t, w2))
	require.Equal(t, t2, o.Visible())
	requireBlocked(t, w3)

	o.Done(t3)
	require.NoError(t, requireReturns(t, w3))

	// A Waiter is reusable.
	w := NewWaiter()
	for range 3 {
		ts := o.Next()
		ch := make(chan error, 1)
		go func() { ch <- o.WaitVisible(ts, w) }()
		requireBlocked(t, ch)
		o.Done(ts)
		require.NoError(t, requireReturns(t, ch))
	}
}

func TestOracleCloseReleasesWaiters(t *testing.T) {
	o := NewOracle(0)
	require.NoError(t, o.Admit())
	stuck := o.Next() // its Done never comes
	later := o.Next()
	o.Done(later)
	w1, w2 := waitAsync(o, stuck), waitAsync(o, later)
	requireBlocked(t, w1)
	requireBlocked(t, w2)

	o.Close()
	require.ErrorIs(t, requireReturns(t, w1), errs.ErrClosed)
	require.ErrorIs(t, requireReturns(t, w2), errs.ErrClosed)
	require.ErrorIs(t, o.WaitVisible(stuck, NewWaiter()), errs.ErrClosed, "waiting after Close")
	require.NoError(t, o.WaitVisible(0, NewWaiter()), "an already visible timestamp is not an error")
	require.ErrorIs(t, o.Admit(), errs.ErrClosed)
	o.Release()
}

func TestOraclePoison(t *testing.T) {
	o := NewOracle(0)
	require.NoError(t, o.Poisoned())
	t1 := o.Next()
	o.Done(t1)
	t2 := o.Next()
	w := waitAsync(o, t2)
	requireBlocked(t, w)

	first := fmt.Errorf("%w: fsync: disk on fire", errs.ErrPoisoned)
	o.Poison(first)
	o.Poison(fmt.Errorf("%w: second", errs.ErrPoisoned)) // only the first counts
	require.Equal(t, first, o.Poisoned())
	require.ErrorIs(t, o.Admit(), errs.ErrPoisoned)
	requireBlocked(t, w) // t2 may still be done

	o.Fail(t2, false)
	err := requireReturns(t, w)
	require.Equal(t, first, err, "a commit no log took did not take effect: the poisoning error alone")
	require.Equal(t, t1, o.Visible(), "poison does not move visible")
	require.NoError(t, o.WaitVisible(t1, NewWaiter()), "an already visible timestamp is not an error")
	require.Equal(t, first, o.WaitVisible(t2, NewWaiter()))
}

// TestOracleFailedCommitFate: after a poisoning, a done commit learns its
// fate from the failed timestamps at or below it: visible (nil) if there is
// none once every earlier commit is done, ErrCommitUnknown if the first
// failure below may have been logged, the poisoning error alone if one
// below certainly was not (recovery stops there).
func TestOracleFailedCommitFate(t *testing.T) {
	poison := fmt.Errorf("%w: fsync: disk on fire", errs.ErrPoisoned)

	t.Run("failure above waits for the slow commit below", func(t *testing.T) {
		o := NewOracle(0)
		slow, mine, failing := o.Next(), o.Next(), o.Next()
		o.Done(mine)
		w := waitAsync(o, mine)
		o.Poison(poison)
		o.Fail(failing, true)
		requireBlocked(t, w) // slow may still succeed, and then mine is visible
		o.Done(slow)
		require.NoError(t, requireReturns(t, w))
		require.Equal(t, mine, o.Visible(), "visible passes every done commit below the first failure")
	})

	t.Run("failure below with a record that may survive", func(t *testing.T) {
		o := NewOracle(0)
		failing, mine := o.Next(), o.Next()
		o.Done(mine)
		w := waitAsync(o, mine)
		o.Poison(poison)
		requireBlocked(t, w)
		o.Fail(failing, true)
		err := requireReturns(t, w)
		require.ErrorIs(t, err, errs.ErrCommitUnknown)
		require.ErrorIs(t, err, poison)
		require.Zero(t, o.Visible())
	})

	t.Run("a refused record below decides over an unknown one", func(t *testing.T) {
		o := NewOracle(0)
		unknown, refused, mine := o.Next(), o.Next(), o.Next()
		o.Done(mine)
		o.Poison(poison)
		o.Fail(refused, false)
		o.Fail(unknown, true)
		require.Equal(t, poison, o.WaitVisible(mine, NewWaiter()), "the gap at refused ends any recovered prefix below mine")
		err := o.WaitVisible(unknown, NewWaiter())
		require.ErrorIs(t, err, errs.ErrCommitUnknown)
	})

	t.Run("a failure above a visible commit changes nothing", func(t *testing.T) {
		o := NewOracle(0)
		mine, failing := o.Next(), o.Next()
		o.Done(mine)
		o.Poison(poison)
		o.Fail(failing, false)
		require.NoError(t, o.WaitVisible(mine, NewWaiter()))
	})
}

func TestOracleAdmissionBound(t *testing.T) {
	o := NewOracle(0)
	for range maxInFlight {
		require.NoError(t, o.Admit())
	}
	admitted := make(chan error, 1)
	go func() { admitted <- o.Admit() }()
	select {
	case err := <-admitted:
		t.Fatalf("Admit past maxInFlight returned: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	o.Release()
	select {
	case err := <-admitted:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Admit not released by Release")
	}
}

func TestOracleAdmitBlockedByBoundFailsOnClose(t *testing.T) {
	o := NewOracle(0)
	for range maxInFlight {
		require.NoError(t, o.Admit())
	}
	admitted := make(chan error, 1)
	go func() { admitted <- o.Admit() }()
	time.Sleep(5 * time.Millisecond)
	o.Close()
	select {
	case err := <-admitted:
		require.ErrorIs(t, err, errs.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Admit stuck after Close")
	}
}

func TestOracleCommitStress(t *testing.T) {
	const goroutines = 8
	iters := 3000
	if testing.Short() {
		iters = 500
	}
	o := NewOracle(7)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			w := NewWaiter()
			for range iters {
				if !assert.NoError(t, o.Admit()) {
					return
				}
				ts := o.Next()
				switch rng.IntN(8) {
				case 0:
					runtime.Gosched()
				case 1:
					time.Sleep(time.Duration(rng.IntN(20)) * time.Microsecond)
				}
				o.Done(ts)
				if !assert.NoError(t, o.WaitVisible(ts, w)) ||
					!assert.GreaterOrEqual(t, o.Visible(), ts, "WaitVisible returned before visible reached ts") {
					o.Release()
					return
				}
				o.Release()
			}
		})
	}
	wg.Wait()
	last := o.Next() - 1
	require.Equal(t, uint64(7+goroutines*iters), last)
	require.Equal(t, last, o.Visible())
}

// TestOracleWaiterReuseStress has goroutines wait on the newest allocated
// timestamp, whose Done depends on other goroutines, so waiters really park
// and share ring slots with timestamps still in flight. Each goroutine
// reuses one Waiter across commits, as a pooled Tx does: a goroutine that
// loaded the Waiter from a slot (wake, register) must not read its ts while
// the owner, already woken by someone else, rewrites it for its next wait.
func TestOracleWaiterReuseStress(t *testing.T) {
	const goroutines = 8
	const iters = 1000
	o := NewOracle(0)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			w := NewWaiter()
			for range iters {
				if !assert.NoError(t, o.Admit()) {
					return
				}
				ts := o.Next()
				if rng.IntN(3) == 0 {
					time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
				}
				o.Done(ts)
				// Wait for a timestamp beyond ours too, which somebody else
				// may still be finishing.
				// Every allocated timestamp is marked done before its owner
				// waits, so waiting on the newest allocated one terminates.
				target := ts
				if rng.IntN(2) == 0 {
					target = o.next.Load()
				}
				ok := assert.NoError(t, o.WaitVisible(target, w)) &&
					assert.GreaterOrEqual(t, o.Visible(), target)
				o.Release()
				if !ok {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, uint64(goroutines*iters), o.Visible())
}

func TestSnapshots(t *testing.T) {
	o := NewOracle(10)
	_, ok := o.OldestSnapshot()
	require.False(t, ok)
	require.Equal(t, uint64(10), o.Horizon(), "no snapshot: horizon is visible")

	commit := func() {
		require.NoError(t, o.Admit())
		o.Done(o.Next())
		o.Release()
	}

	s1 := o.Acquire(0)
	require.Equal(t, uint64(10), s1.TS)
	commit()
	commit()
	require.Equal(t, uint64(12), o.Visible())
	require.Equal(t, uint64(10), o.Horizon(), "s1 pins the horizon")
	oldest, ok := o.OldestSnapshot()
	require.True(t, ok)
	require.Equal(t, uint64(10), oldest)

	s2 := o.Acquire(1)
	require.Equal(t, uint64(12), s2.TS)
	s2b := o.Acquire(1) // same stripe, same timestamp
	require.Equal(t, uint64(12), s2b.TS)
	commit()
	require.Equal(t, uint64(10), o.Horizon())

	s1.Release()
	require.Equal(t, uint64(12), o.Horizon(), "releasing the oldest moves the horizon up")
	oldest, ok = o.OldestSnapshot()
	require.True(t, ok)
	require.Equal(t, uint64(12), oldest)

	s2.Release()
	require.Equal(t, uint64(12), o.Horizon(), "s2b still holds timestamp 12")
	oldest, ok = o.OldestSnapshot()
	require.True(t, ok)
	require.Equal(t, uint64(12), oldest)

	s2b.Release()
	require.Equal(t, uint64(13), o.Horizon())
	_, ok = o.OldestSnapshot()
	require.False(t, ok)

	// Snapshots on many stripes: the horizon is the minimum over all.
	var held []Snapshot
	for i := range 2 * snapshotStripes {
		held = append(held, o.Acquire(uint64(i)))
		commit()
	}
	require.Equal(t, uint64(13), o.Horizon())
	for i, s := range held {
		require.Equal(t, uint64(13+i), s.TS)
		require.Equal(t, s.TS, o.Horizon(), "horizon after releasing %d snapshots", i)
		oldest, ok = o.OldestSnapshot()
		require.True(t, ok)
		require.Equal(t, s.TS, oldest)
		s.Release()
	}
	require.Equal(t, o.Visible(), o.Horizon())

	Snapshot{}.Release() // the zero Snapshot is inert
	require.Equal(t, o.Visible(), o.Horizon())
}

// TestSnapshotHorizonConcurrent checks the horizon guarantee under
// concurrency: while a snapshot S is held, every Horizon result returned
// so far (by any goroutine) is <= S.TS. Horizon results computed before S
// was acquired are bounded by the visible watermark S read, and those
// computed after must see S; the registry's floor covers the overlap.
func TestSnapshotHorizonConcurrent(t *testing.T) {
	const holders = 4
	iters := 1500
	if testing.Short() {
		iters = 300
	}
	o := NewOracle(0)
	stop := make(chan struct{})
	var maxHorizon atomic.Uint64
	publish := func(h uint64) {
		for {
			m := maxHorizon.Load()
			if h <= m || maxHorizon.CompareAndSwap(m, h) {
				return
			}
		}
	}

	var bg sync.WaitGroup
	for range 2 { // committers
		bg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if o.Admit() != nil {
					return
				}
				o.Done(o.Next())
				o.Release()
				runtime.Gosched()
			}
		})
	}
	bg.Go(func() { // vacuum-like horizon reader
		for {
			select {
			case <-stop:
				return
			default:
			}
			publish(o.Horizon())
			runtime.Gosched()
		}
	})

	var wg sync.WaitGroup
	for g := range holders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for range iters {
				before := o.Visible()
				s := o.Acquire(uint64(rng.IntN(4))) // share stripes
				after := o.Visible()
				ok := assert.GreaterOrEqual(t, s.TS, before, "snapshot older than visible before Acquire") &&
					assert.LessOrEqual(t, s.TS, after, "snapshot newer than visible")
				for j := 0; ok && j < 1+rng.IntN(4); j++ {
					h := o.Horizon()
					publish(h)
					ok = assert.LessOrEqual(t, h, s.TS, "Horizon above a held snapshot") &&
						assert.LessOrEqual(t, maxHorizon.Load(), s.TS, "some Horizon result exceeded a held snapshot")
					runtime.Gosched()
				}
				ok = ok && assert.LessOrEqual(t, maxHorizon.Load(), s.TS, "some Horizon result exceeded a held snapshot")
				s.Release()
				if !ok {
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	_, live := o.OldestSnapshot()
	require.False(t, live, "every snapshot was released")
	require.Equal(t, o.Visible(), o.Horizon())
	require.Positive(t, o.Visible(), "committers made progress")
	t.Logf("visible reached %d", o.Visible())
}

// TestSnapshotAcquireRacesHorizon runs Acquire, Horizon and commits in tight
// loops for a fixed time, so that Horizon often lands between Acquire's read
// of visible and its registration: the window the horizon floor closes.
// Without the floor an Acquire can return a snapshot older than a Horizon
// result that has already been handed to vacuum.
func TestSnapshotAcquireRacesHorizon(t *testing.T) {
	o := NewOracle(0)
	var maxHorizon atomic.Uint64
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			o.Done(o.Next())
		}
	})
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			h := o.Horizon()
			for {
				m := maxHorizon.Load()
				if h <= m || maxHorizon.CompareAndSwap(m, h) {
					break
				}
			}
		}
	})
	var violations, acquired atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(400 * time.Millisecond)
	for g := range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				s := o.Acquire(uint64(g))
				if h := maxHorizon.Load(); h > s.TS {
					if violations.Add(1) == 1 {
						t.Errorf("snapshot at %d acquired, but Horizon already returned %d", s.TS, h)
					}
				}
				acquired.Add(1)
				s.Release()
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	require.Zero(t, violations.Load())
	require.Positive(t, acquired.Load())
}
