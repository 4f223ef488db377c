package zipf

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestNewRejectsBadParameters(t *testing.T) {
	for _, tc := range []struct {
		n     uint64
		theta float64
	}{{1, 0.99}, {0, 0.5}, {100, 0}, {100, 1}, {100, 1.5}, {100, math.NaN()}} {
		if _, err := New(tc.n, tc.theta); err == nil {
			t.Errorf("New(%d, %v) = nil error, want one", tc.n, tc.theta)
		}
	}
}

func TestZetaSmall(t *testing.T) {
	// 1 + 1/2^0.5 + 1/3^0.5
	want := 1 + 1/math.Sqrt(2) + 1/math.Sqrt(3)
	if got := Zeta(3, 0.5); math.Abs(got-want) > 1e-12 {
		t.Fatalf("Zeta(3, 0.5) = %v, want %v", got, want)
	}
}

// TestZipfianMatchesPMF draws many samples and compares the empirical
// frequency of the most popular ranks with the exact probabilities, and
// checks the head-to-tail skew that YCSB's theta 0.99 is known for.
func TestZipfianMatchesPMF(t *testing.T) {
	const n, draws = 1000, 400_000
	z, err := New(n, YCSBTheta)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, n)
	for range draws {
		v := z.Next(r)
		if v >= n {
			t.Fatalf("Next = %d, outside [0, %d)", v, n)
		}
		counts[v]++
	}
	// Ranks 0 and 1 are drawn exactly; the rest follow Gray's
	// approximation, which is off by up to about 20% for single low ranks
	// (rank 2 is over-drawn) but right in aggregate.
	for i, tol := range []float64{0.03, 0.05, 0.25, 0.25, 0.25} {
		want := z.Prob(uint64(i)) * draws
		got := float64(counts[i])
		if math.Abs(got-want) > tol*want {
			t.Errorf("rank %d drawn %v times, want %.0f ± %.0f%%", i, got, want, tol*100)
		}
	}
	if counts[0] <= counts[1] || counts[1] <= counts[4] || counts[4] <= counts[100] {
		t.Errorf("frequencies do not fall with rank: %d, %d, %d, %d", counts[0], counts[1], counts[4], counts[100])
	}
	// With theta 0.99 over 1000 items the top 10% of ranks carry about
	// 70% of the draws; a uniform draw would give them 10%.
	top := 0
	for _, c := range counts[:n/10] {
		top += c
	}
	if share := float64(top) / draws; share < 0.6 || share > 0.8 {
		t.Errorf("top 10%% of ranks got %.2f of draws, want about 0.7", share)
	}
}

func TestScrambledSpreadsHotKeys(t *testing.T) {
	const n, draws = 10_000, 200_000
	s, err := NewScrambled(n, YCSBTheta)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	counts := make(map[uint64]int)
	for range draws {
		v := s.Next(r)
		if v >= n {
			t.Fatalf("Next = %d, outside [0, %d)", v, n)
		}
		counts[v]++
	}
	hottest, most := uint64(0), 0
	for k, c := range counts {
		if c > most {
			hottest, most = k, c
		}
	}
	if hottest != FNV64(0)%n {
		t.Errorf("hottest key %d, want the scramble of rank 0, %d", hottest, FNV64(0)%n)
	}
	if float64(most)/draws < 0.05 {
		t.Errorf("hottest key got %d of %d draws: not skewed", most, draws)
	}
	// The low keys must not be the hot ones, as they are unscrambled.
	if counts[0]+counts[1] > most/2 {
		t.Errorf("keys 0 and 1 drawn %d times; scramble did not move the head", counts[0]+counts[1])
	}
}

func TestLatestStaysInRange(t *testing.T) {
	l, err := NewLatest(1000, YCSBTheta)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	atNewest := 0
	for range 10_000 {
		v := l.Next(r, 50) // fewer items than the zipfian's size
		if v > 50 {
			t.Fatalf("Next(50) = %d", v)
		}
		if v == 50 {
			atNewest++
		}
	}
	if atNewest < 1000 {
		t.Errorf("newest item drawn %d of 10000 times; latest should favour it", atNewest)
	}
}

func TestFNV64KnownValue(t *testing.T) {
	// FNV-1a of eight zero bytes.
	if got := FNV64(0); got != 0xa8c7f832281a39c5 {
		t.Fatalf("FNV64(0) = %#x", got)
	}
}
