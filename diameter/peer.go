package diameter

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/diameter/wire"
	"go.uber.org/zap"
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

// handleAnswer consumes answers to the DWR and DPR this node sent.
func (c *conn) handleAnswer(hdr wire.Header) string {
	if hdr.App == wire.AppBase && hdr.Code == wire.CmdDPR && c.dprSent.Load() {
		return "disconnected"
	}
	if hdr.App == wire.AppBase && hdr.Code == wire.CmdDWR {
		return ""
	}
	c.s.m.unanswered.WithLabelValues("unexpected_answer").Inc()
	return ""
}

func (c *conn) handleCER(hdr wire.Header, body []byte) string {
	start := time.Now()
	s := c.s
	r, rerr := parseCER(body)
	host, realm := string(r.originHost.Data), string(r.originRealm.Data)
	apps := false
	if rerr == nil {
		rerr = c.certIdentityError(&r)
	}
	if rerr == nil && !s.allow.Load().allows(host, realm, c.remote) {
		rerr = protocolError(wire.UnknownPeer, "peer not in the allow-list")
	}
	if rerr == nil && !r.s13 {
		rerr = avpError(wire.NoCommonApplication, nil, "S13 (16777252) or Relay not advertised")
		apps = true
	}
	if rerr == nil && !r.securityOK() {
		rerr = avpError(wire.NoCommonSecurity, nil, "in-band security not supported: use TLS on the transport")
	}
	reopen := c.getState() == stateOpen
	if rerr == nil && !reopen && !s.peerOpened(host) {
		rerr = avpError(wire.UnableToComply, nil, "a connection with this Origin-Host is already open")
	}
	code := wire.Success
	if rerr != nil {
		code = rerr.code
	}
	cea := s.cea(hdr, code, c.nc.LocalAddr(), rerr, rerr == nil || apps)
	if rerr == nil && !reopen {
		c.opening.Lock()
		c.peerHost.Store(&host)
		c.setState(stateOpen)
		c.reply(hdr, cea, code, start)
		c.opening.Unlock()
	} else {
		c.reply(hdr, cea, code, start)
	}
	if rerr != nil {
		c.logger().Warn("capabilities exchange refused",
			zap.String("origin_host", host), zap.String("origin_realm", realm),
			zap.Uint32("result_code", code), zap.String("reason", rerr.text))
		return "cer_refused"
	}
	if !reopen {
		fields := []zap.Field{zap.String("origin_realm", realm), zap.String("product_name", string(r.productName.Data))}
		if c.isTLS {
			fields = append(fields, zap.String("tls_version", c.tlsVersion))
		}
		c.logger().Info("peer open", fields...)
	}
	return ""
}

// handleDWR answers a Device-Watchdog-Request (RFC 6733 §5.5) with a DWA.
func (c *conn) handleDWR(hdr wire.Header, body []byte) {
	start := time.Now()
	code, rerr := baseCheck(body)
	c.reply(hdr, c.s.baseAnswer(hdr, code, rerr), code, start)
}

// handleDPR answers a Disconnect-Peer-Request (RFC 6733 §5.4) with a DPA.
// After DPA the peer closes the transport; if it does not within
// DisconnectTimeout, the watchdog does.
func (c *conn) handleDPR(hdr wire.Header, body []byte) {
	start := time.Now()
	code, rerr := baseCheck(body)
	c.reply(hdr, c.s.baseAnswer(hdr, code, rerr), code, start)
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
	bad, err := wire.Walk(body, func(a wire.AVP) error {
		switch {
		case a.Vendor == 0 && a.Code == wire.AVPOriginHost:
			host = true
		case a.Vendor == 0 && a.Code == wire.AVPOriginRealm:
			realm = true
		case a.Vendor == 0 && (a.Code == wire.AVPOriginStateID || a.Code == wire.AVPDisconnectCause):
		case a.Mandatory() && unsupported == nil:
			unsupported = a.Raw
		}
		return nil
	})
	switch {
	case err != nil:
		return wire.InvalidAVPLength, avpError(wire.InvalidAVPLength, minimalHeader(bad.Raw), "AVP length inconsistent with the message")
	case unsupported != nil:
		return wire.AVPUnsupported, avpError(wire.AVPUnsupported, unsupported, "mandatory AVP not supported")
	case !host:
		return wire.MissingAVP, avpError(wire.MissingAVP, exampleAVP(wire.AVPOriginHost, 0, 0), "Origin-Host missing")
	case !realm:
		return wire.MissingAVP, avpError(wire.MissingAVP, exampleAVP(wire.AVPOriginRealm, 0, 0), "Origin-Realm missing")
	}
	return wire.Success, nil
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
				c.send(c.s.request(wire.CmdDWR, c.hbh.Add(1), 0))
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
	c.dprSent.Store(true)
	c.send(c.s.request(wire.CmdDPR, c.hbh.Add(1), wire.DisconnectRebooting))
	c.setState(stateClosing)
	return false
}

// Capabilities-Exchange-Request, RFC 6733 §5.3.1.
//
//	<CER> ::= < Diameter Header: 257, REQ >
//	          { Origin-Host }
//	          { Origin-Realm }
//	       1* { Host-IP-Address }
//	          { Vendor-Id }
//	          { Product-Name }
//	          [ Origin-State-Id ]
//	        * [ Supported-Vendor-Id ]
//	        * [ Auth-Application-Id ]
//	        * [ Inband-Security-Id ]
//	        * [ Acct-Application-Id ]
//	        * [ Vendor-Specific-Application-Id ]
//	          [ Firmware-Revision ]
//	        * [ AVP ]
type cerRequest struct {
	originHost  wire.AVP
	originRealm wire.AVP
	hostIPs     []wire.AVP
	vendorID    wire.AVP
	productName wire.AVP
	stateID     wire.AVP
	firmware    wire.AVP
	authApps    []uint32
	acctApps    []uint32
	inbandSec   []uint32
	s13         bool // S13 or Relay advertised

	unsupported []byte
	excess      []byte
}

func parseCER(body []byte) (cerRequest, *reqError) {
	var r cerRequest
	single := func(slot *wire.AVP, a wire.AVP) {
		if slot.Raw != nil {
			if r.excess == nil {
				r.excess = a.Raw
			}
			return
		}
		*slot = a
	}
	var valueErr *reqError
	app := func(a wire.AVP, list *[]uint32) {
		v, ok := a.U32()
		if !ok {
			if valueErr == nil {
				valueErr = avpError(wire.InvalidAVPLength, a.Raw, "AVP length invalid for its type")
			}
			return
		}
		*list = append(*list, v)
		if v == wire.AppS13 || v == wire.AppRelay {
			r.s13 = true
		}
	}
	bad, err := wire.Walk(body, func(a wire.AVP) error {
		if a.Vendor != 0 || a.Flags&flagV != 0 {
			if a.Mandatory() && r.unsupported == nil {
				r.unsupported = a.Raw
			}
			return nil
		}
		switch a.Code {
		case wire.AVPOriginHost:
			single(&r.originHost, a)
		case wire.AVPOriginRealm:
			single(&r.originRealm, a)
		case wire.AVPHostIPAddress:
			r.hostIPs = append(r.hostIPs, a)
		case wire.AVPVendorID:
			single(&r.vendorID, a)
		case wire.AVPProductName:
			single(&r.productName, a)
		case wire.AVPOriginStateID:
			single(&r.stateID, a)
		case wire.AVPFirmwareRevision:
			single(&r.firmware, a)
		case wire.AVPSupportedVendorID:
		case wire.AVPAuthApplicationID:
			app(a, &r.authApps)
		case wire.AVPAcctApplicationID:
			app(a, &r.acctApps)
		case wire.AVPInbandSecurityID:
			app(a, &r.inbandSec)
		case wire.AVPVendorSpecificApplicationID:
			_, gerr := wire.Walk(a.Data, func(g wire.AVP) error {
				if g.Vendor == 0 && (g.Code == wire.AVPAuthApplicationID || g.Code == wire.AVPAcctApplicationID) {
					if v, ok := g.U32(); ok && (v == wire.AppS13 || v == wire.AppRelay) {
						r.s13 = true
					}
				}
				return nil
			})
			if gerr != nil && valueErr == nil {
				valueErr = avpError(wire.InvalidAVPLength, a.Raw, "AVP length inconsistent within Vendor-Specific-Application-Id")
			}
		default:
			if a.Mandatory() && r.unsupported == nil {
				r.unsupported = a.Raw
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return r, avpError(wire.InvalidAVPLength, minimalHeader(bad.Raw), "AVP length inconsistent with the message")
	case r.unsupported != nil:
		return r, avpError(wire.AVPUnsupported, r.unsupported, "mandatory AVP not supported")
	case r.excess != nil:
		return r, avpError(wire.AVPOccursTooManyTimes, r.excess, "AVP occurs too many times")
	case r.originHost.Raw == nil:
		return r, avpError(wire.MissingAVP, exampleAVP(wire.AVPOriginHost, 0, 0), "Origin-Host missing")
	case r.originRealm.Raw == nil:
		return r, avpError(wire.MissingAVP, exampleAVP(wire.AVPOriginRealm, 0, 0), "Origin-Realm missing")
	case len(r.hostIPs) == 0:
		return r, avpError(wire.MissingAVP, exampleHostIP(), "Host-IP-Address missing")
	case r.vendorID.Raw == nil:
		return r, avpError(wire.MissingAVP, exampleAVP(wire.AVPVendorID, 0, 4), "Vendor-Id missing")
	case r.productName.Raw == nil:
		return r, avpError(wire.MissingAVP, exampleAVP(wire.AVPProductName, 0, 0), "Product-Name missing")
	case valueErr != nil:
		return r, valueErr
	}
	for _, a := range []wire.AVP{r.vendorID, r.stateID, r.firmware} {
		if a.Raw != nil && len(a.Data) != 4 {
			return r, avpError(wire.InvalidAVPLength, a.Raw, "AVP length invalid for its type")
		}
	}
	if len(r.originHost.Data) == 0 || len(r.originRealm.Data) == 0 {
		return r, avpError(wire.InvalidAVPValue, r.originHost.Raw, "empty Origin-Host or Origin-Realm")
	}
	return r, nil
}

// securityOK reports whether the peer accepts a connection without in-band
// TLS: Inband-Security-Id absent, or one of its values NO_INBAND_SECURITY (0).
func (r *cerRequest) securityOK() bool {
	if len(r.inbandSec) == 0 {
		return true
	}
	for _, v := range r.inbandSec {
		if v == 0 {
			return true
		}
	}
	return false
}

// capabilities appends this node's capability AVPs to a CEA, in the order of

// hostIPs returns the configured Host-IP-Address values, or the local
// address of the connection (every address of an SCTP association).
func (s *Server) hostIPs(local net.Addr) []net.IP {
	if len(s.opts.HostIPAddresses) > 0 {
		out := make([]net.IP, 0, len(s.opts.HostIPAddresses))
		for _, a := range s.opts.HostIPAddresses {
			out = append(out, net.IP(a.AsSlice()))
		}
		return out
	}
	var out []net.IP
	if local != nil {
		str := local.String()
		if h, _, err := net.SplitHostPort(str); err == nil {
			str = h
		}
		for _, part := range strings.Split(str, "/") {
			if a, err := netip.ParseAddr(strings.Trim(part, "[]")); err == nil {
				out = append(out, net.IP(a.Unmap().AsSlice()))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, net.IPv4(127, 0, 0, 1).To4())
	}
	return out
}
