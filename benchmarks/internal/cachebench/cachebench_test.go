package cachebench

import (
	"testing"
	"time"
)

// TestEverySystemRuns drives each cache through a small trace and a short
// concurrent run: each must hit and miss (a key space five times what the
// budget holds cannot be all hits, and a zipfian trace over it cannot be
// all misses) and make progress with clients.
func TestEverySystemRuns(t *testing.T) {
	const budget, valueSize = 1 << 18, 100
	keys := KeysFor(budget, valueSize, 5)
	for _, sys := range Systems {
		t.Run(sys.Name, func(t *testing.T) {
			var per int64
			if sys.Calibrated {
				var err error
				if per, err = Calibrate(sys, keys/5, valueSize); err != nil {
					t.Fatal(err)
				}
				if per < valueSize {
					t.Fatalf("calibrated %d bytes an entry, less than the value alone", per)
				}
			}
			res, err := Run(sys, Config{Budget: budget, ValueSize: valueSize, Keys: keys, TraceOps: keys,
				Clients: 2, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, Seed: 1}, per)
			if err != nil {
				t.Fatal(err)
			}
			if !(res.TraceHitRatio > 0.2 && res.TraceHitRatio < 0.95) {
				t.Errorf("trace hit ratio %.3f: want a cache that hits and misses", res.TraceHitRatio)
			}
			if res.OpsPerSec <= 0 || res.HitRatio <= 0 {
				t.Errorf("concurrent run: %.0f ops/s, hit ratio %.3f", res.OpsPerSec, res.HitRatio)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("fluxmap-lru"); err != nil {
		t.Error(err)
	}
	if _, err := Lookup("memcached"); err == nil {
		t.Error("Lookup(memcached) found a system")
	}
}
