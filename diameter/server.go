package diameter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ishidawataru/sctp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe"
)

// Options configures a Server. Zero durations and sizes take the defaults
// noted on each field.
type Options struct {
	OriginHost       string       // required
	OriginRealm      string       // required
	HostIPAddresses  []netip.Addr // CEA Host-IP-Address; empty: the connection's local address
	VendorID         uint32
	ProductName      string // default "eird"
	FirmwareRevision uint32 // 0: not sent
	OriginStateID    uint32 // default: start time in seconds

	WatchdogInterval   time.Duration // Tw, default 30s
	CERTimeout         time.Duration // default 10s
	RequestTimeout     time.Duration // default 1s
	WriteTimeout       time.Duration // default 5s
	DisconnectTimeout  time.Duration // default 5s
	MaxMessageSize     int           // default 65536
	MaxInflightPerPeer int           // default 256

	// MaxConnections bounds the transport connections open at once, over
	// every listener, whatever their state (waiting for CER, open,
	// closing). A connection accepted beyond it is closed at once, before
	// anything is read from it (no CEA: the peer is not known yet), and
	// counted; closing a connection frees its slot. 0: no limit.
	MaxConnections int

	// RejectDuplicatePeers refuses a CER from an Origin-Host that already has
	// an open connection (CEA 5012). By default several connections from one
	// Origin-Host are accepted.
	RejectDuplicatePeers bool
	// AllowAnyPeer accepts every CER; otherwise a CER must match one of
	// Peers (3010 when it does not). When every rule restricts source
	// addresses, a connection from an address no rule names is closed at
	// accept, before anything is read from it, and counted.
	AllowAnyPeer bool
	Peers        []PeerRule

	// Observer is told of every ECR answered with a check (nil: none).
	Observer observe.Observer
}

func (o *Options) setDefaults() error {
	if o.OriginHost == "" || o.OriginRealm == "" {
		return errors.New("diameter: origin host and realm required")
	}
	if o.MaxConnections < 0 {
		return fmt.Errorf("diameter: max connections %d: want 0 (no limit) or more", o.MaxConnections)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.WatchdogInterval, 30*time.Second)
	def(&o.CERTimeout, 10*time.Second)
	def(&o.RequestTimeout, time.Second)
	def(&o.WriteTimeout, 5*time.Second)
	def(&o.DisconnectTimeout, 5*time.Second)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 65536
	}
	if o.MaxInflightPerPeer <= 0 {
		o.MaxInflightPerPeer = 256
	}
	if o.ProductName == "" {
		o.ProductName = "eird"
	}
	if o.OriginStateID == 0 {
		o.OriginStateID = uint32(time.Now().Unix())
	}
	return nil
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("diameter: server closed")

// Server is an S13 Diameter server. Create it with NewServer, run Serve on
// one or more listeners, stop it with Shutdown.
type Server struct {
	opts    Options
	id      identity
	stateID uint32
	ecr     *ecrHandler
	allow   atomic.Pointer[allowList]
	log     *zap.Logger
	m       *metrics
	// refusals rate-limits the log of connections refused at accept;
	// refused counts them, by reason (the label resolved once).
	refusals refusalLog
	refused  map[string]prometheus.Counter
	// handshakes rate-limits the log of failed TLS handshakes.
	handshakes refusalLog

	baseCtx    context.Context
	cancelBase context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{} // at most MaxConnections (admit)
	openHosts map[string]int
	closed    bool
	connWG    sync.WaitGroup
	e2eBase   uint32
	e2eSeq    atomic.Uint32
}

// NewServer returns a server answering ECRs from c. Metrics are registered on
// reg; log is used for connection events and, at debug level, per request.
func NewServer(opts Options, c eir.Checker, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	allow, err := newAllowList(opts.AllowAnyPeer, opts.Peers)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("diameter: register metrics: %w", err)
	}
	id := identity{host: opts.OriginHost, realm: opts.OriginRealm}
	s := &Server{
		opts:      opts,
		id:        id,
		stateID:   opts.OriginStateID,
		ecr:       &ecrHandler{id: id, checker: c},
		log:       log,
		m:         m,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		openHosts: map[string]int{},
		refused: map[string]prometheus.Counter{
			refusedMaxConnections: m.refused.WithLabelValues(refusedMaxConnections),
			refusedAddress:        m.refused.WithLabelValues(refusedAddress),
		},
	}
	s.allow.Store(allow)
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	// RFC 6733 §3: the high 12 bits of End-to-End identifiers are the low
	// bits of the start time, the low 20 bits a counter.
	s.e2eBase = uint32(time.Now().Unix()) << 20
	return s, nil
}

// OpenPeers counts the connections that completed the capabilities
// exchange and are open.
func (s *Server) OpenPeers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.openHosts {
		n += c
	}
	return n
}

// SetPeers replaces the allow-list, atomically for both of its checks: the
// new list judges every connection accepted and every CER received after
// SetPeers returns. Open connections are not re-checked.
func (s *Server) SetPeers(allowAny bool, rules []PeerRule) error {
	l, err := newAllowList(allowAny, rules)
	if err != nil {
		return err
	}
	s.allow.Store(l)
	return nil
}

// Listen opens a listener for network "tcp" or "sctp" on addr.
func Listen(network, addr string) (net.Listener, error) {
	switch network {
	case "", "tcp":
		return net.Listen("tcp", addr)
	case "sctp":
		a, err := sctp.ResolveSCTPAddr("sctp", addr)
		if err != nil {
			return nil, fmt.Errorf("diameter: sctp address %q: %w", addr, err)
		}
		l, err := sctp.ListenSCTP("sctp", a)
		if err != nil {
			return nil, fmt.Errorf("diameter: sctp listen on %s (is the kernel's sctp module loaded?): %w", addr, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("diameter: transport %q: want tcp or sctp", network)
}

// Serve accepts connections on l until Shutdown, and then returns
// ErrServerClosed. It closes l when it returns.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, nil) }

// serve is Serve, and ServeTLS when tlsConf is set.
func (s *Server) serve(l net.Listener, tlsConf *tls.Config) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	// A byte stream may carry several messages per write; on SCTP each
	// message is its own user message.
	_, isSCTP := l.(*sctp.SCTPListener)
	coalesce := !isSCTP
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("delay", delay))
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("diameter: accept: %w", err)
		}
		delay = 0
		remote := remoteAddr(nc)
		if tlsConf != nil {
			nc = tls.Server(nc, tlsConf) // no I/O until the handshake
		}
		c, reason := s.admit(nc, remote, coalesce)
		switch {
		case c != nil:
			go c.run()
		case reason != "":
			s.refuse(nc, remote, reason)
		default: // shutting down
			nc.Close()
		}
	}
}

// isTemporary reports accept errors worth retrying (EMFILE and friends), as
// net/http does.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}

// peerOpened records an open peer; it reports false when duplicates are
// refused and host already has an open connection.
func (s *Server) peerOpened(host string) bool {
	host = strings.ToLower(host)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.RejectDuplicatePeers && s.openHosts[host] > 0 {
		return false
	}
	s.openHosts[host]++
	return true
}

func (s *Server) peerClosed(host string) {
	host = strings.ToLower(host)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.openHosts[host]--; s.openHosts[host] <= 0 {
		delete(s.openHosts, host)
	}
}

// Shutdown stops the server in this order: listeners close (no new peers);
// every open peer is sent DPR with Disconnect-Cause REBOOTING; requests in
// flight are answered; connections close when the peer answers DPA or
// closes, or after DisconnectTimeout. When ctx expires first, the remaining
// connections are closed at once (requests in flight still end within
// RequestTimeout). Shutdown returns when every connection is gone.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.requestDisconnect()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			c.closeTransport("shutdown")
		}
		s.mu.Unlock()
		<-done
	}
	s.cancelBase()
	return err
}

// nextE2E returns a fresh End-to-End identifier for requests this node sends.
func (s *Server) nextE2E() uint32 {
	return s.e2eBase | s.e2eSeq.Add(1)&0x000fffff
}
