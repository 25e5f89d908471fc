package diameter

import (
	"context"
	"sync"
	"testing"

	"github.com/eir-sidecar/eir/diameter/s13client"
)

// BenchmarkAnswerECR measures decoding an ECR, deciding from an in-memory
// store and encoding the ECA, without sockets.
func BenchmarkAnswerECR(b *testing.B) {
	_, c := testLists(b)
	h := &ecrHandler{id: identity{host: "eir.test", realm: "eir.test"}, checker: c}
	hdr, body := newECR(1).std("35209900176148").bytesB(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out, _ := h.run(ctx, hdr, body); len(out) == 0 {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkECRRoundTrip measures ECRs over loopback TCP through the whole
// server (framing, dispatch, coalesced writes), 64 in flight on one
// connection, with an in-memory store.
func BenchmarkECRRoundTrip(b *testing.B) {
	_, chk := testLists(b)
	ts := startServerB(b, chk)
	c, err := s13client.Dial(context.Background(), ts, s13client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	var wg sync.WaitGroup
	next := make(chan struct{}, 64)
	for b.Loop() {
		next <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-next }()
			if _, err := c.Check(context.Background(), "35209900176148", ""); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkParseECR measures decoding and validating one ECR.
func BenchmarkParseECR(b *testing.B) {
	h := &ecrHandler{id: identity{host: "eir.test", realm: "eir.test"}}
	hdr, body := newECR(1).std("35209900176148").bytesB(b)
	b.ReportAllocs()
	for b.Loop() {
		r, rerr := parseECR(hdr, body)
		if rerr == nil {
			rerr = h.route(&r)
		}
		if rerr == nil {
			rerr = r.validate()
		}
		if rerr != nil {
			b.Fatal(rerr.text)
		}
	}
}

// BenchmarkEncodeECA measures encoding one successful ECA.
func BenchmarkEncodeECA(b *testing.B) {
	h := &ecrHandler{id: identity{host: "eir.test", realm: "eir.test"}}
	hdr, body := newECR(1).std("35209900176148").bytesB(b)
	r, rerr := parseECR(hdr, body)
	if rerr != nil {
		b.Fatal(rerr.text)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		if buf = (&eca{h.id}).status(buf[:0], hdr, &r, 1); len(buf) == 0 {
			b.Fatal("empty")
		}
	}
}
