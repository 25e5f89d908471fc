package diameter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ishidawataru/sctp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/diameter/wire"
)

// expectClosedAtAccept connects to addr and expects the server to close
// the connection without sending a byte.
func expectClosedAtAccept(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := nc.Read(make([]byte, 64))
	var ne net.Error
	switch {
	case n != 0:
		t.Fatalf("read %d bytes from a connection that should have been closed at accept", n)
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatal("connection not closed by the server within 5s")
	case !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET):
		t.Fatalf("read: %v, want EOF or reset", err)
	}
}

// refusedCounts gathers eir_diameter_connections_refused_total by reason.
func refusedCounts(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "eir_diameter_connections_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return got
}

// waitRefused polls the registry until the refusal counters are want.
func waitRefused(t *testing.T, reg prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	eventually(t, func() bool { return fmt.Sprint(refusedCounts(t, reg)) == fmt.Sprint(want) },
		func() string { return fmt.Sprintf("refused %v, want %v", refusedCounts(t, reg), want) })
}

// slotsHeld is the number of connections the server counts against
// MaxConnections.
func slotsHeld(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func checkOK(t *testing.T, c *s13client.Client) {
	t.Helper()
	ans, err := c.Check(ctx5(t), "35209900176148", "")
	if err != nil || s13client.ResultCode(ans.Msg) != 2001 {
		t.Fatalf("check: %v %v", err, ans.Msg)
	}
}

func TestMaxConnections(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.MaxConnections = 2 })
	// Two connections that have not sent CER yet hold both slots; the
	// kernel queues connections in order, so the third is accepted last.
	var ncs []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		ncs = append(ncs, nc)
	}
	expectClosedAtAccept(t, ts.addr)
	waitRefused(t, ts.reg, map[string]float64{"max_connections": 1, "address": 0})

	var cs []*s13client.Client
	for i, nc := range ncs {
		c, err := s13client.New(ctx5(t), nc, s13client.Options{OriginHost: fmt.Sprintf("mme%d.test", i)})
		if err != nil {
			nc.Close()
			t.Fatalf("connection %d within the limit: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		checkOK(t, c)
		cs = append(cs, c)
	}

	cs[0].Close()
	eventually(t, func() bool { return slotsHeld(ts.Server) == 1 },
		func() string { return fmt.Sprintf("%d slots held after a close, want 1", slotsHeld(ts.Server)) })
	checkOK(t, dial(t, ts.addr, s13client.Options{OriginHost: "mme3.test"}))
	checkOK(t, cs[1])
	waitRefused(t, ts.reg, map[string]float64{"max_connections": 1, "address": 0})
}

func TestAddressFilterAtAccept(t *testing.T) {
	_, chk := testLists(t)
	tenNet := netip.MustParsePrefix("10.0.0.0/8")
	ts := startServer(t, chk, func(o *Options) {
		o.AllowAnyPeer = false
		o.Peers = []PeerRule{{OriginHost: "mme.test", Prefixes: []netip.Prefix{tenNet}}}
	})
	expectClosedAtAccept(t, ts.addr)
	waitRefused(t, ts.reg, map[string]float64{"max_connections": 0, "address": 1})

	// A rule without addresses: nothing is decided at accept, the CER is.
	if err := ts.SetPeers(false, []PeerRule{
		{OriginHost: "mme.test", Prefixes: []netip.Prefix{tenNet}},
		{OriginHost: "sgsn.test"},
	}); err != nil {
		t.Fatal(err)
	}
	c, err := s13client.Dial(ctx5(t), ts.addr, s13client.Options{OriginHost: "mme.test"})
	if c == nil {
		t.Fatalf("dial: %v", err)
	}
	if w := decodeWire(t, c.CEA.Raw); w.u32(t, wire.AVPResultCode, 0) != 3010 {
		t.Fatalf("CEA %d, want 3010", w.u32(t, wire.AVPResultCode, 0))
	}
	waitClosed(t, c)

	// The reload names 127.0.0.1: the next connection is served.
	if err := ts.SetPeers(false, []PeerRule{
		{OriginHost: "mme.test", Prefixes: []netip.Prefix{tenNet, netip.MustParsePrefix("127.0.0.1/32")}},
	}); err != nil {
		t.Fatal(err)
	}
	open := dial(t, ts.addr, s13client.Options{OriginHost: "mme.test"})
	checkOK(t, open)

	// Back to 10.0.0.0/8: new connections are refused, the open one stays.
	if err := ts.SetPeers(false, []PeerRule{{OriginHost: "mme.test", Prefixes: []netip.Prefix{tenNet}}}); err != nil {
		t.Fatal(err)
	}
	expectClosedAtAccept(t, ts.addr)
	checkOK(t, open)
	waitRefused(t, ts.reg, map[string]float64{"max_connections": 0, "address": 2})
}

func TestAllowListAdmits(t *testing.T) {
	ten := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	v6 := []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		name  string
		any   bool
		rules []PeerRule
		addr  string
		want  bool
	}{
		{name: "any peer", any: true, rules: []PeerRule{{OriginHost: "a", Prefixes: ten}}, addr: "192.0.2.1", want: true},
		{name: "in a prefix", rules: []PeerRule{{OriginHost: "a", Prefixes: ten}}, addr: "10.1.2.3", want: true},
		{name: "IPv4-mapped IPv6 in a prefix", rules: []PeerRule{{OriginHost: "a", Prefixes: ten}}, addr: "::ffff:10.1.2.3", want: true},
		{name: "in no prefix", rules: []PeerRule{{OriginHost: "a", Prefixes: ten}, {OriginHost: "b", Prefixes: v6}}, addr: "192.0.2.1"},
		{name: "IPv4-mapped IPv6 in no prefix", rules: []PeerRule{{OriginHost: "a", Prefixes: ten}}, addr: "::ffff:192.0.2.1"},
		{name: "in the second rule", rules: []PeerRule{{OriginHost: "a", Prefixes: ten}, {OriginHost: "b", Prefixes: v6}}, addr: "2001:db8::1", want: true},
		{name: "a rule without addresses", rules: []PeerRule{{OriginHost: "a", Prefixes: ten}, {OriginHost: "b"}}, addr: "192.0.2.1", want: true},
		{name: "unknown address", rules: []PeerRule{{OriginHost: "a", Prefixes: ten}}, addr: ""},
		{name: "no rules", addr: "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := newAllowList(tc.any, tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			if got := l.admits(a); got != tc.want {
				t.Fatalf("admits(%v) = %v, want %v", a, got, tc.want)
			}
			// What accept admits, the CER check must be able to accept
			// from that address, and the other way round.
			if !tc.any && len(tc.rules) > 0 {
				cer := false
				for _, r := range tc.rules {
					cer = cer || l.allows(r.OriginHost, "", a)
				}
				if cer != tc.want {
					t.Fatalf("the CER check allows %v from %v, accept %v", cer, a, tc.want)
				}
			}
		})
	}
}

// addrConn is a net.Conn that only has a remote address.
type addrConn struct {
	net.Conn
	ra net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.ra }

func TestRemoteAddr(t *testing.T) {
	tests := []struct {
		name string
		ra   net.Addr
		want string
	}{
		{name: "tcp", ra: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3).To4(), Port: 3868}, want: "10.1.2.3"},
		{name: "tcp IPv4-mapped", ra: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 3868}, want: "10.1.2.3"},
		{name: "tcp IPv6", ra: &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 3868}, want: "2001:db8::1"},
		{name: "sctp multi-homed", ra: &sctp.SCTPAddr{IPAddrs: []net.IPAddr{{IP: net.ParseIP("10.1.2.3")}, {IP: net.ParseIP("10.9.9.9")}}, Port: 3868}, want: "10.1.2.3"},
		{name: "sctp without addresses", ra: &sctp.SCTPAddr{Port: 3868}, want: "invalid IP"},
		{name: "none", ra: nil, want: "invalid IP"},
		{name: "other", ra: &net.UDPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, want: "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := remoteAddr(addrConn{ra: tc.ra}).String(); got != tc.want {
				t.Fatalf("remoteAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRefusalLogOncePerSecond(t *testing.T) {
	var r refusalLog
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at       time.Duration
		logged   bool
		unlogged int64
	}{
		{at: 0, logged: true},
		{at: 10 * time.Millisecond},
		{at: 999 * time.Millisecond},
		{at: time.Second, logged: true, unlogged: 2},
		{at: 1500 * time.Millisecond},
		{at: 5 * time.Second, logged: true, unlogged: 1},
	}
	for _, s := range steps {
		n, ok := r.allow(t0.Add(s.at))
		if ok != s.logged || n != s.unlogged {
			t.Fatalf("at %v: logged %v with %d held back, want %v with %d", s.at, ok, n, s.logged, s.unlogged)
		}
	}
}

func TestRefusalFloodLogsLittle(t *testing.T) {
	_, chk := testLists(t)
	core, logs := observer.New(zap.InfoLevel)
	ts := startServerLog(t, chk, func(o *Options) { o.MaxConnections = 1 }, zap.New(core))
	dial(t, ts.addr, s13client.Options{})
	const flood = 50
	start := time.Now()
	for range flood {
		expectClosedAtAccept(t, ts.addr)
	}
	waitRefused(t, ts.reg, map[string]float64{"max_connections": flood, "address": 0})
	lines := logs.FilterMessage("connection refused at accept").Len()
	if max := 1 + int(time.Since(start)/time.Second); lines < 1 || lines > max {
		t.Fatalf("%d log lines for %d refusals in %v, want 1 to %d", lines, flood, time.Since(start), max)
	}
}

func TestMaxConnectionsNegative(t *testing.T) {
	_, err := NewServer(Options{OriginHost: "eir.test", OriginRealm: "eir.test", MaxConnections: -1}, nil, zap.NewNop(), prometheus.NewRegistry())
	if err == nil {
		t.Fatal("MaxConnections -1 accepted")
	}
}

// TestAdmitHoldsTheLimit: connections admitted at once never exceed
// MaxConnections, a closed slot is reused, and nothing is admitted once the
// server is shut down.
func TestAdmitHoldsTheLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewServer(Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true, MaxConnections: 3}, nil, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddr("127.0.0.1")
	var mu sync.Mutex
	var admitted []*conn
	reasons := map[string]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, peer := net.Pipe()
			defer peer.Close()
			c, reason := s.admit(nc, local, true)
			mu.Lock()
			defer mu.Unlock()
			if c != nil {
				admitted = append(admitted, c)
			} else {
				reasons[reason]++
				nc.Close()
			}
		}()
	}
	wg.Wait()
	if len(admitted) != 3 || reasons[refusedMaxConnections] != 17 || slotsHeld(s) != 3 {
		t.Fatalf("%d admitted, refused %v, %d slots held; want 3, 17 max_connections, 3", len(admitted), reasons, slotsHeld(s))
	}
	s.untrack(admitted[0])
	nc, peer := net.Pipe()
	defer peer.Close()
	c, reason := s.admit(nc, local, true)
	if c == nil {
		t.Fatalf("a freed slot was not reused: %q", reason)
	}
	for _, c := range append(admitted[1:], c) {
		s.untrack(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if c, reason := s.admit(nc, local, true); c != nil || reason != "" {
		t.Fatalf("admitted after Shutdown: %v %q", c, reason)
	}
	s.refuse(nc, local, refusedMaxConnections)
	if got := refusedCounts(t, reg); got[refusedMaxConnections] != 1 || got[refusedAddress] != 0 {
		t.Fatalf("refusals counted %v", got)
	}
}
