package loadgen

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// checkCounts checks the report's internal consistency for a run where
// every request is answered.
func checkCounts(t *testing.T, r *Report) {
	t.Helper()
	res := r.Results
	byResult := res.Status0 + res.Status1 + res.Status2 + res.Unknown + res.Invalid + res.Unable + res.Other
	var sent, answered uint64
	for _, c := range r.Categories {
		sent += c.Sent
		answered += c.Answered
	}
	if r.Sent == 0 || r.Sent != r.Answers || byResult != r.Answers || sent != r.Sent || answered != r.Answers {
		t.Fatalf("inconsistent counts: sent %d answers %d by result %d, by category sent %d answered %d", r.Sent, r.Answers, byResult, sent, answered)
	}
	l := r.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("percentiles not monotonic: %+v", l)
	}
}

func TestRunClosedLoop(t *testing.T) {
	d := Generate(1, 500)
	var dwa atomic.Bool
	// The server sends a DWR right after the CEA: the client answers DWA.
	s := startFake(t, answerFor(d), func(c net.Conn) {
		c.Write(msgBytes(cmdDWR, flagRequest, 0, 77, 78, avpBytes(avpOriginHost, mbit, 0, []byte("eir.test"))))
	})
	o := baseOptions(s.addr(), d)
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r)
	if r.Mismatches != 0 || r.Timeouts != 0 || r.ConnErrors != 0 || r.Unmatched != 0 {
		t.Fatalf("errors: %+v", r)
	}
	for c := range numCategories {
		if r.Categories[c.String()].Sent == 0 {
			t.Errorf("no %s request", c)
		}
	}
	if r.Results.Status1 == 0 || r.Results.Unknown == 0 || r.Throughput <= 0 || r.Server != "eir.test" {
		t.Fatalf("report %+v", r)
	}
	s.mu.Lock()
	for _, h := range s.answers {
		if h.code == cmdDWR && h.hbh == 77 && h.e2e == 78 {
			dwa.Store(true)
		}
	}
	s.mu.Unlock()
	if !dwa.Load() {
		t.Fatal("no DWA for the server's DWR")
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil || !strings.Contains(b.String(), "throughput") {
		t.Fatalf("table: %v\n%s", err, b.String())
	}
}

// TestRunOneSIMPerDevice decodes every ECR sent: no IMEI goes with two
// IMSIs (a device used by two SIMs at once is a clone to eird's
// observations), exceptions included, and every category is sent.
func TestRunOneSIMPerDevice(t *testing.T) {
	d := Generate(1, 200)
	answer := answerFor(d)
	var mu sync.Mutex
	imsis := map[eir.IMEI]uint64{}
	var clash string
	s := startFake(t, func(req []byte) []byte {
		_, imei, imsi := ecrFields(req)
		mu.Lock()
		if prev, ok := imsis[imei]; ok && imsi != 0 && prev != imsi && clash == "" {
			clash = fmt.Sprintf("IMEI %v with IMSIs %d and %d", imei, prev, imsi)
		} else if imsi != 0 {
			imsis[imei] = imsi
		}
		mu.Unlock()
		return answer(req)
	}, nil)
	r, err := Run(context.Background(), baseOptions(s.addr(), d))
	if err != nil {
		t.Fatal(err)
	}
	for c := range numCategories {
		if r.Categories[c.String()].Sent == 0 {
			t.Errorf("no %s request", c)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if clash != "" {
		t.Fatal(clash)
	}
}

// TestRunOpenLoop checks the rate of an open loop against a fast server.
func TestRunOpenLoop(t *testing.T) {
	d := Generate(1, 200)
	s := startFake(t, answerFor(d), nil)
	o := baseOptions(s.addr(), d)
	o.Rate, o.Duration, o.Warmup = 2000, time.Second, 100*time.Millisecond
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r)
	// Sent counts the requests whose send time falls in the measured
	// second: the schedule's, however late a loaded machine ran it.
	if r.Mode != "open" || r.Sent < 1980 || r.Sent > 2020 || r.Throughput <= 0 {
		t.Fatalf("mode %s, sent %d in 1s at a rate of 2000/s, throughput %.0f/s", r.Mode, r.Sent, r.Throughput)
	}
}

// TestRunMismatch answers every ECR 5012: every request is a mismatch,
// with examples naming the request.
func TestRunMismatch(t *testing.T) {
	d := Generate(1, 100)
	s := startFake(t, func(req []byte) []byte {
		h, _ := parseHeader(req)
		return msgBytes(cmdECR, 0, appS13, h.hbh, h.e2e, avpBytes(avpResultCode, mbit, 0, u32(5012)))
	}, nil)
	r, err := Run(context.Background(), baseOptions(s.addr(), d))
	if err != nil {
		t.Fatal(err)
	}
	if r.Mismatches != r.Answers || r.Results.Unable != r.Answers || len(r.MismatchExamples) != maxSamples {
		t.Fatalf("mismatches %d of %d, examples %v", r.Mismatches, r.Answers, r.MismatchExamples)
	}
	ex := r.MismatchExamples[0]
	if ex.Got != "Result-Code 5012" || len(ex.IMEI) != IMEIDigits || ex.Want == "" {
		t.Fatalf("example %+v", ex)
	}
}

// TestRunTimeouts runs against a server that completes the capabilities
// exchange and never answers an ECR.
func TestRunTimeouts(t *testing.T) {
	d := Generate(1, 100)
	s := startFake(t, func([]byte) []byte { return nil }, nil)
	o := baseOptions(s.addr(), d)
	o.Conns, o.Window, o.Warmup, o.Duration, o.Timeout = 2, 8, 0, 400*time.Millisecond, 100*time.Millisecond
	start := time.Now()
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Answers != 0 || r.Timeouts == 0 || r.Timeouts != r.Sent || r.ConnErrors != 0 || r.Lost != 0 {
		t.Fatalf("sent %d, answers %d, timeouts %d, lost %d, conn errors %v", r.Sent, r.Answers, r.Timeouts, r.Lost, r.ConnErrorText)
	}
	// Each window is refilled after a timeout: about 400/100 windows of 8
	// per connection.
	if r.Sent < 2*8*3 || r.Sent > 2*8*6 {
		t.Fatalf("%d requests sent", r.Sent)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("run took %v", took)
	}
}

// TestRunServerCloses closes each connection after 50 ECRs.
func TestRunServerCloses(t *testing.T) {
	d := Generate(1, 100)
	answer := answerFor(d)
	var n atomic.Int64
	var s *fakeServer
	s = startFake(t, func(req []byte) []byte {
		if n.Add(1) == 50 {
			s.mu.Lock()
			for c := range s.conns {
				c.Close()
			}
			s.mu.Unlock()
			return nil
		}
		return answer(req)
	}, nil)
	o := baseOptions(s.addr(), d)
	o.Warmup = 0
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// A close with requests unread in the server's socket is a reset,
	// not an end of file: either is the server closing.
	if txt := strings.Join(r.ConnErrorText, " "); r.ConnErrors != 2 || !strings.Contains(txt, "closed") && !strings.Contains(txt, "reset by peer") {
		t.Fatalf("conn errors %d: %v", r.ConnErrors, r.ConnErrorText)
	}
	if r.Lost == 0 || r.Answers+r.Lost+r.Timeouts != r.Sent {
		t.Fatalf("sent %d, answers %d, lost %d, timeouts %d", r.Sent, r.Answers, r.Lost, r.Timeouts)
	}
}

func TestRunNoServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, err := Run(context.Background(), baseOptions(addr, Generate(1, 10)))
	if err == nil || r == nil || r.ConnErrors != 2 {
		t.Fatalf("Run = %+v, %v", r, err)
	}
}

func TestRunInterrupted(t *testing.T) {
	d := Generate(1, 100)
	s := startFake(t, answerFor(d), nil)
	o := baseOptions(s.addr(), d)
	o.Warmup, o.Duration = 0, time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	o.OnPhase = func(p Phase) {
		if p == PhaseMeasure {
			time.AfterFunc(200*time.Millisecond, cancel)
		}
	}
	var progress atomic.Int64
	o.Progress, o.ProgressEvery = func(Progress) { progress.Add(1) }, 50*time.Millisecond
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Interrupted || r.Duration > 5 || r.Answers == 0 || r.Mismatches != 0 {
		t.Fatalf("report %+v", r)
	}
	if progress.Load() == 0 {
		t.Fatal("no progress report")
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{Conns: -1, Window: 0, Duration: 0, IMSIShare: 2}
	err := o.setDefaults()
	for _, want := range []string{"addr", "codec", "data", "mix", "conns", "duration", "imsi share"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestRunWrongEndToEnd answers with the request's Hop-by-Hop identifier but
// another End-to-End identifier: a mismatch.
func TestRunWrongEndToEnd(t *testing.T) {
	d := Generate(1, 100)
	answer := answerFor(d)
	s := startFake(t, func(req []byte) []byte {
		a := answer(req)
		a[19] ^= 0xff
		return a
	}, nil)
	r, err := Run(context.Background(), baseOptions(s.addr(), d))
	if err != nil {
		t.Fatal(err)
	}
	if r.Answers == 0 || r.Mismatches != r.Answers || !strings.Contains(r.MismatchExamples[0].Got, "End-to-End") {
		t.Fatalf("mismatches %d of %d: %v", r.Mismatches, r.Answers, r.MismatchExamples)
	}
}
