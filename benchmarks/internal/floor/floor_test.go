package floor

import (
	"fmt"
	"sync"
	"testing"
)

func TestStoreRoundTrips(t *testing.T) {
	s := New(4)
	defer s.Close()
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			r := NewRequest()
			for i := range 500 {
				k := fmt.Sprintf("c%d/k%d", c, i)
				if _, ok := s.Get(r, k); ok {
					t.Errorf("Get(%q) found a key never written", k)
				}
				s.Put(r, k, []byte{byte(i)})
				if old, ok := s.Swap(r, k, []byte{byte(i + 1)}); !ok || old[0] != byte(i) {
					t.Errorf("Swap(%q) = %v, %v; want [%d], true", k, old, ok, byte(i))
				}
				if v, ok := s.Get(r, k); !ok || v[0] != byte(i+1) {
					t.Errorf("Get(%q) = %v, %v after Swap", k, v, ok)
				}
			}
		})
	}
	wg.Wait()
}

func TestShardOfIsInRangeAndSpread(t *testing.T) {
	s := New(8)
	defer s.Close()
	hits := make([]int, 8)
	for i := range 8000 {
		n := s.ShardOf(fmt.Sprintf("user%012d", i))
		if n < 0 || n >= 8 {
			t.Fatalf("ShardOf = %d, outside [0, 8)", n)
		}
		hits[n]++
	}
	for i, h := range hits {
		if h < 800 || h > 1200 {
			t.Errorf("shard %d got %d of 8000 keys", i, h)
		}
	}
}
