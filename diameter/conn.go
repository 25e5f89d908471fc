package diameter

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/diameter/wire"
)

// conn is one transport connection. Three goroutines serve it: run reads and
// dispatches messages, writeLoop writes queued messages (coalescing them on
// TCP), watchdog enforces the CER timeout, the Tw watchdog (RFC 3539) and the
// disconnect timeout and sends DWR and DPR. Request handlers run in their own
// goroutines, at most MaxInflightPerPeer at a time.
type conn struct {
	s        *Server
	nc       net.Conn
	remote   netip.Addr // as the allow-list judges it (remoteAddr)
	remoteIP string     // remote, formatted once for events
	raddr    string     // the transport's remote address, for logs
	br       *bufio.Reader
	coalesce bool
	// pending holds answers made by the read loop itself, written together
	// when it has read every message already received (see readLoop).
	pending []byte
	rbuf    []byte // the body of the message being handled (readMessage)
	// origin is the last Origin-Host the read loop saw, as a string made
	// once (told to the observer with every check it answers).
	origin string

	out      chan []byte   // messages to write; closed by run at teardown
	wmu      sync.Mutex    // one writer of the socket at a time
	werr     error         // the first write error; guarded by wmu
	wrDone   chan struct{} // closed when writeLoop returns
	wdDone   chan struct{} // closed when watchdog returns
	quit     chan struct{} // closed when run stops reading
	kick     chan struct{} // state changed: watchdog recomputes its timer
	discReq  chan struct{} // Shutdown asks for a DPR
	inflight chan struct{}
	handlers sync.WaitGroup

	state      atomic.Int32
	lastRx     atomic.Int64 // unix nanoseconds of the last complete message
	stateSince atomic.Int64
	peerHost   atomic.Pointer[string]
	dprSent    atomic.Bool
	// opening orders the CEA and a DPR: the peer becomes open and its CEA
	// is queued in one step, and the watchdog decides on a DPR (open) or a
	// close (not yet open) in one step, so a DPR never leaves before the
	// CEA and a peer that has its CEA always gets the DPR.
	opening   sync.Mutex
	hbh       atomic.Uint32
	closeOnce sync.Once
	reason    atomic.Pointer[string]
	accepted  time.Time

	// TLS (ServeTLS): handshaking is set until the handshake ends (a
	// Shutdown then closes the connection at once); certNames are the
	// names of the peer's certificate and tlsVersion the version agreed,
	// both written by run before any message is read.
	isTLS       bool
	handshaking atomic.Bool
	certNames   []string
	tlsVersion  string
}

func newConn(s *Server, nc net.Conn, remote netip.Addr, coalesce bool) *conn {
	c := &conn{
		s:        s,
		nc:       nc,
		remote:   remote,
		br:       bufio.NewReaderSize(nc, 16<<10),
		coalesce: coalesce,
		out:      make(chan []byte, s.opts.MaxInflightPerPeer+16),
		wrDone:   make(chan struct{}),
		wdDone:   make(chan struct{}),
		quit:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		discReq:  make(chan struct{}, 1),
		inflight: make(chan struct{}, s.opts.MaxInflightPerPeer),
		accepted: time.Now(),
	}
	if remote.IsValid() {
		c.remoteIP = remote.String()
	}
	if ra := nc.RemoteAddr(); ra != nil {
		c.raddr = ra.String()
	}
	if _, ok := nc.(*tls.Conn); ok {
		c.isTLS = true
		c.handshaking.Store(true)
	}
	c.hbh.Store(uint32(time.Now().UnixNano()))
	c.lastRx.Store(c.accepted.UnixNano())
	c.stateSince.Store(c.accepted.UnixNano())
	return c
}

func (c *conn) logger() *zap.Logger {
	l := c.s.log.With(zap.String("remote", c.raddr))
	if h := c.peerHost.Load(); h != nil {
		l = l.With(zap.String("peer", *h))
	}
	return l
}

// closeTransport closes the socket once, recording why.
func (c *conn) closeTransport(reason string) {
	c.closeOnce.Do(func() {
		c.reason.Store(&reason)
		c.nc.Close()
	})
}

// requestDisconnect asks the watchdog to send DPR (Shutdown); a
// connection still in its TLS handshake is closed at once.
func (c *conn) requestDisconnect() {
	if c.handshaking.Load() {
		c.closeTransport("shutdown")
		return
	}
	select {
	case c.discReq <- struct{}{}:
	default:
	}
}

func (c *conn) send(b []byte) { c.out <- b }

func (c *conn) run() {
	if c.isTLS {
		if reason := c.handshake(); reason != "" {
			c.closeTransport(reason)
			c.finish(reason, false)
			return
		}
	}
	go c.writeLoop()
	go c.watchdog()
	reason := c.readLoop()

	// Teardown, in order: stop the watchdog (the only other sender besides
	// handlers), let handlers in flight queue their answers, let the
	// writer flush them, close the socket.
	close(c.quit)
	<-c.wdDone
	c.handlers.Wait()
	close(c.out)
	<-c.wrDone
	c.closeTransport(reason)
	c.finish(reason, true)
}

// finish accounts for a closed connection and forgets it; logged says
// whether to log the close (a failed TLS handshake was logged, rate-limited).
func (c *conn) finish(reason string, logged bool) {
	if r := c.reason.Load(); r != nil {
		reason = *r
	}
	c.s.m.transport.WithLabelValues(reason).Inc()
	st := c.getState()
	c.s.m.peers.WithLabelValues(st.String()).Dec()
	if h := c.peerHost.Load(); h != nil {
		c.s.peerClosed(*h)
	}
	if logged {
		c.logger().Info("peer connection closed", zap.String("reason", reason))
	}
	c.s.untrack(c)
}

// errSkip reports a message that was consumed and answered without being
// dispatched; reading goes on.
var errSkip = errors.New("message skipped")

// readLoop reads and dispatches messages until the connection must close,
// and returns the reason.
func (c *conn) readLoop() string {
	for {
		hdr, body, err := c.readMessage()
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			if r := c.reason.Load(); r != nil {
				return *r
			}
			if errors.Is(err, io.EOF) {
				return "peer_closed"
			}
			var fe *framingError
			if errors.As(err, &fe) {
				c.logger().Warn("closing connection on framing error", zap.String("error", fe.text))
				return fe.reason
			}
			return "read_error"
		}
		c.lastRx.Store(time.Now().UnixNano())
		reason := c.dispatch(hdr, body)
		if reason != "" || !c.nextBuffered() {
			c.flushPending()
		}
		if reason != "" {
			return reason
		}
	}
}

// nextBuffered reports whether the next message is entirely in the read
// buffer, so that reading it will not wait on the network.
func (c *conn) nextBuffered() bool {
	n := c.br.Buffered()
	if n < wire.HeaderLen {
		return false
	}
	b, _ := c.br.Peek(wire.HeaderLen)
	return n >= int(wire.DecodeHeader(b).Length)
}

// flushPending writes the answers made by the read loop, as one write: at
// once when no other write is under way (no hand-over to the writer
// goroutine, which would cost a wake-up), otherwise through the writer.
func (c *conn) flushPending() {
	if len(c.pending) == 0 {
		return
	}
	if c.coalesce && c.wmu.TryLock() {
		c.writeLocked(c.pending)
		c.wmu.Unlock()
		c.pending = c.pending[:0]
		return
	}
	c.send(c.pending)
	c.pending = nil
}

// writeLocked writes b with a deadline unless a write failed before (then
// b is dropped: the transport is closing); a failure closes the transport.
// c.wmu must be held.
func (c *conn) writeLocked(b []byte) {
	if c.werr != nil {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	if _, c.werr = c.nc.Write(b); c.werr != nil {
		c.closeTransport("write_error")
	}
}

// framingError is a message whose length or version makes the byte stream
// impossible to follow; it was answered when it was a request.
type framingError struct{ reason, text string }

func (e *framingError) Error() string { return e.text }

// readMessage reads one message. Oversized messages are discarded and
// answered 5015 (errSkip); an unsupported version or a length that breaks
// framing is answered (5011, 5015) and ends the connection.
func (c *conn) readMessage() (wire.Header, []byte, error) {
	var hb [wire.HeaderLen]byte
	if _, err := io.ReadFull(c.br, hb[:]); err != nil {
		return wire.Header{}, nil, err
	}
	hdr := wire.DecodeHeader(hb[:])
	switch {
	case hdr.Version != 1:
		c.rejectFrame(hdr, wire.UnsupportedVersion, "Diameter version must be 1")
		return hdr, nil, &framingError{"bad_version", fmt.Sprintf("version %d", hdr.Version)}
	case hdr.Length < wire.HeaderLen || hdr.Length%4 != 0:
		c.rejectFrame(hdr, wire.InvalidMessageLength, "message length must be a multiple of 4 and at least 20")
		return hdr, nil, &framingError{"bad_length", fmt.Sprintf("message length %d", hdr.Length)}
	case int(hdr.Length) > c.s.opts.MaxMessageSize:
		if _, err := io.CopyN(io.Discard, c.br, int64(hdr.Length-wire.HeaderLen)); err != nil {
			return hdr, nil, err
		}
		c.rejectFrame(hdr, wire.InvalidMessageLength, fmt.Sprintf("message longer than %d bytes", c.s.opts.MaxMessageSize))
		return hdr, nil, errSkip
	}
	// The body is read into a buffer reused for the next message:
	// handlers that keep it past their call (dispatchECR) copy it.
	n := int(hdr.Length - wire.HeaderLen)
	if cap(c.rbuf) < n {
		c.rbuf = make([]byte, max(n, 4<<10))
	}
	body := c.rbuf[:n]
	if _, err := io.ReadFull(c.br, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return hdr, nil, err
	}
	return hdr, body, nil
}

// rejectFrame answers a request whose body was not read.
func (c *conn) rejectFrame(hdr wire.Header, code uint32, text string) {
	if !hdr.IsRequest() || c.getState() == stateWaitCER && !(hdr.App == wire.AppBase && hdr.Code == wire.CmdCER) {
		return
	}
	c.send(c.s.plainAnswer(hdr, nil, code, text))
	c.s.m.requests.WithLabelValues(commandName(hdr), resultLabel(code)).Inc()
}

// dispatch handles one message; a non-empty result closes the connection
// after what is queued has been written.
func (c *conn) dispatch(hdr wire.Header, body []byte) string {
	if !hdr.IsRequest() {
		return c.handleAnswer(hdr)
	}
	if c.getState() == stateWaitCER {
		if hdr.App == wire.AppBase && hdr.Code == wire.CmdCER {
			return c.handleCER(hdr, body)
		}
		// RFC 6733 §5.6: nothing but CER is processed before the
		// capabilities exchange completes.
		c.s.m.unanswered.WithLabelValues("before_cer").Inc()
		return "request_before_cer"
	}
	if hdr.Flags&wire.FlagError != 0 && !(hdr.App == wire.AppS13 && hdr.Code == wire.CmdECR) {
		c.reply(hdr, c.s.plainAnswer(hdr, body, wire.InvalidHdrBits, "E-bit set in a request"), wire.InvalidHdrBits, time.Now())
		return ""
	}
	switch hdr.App {
	case wire.AppBase:
		switch hdr.Code {
		case wire.CmdCER:
			return c.handleCER(hdr, body)
		case wire.CmdDWR:
			c.handleDWR(hdr, body)
			return ""
		case wire.CmdDPR:
			c.handleDPR(hdr, body)
			return ""
		}
		c.reply(hdr, c.s.plainAnswer(hdr, body, wire.CommandUnsupported, "command not supported"), wire.CommandUnsupported, time.Now())
	case wire.AppS13:
		if hdr.Code == wire.CmdECR {
			c.handleECR(hdr, body)
			return ""
		}
		c.reply(hdr, c.s.plainAnswer(hdr, body, wire.CommandUnsupported, "command not supported by S13"), wire.CommandUnsupported, time.Now())
	default:
		c.reply(hdr, c.s.plainAnswer(hdr, body, wire.ApplicationUnsupported, "application not supported: only S13 (16777252)"), wire.ApplicationUnsupported, time.Now())
	}
	return ""
}

func (c *conn) reply(hdr wire.Header, b []byte, code uint32, start time.Time) {
	c.send(b)
	c.s.m.answered(commandName(hdr), code, time.Since(start).Seconds())
}

// writeLoop writes queued messages. On TCP it gathers every message already
// queued into one write; on SCTP each message is its own write (one Diameter
// message per SCTP user message).
func (c *conn) writeLoop() {
	defer close(c.wrDone)
	var buf []byte
	for b := range c.out {
		c.wmu.Lock()
		if c.coalesce {
			buf = append(buf[:0], b...)
		gather:
			for len(buf) < 64<<10 {
				select {
				case nb, ok := <-c.out:
					if !ok {
						break gather
					}
					buf = append(buf, nb...)
				default:
					break gather
				}
			}
			b = buf
		}
		c.writeLocked(b)
		c.wmu.Unlock()
	}
}

func commandName(h wire.Header) string {
	switch {
	case h.App == wire.AppBase && h.Code == wire.CmdCER:
		return "CER"
	case h.App == wire.AppBase && h.Code == wire.CmdDWR:
		return "DWR"
	case h.App == wire.AppBase && h.Code == wire.CmdDPR:
		return "DPR"
	case h.App == wire.AppS13 && h.Code == wire.CmdECR:
		return cmdNameECR
	}
	return "other"
}

const cmdNameECR = "ECR"

var resultLabels = map[uint32]string{}

func init() {
	for _, c := range []uint32{wire.Success, wire.CommandUnsupported, wire.UnableToDeliver, wire.RealmNotServed,
		wire.ApplicationUnsupported, wire.InvalidHdrBits, wire.UnknownPeer, wire.AVPUnsupported, wire.InvalidAVPValue,
		wire.MissingAVP, wire.AVPOccursTooManyTimes, wire.NoCommonApplication, wire.UnsupportedVersion,
		wire.UnableToComply, wire.InvalidAVPLength, wire.InvalidMessageLength, wire.NoCommonSecurity, wire.EquipmentUnknown} {
		resultLabels[c] = fmt.Sprint(c)
	}
}

func resultLabel(code uint32) string {
	if l, ok := resultLabels[code]; ok {
		return l
	}
	return "other"
}
