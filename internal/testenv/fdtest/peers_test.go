//go:build linux

package fdtest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const ioTimeout = 10 * time.Second

var idSeq atomic.Uint32

func nextID() uint32 { return idSeq.Add(1) }

// client is a hand-written Diameter client used to drive freeDiameterd.
type client struct {
	tb          testing.TB
	conn        net.Conn
	host, realm string
}

func dialClient(tb testing.TB, addr, host, realm string) *client {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return &client{tb: tb, conn: c, host: host, realm: realm}
}

// with returns a copy of c reporting failures to tb (use it in subtests:
// Fatalf must be called from the goroutine running the test).
func (c *client) with(tb testing.TB) *client {
	cc := *c
	cc.tb = tb
	return &cc
}

// cer performs the capabilities exchange and returns the CEA.
func (c *client) cer(apps ...avp) *msg {
	c.tb.Helper()
	req := &msg{Flags: flagR, Code: cmdCE, AVPs: []avp{
		aStr(avpOriginHost, c.host),
		aStr(avpOriginRealm, c.realm),
		aIPv4(avpHostIP, net.IPv4(127, 0, 0, 1)),
		aU32(avpVendorID, 0),
		{Code: avpProductName, Data: []byte("t")},
		aU32(avpOriginStateID, 1),
		aU32(avpSupVendorID, vend3GPP),
	}}
	req.AVPs = append(req.AVPs, apps...)
	return c.roundTrip(req)
}

// roundTrip sends a request and returns the answer carrying its
// hop-by-hop id, answering watchdog requests received meanwhile.
func (c *client) roundTrip(req *msg) *msg {
	c.tb.Helper()
	if req.HbH == 0 {
		req.HbH = nextID()
	}
	if req.E2E == 0 {
		req.E2E = 0x5a000000 | nextID()
	}
	if err := c.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		c.tb.Fatalf("set deadline: %v", err)
	}
	if err := writeMsg(c.conn, req); err != nil {
		c.tb.Fatalf("write request %d: %v", req.Code, err)
	}
	for {
		m, err := readMsg(c.conn)
		if err != nil {
			c.tb.Fatalf("waiting for answer to command %d: %v", req.Code, err)
		}
		if m.Flags&flagR != 0 {
			c.answerBase(m)
			continue
		}
		if m.HbH != req.HbH {
			c.tb.Fatalf("unexpected answer (waiting for hbh %#x):\n%v", req.HbH, m)
		}
		return m
	}
}

func (c *client) answerBase(m *msg) {
	c.tb.Helper()
	switch m.Code {
	case cmdDW, cmdDP:
		ans := &msg{Code: m.Code, HbH: m.HbH, E2E: m.E2E, AVPs: []avp{
			aU32(avpResultCode, 2001), aStr(avpOriginHost, c.host), aStr(avpOriginRealm, c.realm),
		}}
		if err := writeMsg(c.conn, ans); err != nil {
			c.tb.Fatalf("answer %d: %v", m.Code, err)
		}
	default:
		c.tb.Fatalf("client got unexpected request:\n%v", m)
	}
}

// dpr sends a Disconnect-Peer-Request and returns the DPA.
func (c *client) dpr() *msg {
	c.tb.Helper()
	return c.roundTrip(&msg{Flags: flagR, Code: cmdDP, AVPs: []avp{
		aStr(avpOriginHost, c.host), aStr(avpOriginRealm, c.realm), aU32(avpDisconnCause, 0),
	}})
}

// fakeServer stands in for the EIR: it answers CER (advertising S13), DWR,
// DPR and any ME-Identity-Check-Request, and records every message it gets.
type fakeServer struct {
	tb          testing.TB
	ln          net.Listener
	host, realm string

	got chan *msg // every received message, in order

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startFakeServer(tb testing.TB, host, realm string) *fakeServer {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("fake server listen: %v", err)
	}
	s := &fakeServer{tb: tb, ln: ln, host: host, realm: realm, got: make(chan *msg, 256), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.acceptLoop()
	tb.Cleanup(s.close)
	return s
}

func (s *fakeServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *fakeServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *fakeServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	for {
		m, err := readMsg(c)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.tb.Logf("fake server %s: read: %v", s.host, err)
			}
			return
		}
		select {
		case s.got <- m:
		default:
			s.tb.Errorf("fake server %s: too many unread messages", s.host)
		}
		if m.Flags&flagR == 0 {
			continue // answers to our own requests: we send none
		}
		ans := &msg{Code: m.Code, App: m.App, HbH: m.HbH, E2E: m.E2E, Flags: m.Flags & flagP}
		if sid, ok := m.find(avpSessionID); ok {
			ans.AVPs = append(ans.AVPs, sid)
		}
		ans.AVPs = append(ans.AVPs, aU32(avpResultCode, 2001), aStr(avpOriginHost, s.host), aStr(avpOriginRealm, s.realm))
		switch m.Code {
		case cmdCE:
			ans.AVPs = append(ans.AVPs,
				aIPv4(avpHostIP, net.IPv4(127, 0, 0, 1)),
				aU32(avpVendorID, 0),
				avp{Code: avpProductName, Data: []byte("fake-eir")},
				aU32(avpSupVendorID, vend3GPP),
				aGroup(avpVSAppID, aU32(avpVendorID, vend3GPP), aU32(avpAuthAppID, appS13)),
			)
		case cmdMIC:
			ans.AVPs = append(ans.AVPs, aU32(avpAuthSessState, 1), vendor(aU32(avpEquipStatus, 0), vend3GPP))
		}
		if err := writeMsg(c, ans); err != nil {
			s.tb.Logf("fake server %s: write: %v", s.host, err)
			return
		}
		if m.Code == cmdDP {
			return
		}
	}
}

// next returns the next received message satisfying keep; tb is the test
// (or subtest) calling it, which Fatalf must be called from.
func (s *fakeServer) next(tb testing.TB, keep func(*msg) bool, timeout time.Duration) *msg {
	tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m := <-s.got:
			if keep(m) {
				return m
			}
		case <-t.C:
			tb.Fatalf("fake server %s: no matching message within %v", s.host, timeout)
			return nil
		}
	}
}

func isReq(code uint32) func(*msg) bool {
	return func(m *msg) bool { return m.Code == code && m.Flags&flagR != 0 }
}
