package main

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"time"
)

// zipfian draws YCSB's scrambled zipfian over [0, n): the generator of
// Gray et al. ("Quickly Generating Billion-Record Synthetic Databases"),
// theta 0.99, its ranks spread over the key space by FNV-1a as YCSB's
// ScrambledZipfianGenerator does. It mirrors fluxbench's (benchmarks/
// internal/zipf), so both harnesses skew ycsb-a alike. It holds only
// constants: clients share one, each with its own *rand.Rand.
type zipfian struct {
	n                                      uint64
	theta, alpha, zetan, eta, halfPowTheta float64
}

const ycsbTheta = 0.99

func newZipfian(n uint64) *zipfian {
	zeta := func(n uint64) float64 {
		var sum float64
		for i := uint64(1); i <= n; i++ {
			sum += 1 / math.Pow(float64(i), ycsbTheta)
		}
		return sum
	}
	z := &zipfian{n: n, theta: ycsbTheta, alpha: 1 / (1 - ycsbTheta), zetan: zeta(n), halfPowTheta: 1 + math.Pow(0.5, ycsbTheta)}
	z.eta = (1 - math.Pow(2/float64(n), 1-ycsbTheta)) / (1 - zeta(2)/z.zetan)
	return z
}

// next draws an item in [0, n).
func (z *zipfian) next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	var rank uint64
	switch {
	case uz < 1:
	case uz < z.halfPowTheta:
		rank = 1
	default:
		rank = min(uint64(float64(z.n)*math.Pow(z.eta*u-z.eta+1, z.alpha)), z.n-1)
	}
	// FNV-1a over the rank's 8 bytes, least significant first (YCSB's
	// Utils.FNVhash64).
	h, v := uint64(0xcbf29ce484222325), rank
	for range 8 {
		h ^= v & 0xff
		h *= 1099511628211
		v >>= 8
	}
	return h % z.n
}

// histogram counts latencies in log-linear buckets: exact below 64 ns,
// then 32 buckets per power of two (about 3% wide). It belongs to one
// client goroutine until merged.
type histogram struct{ counts [64 + 58*32]uint64 }

func bucketOf(ns uint64) int {
	if ns < 64 {
		return int(ns)
	}
	e := bits.Len64(ns) - 6 // ns>>e lies in [32, 64)
	return 64 + (e-1)*32 + int(ns>>e) - 32
}

// bucketMid is the middle of bucket i's range.
func bucketMid(i int) time.Duration {
	if i < 64 {
		return time.Duration(i)
	}
	e := (i-64)/32 + 1
	m := uint64((i-64)%32 + 32)
	return time.Duration(m<<e + (uint64(1)<<e)/2)
}

func (h *histogram) record(d time.Duration) {
	h.counts[min(bucketOf(uint64(max(d, 0))), len(h.counts)-1)]++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// quantile returns the latency below which a fraction q of the recorded
// ones lie.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return bucketMid(i)
		}
	}
	return bucketMid(len(h.counts) - 1)
}
