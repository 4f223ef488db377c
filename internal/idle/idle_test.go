package idle

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// One no vote keeps a server off yields for well over a hundred votes, and
// a steady few percent of no votes keeps it off for good.
func TestContentionAverage(t *testing.T) {
	p := New()
	for range 10_000 {
		p.NoteVote(false)
	}
	p.Served(true)
	require.True(t, p.exchange, "no conflicts: yield")
	p.NoteVote(true)
	for i := 0; i < 150; i++ {
		p.Served(true)
		require.False(t, p.exchange, "after %d yes votes", i)
		p.NoteVote(false)
	}
	for range 2_000 {
		p.NoteVote(false)
	}
	p.Served(true)
	require.True(t, p.exchange, "it decays once conflicts stop")

	for i := range 20_000 { // 3% no votes
		p.NoteVote(i%33 == 0)
		if i > 1_000 {
			p.Served(true)
			require.False(t, p.exchange, "vote %d", i)
		}
	}
}

func TestServedOnlyCrossShard(t *testing.T) {
	p := New()
	p.Served(false)
	require.False(t, p.exchange)
	p.Served(true)
	require.True(t, p.exchange)
}

func TestSetYieldOff(t *testing.T) {
	t.Cleanup(func() { SetYield(true) })
	p := New()
	SetYield(false)
	p.Served(true)
	require.False(t, p.exchange, "with yields off a server parks at once")
	SetYield(true)
	p.Served(true)
	require.True(t, p.exchange)
}

// Whatever the policy, Receive returns every message, including one that
// arrives long after the yields ran out.
func TestReceive(t *testing.T) {
	inbox := make(chan int, 4)
	p := New()

	inbox <- 1
	require.Equal(t, 1, Receive(&p, inbox), "parking policy")

	p.Served(true)
	inbox <- 2
	require.Equal(t, 2, Receive(&p, inbox), "a queued message is taken at once")
	require.Equal(t, MaxYields, p.yields)

	go func() {
		time.Sleep(20 * time.Millisecond)
		inbox <- 3
	}()
	require.Equal(t, 3, Receive(&p, inbox), "parked after the yields")
	require.GreaterOrEqual(t, p.yields, 1)
}
