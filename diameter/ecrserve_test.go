// Socket tests of ECRs through the server: concurrency and its bound,
// panics, the observer, answers made in the read loop and in goroutines.

package diameter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/internal/testenv"
)

func TestConcurrentChecks(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	imeis := map[string]int{"35209900176148": 1, "49015420323751": 2, "26053179311383": 0, "12345678901234": -1}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := 0; i < 400; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for imei, want := range imeis {
				a, err := c.Check(ctx5(t), imei, "")
				if err != nil {
					errs <- err
					return
				}
				if got := s13client.EquipmentStatus(a.Msg); got != want {
					errs <- errors.New("wrong status for " + imei)
					return
				}
				break
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// blockingChecker holds every check until released and records the largest
// number of checks in flight at once.
type blockingChecker struct {
	release chan struct{}
	cur     atomic.Int32
	peak    atomic.Int32
	panicOn eir.IMEI
}

func (b *blockingChecker) Check(ctx context.Context, q eir.Query) (eir.Decision, error) {
	if q.IMEI == b.panicOn {
		panic("boom")
	}
	n := b.cur.Add(1)
	defer b.cur.Add(-1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return eir.Decision{}, ctx.Err()
	}
	return eir.Decision{Status: eir.Whitelisted}, nil
}

// TryCheck always needs I/O: every check goes through Check.
func (b *blockingChecker) TryCheck(eir.Query) (eir.Decision, bool, error) {
	return eir.Decision{}, false, nil
}

func TestInflightBound(t *testing.T) {
	bc := &blockingChecker{release: make(chan struct{})}
	ts := startServer(t, bc, func(o *Options) { o.MaxInflightPerPeer = 4; o.RequestTimeout = 10 * time.Second })
	c := dial(t, ts.addr, s13client.Options{})
	var wg sync.WaitGroup
	results := make(chan uint32, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := c.Check(ctx5(t), "35209900176148", "")
			if err == nil {
				results <- s13client.ResultCode(a.Msg)
			}
		}()
	}
	testenv.Eventually(t, "4 checks in flight", 5*time.Second, func() bool { return bc.cur.Load() >= 4 })
	if got := testutil.ToFloat64(ts.m.inflight); got != 4 {
		t.Errorf("inflight gauge %v, want 4", got)
	}
	close(bc.release)
	wg.Wait()
	close(results)
	n := 0
	for rc := range results {
		if rc != 2001 {
			t.Errorf("result %d", rc)
		}
		n++
	}
	if n != 10 || bc.peak.Load() != 4 {
		t.Fatalf("%d answers, peak %d in flight: want 10 answers, at most 4 in flight", n, bc.peak.Load())
	}
}

func TestPanicAnswers5012(t *testing.T) {
	bc := &blockingChecker{release: make(chan struct{}), panicOn: 11111111111111}
	close(bc.release)
	ts := startServer(t, bc, nil)
	c := dial(t, ts.addr, s13client.Options{})
	a, err := c.Check(ctx5(t), "11111111111111", "")
	if err != nil {
		t.Fatal(err)
	}
	w := decodeWire(t, a.Raw)
	if w.u32(t, wire.AVPResultCode, 0) != 5012 || w.codes[0] != wire.AVPSessionID {
		t.Fatalf("panic answer %v", w.codes)
	}
	if got := testutil.ToFloat64(ts.m.panics); got != 1 {
		t.Errorf("panics counter %v", got)
	}
	a, err = c.Check(ctx5(t), "35209900176148", "")
	if err != nil || s13client.ResultCode(a.Msg) != 2001 {
		t.Fatalf("after a panic: %v %v", err, a.Msg)
	}
}

// eventLog records what the server hands to its Observer.
type eventLog struct {
	mu      sync.Mutex
	events  []string
	answers []observe.Answer
}

func (l *eventLog) Answered(a observe.Answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	status := a.Decision.Status.String()
	if a.Err != nil {
		status = "error:" + a.Err.Error()
	}
	l.events = append(l.events, fmt.Sprintf("%s %s %s %s %s %s", a.Interface, a.Peer, a.PeerAddr, a.Query.IMEI, a.Query.IMSI, status))
	l.answers = append(l.answers, a)
}

func (l *eventLog) wait(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	testenv.Eventually(t, fmt.Sprintf("%d events", n), 5*time.Second, func() bool {
		l.mu.Lock()
		got = append([]string(nil), l.events...)
		l.mu.Unlock()
		return len(got) >= n
	})
	return got
}

func TestEventsAfterAnswers(t *testing.T) {
	_, chk := testLists(t)
	var log eventLog
	ts := startServer(t, chk, func(o *Options) { o.Observer = &log })
	c := dial(t, ts.addr, s13client.Options{OriginHost: "mme1.epc.test", OriginRealm: "epc.test"})
	if n := ts.OpenPeers(); n != 1 {
		t.Fatalf("OpenPeers %d after a CER, want 1", n)
	}
	for _, q := range [][2]string{{"35209900176148", "001010000000002"}, {"49015420323751", ""}, {"123", ""}} {
		if _, err := c.Check(ctx5(t), q[0], q[1]); err != nil {
			t.Fatal(err)
		}
	}
	got := log.wait(t, 2)
	slices.Sort(got)
	want := []string{
		"s13 mme1.epc.test 127.0.0.1 35209900176148 001010000000002 BLACKLISTED",
		"s13 mme1.epc.test 127.0.0.1 49015420323751  GREYLISTED",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	// The invalid IMEI reached no decision: no event. (Answers are sent
	// before events are handed over, so wait for a later one.)
	c.Check(ctx5(t), "26053179311383", "")
	if got := log.wait(t, 3); len(got) != 3 || !strings.HasSuffix(got[2], "WHITELISTED") {
		t.Fatalf("events after a whitelisted check: %q", got)
	}
}

// mixedChecker answers some IMEIs from memory and holds the others until
// released, as a replica does while a dataset is being copied.
type mixedChecker struct {
	release chan struct{}
	slow    eir.IMEI
	panicOn eir.IMEI
}

func (m *mixedChecker) Check(ctx context.Context, q eir.Query) (eir.Decision, error) {
	select {
	case <-m.release:
	case <-ctx.Done():
		return eir.Decision{}, ctx.Err()
	}
	return eir.Decision{Status: eir.Greylisted, Rule: eir.RuleIMEI}, nil
}

func (m *mixedChecker) TryCheck(q eir.Query) (eir.Decision, bool, error) {
	switch q.IMEI {
	case m.panicOn:
		panic("boom")
	case m.slow:
		return eir.Decision{}, false, nil
	}
	return eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI}, true, nil
}

// writeCounter counts the writes of the server's side of each connection.
type writeCounter struct {
	net.Listener
	writes atomic.Int64
}

func (w *writeCounter) Accept() (net.Conn, error) {
	c, err := w.Listener.Accept()
	return &countedConn{c, &w.writes}, err
}

type countedConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

func TestLocalAnswersBatchedAndSlowOnesApart(t *testing.T) {
	mc := &mixedChecker{release: make(chan struct{}), slow: 49015420323751, panicOn: 11111111111111}
	s, err := NewServer(Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true}, mc, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wc := &writeCounter{Listener: l}
	done := make(chan error, 1)
	go func() { done <- s.Serve(wc) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	r := dialRaw(t, l.Addr().String())
	r.send(t, cer("mme.test", true))
	if w := r.read(t); w == nil || w.u32(t, wire.AVPResultCode, 0) != 2001 {
		t.Fatal("no CEA 2001")
	}
	before := wc.writes.Load()
	// 200 ECRs in one write: the slow one first, a panicking one in the
	// middle; every other is answered from memory.
	var all []byte
	for i := uint32(1); i <= 200; i++ {
		imei := "35209900176148"
		switch i {
		case 1:
			imei = "49015420323751"
		case 100:
			imei = "11111111111111"
		}
		hdr, body := newECR(i).std(imei).bytes(t)
		raw := make([]byte, wire.HeaderLen, wire.HeaderLen+len(body))
		wire.PutHeader(raw, hdr)
		raw[4] = hdr.Flags // a request: keep R
		raw = append(raw, body...)
		raw[1], raw[2], raw[3] = byte(len(raw)>>16), byte(len(raw)>>8), byte(len(raw))
		all = append(all, raw...)
	}
	r.write(t, all)
	got := map[uint32]string{}
	for len(got) < 199 {
		w := r.read(t)
		if w == nil {
			t.Fatal("connection closed")
		}
		es := ""
		if w.has(wire.AVPEquipmentStatus) {
			es = fmt.Sprint(w.u32(t, wire.AVPEquipmentStatus, wire.Vendor3GPP))
		}
		got[w.Header.HopByHopID] = fmt.Sprintf("%d/%s", w.u32(t, wire.AVPResultCode, 0), es)
	}
	if _, answered := got[1]; answered {
		t.Fatal("the held check was answered before its release")
	}
	for i := uint32(2); i <= 200; i++ {
		want := "2001/1"
		if i == 100 {
			want = "5012/"
		}
		if got[i] != want {
			t.Fatalf("answer %d: %s, want %s", i, got[i], want)
		}
	}
	t.Logf("%d writes for 199 answers", wc.writes.Load()-before)
	if n := wc.writes.Load() - before; n > 20 {
		t.Fatalf("%d writes for 199 answers made from memory: they should be written together", n)
	}
	close(mc.release)
	w := r.read(t)
	if w == nil || w.Header.HopByHopID != 1 || w.u32(t, wire.AVPEquipmentStatus, wire.Vendor3GPP) != 2 {
		t.Fatalf("held check: %v", w)
	}
}

// TestObserverSVN: the observer gets the IMEISV's SVN, from the
// Software-Version AVP or a 16-digit IMEI, and none when neither is sent.
func TestObserverSVN(t *testing.T) {
	_, chk := testLists(t)
	var log eventLog
	ts := startServer(t, chk, func(o *Options) { o.Observer = &log })
	c := dial(t, ts.addr, s13client.Options{OriginHost: "mme1.epc.test", OriginRealm: "epc.test"})
	for _, m := range []*diam.Message{
		c.ECRWithSV("35209900176148", "07", "001010000000002"),
		c.ECR("3520990017614842", "001010000000002"),
		c.ECR("49015420323751", ""),
		c.ECRWithSV("49015420323751", "1A", ""),
	} {
		if _, err := c.Send(ctx5(t), m); err != nil {
			t.Fatal(err)
		}
	}
	log.wait(t, 4)
	log.mu.Lock()
	defer log.mu.Unlock()
	var svns []string
	for _, a := range log.answers {
		svns = append(svns, a.Query.IMEI.String()+":"+a.SVN)
	}
	want := []string{"35209900176148:07", "35209900176148:42", "49015420323751:", "49015420323751:"}
	if !slices.Equal(svns, want) {
		t.Fatalf("SVNs %q, want %q", svns, want)
	}
}
