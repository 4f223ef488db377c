package stores

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func key(i int) string { return fmt.Sprintf("user%012d", i) }

// open opens every system in every mode it supports; durable ones get a
// fresh temporary directory.
func eachStore(t *testing.T, fn func(t *testing.T, sys System, s Store)) {
	for _, name := range Names() {
		sys, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range sys.Durabilities {
			t.Run(name+"/"+d.String(), func(t *testing.T) {
				s, err := sys.Open(Config{Shards: 3, Durability: d, Dir: t.TempDir()})
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				defer func() {
					if err := s.Close(); err != nil {
						t.Errorf("close: %v", err)
					}
				}()
				fn(t, sys, s)
			})
		}
	}
}

// TestStoresAgree checks each adapter's operations against what the
// harness expects, and that an adapter refuses exactly what its Caps omit.
func TestStoresAgree(t *testing.T) {
	const n = 500
	val := []byte("0123456789")
	eachStore(t, func(t *testing.T, sys System, s Store) {
		caps := sys.Caps
		if err := s.Load(n, key, val); err != nil {
			t.Fatalf("Load: %v", err)
		}
		if err := s.Put(key(n+1), val); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if !caps.Has(CapGet) {
			if _, err := s.Get(key(1)); !errors.Is(err, ErrUnsupported) {
				t.Errorf("Get without CapGet: %v", err)
			}
			return
		}
		for _, tc := range []struct {
			k    string
			want bool
		}{{key(0), true}, {key(n - 1), true}, {key(n), false}, {key(n + 1), true}} {
			if ok, err := s.Get(tc.k); err != nil || ok != tc.want {
				t.Errorf("Get(%q) = %v, %v; want %v", tc.k, ok, err, tc.want)
			}
		}
		got, err := s.Scan(key(10), key(110), 100)
		if caps.Has(CapScan) && (err != nil || got != 100) {
			t.Errorf("Scan 100 = %d, %v", got, err)
		}
		if !caps.Has(CapScan) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("Scan without CapScan: %v", err)
		}
		if caps.Has(CapScan) {
			if got, err := s.Scan(key(10), key(15), 100); err != nil || got != 5 {
				t.Errorf("Scan bounded by hi = %d, %v; want 5", got, err)
			}
			if got, err := s.Scan(key(10), key(110), 7); err != nil || got != 7 {
				t.Errorf("Scan bounded by limit = %d, %v; want 7", got, err)
			}
		}
		if err := s.RMW(key(3), val); caps.Has(CapRMW) != (err == nil) {
			t.Errorf("RMW with caps %b: %v", caps, err)
		}
	})
}

// TestTransfersConserveMoney runs concurrent transfers on every
// transactional store and checks that no money was made or lost.
func TestTransfersConserveMoney(t *testing.T) {
	const accounts, clients, each = 20, 4, 200
	eachStore(t, func(t *testing.T, sys System, s Store) {
		if !sys.Caps.Has(CapTxn) {
			if err := s.Transfer(key(0), key(1), 1); !errors.Is(err, ErrUnsupported) {
				t.Errorf("Transfer without CapTxn: %v", err)
			}
			return
		}
		if err := s.LoadAccounts(accounts, key, 100); err != nil {
			t.Fatalf("LoadAccounts: %v", err)
		}
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				for i := range each {
					from, to := (c+i)%accounts, (c*7+i*3+1)%accounts
					if from == to {
						continue
					}
					if err := s.Transfer(key(from), key(to), int64(i%5)); err != nil {
						t.Errorf("Transfer: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if total, err := s.Total(accounts, key); err != nil || total != accounts*100 {
			t.Errorf("Total = %d, %v; want %d", total, err, accounts*100)
		}
		if _, err := s.Retries(); err != nil {
			t.Errorf("Retries: %v", err)
		}
	})
}

func TestParseDurability(t *testing.T) {
	for _, d := range []Durability{Mem, Relaxed, Full} {
		if got, err := ParseDurability(d.String()); err != nil || got != d {
			t.Errorf("ParseDurability(%q) = %v, %v", d, got, err)
		}
	}
	if _, err := ParseDurability("fsync"); err == nil {
		t.Error("ParseDurability(fsync) succeeded")
	}
}

func TestBalanceEncoding(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 1 << 40, -1 << 62} {
		got, err := decodeBalance(encodeBalance(nil, v))
		if err != nil || got != v {
			t.Errorf("round trip of %d = %d, %v", v, got, err)
		}
	}
	if _, err := decodeBalance([]byte{1, 2}); err == nil {
		t.Error("decodeBalance of 2 bytes succeeded")
	}
}
