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

// TestTransferConservesMoney runs contended transfers among a few accounts
// from many goroutines, over both the one-shard and the two-shard paths:
// the total never changes, no balance is lost, and conflicts were retried.
func TestTransferConservesMoney(t *testing.T) {
	const (
		accounts = 6
		start    = 1000
		clients  = 8
		each     = 2000
	)
	s := New(3)
	defer s.Close()
	r := NewRequest()
	key := func(i int) string { return fmt.Sprintf("acct%d", i) }
	for i := range accounts {
		s.SetBalance(r, key(i), start)
	}
	same, cross := 0, 0
	for i := range accounts {
		for j := range accounts {
			if i != j && s.ShardOf(key(i)) == s.ShardOf(key(j)) {
				same++
			} else if i != j {
				cross++
			}
		}
	}
	if same == 0 || cross == 0 {
		t.Fatalf("accounts cover %d same-shard and %d cross-shard pairs; want both paths", same, cross)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	retries := 0
	for c := range clients {
		wg.Go(func() {
			rs := &[3]*Request{NewRequest(), NewRequest(), NewRequest()}
			n := 0
			for k := range each {
				from, to := (c+k)%accounts, (c+2*k+1)%accounts
				if from == to {
					continue
				}
				n += s.Transfer(rs, key(from), key(to), 1) - 1
			}
			mu.Lock()
			retries += n
			mu.Unlock()
		})
	}
	wg.Wait()
	var total int64
	for i := range accounts {
		b, ok := s.Balance(r, key(i))
		if !ok {
			t.Fatalf("account %d missing", i)
		}
		total += b
	}
	if total != accounts*start {
		t.Fatalf("total %d after transfers; want %d", total, accounts*start)
	}
	if retries == 0 {
		t.Errorf("no transfer was retried among %d clients on %d accounts; the conflict path went untested", clients, accounts)
	}
}
