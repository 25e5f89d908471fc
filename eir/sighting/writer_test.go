package sighting

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

func TestWriter(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, _ := newTestStore(t, rdb, Options{MinInterval: -1})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var mu sync.Mutex
	var got []Result
	reg := prometheus.NewRegistry()
	w, err := NewWriter(s, WriterOptions{BatchSize: 8, FlushInterval: 20 * time.Millisecond, OnResult: func(_ Observation, r Result) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	}}, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if !w.Record(obs(imeiA, fmt.Sprintf("0010100000000%02d", i), "mme1")) {
			t.Fatal("dropped with room in the queue")
		}
	}
	// 2 full batches go at once, the last 4 after the flush interval.
	testenv.Eventually(t, "20 observations written", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 20
	})
	for _, r := range got {
		if !r.Written || r.Err != nil {
			t.Fatalf("%+v", r)
		}
	}
	if n := len(pairsOf(t, s, imeiA)); n != 20 {
		t.Fatalf("%d pairs", n)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.Record(obs(imeiA, "001010000000099", "mme1")) {
		t.Fatal("queued after close")
	}
	if d := testutil.ToFloat64(w.dropped); d != 1 {
		t.Fatalf("dropped %v", d)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal("second close:", err)
	}
}

// TestWriterMaxRate: the writer writes no faster than MaxRate: 300
// observations at 500/s with a burst of 50 (a batch) take at least 0.4 s.
func TestWriterMaxRate(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, _ := newTestStore(t, rdb, Options{MinInterval: -1})
	var written atomic.Int64
	w, err := NewWriter(s, WriterOptions{BatchSize: 50, MaxRate: 100, FlushInterval: 10 * time.Millisecond,
		OnResult: func(Observation, Result) { written.Add(1) }}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	w.lim.SetLimit(500) // a burst of 50 (a batch), then 500/s
	start := time.Now()
	for i := range 300 {
		if !w.Record(obs(imeiA, fmt.Sprintf("001010000000%03d", i), "mme1")) {
			t.Fatal("dropped with room in the queue")
		}
	}
	testenv.Eventually(t, "300 observations written", 10*time.Second, func() bool { return written.Load() == 300 })
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("300 observations written in %v: faster than 500/s after a burst of 100", el)
	}
}

// TestWriterBatchSize: with MaxRate, a batch is what the rate allows in
// 5 ms (16 to 512), so that Redis works in short slices.
func TestWriterBatchSize(t *testing.T) {
	for _, tc := range []struct {
		o    WriterOptions
		want int
	}{
		{WriterOptions{}, 512},
		{WriterOptions{MaxRate: 5000}, 25},
		{WriterOptions{MaxRate: 100}, 16},
		{WriterOptions{MaxRate: 1e6}, 512},
		{WriterOptions{MaxRate: 5000, BatchSize: 200}, 200},
	} {
		if got := tc.o.withDefaults().BatchSize; got != tc.want {
			t.Errorf("%+v: batch %d, want %d", tc.o, got, tc.want)
		}
	}
	// A writer behind catches up one batch at a time: the limiter's burst.
	s, _, _ := newTestStore(t, nil, Options{})
	w, err := NewWriter(s, WriterOptions{MaxRate: 5000}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if w.o.BatchSize != 25 || w.lim.Burst() != 25 {
		t.Fatalf("batch %d, burst %d: want 25 and 25", w.o.BatchSize, w.lim.Burst())
	}
}

// TestWriterFullQueue: with the writer stuck on a paused Redis, Record
// drops and counts what does not fit instead of blocking; Close writes
// what was queued once Redis is back.
func TestWriterFullQueue(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s, _, _ := newTestStore(t, rdb, Options{MinInterval: -1})
	if _, err := s.Record(context.Background(), obs(imeiB, "001010000000001", "mme1")); err != nil {
		t.Fatal(err) // interns the peer before Redis is paused
	}
	w, err := NewWriter(s, WriterOptions{QueueSize: 4, BatchSize: 1, WriteTimeout: 10 * time.Second}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Pause(t)
	accepted := 0
	for i := range 50 {
		if w.Record(obs(imeiA, fmt.Sprintf("0010100000001%02d", i), "mme1")) {
			accepted++
		}
	}
	// At most: one batch in flight + the queue.
	if accepted > 5 || accepted < 4 {
		t.Fatalf("accepted %d with a queue of 4", accepted)
	}
	if d := testutil.ToFloat64(w.dropped); int(d) != 50-accepted {
		t.Fatalf("dropped %v, want %d", d, 50-accepted)
	}
	srv.Resume(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(pairsOf(t, s, imeiA)); n != accepted {
		t.Fatalf("%d pairs written, %d accepted", n, accepted)
	}
}

func TestWriterOptionsValidate(t *testing.T) {
	if err := (WriterOptions{QueueSize: -1, BatchSize: -1, FlushInterval: -1, WriteTimeout: -1}).Validate(); err == nil {
		t.Fatal("no error")
	}
}

// TestIMSIKey: the dedupe key tells apart IMSIs that differ only by
// leading zeros, and is the same for the same IMSI.
func TestIMSIKey(t *testing.T) {
	seen := map[uint64]eir.IMSI{}
	for _, imsi := range []eir.IMSI{"001010000000001", "01010000000001", "1010000000001", "999999999999999", "123456"} {
		k := imsiKey(imsi)
		if other, ok := seen[k]; ok {
			t.Fatalf("%s and %s share key %x", imsi, other, k)
		}
		seen[k] = imsi
		if imsiKey(imsi) != k {
			t.Fatalf("%s: key not stable", imsi)
		}
	}
}
