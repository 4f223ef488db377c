package coordinator

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/shard"
)

// A recycled Txn must hold nothing of its transaction: no keys or values
// (they would stay reachable from the pool), no read set, no ranges, and
// it must not be reused while unfinished.
func TestTxnRecycleKeepsNothing(t *testing.T) {
	for _, n := range []int{2, 6, 20, 200} { // inline, spilled, indexed, too big to keep
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := &Coordinator[*[64]byte]{serializable: true}
			txn := &Txn[*[64]byte]{c: c}
			for i := range n {
				k := fmt.Sprint("k", i)
				txn.PutWrite(shard.Write[*[64]byte]{Key: k, Value: new([64]byte)})
				txn.recordRead(k)
			}
			txn.ranges = append(txn.ranges, shard.Span{Lo: "a", Hi: "b"})

			txn.Recycle() // unfinished: must be left alone
			require.Equal(t, n, txn.NumWrites())

			txn.done = true
			txn.Recycle()
			require.Zero(t, txn.NumWrites())
			require.Empty(t, txn.reads.list)
			require.Nil(t, txn.writes.idx)
			require.Nil(t, txn.reads.idx)
			require.Empty(t, txn.ranges)
			require.Equal(t, [4]shard.Write[*[64]byte]{}, txn.writes.inline)
			require.Equal(t, [4]string{}, txn.reads.inline)
			for _, w := range txn.writes.list[:cap(txn.writes.list)] {
				require.Zero(t, w, "a kept buffer holds no old write")
			}
			require.Nil(t, txn.c)
			require.False(t, txn.done)
		})
	}
}
