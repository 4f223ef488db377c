// Package zipf draws YCSB's skewed key distributions: the zipfian generator
// of Gray et al., "Quickly Generating Billion-Record Synthetic Databases"
// (SIGMOD 1994), as YCSB's ZipfianGenerator implements it, its scrambled
// form, and the "latest" form that favours recently inserted keys.
//
// A generator holds only constants after construction, so one generator may
// be shared by many goroutines as long as each passes its own *rand.Rand.
package zipf

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// YCSBTheta is YCSB's default zipfian constant (requestdistribution=zipfian).
const YCSBTheta = 0.99

// Zipfian draws ranks in [0, n): rank 0 is the most popular and the
// probability of rank i is proportional to 1/(i+1)^theta.
type Zipfian struct {
	n                           uint64
	theta, alpha, zetan, eta    float64
	halfPowTheta, zeta2overZeta float64
}

// New returns a zipfian generator over n ranks with the given theta, which
// must lie in (0, 1). Construction costs O(n) (the zeta sum); 1M ranks take
// a few milliseconds.
func New(n uint64, theta float64) (*Zipfian, error) {
	if n < 2 {
		return nil, fmt.Errorf("zipf: need at least 2 items, got %d", n)
	}
	if !(theta > 0 && theta < 1) {
		return nil, fmt.Errorf("zipf: theta %v is outside (0, 1)", theta)
	}
	zetan := Zeta(n, theta)
	zeta2 := Zeta(2, theta)
	z := &Zipfian{
		n:             n,
		theta:         theta,
		alpha:         1 / (1 - theta),
		zetan:         zetan,
		halfPowTheta:  1 + math.Pow(0.5, theta),
		zeta2overZeta: zeta2 / zetan,
	}
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - z.zeta2overZeta)
	return z, nil
}

// Zeta returns sum_{i=1..n} 1/i^theta, the normalising constant of a
// zipfian distribution over n items.
func Zeta(n uint64, theta float64) float64 {
	var sum float64
	for i := uint64(1); i <= n; i++ {
		sum += 1 / math.Pow(float64(i), theta)
	}
	return sum
}

// N returns the number of ranks.
func (z *Zipfian) N() uint64 { return z.n }

// Prob returns the exact probability of rank i, for tests and reports.
func (z *Zipfian) Prob(i uint64) float64 {
	return 1 / math.Pow(float64(i+1), z.theta) / z.zetan
}

// Next draws a rank in [0, n).
func (z *Zipfian) Next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.halfPowTheta {
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}

// Scrambled spreads a zipfian's popular ranks over the whole key space, as
// YCSB's ScrambledZipfianGenerator does, so that the hottest keys are not
// neighbours (which would flatter ordered stores and hot-spot one shard).
// Like YCSB it hashes with FNV-1a and reduces modulo n, so a few keys collide
// and a few are never drawn; the skew is what matters.
type Scrambled struct{ z *Zipfian }

// NewScrambled returns a scrambled zipfian over [0, n).
func NewScrambled(n uint64, theta float64) (*Scrambled, error) {
	z, err := New(n, theta)
	if err != nil {
		return nil, err
	}
	return &Scrambled{z: z}, nil
}

// Next draws an item in [0, n).
func (s *Scrambled) Next(r *rand.Rand) uint64 { return FNV64(s.z.Next(r)) % s.z.n }

// FNV64 is YCSB's Utils.FNVhash64: 64-bit FNV-1a over the 8 bytes of v,
// least significant first.
func FNV64(v uint64) uint64 {
	const offset, prime = 0xcbf29ce484222325, 1099511628211
	h := uint64(offset)
	for range 8 {
		h ^= v & 0xff
		h *= prime
		v >>= 8
	}
	return h
}

// Latest favours the newest items: it draws a zipfian rank r and returns
// newest-r, where newest is the highest item inserted so far. The zipfian's
// size is fixed at construction (YCSB grows it with every insert; over a
// one-minute run the inserted tail is small next to the loaded keys, so the
// difference is negligible).
type Latest struct{ z *Zipfian }

// NewLatest returns a latest-biased generator over n initial items.
func NewLatest(n uint64, theta float64) (*Latest, error) {
	z, err := New(n, theta)
	if err != nil {
		return nil, err
	}
	return &Latest{z: z}, nil
}

// Next draws an item in [0, newest].
func (l *Latest) Next(r *rand.Rand, newest uint64) uint64 {
	back := l.z.Next(r)
	if back > newest {
		return 0
	}
	return newest - back
}
