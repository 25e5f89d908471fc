package diameter

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ishidawataru/sctp"
	"go.uber.org/zap"
)

// Reasons for refusing a connection at accept, the values of the reason
// label of eir_diameter_connections_refused_total.
const (
	refusedMaxConnections = "max_connections"
	refusedAddress        = "address"
)

// admit decides, before anything is read, whether a connection just
// accepted from addr is served. When it is, admit returns it tracked
// (Shutdown sees it; untrack forgets it); otherwise the reason for
// refusing it, or "" when the server is shutting down. The connection
// limit is checked where the connection is tracked, under one lock.
func (s *Server) admit(nc net.Conn, addr netip.Addr, coalesce bool) (*conn, string) {
	if !s.allow.Load().admits(addr) {
		return nil, refusedAddress
	}
	c := newConn(s, nc, addr, coalesce)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, ""
	case s.opts.MaxConnections > 0 && len(s.conns) >= s.opts.MaxConnections:
		return nil, refusedMaxConnections
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.m.peers.WithLabelValues(stateWaitCER.String()).Inc()
	return c, ""
}

// refuse closes a connection refused at accept, counts it and logs it,
// rate-limited: a flood of connections must not become a flood of logs.
func (s *Server) refuse(nc net.Conn, addr netip.Addr, reason string) {
	nc.Close()
	s.refused[reason].Inc()
	if n, ok := s.refusals.allow(time.Now()); ok {
		s.log.Warn("connection refused at accept", zap.String("reason", reason),
			zap.String("remote_ip", addr.String()), zap.Int64("refused_unlogged", n))
	}
}

// refusalLog lets one line through per second; it counts the refusals it
// holds back, and the next line reports them.
type refusalLog struct {
	next     atomic.Int64 // unix nanoseconds before which nothing is logged
	unlogged atomic.Int64
}

// allow reports whether a refusal at now may be logged, and how many were
// held back since the last line.
func (r *refusalLog) allow(now time.Time) (int64, bool) {
	n := r.next.Load()
	if now.UnixNano() < n || !r.next.CompareAndSwap(n, now.Add(time.Second).UnixNano()) {
		r.unlogged.Add(1)
		return 0, false
	}
	return r.unlogged.Swap(0), true
}

// remoteAddr is the address a connection comes from, as the allow-list
// judges it: for SCTP, the first address the kernel reports for the peer
// (a multi-homed peer has several); the zero Addr when it is unknown.
func remoteAddr(nc net.Conn) netip.Addr {
	var a netip.Addr
	switch ra := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		if ra != nil {
			a = ra.AddrPort().Addr()
		}
	case *sctp.SCTPAddr:
		if ra != nil && len(ra.IPAddrs) > 0 {
			a, _ = netip.AddrFromSlice(ra.IPAddrs[0].IP)
		}
	case nil:
	default:
		if ap, err := netip.ParseAddrPort(ra.String()); err == nil {
			a = ap.Addr()
		}
	}
	return a.Unmap()
}
