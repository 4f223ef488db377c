package mvcc

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersionTombstoneAndExpiry(t *testing.T) {
	n := NewList[string](0.25, 1).Upsert("k")

	n.Install(1, "v", false, 0)
	v := n.Newest()
	require.False(t, v.Tombstone())
	require.Zero(t, v.Expiry())
	require.True(t, v.LiveAt(1<<62))

	n.Install(2, "w", false, 100)
	v = n.Newest()
	require.False(t, v.Tombstone())
	require.Equal(t, int64(100), v.Expiry())
	require.True(t, v.LiveAt(99))
	require.False(t, v.LiveAt(100))

	n.Install(3, "", true, 500) // a tombstone's deadline is meaningless
	v = n.Newest()
	require.True(t, v.Tombstone())
	require.Zero(t, v.Expiry())
	require.False(t, v.LiveAt(0))

	n.Install(4, "x", false, -7) // a deadline before 1970: long expired, not a tombstone
	v = n.Newest()
	require.False(t, v.Tombstone())
	require.False(t, v.LiveAt(2))
	require.Equal(t, 4, n.Versions())

	// The flags live beside the timestamp and never show in it, up to MaxTS.
	n.Install(MaxTS-1, "", true, 0)
	n.Install(MaxTS, "y", false, 9)
	for ts, want := range map[uint64]string{1: "v", 2: "w", 3: "", 4: "x", MaxTS - 1: "", MaxTS: "y"} {
		v := n.At(ts)
		require.NotNil(t, v, "At(%d)", ts)
		require.Equal(t, ts, v.TS(), "At(%d)", ts)
		require.Equal(t, want, v.Value, "At(%d)", ts)
	}
	require.Equal(t, uint64(MaxTS), n.NewestTS())
	require.Equal(t, int64(9), n.Newest().Expiry())
	require.True(t, n.At(MaxTS-1).Tombstone())
	require.Nil(t, n.At(0))
}

// TestPruneCharges checks the running totals against a plain sum: Prune
// must return exactly what the dropped versions were charged (without
// visiting them), and the node's total must stay the kept versions' sum.
func TestPruneCharges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 500 {
		n := NewList[int](0.25, 1).Upsert("k")
		own := map[uint64]int64{} // each version's own charge, by TS
		ts := uint64(0)
		for range rng.IntN(10) {
			ts += 1 + uint64(rng.IntN(4))
			n.Install(ts, int(ts), rng.IntN(4) == 0, 0)
			c := int64(rng.IntN(1 << 40)) // totals well past 32 bits
			if rng.IntN(3) == 0 {
				n.SetCharge(c / 2) // recharging replaces, it does not add
			}
			n.SetCharge(c)
			own[ts] = c
		}
		sum := func() int64 {
			var s int64
			for v := n.Newest(); v != nil; v = v.Older() {
				s += own[v.TS()]
			}
			return s
		}
		require.Equal(t, sum(), n.VersionCharge())

		before := sum()
		horizon := uint64(rng.IntN(int(ts) + 3))
		dropped, charge := n.Prune(horizon)
		require.Equal(t, before-sum(), charge, "horizon %d dropped %d", horizon, dropped)
		require.Equal(t, sum(), n.VersionCharge())
		for v := n.Newest(); v != nil; v = v.Older() {
			var tail int64
			for o := v; o != nil; o = o.Older() {
				tail += own[o.TS()]
			}
			require.Equal(t, tail, v.charge, "running total at %d", v.TS())
		}

		released := n.ReleaseCharges()
		require.Equal(t, sum(), released)
		require.Zero(t, n.VersionCharge())
		dropped, charge = n.Prune(^uint64(0))
		require.Zero(t, charge, "nothing is un-charged twice (dropped %d)", dropped)
	}
}
