package workload

import (
	"testing"

	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
)

func TestKeyName(t *testing.T) {
	for _, tc := range []struct {
		i    uint64
		want string
	}{{0, "user000000000000"}, {42, "user000000000042"}, {999_999_999_999, "user999999999999"}, {1_000_000_000_000, "user1000000000000"}} {
		if got := KeyName(tc.i); got != tc.want {
			t.Errorf("KeyName(%d) = %q, want %q", tc.i, got, tc.want)
		}
	}
	if KeyName(9) >= KeyName(10) {
		t.Error("key order does not follow item order")
	}
}

func TestEveryWorkloadIsWellFormed(t *testing.T) {
	for _, name := range Names() {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		m := s.Mix
		if sum := m.Read + m.Update + m.Insert + m.Scan + m.RMW + m.Transfer; sum < 0.999 || sum > 1.001 {
			t.Errorf("%s: mix sums to %v", name, sum)
		}
		if (m.Scan > 0) != (s.ScanLen > 0) {
			t.Errorf("%s: scans %v but ScanLen %d", name, m.Scan, s.ScanLen)
		}
	}
	if _, err := Lookup("ycsb-z"); err == nil {
		t.Error("Lookup(ycsb-z) succeeded")
	}
}

func TestNeeds(t *testing.T) {
	for name, want := range map[string]stores.Caps{
		"ycsb-a": stores.CapGet,
		"ycsb-e": stores.CapScan,
		"ycsb-f": stores.CapGet | stores.CapRMW,
		"bank":   stores.CapTxn,
		"update": 0,
	} {
		s, _ := Lookup(name)
		if got := s.Needs(); got != want {
			t.Errorf("%s needs %b, want %b", name, got, want)
		}
	}
}

// draw runs n operations of the named workload and returns them.
func draw(t *testing.T, name string, dist Dist, keys, n int) ([]Op, *Keyspace) {
	t.Helper()
	s, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	p := Params{Spec: s, Dist: dist, Keys: NewKeyspace(keys), Hot: 4}
	sh, err := NewShared(p)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGen(p, sh, 7)
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = g.Next()
	}
	return ops, p.Keys
}

func TestYCSBAMixAndKeys(t *testing.T) {
	ops, ks := draw(t, "ycsb-a", Zipfian, 1000, 20_000)
	counts := map[Kind]int{}
	for _, op := range ops {
		counts[op.Kind]++
		if op.Key < ks.Key(0) || op.Key > ks.Key(999) {
			t.Fatalf("key %q outside the loaded keys", op.Key)
		}
	}
	if r := float64(counts[Read]) / 20_000; r < 0.48 || r > 0.52 {
		t.Errorf("read fraction %.3f, want 0.5", r)
	}
	if counts[Read]+counts[Update] != 20_000 {
		t.Errorf("kinds other than read and update: %v", counts)
	}
}

func TestBankTransfersDistinctAccounts(t *testing.T) {
	for _, name := range []string{"bank", "hotspot"} {
		ops, _ := draw(t, name, Zipfian, 100, 5000)
		hot := 0
		for _, op := range ops {
			if op.Kind != Transfer || op.Key == op.Key2 {
				t.Fatalf("%s: op %+v is not a transfer between two accounts", name, op)
			}
			if op.Key < KeyName(4) {
				hot++
			}
		}
		frac := float64(hot) / 5000
		if name == "hotspot" && frac < 0.85 {
			t.Errorf("hotspot: %.2f of picks hot, want about %.2f", frac, HotProb)
		}
		if name == "bank" && frac > 0.1 {
			t.Errorf("bank: %.2f of picks in the first 4 of 100 accounts: not uniform", frac)
		}
	}
}

func TestScanBounds(t *testing.T) {
	ops, _ := draw(t, "scan", Zipfian, 1000, 2000)
	for _, op := range ops {
		if op.Kind != Scan || op.ScanLen != 100 || op.Key2 > KeyName(999) && op.Key2 != KeyName(1000) {
			t.Fatalf("bad scan %+v", op)
		}
	}
	ops, _ = draw(t, "ycsb-e", Zipfian, 1000, 2000)
	inserts := 0
	for _, op := range ops {
		switch op.Kind {
		case Scan:
			if op.ScanLen < 1 || op.ScanLen > 100 {
				t.Fatalf("scan length %d outside [1, 100]", op.ScanLen)
			}
		case Insert:
			if op.Key < KeyName(1000) {
				t.Fatalf("insert of existing key %q", op.Key)
			}
			inserts++
		default:
			t.Fatalf("unexpected op %+v", op)
		}
	}
	if inserts < 50 || inserts > 150 {
		t.Errorf("%d inserts of 2000, want about 100", inserts)
	}
}

func TestLatestReadsRecentKeys(t *testing.T) {
	ops, _ := draw(t, "ycsb-d", Uniform, 10_000, 20_000)
	recent := 0
	for _, op := range ops {
		if op.Kind == Read && op.Key >= KeyName(9000) {
			recent++
		}
	}
	if recent < 10_000 {
		t.Errorf("only %d of ~19000 reads hit the newest 10%% of keys", recent)
	}
}

func TestGenDoesNotAllocate(t *testing.T) {
	s, _ := Lookup("ycsb-a")
	p := Params{Spec: s, Dist: Zipfian, Keys: NewKeyspace(1000)}
	sh, err := NewShared(p)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGen(p, sh, 1)
	if a := testing.AllocsPerRun(1000, func() { _ = g.Next() }); a != 0 {
		t.Errorf("Next allocates %v times per op; the harness would charge it to the store", a)
	}
}

func TestSharedValidates(t *testing.T) {
	scan, _ := Lookup("scan")
	if _, err := NewShared(Params{Spec: scan, Dist: Uniform, Keys: NewKeyspace(50)}); err == nil {
		t.Error("scan of 100 over 50 keys accepted")
	}
	hot, _ := Lookup("hotspot")
	if _, err := NewShared(Params{Spec: hot, Keys: NewKeyspace(50), Hot: 50}); err == nil {
		t.Error("hot set as large as the keyspace accepted")
	}
}
