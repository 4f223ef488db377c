package fluxmap_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/txhook"
)

func TestInsertIfAbsent(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	b := fluxmap.New[string, string]().Shards(2)
	txhook.SetClock(b, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	db := build(t, b)

	v, ok, err := db.InsertIfAbsent(ctx, "k", "first")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "first", v)
	v, ok, err = db.InsertIfAbsent(ctx, "k", "second")
	require.NoError(t, err)
	require.False(t, ok, "present: not inserted")
	require.Equal(t, "first", v, "the value it kept")

	_, _, err = db.Remove(ctx, "k")
	require.NoError(t, err)
	_, ok, err = db.InsertIfAbsent(ctx, "k", "after delete")
	require.NoError(t, err)
	require.True(t, ok, "a deleted key is absent")

	require.NoError(t, db.InsertWithTTL(ctx, "ttl", "old", time.Second))
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	_, ok, err = db.InsertIfAbsent(ctx, "ttl", "new")
	require.NoError(t, err)
	require.True(t, ok, "an expired key is absent")
	got, _, err := db.Get(ctx, "ttl")
	require.NoError(t, err)
	require.Equal(t, "new", got)
}

// TestInsertIfAbsentRace: many goroutines race to claim the same keys;
// exactly one wins each, and every loser sees the winner's value.
func TestInsertIfAbsentRace(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int]().Shards(4))
	const workers, keys = 8, 200
	var wins [keys]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := range keys {
				key := fmt.Sprint("lock/", k)
				v, ok, err := db.InsertIfAbsent(ctx, key, w)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					wins[k].Add(1)
				}
				if cur, _, _ := db.Get(ctx, key); cur != v {
					t.Errorf("%s: InsertIfAbsent said %d, Get says %d", key, v, cur)
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		require.Equal(t, int32(1), wins[k].Load(), "key %d", k)
	}
}

// TestCompareAndSwapCounter: concurrent increments by compare-and-swap
// loops lose no update.
func TestCompareAndSwapCounter(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, int64]().Shards(2))
	require.NoError(t, db.Insert(ctx, "n", 0))
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					cur, _, err := db.Get(ctx, "n")
					if err != nil {
						t.Error(err)
						return
					}
					ok, err := db.CompareAndSwap(ctx, "n", cur, cur+1)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	n, _, err := db.Get(ctx, "n")
	require.NoError(t, err)
	require.Equal(t, int64(workers*each), n)
}

func TestCompareAndSwapAndDelete(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, []byte]().Shards(2))
	ok, err := db.CompareAndSwap(ctx, "k", nil, []byte("x"))
	require.NoError(t, err)
	require.False(t, ok, "an absent key never matches")
	require.NoError(t, db.Insert(ctx, "k", []byte("a")))
	ok, err = db.CompareAndSwap(ctx, "k", []byte("b"), []byte("c"))
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = db.CompareAndSwap(ctx, "k", []byte("a"), []byte("c")) // bytes.Equal, not identity
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = db.CompareAndDelete(ctx, "k", []byte("a"))
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = db.CompareAndDelete(ctx, "k", []byte("c"))
	require.NoError(t, err)
	require.True(t, ok)
	_, found, err := db.Get(ctx, "k")
	require.NoError(t, err)
	require.False(t, found)
}

// TestCompareAndSwapNeedsEquality: a value type == cannot compare is
// refused with a clear error until ValueEqual is set, and a panicking
// ValueEqual fails the call without harming the database.
func TestCompareAndSwapNeedsEquality(t *testing.T) {
	ctx := context.Background()
	type tags struct{ names []string }
	db := build(t, fluxmap.New[string, tags]().Shards(1))
	require.NoError(t, db.Insert(ctx, "k", tags{[]string{"a"}}))
	_, err := db.CompareAndSwap(ctx, "k", tags{[]string{"a"}}, tags{})
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	require.ErrorContains(t, err, "ValueEqual")

	eq := func(a, b tags) bool { return fmt.Sprint(a.names) == fmt.Sprint(b.names) }
	db2 := build(t, fluxmap.New[string, tags]().Shards(1).ValueEqual(eq))
	require.NoError(t, db2.Insert(ctx, "k", tags{[]string{"a"}}))
	ok, err := db2.CompareAndSwap(ctx, "k", tags{[]string{"a"}}, tags{[]string{"b"}})
	require.NoError(t, err)
	require.True(t, ok)

	db3 := build(t, fluxmap.New[string, any]().Shards(1))
	require.NoError(t, db3.Insert(ctx, "k", []int{1})) // a dynamic type == panics on
	_, err = db3.CompareAndSwap(ctx, "k", []int{1}, 2)
	require.ErrorIs(t, err, fluxmap.ErrInvalidArgument)
	require.NoError(t, db3.Insert(ctx, "k", 3), "the shard survived the panic")
	ok, err = db3.CompareAndSwap(ctx, "k", 3, 4)
	require.NoError(t, err)
	require.True(t, ok)
}

// TestConditionalWriteAtRejectLimit: at a full Reject limit, a conditional
// write whose condition fails writes nothing, so it answers instead of
// failing with ErrMemoryLimit; one that would write is refused.
func TestConditionalWriteAtRejectLimit(t *testing.T) {
	ctx := context.Background()
	db := build(t, fluxmap.New[string, string]().Shards(1).MaxMemory(2000).EvictionPolicy(fluxmap.Reject))
	big := string(make([]byte, 900))
	require.NoError(t, db.Insert(ctx, "a", big))
	require.ErrorIs(t, db.Insert(ctx, "b", big), fluxmap.ErrMemoryLimit, "the limit is full")

	v, ok, err := db.InsertIfAbsent(ctx, "a", big)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, big, v)
	ok, err = db.CompareAndSwap(ctx, "a", "not it", big+big)
	require.NoError(t, err)
	require.False(t, ok)
	_, _, err = db.InsertIfAbsent(ctx, "b", big)
	require.ErrorIs(t, err, fluxmap.ErrMemoryLimit)
}
