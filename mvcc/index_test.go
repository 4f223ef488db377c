package mvcc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIndexModel drives the open-addressing index through growth,
// shrinking and many deletions (tombstones and the rebuilds that clear
// them), checking every key against a Go map after each step.
func TestIndexModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ix index[int]
	ix.init()
	model := map[string]*Node[int]{}
	keys := make([]string, 3000)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	for step := range 40000 {
		k := keys[rng.IntN(len(keys))]
		// Bias toward inserting early and deleting late, so the table both
		// grows and shrinks.
		insert := rng.IntN(100) < 70-step/1000
		if _, ok := model[k]; ok && !insert {
			ix.remove(k)
			delete(model, k)
			require.Nil(t, ix.find(k), "step %d", step)
		} else if !ok && insert {
			n := &Node[int]{key: k}
			ix.insert(n)
			model[k] = n
		}
		require.Equal(t, len(model), ix.live)
		if step%997 == 0 && ix.tab.Load() != nil {
			for _, k := range keys {
				require.Same(t, model[k], ix.find(k), "step %d key %s", step, k)
			}
			slots := len(ix.tab.Load().slots)
			require.LessOrEqual(t, ix.used*4, slots*3, "nodes and tombstones fill at most 3/4")
			require.True(t, slots == minIndexSlots || ix.live*8 >= slots, "at least 1/8 live once grown")
		}
	}
	for _, k := range keys {
		require.Same(t, model[k], ix.find(k))
	}
	ix.remove("absent") // harmless
}
