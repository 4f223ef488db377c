package shard

import (
	"fmt"
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
		r.Kind, r.TS, r.Writes = KindPrepare, clock.Last(), []Write[string]{put("p", "x")}
		s.Do(r)
		require.NoError(t, r.Err)
		r.Kind = KindAbort
		s.Do(r)                          // cross-shard requests: the shard yields before it parks
		time.Sleep(2 * time.Millisecond) // past every yield: the shard parks
		ts := blind(t, s, put("k", fmt.Sprint(round)))
		v, found := get(t, s, ts, "k")
		require.True(t, found)
		require.Equal(t, fmt.Sprint(round), v)
	}
}

func TestCrossShardRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Request[string]
		want bool
	}{
		{"fast-path commit", &Request[string]{Kind: KindCommitOne}, false},
		{"prepare", &Request[string]{Kind: KindPrepare}, true},
		{"commit", &Request[string]{Kind: KindCommit}, true},
		{"abort", &Request[string]{Kind: KindAbort}, true},
		{"vacuum", &Request[string]{Kind: KindVacuum}, false},
	} {
		require.Equal(t, tc.want, tc.r.crossShard(), tc.name)
	}
}
