// Package latency records operation latencies in HDR histograms and formats
// durations and rates for the harness's reports.
//
// A Histogram is for one goroutine: each benchmark client records into its
// own and the runner merges them after the clients have exited.
package latency

import (
	"fmt"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	lowest = 1 // 1 ns
	// highest is the largest latency recorded exactly; longer ones are
	// clamped to it (a minute-long operation is a hang, not a latency).
	highest = int64(time.Minute)
	sigFigs = 3
)

// Histogram is a latency histogram with nanosecond resolution and three
// significant digits, from 1 ns to one minute.
type Histogram struct{ h *hdrhistogram.Histogram }

// New returns an empty histogram.
func New() *Histogram { return &Histogram{h: hdrhistogram.New(lowest, highest, sigFigs)} }

// Record adds one latency; values outside the range are clamped into it.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d), lowest), highest)
	_ = h.h.RecordValue(v) // cannot fail: v is within the trackable range
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) { h.h.Merge(o.h) }

// Count returns the number of recorded latencies.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Quantile returns the latency at quantile q in [0, 1] (0.999 for p99.9),
// or 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.h.ValueAtQuantile(q * 100))
}

// Format renders a latency with three significant digits in the largest
// unit that keeps it at least 1: "850ns", "1.23µs", "45.6ms", "2.00s".
// Zero (no samples) renders as "-".
func Format(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", int64(d))
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + "µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + "ms"
	}
	return sig3(d.Seconds()) + "s"
}

// FormatRate renders an operations-per-second figure with three significant
// digits and an SI suffix: "987", "12.3k", "1.23M".
func FormatRate(r float64) string {
	switch {
	case math.IsNaN(r) || r < 0:
		return "-"
	case r < 1e3:
		return fmt.Sprintf("%.0f", r)
	case r < 1e6:
		return sig3(r/1e3) + "k"
	case r < 1e9:
		return sig3(r/1e6) + "M"
	}
	return sig3(r/1e9) + "G"
}

// sig3 formats v >= 1 with three significant digits. A value that rounds
// up to the next power of ten (999.7) keeps three digits ("1000").
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return fmt.Sprintf("%.2f", v)
	case v < 99.95:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
