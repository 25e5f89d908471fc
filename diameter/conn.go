package diameter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// peerState is the responder side of the peer state machine (RFC 6733
// §5.6), reduced to what a server needs.
type peerState int32

const (
	stateWaitCER peerState = iota // connected, no CER yet
	stateOpen                     // CER accepted
	stateClosing                  // DPR sent or received
)

func (s peerState) String() string {
	switch s {
	case stateWaitCER:
		return "wait_cer"
	case stateOpen:
		return "open"
	}
	return "closing"
}

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

func (c *conn) getState() peerState { return peerState(c.state.Load()) }

func (c *conn) setState(st peerState) {
	old := peerState(c.state.Swap(int32(st)))
	if old == st {
		return
	}
	c.stateSince.Store(time.Now().UnixNano())
	c.s.m.peers.WithLabelValues(old.String()).Dec()
	c.s.m.peers.WithLabelValues(st.String()).Inc()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// closeTransport closes the socket once, recording why.
func (c *conn) closeTransport(reason string) {
	c.closeOnce.Do(func() {
		c.reason.Store(&reason)
		c.nc.Close()
	})
}

// requestDisconnect asks the watchdog to send DPR (Shutdown).
func (c *conn) requestDisconnect() {
	select {
	case c.discReq <- struct{}{}:
	default:
	}
}

func (c *conn) send(b []byte) { c.out <- b }

func (c *conn) run() {
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
	if r := c.reason.Load(); r != nil {
		reason = *r
	}
	c.s.m.transport.WithLabelValues(reason).Inc()
	st := c.getState()
	c.s.m.peers.WithLabelValues(st.String()).Dec()
	if h := c.peerHost.Load(); h != nil {
		c.s.peerClosed(*h)
	}
	c.logger().Info("peer connection closed", zap.String("reason", reason))
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
	if n < headerLen {
		return false
	}
	b, _ := c.br.Peek(headerLen)
	return n >= int(decodeHeader(b).length)
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
func (c *conn) readMessage() (header, []byte, error) {
	var hb [headerLen]byte
	if _, err := io.ReadFull(c.br, hb[:]); err != nil {
		return header{}, nil, err
	}
	hdr := decodeHeader(hb[:])
	switch {
	case hdr.version != 1:
		c.answerFraming(hdr, codeUnsupportedVersion, "Diameter version must be 1")
		return hdr, nil, &framingError{"bad_version", fmt.Sprintf("version %d", hdr.version)}
	case hdr.length < headerLen || hdr.length%4 != 0:
		c.answerFraming(hdr, codeInvalidMessageLength, "message length must be a multiple of 4 and at least 20")
		return hdr, nil, &framingError{"bad_length", fmt.Sprintf("message length %d", hdr.length)}
	case int(hdr.length) > c.s.opts.MaxMessageSize:
		if _, err := io.CopyN(io.Discard, c.br, int64(hdr.length-headerLen)); err != nil {
			return hdr, nil, err
		}
		c.answerFraming(hdr, codeInvalidMessageLength, fmt.Sprintf("message longer than %d bytes", c.s.opts.MaxMessageSize))
		return hdr, nil, errSkip
	}
	// The body is read into a buffer reused for the next message:
	// handlers that keep it past their call (dispatchECR) copy it.
	n := int(hdr.length - headerLen)
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

// answerFraming answers a request whose body was not read.
func (c *conn) answerFraming(hdr header, code uint32, text string) {
	if !hdr.isRequest() || c.getState() == stateWaitCER && !(hdr.app == appBase && hdr.code == cmdCER) {
		return
	}
	c.send(c.s.plainAnswer(hdr, nil, code, text))
	c.s.m.requests.WithLabelValues(commandName(hdr), resultLabel(code)).Inc()
}

// dispatch handles one message; a non-empty result closes the connection
// after what is queued has been written.
func (c *conn) dispatch(hdr header, body []byte) string {
	if !hdr.isRequest() {
		return c.handleAnswer(hdr)
	}
	if c.getState() == stateWaitCER {
		if hdr.app == appBase && hdr.code == cmdCER {
			return c.handleCER(hdr, body)
		}
		// RFC 6733 §5.6: nothing but CER is processed before the
		// capabilities exchange completes.
		c.s.m.unanswered.WithLabelValues("before_cer").Inc()
		return "request_before_cer"
	}
	if hdr.flags&cmdFlagE != 0 && !(hdr.app == appS13 && hdr.code == cmdECR) {
		c.reply(hdr, c.s.plainAnswer(hdr, body, codeInvalidHdrBits, "E-bit set in a request"), codeInvalidHdrBits, time.Now())
		return ""
	}
	switch hdr.app {
	case appBase:
		switch hdr.code {
		case cmdCER:
			return c.handleCER(hdr, body)
		case cmdDWR:
			c.handleDWR(hdr, body)
			return ""
		case cmdDPR:
			c.handleDPR(hdr, body)
			return ""
		}
		c.reply(hdr, c.s.plainAnswer(hdr, body, codeCommandUnsupported, "command not supported"), codeCommandUnsupported, time.Now())
	case appS13:
		if hdr.code == cmdECR {
			c.handleECR(hdr, body)
			return ""
		}
		c.reply(hdr, c.s.plainAnswer(hdr, body, codeCommandUnsupported, "command not supported by S13"), codeCommandUnsupported, time.Now())
	default:
		c.reply(hdr, c.s.plainAnswer(hdr, body, codeApplicationUnsupp, "application not supported: only S13 (16777252)"), codeApplicationUnsupp, time.Now())
	}
	return ""
}

func (c *conn) reply(hdr header, b []byte, code uint32, start time.Time) {
	c.send(b)
	c.s.m.answered(commandName(hdr), code, time.Since(start).Seconds())
}

// handleAnswer consumes answers to the DWR and DPR this node sent.
func (c *conn) handleAnswer(hdr header) string {
	if hdr.app == appBase && hdr.code == cmdDPR && c.dprSent.Load() {
		return "disconnected"
	}
	if hdr.app == appBase && hdr.code == cmdDWR {
		return ""
	}
	c.s.m.unanswered.WithLabelValues("unexpected_answer").Inc()
	return ""
}

func (c *conn) handleCER(hdr header, body []byte) string {
	start := time.Now()
	s := c.s
	r, rerr := parseCER(body)
	host, realm := string(r.originHost.data), string(r.originRealm.data)
	apps := false
	if rerr == nil && !s.allow.Load().allows(host, realm, c.remote) {
		rerr = protocolError(codeUnknownPeer, "peer not in the allow-list")
	}
	if rerr == nil && !r.s13 {
		rerr = avpError(codeNoCommonApplication, nil, "S13 (16777252) or Relay not advertised")
		apps = true
	}
	if rerr == nil && !r.securityOK() {
		rerr = avpError(codeNoCommonSecurity, nil, "in-band security not supported: use TLS on the transport")
	}
	reopen := c.getState() == stateOpen
	if rerr == nil && !reopen && !s.peerOpened(host) {
		rerr = avpError(codeUnableToComply, nil, "a connection with this Origin-Host is already open")
	}
	code := codeSuccess
	if rerr != nil {
		code = rerr.code
	}
	b := newAnswer(hdr, rerr != nil && rerr.protocol)
	b.resultCode(code)
	s.capabilities(b, c.nc.LocalAddr(), rerr, rerr == nil || apps)
	if rerr == nil && !reopen {
		c.opening.Lock()
		c.peerHost.Store(&host)
		c.setState(stateOpen)
		c.reply(hdr, b.bytes(), code, start)
		c.opening.Unlock()
	} else {
		c.reply(hdr, b.bytes(), code, start)
	}
	if rerr != nil {
		c.logger().Warn("capabilities exchange refused",
			zap.String("origin_host", host), zap.String("origin_realm", realm),
			zap.Uint32("result_code", code), zap.String("reason", rerr.text))
		return "cer_refused"
	}
	if !reopen {
		c.logger().Info("peer open", zap.String("origin_realm", realm),
			zap.String("product_name", string(r.productName.data)))
	}
	return ""
}

// Device-Watchdog-Answer, RFC 6733 §5.5.2:
//
//	<DWA> ::= < Diameter Header: 280 >
//	          { Result-Code }
//	          { Origin-Host }
//	          { Origin-Realm }
//	          [ Error-Message ]
//	          [ Failed-AVP ]
//	          [ Origin-State-Id ]
func (c *conn) handleDWR(hdr header, body []byte) {
	start := time.Now()
	code, rerr := baseCheck(body)
	b := newAnswer(hdr, false)
	b.resultCode(code)
	b.origin(c.s.id)
	if rerr != nil {
		b.errorMessage(rerr.text)
		b.failedAVP(rerr.failed)
	}
	b.u32(avpOriginStateID, c.s.stateID)
	c.reply(hdr, b.bytes(), code, start)
}

// Disconnect-Peer-Answer, RFC 6733 §5.4.2:
//
//	<DPA> ::= < Diameter Header: 282 >
//	          { Result-Code }
//	          { Origin-Host }
//	          { Origin-Realm }
//	          [ Error-Message ]
//	          [ Failed-AVP ]
//
// After DPA the peer closes the transport; if it does not within
// DisconnectTimeout, the watchdog does.
func (c *conn) handleDPR(hdr header, body []byte) {
	start := time.Now()
	code, rerr := baseCheck(body)
	b := newAnswer(hdr, false)
	b.resultCode(code)
	b.origin(c.s.id)
	if rerr != nil {
		b.errorMessage(rerr.text)
		b.failedAVP(rerr.failed)
	}
	c.reply(hdr, b.bytes(), code, start)
	if rerr == nil {
		c.logger().Info("peer disconnecting")
		c.setState(stateClosing)
	}
}

// baseCheck validates the AVPs of DWR and DPR: Origin-Host and Origin-Realm
// are required; an unknown AVP with the M-bit is 5001.
func baseCheck(body []byte) (uint32, *reqError) {
	var host, realm bool
	var unsupported []byte
	bad, err := forEachAVP(body, func(a rawAVP) error {
		switch {
		case a.vendor == 0 && a.code == avpOriginHost:
			host = true
		case a.vendor == 0 && a.code == avpOriginRealm:
			realm = true
		case a.vendor == 0 && (a.code == avpOriginStateID || a.code == avpDisconnectCause):
		case a.mandatory() && unsupported == nil:
			unsupported = a.raw
		}
		return nil
	})
	switch {
	case err != nil:
		return codeInvalidAVPLength, avpError(codeInvalidAVPLength, minimalHeader(bad.raw), "AVP length inconsistent with the message")
	case unsupported != nil:
		return codeAVPUnsupported, avpError(codeAVPUnsupported, unsupported, "mandatory AVP not supported")
	case !host:
		return codeMissingAVP, avpError(codeMissingAVP, exampleAVP(avpOriginHost, 0, 0), "Origin-Host missing")
	case !realm:
		return codeMissingAVP, avpError(codeMissingAVP, exampleAVP(avpOriginRealm, 0, 0), "Origin-Realm missing")
	}
	return codeSuccess, nil
}

// handleECR answers an ME-Identity-Check in the read loop when that needs
// no I/O (the lists are in memory): the answer joins the others made from
// the same read, written together. Otherwise the check runs in its own
// goroutine (dispatchECR).
func (c *conn) handleECR(hdr header, body []byte) {
	start := time.Now()
	var dst []byte
	if c.coalesce {
		dst = c.pending
	}
	ans, res, ok := c.answerLocal(dst, hdr, body)
	switch {
	case !ok:
		c.dispatchECR(hdr, slices.Clone(body), start)
		return
	case !c.coalesce:
		c.send(ans)
	default:
		if c.pending = ans; len(c.pending) >= 32<<10 {
			c.flushPending()
		}
	}
	c.answered(hdr, res, start)
}

// dispatchECR runs one ME-Identity-Check in its own goroutine. When
// MaxInflightPerPeer requests are in flight, it blocks, and so does reading
// from this peer (TCP back-pressure).
func (c *conn) dispatchECR(hdr header, body []byte, start time.Time) {
	c.flushPending() // the answers made so far must not wait behind this one
	c.inflight <- struct{}{}
	c.handlers.Add(1)
	c.s.m.inflight.Inc()
	go c.serveECR(hdr, body, start)
}

func (c *conn) serveECR(hdr header, body []byte, start time.Time) {
	defer func() {
		c.s.m.inflight.Dec()
		<-c.inflight
		c.handlers.Done()
	}()
	ans, res := c.answerECR(hdr, body)
	c.send(ans)
	c.answered(hdr, res, start)
}

// answered records an ECR answered: metrics, the decision's count and hit
// event, logs.
func (c *conn) answered(hdr header, res Answer, start time.Time) {
	s := c.s
	s.m.answered(cmdNameECR, res.ResultCode, time.Since(start).Seconds())
	if s.opts.Decisions != nil && res.Checked {
		var d eir.Decision
		if res.Decision != nil {
			d = *res.Decision
		}
		s.opts.Decisions.Record("s13", d, res.Err)
	}
	if res.Checked && s.opts.Events != nil {
		var d eir.Decision
		if res.Decision != nil {
			d = *res.Decision
		}
		s.opts.Events.Decision("s13", res.Origin, c.remoteIP, res.Query, d, res.Err)
	}
	if res.Decision != nil && res.Decision.Shadow != nil {
		sh := res.Decision.Shadow
		s.log.Info("shadow verdict not enforced", s.opts.Redactor.IMEI(res.Query.IMEI),
			zap.String("origin_host", res.Origin), zap.String("verdict", sh.Status.String()), zap.String("rule", sh.Rule.String()),
			zap.String("source", sh.Source), zap.String("answered", res.Decision.Status.String()))
	}
	if res.Decision != nil && res.Decision.Rule == eir.RuleStoreFallback {
		s.log.Warn("store unavailable; answered by policy", zap.Error(res.Decision.Cause))
	} else if res.ResultCode == codeUnableToComply && res.Err != nil {
		s.log.Warn("ecr failed", zap.Error(res.Err))
	}
	if ce := s.log.Check(zap.DebugLevel, "ecr answered"); ce != nil {
		ce.Write(zap.Uint32("result_code", res.ResultCode), zap.Bool("experimental", res.Experimental),
			zap.Uint32("hop_by_hop", hdr.hbh), zap.Duration("duration", time.Since(start)))
	}
}

// answerLocal is answerECR without I/O, in the caller's goroutine; ok is
// false when the check needs I/O. A panic becomes a 5012 answer.
func (c *conn) answerLocal(dst []byte, hdr header, body []byte) (ans []byte, res Answer, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ans, res, ok = append(dst, c.panicAnswer(hdr, body, p)...), Answer{ResultCode: codeUnableToComply, Err: fmt.Errorf("diameter: panic: %v", p)}, true
		}
	}()
	return c.s.ecr.answerLocal(dst, hdr, body)
}

func (c *conn) panicAnswer(hdr header, body []byte, p any) []byte {
	c.s.m.panics.Inc()
	c.logger().Error("panic while answering ecr", zap.Any("panic", p), zap.Stack("stack"))
	return c.s.plainAnswer(hdr, body, codeUnableToComply, "internal error")
}

// answerECR calls the handler with a deadline and turns a panic into a 5012
// answer, so that one bad request never takes the process down.
func (c *conn) answerECR(hdr header, body []byte) (ans []byte, res Answer) {
	defer func() {
		if p := recover(); p != nil {
			ans, res = c.panicAnswer(hdr, body, p), Answer{ResultCode: codeUnableToComply, Err: fmt.Errorf("diameter: panic: %v", p)}
		}
	}()
	ctx, cancel := context.WithTimeout(c.s.baseCtx, c.s.opts.RequestTimeout)
	defer cancel()
	return c.s.ecr.answerECR(ctx, hdr, body)
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

// watchdog enforces timers: the CER timeout in wait_cer; in open, a DWR
// after Tw of silence and closing when 2×Tw pass without any message
// (RFC 3539 §3.4); in closing, the disconnect timeout. It also sends DPR at
// shutdown.
func (c *conn) watchdog() {
	defer close(c.wdDone)
	o := c.s.opts
	t := time.NewTimer(o.CERTimeout)
	defer t.Stop()
	var dwrSentAt int64 // unix nanoseconds, 0 when no DWR is outstanding
	for {
		now := time.Now().UnixNano()
		var wake int64
		switch c.getState() {
		case stateWaitCER:
			wake = c.accepted.Add(o.CERTimeout).UnixNano()
			if now >= wake {
				c.logger().Warn("no capabilities exchange in time; closing")
				c.closeTransport("cer_timeout")
				return
			}
		case stateOpen:
			last := c.lastRx.Load()
			if dwrSentAt != 0 && last > dwrSentAt {
				dwrSentAt = 0
			}
			switch {
			case dwrSentAt != 0 && now >= dwrSentAt+int64(o.WatchdogInterval):
				c.logger().Warn("peer silent after device-watchdog-request; closing")
				c.closeTransport("watchdog_timeout")
				return
			case dwrSentAt != 0:
				wake = dwrSentAt + int64(o.WatchdogInterval)
			case now >= last+int64(o.WatchdogInterval):
				c.send(c.s.request(cmdDWR, c.hbh.Add(1), nil))
				c.s.m.sentDWR.Inc()
				dwrSentAt = now
				wake = now + int64(o.WatchdogInterval)
			default:
				wake = last + int64(o.WatchdogInterval)
			}
		case stateClosing:
			wake = c.stateSince.Load() + int64(o.DisconnectTimeout)
			if now >= wake {
				c.closeTransport("disconnect_timeout")
				return
			}
		}
		t.Reset(time.Duration(wake - now))
		select {
		case <-t.C:
		case <-c.kick:
		case <-c.quit:
			return
		case <-c.discReq:
			if c.disconnect() {
				return
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// disconnect answers Shutdown: a DPR (REBOOTING) when the peer is open,
// else the socket is closed at once (before any CEA can be queued). It
// reports whether it closed the socket.
func (c *conn) disconnect() (closed bool) {
	c.opening.Lock()
	defer c.opening.Unlock()
	if c.getState() != stateOpen {
		c.closeTransport("shutdown")
		return true
	}
	cause := datatype.Enumerated(disconnectCauseRebooting)
	c.dprSent.Store(true)
	c.send(c.s.request(cmdDPR, c.hbh.Add(1), &cause))
	c.setState(stateClosing)
	return false
}

// request builds a DWR or DPR sent by this node.
//
//	<DWR> ::= < Diameter Header: 280, REQ > { Origin-Host } { Origin-Realm } [ Origin-State-Id ]
//	<DPR> ::= < Diameter Header: 282, REQ > { Origin-Host } { Origin-Realm } { Disconnect-Cause }
func (s *Server) request(code uint32, hbh uint32, cause *datatype.Enumerated) []byte {
	b := newMessage(code, cmdFlagR, appBase, hbh, s.nextE2E())
	b.origin(s.id)
	if cause != nil {
		b.add(avpDisconnectCause, flagM, 0, *cause)
	} else {
		b.u32(avpOriginStateID, s.stateID)
	}
	return b.bytes()
}

// plainAnswer builds an answer for a request that is answered by the peer
// layer, not by an application grammar: the generic answer-message of
// RFC 6733 §7.2 with Session-Id and every Proxy-Info of the request echoed
// when they can be found.
func (s *Server) plainAnswer(hdr header, body []byte, code uint32, text string) []byte {
	b := newAnswer(hdr, code >= 3000 && code < 4000)
	var proxies []rawAVP
	func() {
		defer func() { _ = recover() }() // body may be what made a handler panic
		var sid rawAVP
		forEachAVP(body, func(a rawAVP) error {
			if a.vendor == 0 && a.flags&flagV == 0 {
				switch a.code {
				case avpSessionID:
					if sid.raw == nil {
						sid = a
					}
				case avpProxyInfo:
					proxies = append(proxies, a)
				}
			}
			return nil
		})
		if sid.raw != nil {
			b.echo(sid)
		}
	}()
	b.origin(s.id)
	b.resultCode(code)
	if hdr.app == appS13 && code >= 5000 {
		b.u32(avpAuthSessionState, 1)
	}
	b.errorMessage(text)
	for _, p := range proxies {
		b.echo(p)
	}
	return b.bytes()
}

func commandName(h header) string {
	switch {
	case h.app == appBase && h.code == cmdCER:
		return "CER"
	case h.app == appBase && h.code == cmdDWR:
		return "DWR"
	case h.app == appBase && h.code == cmdDPR:
		return "DPR"
	case h.app == appS13 && h.code == cmdECR:
		return cmdNameECR
	}
	return "other"
}

const cmdNameECR = "ECR"

var resultLabels = map[uint32]string{}

func init() {
	for _, c := range []uint32{codeSuccess, codeCommandUnsupported, codeUnableToDeliver, codeRealmNotServed,
		codeApplicationUnsupp, codeInvalidHdrBits, codeUnknownPeer, codeAVPUnsupported, codeInvalidAVPValue,
		codeMissingAVP, codeAVPOccursTooManyTimes, codeNoCommonApplication, codeUnsupportedVersion,
		codeUnableToComply, codeInvalidAVPLength, codeInvalidMessageLength, codeNoCommonSecurity, codeEquipmentUnknown} {
		resultLabels[c] = fmt.Sprint(c)
	}
}

func resultLabel(code uint32) string {
	if l, ok := resultLabels[code]; ok {
		return l
	}
	return "other"
}
