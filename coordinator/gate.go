package coordinator

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

const gateStripes = 64

// gate keeps shards alive while any request is in flight, so callers can use
// plain channel operations instead of selecting on a shutdown channel with
// every send and receive.
//
// enter increments a stripe and then checks closed; Close sets closed and
// then waits for every stripe to drain. With sequentially consistent
// atomics, an enter that saw closed == false is counted by Close's drain, so
// no request is sent to a shard after it has stopped. The counters are
// striped (cache-line padded, picked at random) so that concurrent callers
// on many cores do not all hit one line.
type gate struct {
	closed  atomic.Bool
	stripes [gateStripes]struct {
		n atomic.Int64
		_ [56]byte
	}
}

// enter admits one in-flight operation; it returns false once closed. The
// returned stripe must be passed to exit.
func (g *gate) enter() (int, bool) {
	i := int(rand.Uint32() % gateStripes)
	g.stripes[i].n.Add(1)
	if g.closed.Load() {
		g.stripes[i].n.Add(-1)
		return 0, false
	}
	return i, true
}

func (g *gate) exit(i int) { g.stripes[i].n.Add(-1) }

// close refuses new operations and waits for those in flight.
func (g *gate) close() {
	g.closed.Store(true)
	for {
		var sum int64
		for i := range g.stripes {
			sum += g.stripes[i].n.Load()
		}
		if sum == 0 {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}
