package latency

import (
	"math"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "-"},
		{-5, "-"},
		{1, "1ns"},
		{850, "850ns"},
		{999, "999ns"},
		{1000, "1.00µs"},
		{1234, "1.23µs"},
		{12_345, "12.3µs"},
		{123_456, "123µs"},
		{999_999, "1000µs"},
		{45_600_000, "45.6ms"},
		{2 * time.Second, "2.00s"},
		{90 * time.Second, "90.0s"},
	} {
		if got := Format(tc.d); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", int64(tc.d), got, tc.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want string
	}{
		{0, "0"},
		{987.4, "987"},
		{12_345, "12.3k"},
		{1_234_567, "1.23M"},
		{2.5e9, "2.50G"},
		{math.NaN(), "-"},
	} {
		if got := FormatRate(tc.r); got != tc.want {
			t.Errorf("FormatRate(%v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestQuantiles records a known distribution and checks the percentiles
// against it within the histogram's 3-significant-digit precision.
func TestQuantiles(t *testing.T) {
	h := New()
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a nonzero median")
	}
	// 1..10000 µs, once each: p50 = 5000µs, p99 = 9900µs, p99.9 = 9990µs.
	for i := 1; i <= 10_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		if diff := math.Abs(float64(got-tc.want)) / float64(tc.want); diff > 0.002 {
			t.Errorf("Quantile(%v) = %v, want %v within 0.2%%", tc.q, got, tc.want)
		}
	}
}

func TestMergeAndClamp(t *testing.T) {
	a, b := New(), New()
	a.Record(100 * time.Nanosecond)
	b.Record(0)             // clamped up to 1ns
	b.Record(2 * time.Hour) // clamped down to one minute
	a.Merge(b)
	if a.Count() != 3 {
		t.Fatalf("Count = %d, want 3", a.Count())
	}
	if got := a.Quantile(1); got < 59*time.Second || got > 61*time.Second {
		t.Errorf("max = %v, want about one minute", got)
	}
	if got := a.Quantile(0); got != 1 {
		t.Errorf("min = %v, want 1ns", got)
	}
}
