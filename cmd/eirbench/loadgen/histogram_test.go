package loadgen

import (
	"math"
	"testing"
	"time"
)

// TestHistogramUniform records 1 µs … 100,000 µs once each: percentile q
// is q% of 100 ms, within the 3 significant digits kept.
func TestHistogramUniform(t *testing.T) {
	h := NewHistogram()
	for us := 1; us <= 100_000; us++ {
		h.Record(time.Duration(us) * time.Microsecond)
	}
	if h.Count() != 100_000 {
		t.Fatalf("count %d", h.Count())
	}
	s := h.Summary()
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50, 50}, {"p90", s.P90, 90}, {"p99", s.P99, 99}, {"p99.9", s.P999, 99.9}, {"max", s.Max, 100}, {"mean", s.Mean, 50},
	} {
		if math.Abs(c.got-c.want)/c.want > 0.001 {
			t.Errorf("%s = %v ms, want %v ± 0.1%%", c.name, c.got, c.want)
		}
	}
}

// TestHistogramMergeAndClamp checks a bimodal distribution split over two
// histograms, and values beyond the range.
func TestHistogramMergeAndClamp(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	for range 990 {
		a.Record(200 * time.Microsecond)
	}
	for range 10 {
		b.Record(30 * time.Millisecond)
	}
	a.Merge(b)
	s := a.Summary()
	if s.P50 < 0.1995 || s.P50 > 0.2005 || s.P99 > 0.2005 || s.P999 < 29.9 || s.P999 > 30.05 {
		t.Fatalf("summary %+v", s)
	}
	c := NewHistogram()
	c.Record(-time.Second)
	c.Record(time.Hour)
	if s := c.Summary(); s.P50 != 0.001 || s.Max < 599_000 {
		t.Fatalf("clamped summary %+v", s)
	}
	if (NewHistogram().Summary() != Latency{}) {
		t.Fatal("empty histogram has percentiles")
	}
}
