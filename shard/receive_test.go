package shard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A shard that yields after a cross-shard request must still answer a
// request that arrives long after, when its yields have run out and it has
// parked on the inbox.
func TestReceiveAfterCrossShardIdle(t *testing.T) {
	s, clock := start(t)
	blind(t, s, put("k", "v"))

	for round := 0; round < 3; round++ {
		r := NewRequest[string]()
		r.Kind, r.TS, r.Keys, r.Fanout = KindGet, clock.Last(), []string{"k"}, true
		s.Do(r)
		require.Equal(t, []ReadResult[string]{{Value: "v", Found: true}}, r.Results)
		time.Sleep(2 * time.Millisecond) // past every yield: the shard parks
		v, found := get(t, s, clock.Last(), "k")
		require.True(t, found)
		require.Equal(t, "v", v)
	}
}

func TestCrossShardRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Request[string]
		want bool
	}{
		{"autocommit get", &Request[string]{Kind: KindGet, Latest: true}, false},
		{"transaction get, one shard", &Request[string]{Kind: KindGet}, false},
		{"transaction get, fanned out", &Request[string]{Kind: KindGet, Fanout: true}, true},
		{"fast-path commit", &Request[string]{Kind: KindCommitOne}, false},
		{"prepare", &Request[string]{Kind: KindPrepare}, true},
		{"commit", &Request[string]{Kind: KindCommit}, true},
		{"abort", &Request[string]{Kind: KindAbort}, true},
		{"scan", &Request[string]{Kind: KindScan}, false},
	} {
		require.Equal(t, tc.want, tc.r.crossShard(), tc.name)
	}
}
