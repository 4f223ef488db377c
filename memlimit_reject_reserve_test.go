package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// TestMemRejectConcurrentTxnsStayWithinLimit: under Reject, concurrent
// two-phase transactions that each fit alone must not together take a
// shard over its share of MaxMemory: a prepared transaction reserves the
// room it will install until it commits or aborts.
func TestMemRejectConcurrentTxnsStayWithinLimit(t *testing.T) {
	ctx := context.Background()
	const shards = 2
	val := strings.Repeat("x", 2000)
	cost := memTEntryCostVal(t, val)
	limit := int64(shards) * (3*cost + cost/2) // each shard: 3.5 entries
	for round := range 10 {
		if memTRejectRound(t, ctx, limit, val) {
			return
		}
		t.Logf("round %d stayed within the limit", round)
	}
}

// memTRejectRound reports whether a shard ended over its share.
func memTRejectRound(t *testing.T, ctx context.Context, limit int64, val string) bool {
	const shards = 2
	db := build(t, fluxmap.New[string, string]().Shards(shards).MaxMemory(limit).EvictionPolicy(fluxmap.Reject))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
					for j := range 6 { // spread over both shards
						if err := tx.Insert(fmt.Sprintf("g%d-i%d-j%d", g, i, j), val); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil && !errors.Is(err, fluxmap.ErrMemoryLimit) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st, err := db.Stats()
	require.NoError(t, err)
	over := false
	for i, s := range st.Shards {
		if s.Bytes > limit/shards {
			t.Errorf("Reject let shard %d exceed its share: %d bytes, share %d", i, s.Bytes, limit/shards)
			over = true
		}
	}
	return over
}

func memTEntryCostVal(t *testing.T, val string) int64 {
	t.Helper()
	db := build(t, fluxmap.New[string, string]().Shards(1))
	require.NoError(t, db.Insert(context.Background(), "g0-i00-j0", val))
	return shardMemory(t, db)
}
