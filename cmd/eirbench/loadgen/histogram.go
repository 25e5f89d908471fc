package loadgen

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs to 10 minutes, 3 significant digits.
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute / time.Microsecond)
	histDigits  = 3
)

// Histogram records latencies with microsecond resolution and 3
// significant digits (HDR). It is not safe for concurrent use: each
// connection keeps its own and the run merges them.
type Histogram struct {
	h *hdrhistogram.Histogram
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// Record adds one latency; values beyond the range are clamped to it.
func (h *Histogram) Record(d time.Duration) {
	us := int64(d / time.Microsecond)
	us = min(max(us, histLowest), histHighest)
	h.h.RecordValue(us) // in range: cannot fail
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) { h.h.Merge(o.h) }

// Count returns the number of values recorded.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Latency summarises a histogram in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summary returns the percentiles of h; all zero when h is empty.
func (h *Histogram) Summary() Latency {
	if h.h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		P50:  ms(h.h.ValueAtQuantile(50)),
		P90:  ms(h.h.ValueAtQuantile(90)),
		P99:  ms(h.h.ValueAtQuantile(99)),
		P999: ms(h.h.ValueAtQuantile(99.9)),
		Max:  ms(h.h.Max()),
		Mean: h.h.Mean() / 1000,
	}
}
