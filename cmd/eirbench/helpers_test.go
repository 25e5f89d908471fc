package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/diameter"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startRefT runs the reference server in-process on a free port.
func startRefT(t *testing.T, d *loadgen.Dataset) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRefServer(d, "ref.test", "ref.realm")
	done := make(chan error, 1)
	go func() { done <- r.Serve(l) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// startEIRServerT runs eird's Diameter server (package diameter) in-process
// with the lists of d in a memstore, as eird's wiring does with Redis.
func startEIRServerT(t *testing.T, d *loadgen.Dataset) string {
	t.Helper()
	store := memstore.New()
	if _, err := store.Apply(context.Background(), listChanges(d, benchSource)); err != nil {
		t.Fatal(err)
	}
	s, err := diameter.NewServer(diameter.Options{OriginHost: "eir.test", OriginRealm: "eir.realm", AllowAnyPeer: true,
		HostIPAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		eir.NewDecider(store, eir.Policy{}), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	l, err := diameter.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; !errors.Is(err, diameter.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return l.Addr().String()
}

// testOptions is a short closed loop over every category.
func testOptions(addr string, d *loadgen.Dataset) loadgen.Options {
	lf := loadFlags{conns: 2, window: 32, duration: 500 * time.Millisecond, warmup: 100 * time.Millisecond,
		timeout: 3 * time.Second, mix: "black=1,grey=1,white=1,unknown=1,exception=1", seed: 5,
		realm: "eirbench.test", imsiShare: 0.5}
	o, err := lf.options(addr, d)
	if err != nil {
		panic(err)
	}
	return o
}

// checkClean fails unless every request of r was answered as its category
// expects, in every category.
func checkClean(t *testing.T, r *loadgen.Report) {
	t.Helper()
	if r.Mismatches != 0 || r.Timeouts != 0 || r.Lost != 0 || r.ConnErrors != 0 || r.Malformed != 0 || r.Unmatched != 0 {
		t.Fatalf("errors: mismatches %d (%v), timeouts %d, lost %d, conn errors %v, malformed %d, unmatched %d",
			r.Mismatches, r.MismatchExamples, r.Timeouts, r.Lost, r.ConnErrorText, r.Malformed, r.Unmatched)
	}
	if r.Sent == 0 || r.Answers != r.Sent {
		t.Fatalf("sent %d, answered %d", r.Sent, r.Answers)
	}
	for _, c := range []string{"black", "grey", "white", "unknown", "exception"} {
		if s := r.Categories[c]; s.Sent == 0 || s.Answered != s.Sent {
			t.Errorf("%s: %+v", c, s)
		}
	}
	l := r.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("percentiles not monotonic: %+v", l)
	}
}
