package diameter

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testServer struct {
	*Server
	addr string
	reg  *prometheus.Registry
	done chan error
}

func startServer(t *testing.T, c eir.Checker, mod func(*Options)) *testServer {
	t.Helper()
	return startServerLog(t, c, mod, zaptest.NewLogger(t))
}

// startServerLog is startServer logging to log.
func startServerLog(t *testing.T, c eir.Checker, mod func(*Options), log *zap.Logger) *testServer {
	t.Helper()
	o := Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true,
		HostIPAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	if mod != nil {
		mod(&o)
	}
	reg := prometheus.NewRegistry()
	s, err := NewServer(o, c, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: l.Addr().String(), reg: reg, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ts
}

// startServerB starts a server for a benchmark and returns its address.
func startServerB(b *testing.B, c eir.Checker) string {
	s, err := NewServer(Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true}, c, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	l, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return l.Addr().String()
}

// waitCounter polls c until it reaches want: the server updates counters
// after the client has seen the effect (e.g. a close).
func waitCounter(t *testing.T, c prometheus.Collector, want float64) {
	t.Helper()
	eventually(t, func() bool { return testutil.ToFloat64(c) == want },
		func() string { return fmt.Sprintf("counter %v, want %v", testutil.ToFloat64(c), want) })
}

// eventually polls cond until it holds, and fails with what() after 5s.
func eventually(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t *testing.T, addr string, o s13client.Options) *s13client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s13client.Dial(ctx, addr, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitClosed waits until the server closes the client's connection.
func waitClosed(t *testing.T, c *s13client.Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed by the server")
	}
}

func TestCapabilitiesExchange(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	w := decodeWire(t, c.CEA.Raw)
	if w.Header.CommandFlags != 0 || w.Header.CommandCode != 257 || w.Header.ApplicationID != 0 {
		t.Fatalf("CEA header %v", w.Header)
	}
	want := []uint32{wire.AVPResultCode, wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPHostIPAddress, wire.AVPVendorID,
		wire.AVPProductName, wire.AVPOriginStateID, wire.AVPSupportedVendorID, wire.AVPVendorSpecificApplicationID}
	if len(w.codes) != len(want) {
		t.Fatalf("CEA AVPs %v, want %v", w.codes, want)
	}
	for i := range want {
		if w.codes[i] != want[i] {
			t.Fatalf("CEA AVPs %v, want %v", w.codes, want)
		}
	}
	vsai, _ := w.FindAVP(wire.AVPVendorSpecificApplicationID, 0)
	g := vsai.Data.(*diam.GroupedAVP)
	if len(g.AVP) != 2 || g.AVP[0].Code != wire.AVPVendorID || g.AVP[0].Data.(datatype.Unsigned32) != 10415 ||
		g.AVP[1].Code != wire.AVPAuthApplicationID || g.AVP[1].Data.(datatype.Unsigned32) != 16777252 {
		t.Fatalf("Vendor-Specific-Application-Id %v", g)
	}
	if w.u32(t, wire.AVPSupportedVendorID, 0) != 10415 {
		t.Fatal("Supported-Vendor-Id")
	}
	a, _ := w.FindAVP(wire.AVPHostIPAddress, 0)
	if ip := net.IP(a.Data.(datatype.Address)); !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("Host-IP-Address %v", ip)
	}
	ans, err := c.Check(ctx5(t), "35209900176148", "")
	if err != nil || s13client.ResultCode(ans.Msg) != 2001 || s13client.EquipmentStatus(ans.Msg) != 1 {
		t.Fatalf("check after CEA: %v %v", err, ans.Msg)
	}
}

func TestCapabilitiesRefused(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) {
		o.AllowAnyPeer = false
		o.Peers = []PeerRule{
			{OriginHost: "mme*.allowed", OriginRealm: "allowed"},
			{OriginHost: "sgsn.test", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		}
	})
	tests := []struct {
		name  string
		opts  s13client.Options
		code  uint32
		eBit  bool
		check func(t *testing.T, w decoded)
	}{
		{name: "listed peer", opts: s13client.Options{OriginHost: "MME1.allowed", OriginRealm: "allowed"}, code: 2001},
		{name: "unlisted host", opts: s13client.Options{OriginHost: "mme1.other", OriginRealm: "allowed"}, code: 3010, eBit: true},
		{name: "wrong realm", opts: s13client.Options{OriginHost: "mme1.allowed", OriginRealm: "evil"}, code: 3010, eBit: true},
		{name: "wrong source address", opts: s13client.Options{OriginHost: "sgsn.test", OriginRealm: "x"}, code: 3010, eBit: true},
		{name: "no common application", opts: s13client.Options{OriginHost: "mme1.allowed", OriginRealm: "allowed", AuthAppID: 4, NoVendorSpecific: true}, code: 5010,
			check: func(t *testing.T, w decoded) {
				if !w.has(wire.AVPVendorSpecificApplicationID) {
					t.Error("5010 CEA does not say which application is supported")
				}
			}},
		{name: "relay accepted", opts: s13client.Options{OriginHost: "mme2.allowed", OriginRealm: "allowed", AuthAppID: 0xffffffff, NoVendorSpecific: true}, code: 2001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s13client.Dial(ctx5(t), ts.addr, tc.opts)
			if c == nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			w := decodeWire(t, c.CEA.Raw)
			if got := w.u32(t, wire.AVPResultCode, 0); got != tc.code {
				t.Fatalf("CEA %d, want %d", got, tc.code)
			}
			if got := w.Header.CommandFlags&diam.ErrorFlag != 0; got != tc.eBit {
				t.Errorf("E-bit %v, want %v", got, tc.eBit)
			}
			for _, code := range []uint32{wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPHostIPAddress, wire.AVPVendorID, wire.AVPProductName} {
				if !w.has(code) {
					t.Errorf("CEA lacks AVP %d", code)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}
			if tc.code != 2001 {
				waitClosed(t, c)
			}
		})
	}
	waitCounter(t, ts.m.requests.WithLabelValues("CER", "3010"), 3)
}

// rawConn is a bare TCP connection for messages the client would not send.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{nc, bufio.NewReader(nc)}
}

func (r *rawConn) send(t *testing.T, m *diam.Message) {
	t.Helper()
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, b)
}

func (r *rawConn) write(t *testing.T, b []byte) {
	t.Helper()
	r.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.Write(b); err != nil {
		t.Fatal(err)
	}
}

// read returns the next message, or nil when the server closed the
// connection.
func (r *rawConn) read(t *testing.T) *decoded {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := s13client.ReadFrame(r.br)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("no message and no close within 5s")
		}
		return nil
	}
	w := decodeWire(t, b)
	return &w
}

func cer(host string, withHostIP bool) *diam.Message {
	m := diam.NewRequest(diam.CapabilitiesExchange, 0, dict.Default)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
	if withHostIP {
		m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1)))
	}
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("raw"))
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(16777252))
	return m
}

func TestCERMissingHostIPAddress(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	r := dialRaw(t, ts.addr)
	r.send(t, cer("raw.test", false))
	w := r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5005 {
		t.Fatalf("CEA %v, want 5005", w)
	}
	checkFailed(t, *w, []uint32{wire.AVPHostIPAddress})
	if r.read(t) != nil {
		t.Fatal("connection left open after a refused CER")
	}
}

func TestRequestBeforeCER(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	r := dialRaw(t, ts.addr)
	r.send(t, newECR(1).std("35209900176148").m)
	if w := r.read(t); w != nil {
		t.Fatalf("answered %v before CER", w.Header)
	}
	if got := testutil.ToFloat64(ts.m.unanswered.WithLabelValues("before_cer")); got != 1 {
		t.Errorf("before_cer drops %v", got)
	}
}

func TestCERTimeout(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.CERTimeout = 100 * time.Millisecond })
	r := dialRaw(t, ts.addr)
	if w := r.read(t); w != nil {
		t.Fatalf("unexpected message %v", w.Header)
	}
}

func TestUnsupportedApplicationAndCommand(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	tests := []struct {
		name      string
		app, code uint32
		want      uint32
	}{
		{"s6a update-location to an eir", 16777251, 316, 3007},
		{"s13 unknown command", 16777252, 325, 3001},
		{"base accounting", 0, 271, 3001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := c.NewRequest(tc.code, tc.app)
			m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("mme.test;9"))
			m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("mme.test"))
			m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
			m.NewAVP(avp.ProxyInfo, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.ProxyHost, avp.Mbit, 0, datatype.DiameterIdentity("dra.test")),
				diam.NewAVP(avp.ProxyState, avp.Mbit, 0, datatype.OctetString("st")),
			}})
			a, err := c.Send(ctx5(t), m)
			if err != nil {
				t.Fatal(err)
			}
			w := decodeWire(t, a.Raw)
			if got := w.u32(t, wire.AVPResultCode, 0); got != tc.want {
				t.Fatalf("Result-Code %d, want %d", got, tc.want)
			}
			if w.Header.CommandFlags&diam.ErrorFlag == 0 || w.Header.CommandCode != tc.code || w.Header.ApplicationID != tc.app {
				t.Errorf("header %v: want E-bit and the request's code and application", w.Header)
			}
			if w.codes[0] != wire.AVPSessionID || !w.has(wire.AVPProxyInfo) {
				t.Errorf("AVPs %v: want Session-Id first and Proxy-Info echoed", w.codes)
			}
		})
	}
}

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
	deadline := time.Now().Add(5 * time.Second)
	for bc.cur.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
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

func TestFraming(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.MaxMessageSize = 1024 })
	r := dialRaw(t, ts.addr)
	r.send(t, cer("raw.test", true))
	if w := r.read(t); w == nil || w.u32(t, wire.AVPResultCode, 0) != 2001 {
		t.Fatal("CER refused")
	}
	// Oversized: discarded, answered 5015, connection kept.
	big := newECR(0x51).std("35209900176148").add(avp.ProxyInfo, avp.Mbit, 0, datatype.OctetString(make([]byte, 2000)))
	r.send(t, big.m)
	w := r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5015 || w.Header.HopByHopID != 0x51 {
		t.Fatalf("oversized message: %v", w)
	}
	r.send(t, newECR(0x52).std("35209900176148").m)
	if w := r.read(t); w == nil || w.u32(t, wire.AVPResultCode, 0) != 2001 {
		t.Fatal("connection unusable after an oversized message")
	}
	// Length not a multiple of four: answered 5015, then closed.
	b, _ := newECR(0x53).std("35209900176148").m.Serialize()
	b[3] -= 2
	r.write(t, b)
	w = r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5015 {
		t.Fatalf("bad length: %v", w)
	}
	if r.read(t) != nil {
		t.Fatal("connection open after a framing error")
	}
}

func TestWatchdog(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.WatchdogInterval = 150 * time.Millisecond })
	// A live client answers DWR and stays connected.
	c := dial(t, ts.addr, s13client.Options{})
	deadline := time.Now().Add(5 * time.Second)
	var dwr []s13client.Answer
	for len(dwr) < 2 && time.Now().Before(deadline) {
		dwr = dwr[:0]
		for _, m := range c.Unsolicited() {
			if m.Msg.Header.CommandCode == 280 {
				dwr = append(dwr, m)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(dwr) < 2 {
		t.Fatalf("%d DWR received from the server", len(dwr))
	}
	w := decodeWire(t, dwr[0].Raw)
	if w.Header.CommandFlags != diam.RequestFlag || !w.has(wire.AVPOriginHost) || !w.has(wire.AVPOriginStateID) {
		t.Fatalf("DWR %v %v", w.Header, w.codes)
	}
	if c.Err() != nil {
		t.Fatalf("live peer disconnected: %v", c.Err())
	}
	// A dead client (never answers) is closed after 2×Tw.
	r := dialRaw(t, ts.addr)
	r.send(t, cer("silent.test", true))
	if w := r.read(t); w == nil || w.u32(t, wire.AVPResultCode, 0) != 2001 {
		t.Fatal("CER refused")
	}
	if w := r.read(t); w == nil || w.Header.CommandCode != 280 {
		t.Fatal("no DWR to a silent peer")
	}
	if w := r.read(t); w != nil {
		t.Fatalf("unexpected %v", w.Header)
	}
	waitCounter(t, ts.m.transport.WithLabelValues("watchdog_timeout"), 1)
}

func TestDWRAnswered(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	m := c.NewRequest(diam.DeviceWatchdog, 0)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("mme.test"))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
	a, err := c.Send(ctx5(t), m)
	if err != nil {
		t.Fatal(err)
	}
	w := decodeWire(t, a.Raw)
	if w.u32(t, wire.AVPResultCode, 0) != 2001 || w.Header.CommandFlags != 0 || !w.has(wire.AVPOriginStateID) {
		t.Fatalf("DWA %v %v", w.Header, w.codes)
	}
}

func TestDPRFromPeer(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	a, err := c.Disconnect(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	w := decodeWire(t, a.Raw)
	if w.u32(t, wire.AVPResultCode, 0) != 2001 || w.Header.CommandCode != 282 {
		t.Fatalf("DPA %v", w.Header)
	}
}

func TestShutdownSendsDPR(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	waitClosed(t, c)
	var dpr *decoded
	for _, m := range c.Unsolicited() {
		if m.Msg.Header.CommandCode == 282 {
			w := decodeWire(t, m.Raw)
			dpr = &w
		}
	}
	if dpr == nil {
		t.Fatal("no DPR before the connection closed")
	}
	if got := dpr.u32(t, wire.AVPDisconnectCause, 0); got != 0 {
		t.Fatalf("Disconnect-Cause %d, want REBOOTING (0)", got)
	}
	waitCounter(t, ts.m.transport.WithLabelValues("disconnected"), 1)
}

// TestShutdownRacesCER shuts the server down while a CER is on its way:
// whichever wins, the wire shows either no CEA (closed before the peer
// opened) or the CEA followed by a DPR; never a DPR before the CEA, never
// a CEA and then a close without DPR.
func TestShutdownRacesCER(t *testing.T) {
	_, chk := testLists(t)
	seen := map[string]int{}
	for i := range 40 {
		ts := startServer(t, chk, func(o *Options) { o.DisconnectTimeout = 20 * time.Millisecond })
		r := dialRaw(t, ts.addr)
		r.send(t, cer(fmt.Sprintf("mme%d.race", i), true))
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ts.Shutdown(ctx)
		}()
		var got []string
		for w := r.read(t); w != nil; w = r.read(t) {
			got = append(got, fmt.Sprint(w.Header.CommandCode))
		}
		<-done
		switch seq := strings.Join(got, ","); seq {
		case "", "257,282":
			seen[seq]++
		default:
			t.Fatalf("round %d: the server sent %q before closing; want nothing, or CEA then DPR", i, seq)
		}
	}
	t.Logf("outcomes: %v", seen)
}

func TestDuplicatePeerRejected(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.RejectDuplicatePeers = true })
	dial(t, ts.addr, s13client.Options{OriginHost: "mme.dup"})
	c, err := s13client.Dial(ctx5(t), ts.addr, s13client.Options{OriginHost: "MME.dup"})
	if err == nil {
		t.Fatal("second connection accepted")
	}
	defer c.Close()
	if w := decodeWire(t, c.CEA.Raw); w.u32(t, wire.AVPResultCode, 0) != 5012 {
		t.Fatalf("duplicate CEA %d", w.u32(t, wire.AVPResultCode, 0))
	}
}

func TestBadVersion(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	r := dialRaw(t, ts.addr)
	r.send(t, cer("raw.test", true))
	r.read(t)
	b, _ := newECR(0x61).std("35209900176148").m.Serialize()
	b[0] = 2
	r.write(t, b)
	w := r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5011 || binary.BigEndian.Uint32(w.Raw[12:16]) != 0x61 {
		t.Fatalf("version 2: %v", w)
	}
	if r.read(t) != nil {
		t.Fatal("connection open after a version error")
	}
}

// eventLog records what the server hands to its Observer.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) Answered(a *observe.Answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	status := a.Decision.Status.String()
	if a.Err != nil {
		status = "error:" + a.Err.Error()
	}
	l.events = append(l.events, fmt.Sprintf("%s %s %s %s %s %s", a.Interface, a.Peer, a.PeerAddr, a.Query.IMEI, a.Query.IMSI, status))
}

func (l *eventLog) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		got := append([]string(nil), l.events...)
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events, want %d: %v", len(got), n, got)
		}
		time.Sleep(time.Millisecond)
	}
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
