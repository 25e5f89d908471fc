package diameter

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe"
)

// ME-Identity-Check-Request, TS 29.272 §7.2.19 (Rel-17, with DRMP from
// RFC 7944). User-Name is optional (Table 6.2.1.1/1): go-diameter's S13
// dictionary wrongly marks it required, which is one reason requests are
// validated here and not by the library.
//
//	< ME-Identity-Check-Request > ::= < Diameter Header: 324, REQ, PXY, 16777252 >
//	        < Session-Id >
//	        [ DRMP ]
//	        [ Vendor-Specific-Application-Id ]
//	        { Auth-Session-State }
//	        { Origin-Host }
//	        { Origin-Realm }
//	        [ Destination-Host ]
//	        { Destination-Realm }
//	        { Terminal-Information }
//	        [ User-Name ]
//	       *[ AVP ]
//	       *[ Proxy-Info ]
//	       *[ Route-Record ]
//
//	Terminal-Information ::= <AVP header: 1401 10415>
//	        [ IMEI ]
//	        [ 3GPP2-MEID ]
//	        [ Software-Version ]
//	       *[ AVP ]
type ecrRequest struct {
	sessionID   wire.AVP
	drmp        wire.AVP
	proxyInfo   []wire.AVP
	originHost  wire.AVP
	originRealm wire.AVP
	destHost    wire.AVP
	destRealm   wire.AVP
	authState   wire.AVP
	vsai        wire.AVP
	termInfo    wire.AVP
	userName    wire.AVP
	imei        wire.AVP
	swVersion   wire.AVP
	meid        wire.AVP

	unsupported []byte // first unknown AVP with the M-bit
	excess      []byte // first AVP beyond its maximum count
}

// reqError is a request that cannot be answered with a decision: the result
// code, whether it is a protocol error (3xxx, E-bit), the content of
// Failed-AVP and an Error-Message for people reading traces.
type reqError struct {
	code     uint32
	failed   []byte
	text     string
	protocol bool
}

func protocolError(code uint32, text string) *reqError {
	return &reqError{code: code, text: text, protocol: true}
}

func avpError(code uint32, failed []byte, text string) *reqError {
	return &reqError{code: code, failed: failed, text: text}
}

// ecrResult is what was answered to one ECR, for metrics, logs and the
// observer.
type ecrResult struct {
	// code is the Result-Code, or the Experimental-Result-Code when
	// experimental is set.
	code         uint32
	experimental bool
	// checked is set when the request was valid and reached the checker;
	// decision is its decision when err is nil.
	checked  bool
	decision eir.Decision
	// err is the error that decided a non-2001 answer, if any.
	err error
}

// ecrCall is one ECR being answered. Its request is parsed once, in the
// read loop; a check that needs I/O takes the parsed request to its own
// goroutine (detach).
type ecrCall struct {
	hdr    wire.Header
	body   []byte
	start  time.Time
	parsed bool
	req    ecrRequest
	query  eir.Query
	svn    string // the IMEISV's software version for the observer, "" when none (observe.SVN: not allocated)
}

// detach makes call independent of the read buffer, which the next message
// reuses: the body is copied, and the AVPs of the request that the answer
// and the observer use (Session-Id, DRMP, Proxy-Info, Origin-Host) point
// into the copy. The others are dropped.
func (call *ecrCall) detach() {
	old, body := call.body, slices.Clone(call.body)
	move := func(a wire.AVP) wire.AVP {
		if a.Raw == nil {
			return wire.AVP{}
		}
		// Every AVP is a slice of old that runs to its end: its offset
		// follows from the capacities.
		off := cap(old) - cap(a.Raw)
		raw := body[off : off+len(a.Raw) : off+len(a.Raw)]
		a.Data, a.Raw = raw[len(raw)-len(a.Data):], raw
		return a
	}
	r := &call.req
	for i, p := range r.proxyInfo {
		r.proxyInfo[i] = move(p)
	}
	call.req = ecrRequest{sessionID: move(r.sessionID), drmp: move(r.drmp), originHost: move(r.originHost), proxyInfo: r.proxyInfo}
	call.body = body
}

// ecrHandler answers ME-Identity-Check requests: it parses and validates
// them, asks the checker and encodes the ECA. It never fails: every
// problem becomes an answer (TS 29.272 §7.2.20, RFC 6733 §7).
type ecrHandler struct {
	id      identity
	checker eir.Checker
}

// process answers call, appending the ECA to dst. The request is parsed and
// validated on the first call. Inline (in the read loop) the check is
// TryCheck and ctx is not used: when the check needs I/O, process reports
// done false and appends nothing, and call keeps the parsed request for a
// call that is not inline, whose check is Check under ctx.
func (h *ecrHandler) process(ctx context.Context, dst []byte, call *ecrCall, inline bool) (out []byte, res ecrResult, done bool) {
	e := eca{h.id}
	if !call.parsed {
		call.parsed = true
		if re, err := h.prepare(call); re != nil {
			return e.failure(dst, call.hdr, &call.req, re), ecrResult{code: re.code, err: err}, true
		}
	}
	var d eir.Decision
	var err error
	if inline {
		var ok bool
		if d, ok, err = h.checker.TryCheck(call.query); !ok {
			return dst, ecrResult{}, false
		}
	} else {
		d, err = h.checker.Check(ctx, call.query)
	}
	if err != nil {
		res = ecrResult{checked: true, err: err}
		res.code, res.experimental = resultFor(err)
		if res.experimental {
			return e.experimental(dst, call.hdr, &call.req, res.code), res, true
		}
		return e.failure(dst, call.hdr, &call.req, avpError(res.code, nil, "")), res, true
	}
	return e.status(dst, call.hdr, &call.req, d.Status), ecrResult{code: wire.Success, checked: true, decision: d}, true
}

// prepare parses and validates the request of call and sets its query. It
// returns the error to answer when the request cannot be checked, and for
// an invalid IMEI the IMEI's parse error.
func (h *ecrHandler) prepare(call *ecrCall) (*reqError, error) {
	var re *reqError
	call.req, re = parseECR(call.hdr, call.body)
	r := &call.req
	if re == nil {
		re = h.route(r)
	}
	if re == nil {
		re = r.validate()
	}
	if re != nil {
		return re, nil
	}
	id, err := eir.ParseIdentity(string(r.imei.Data))
	if err != nil {
		return avpError(wire.InvalidAVPValue, wrapGrouped(r.termInfo, r.imei.Raw), "invalid IMEI: want 14, 15 or 16 digits"), err
	}
	call.query = eir.Query{IMEI: id.IMEI}
	// The SVN: the Software-Version AVP, or the last two digits of a
	// 16-digit IMEI (an IMEISV in the IMEI AVP).
	if call.svn = observe.SVN(r.swVersion.Data); call.svn == "" && id.SVN >= 0 {
		call.svn = observe.SVN(r.imei.Data[14:16])
	}
	if r.userName.Raw != nil {
		// An IMSI that is not 5-15 digits cannot match an exception; it
		// does not make the check fail (User-Name is optional input).
		if imsi, err := eir.ParseIMSI(string(r.userName.Data)); err == nil {
			call.query.IMSI = imsi
		}
	}
	return nil, nil
}

// handleECR answers an ME-Identity-Check in the read loop when the check
// needs no I/O (the lists are in memory): the answer joins the others made
// from the same read, written together. Otherwise the check runs in its own
// goroutine (dispatchECR), with the request as parsed here.
func (c *conn) handleECR(hdr wire.Header, body []byte) {
	call := ecrCall{hdr: hdr, body: body, start: time.Now()}
	var dst []byte
	if c.coalesce {
		dst = c.pending
	}
	out, res, done := c.answerECR(context.Background(), dst, &call, true)
	switch {
	case !done:
		c.dispatchECR(call)
		return
	case !c.coalesce:
		c.send(out)
	default:
		if c.pending = out; len(c.pending) >= 32<<10 {
			c.flushPending()
		}
	}
	if host := call.req.originHost.Data; string(host) != c.origin {
		c.origin = string(host)
	}
	c.answered(&call, &res, c.origin)
}

// dispatchECR runs the check of one ME-Identity-Check in its own goroutine.
// When MaxInflightPerPeer requests are in flight, it blocks, and so does
// reading from this peer (TCP back-pressure).
func (c *conn) dispatchECR(call ecrCall) {
	c.flushPending() // the answers made so far must not wait behind this one
	call.detach()
	c.inflight <- struct{}{}
	c.handlers.Add(1)
	c.s.m.inflight.Inc()
	go c.serveECR(&call) // by pointer: the goroutine starts on a small stack
}

func (c *conn) serveECR(call *ecrCall) {
	defer func() {
		c.s.m.inflight.Dec()
		<-c.inflight
		c.handlers.Done()
	}()
	ctx, cancel := context.WithTimeout(c.s.baseCtx, c.s.opts.RequestTimeout)
	defer cancel()
	out, res, _ := c.answerECR(ctx, nil, call, false)
	c.send(out)
	c.answered(call, &res, string(call.req.originHost.Data))
}

// answerECR is ecrHandler.process behind the one recover guard of both
// paths: a panic becomes a 5012 answer and counts in the panics counter, so
// that one bad request never takes the process down.
func (c *conn) answerECR(ctx context.Context, dst []byte, call *ecrCall, inline bool) (out []byte, res ecrResult, done bool) {
	defer func() {
		if p := recover(); p != nil {
			c.s.m.panics.Inc()
			c.logger().Error("panic while answering ecr", zap.Any("panic", p), zap.Stack("stack"))
			out = append(dst, c.s.plainAnswer(call.hdr, call.body, wire.UnableToComply, "internal error")...)
			res, done = ecrResult{code: wire.UnableToComply, err: fmt.Errorf("diameter: panic: %v", p)}, true
		}
	}()
	return c.s.ecr.process(ctx, dst, call, inline)
}

// answered records an ECR answered: the answer metrics, the observer for a
// checked request (with the request's Origin-Host, origin), the debug line.
func (c *conn) answered(call *ecrCall, res *ecrResult, origin string) {
	s := c.s
	s.m.answered(cmdNameECR, res.code, time.Since(call.start).Seconds())
	if res.checked && s.opts.Observer != nil {
		s.opts.Observer.Answered(observe.Answer{Interface: observe.S13, Peer: origin, PeerAddr: c.remoteIP, Query: call.query, Decision: res.decision, Err: res.err, SVN: call.svn})
	}
	if ce := s.log.Check(zap.DebugLevel, "ecr answered"); ce != nil {
		ce.Write(zap.Uint32("result_code", res.code), zap.Bool("experimental", res.experimental),
			zap.Uint32("hop_by_hop", call.hdr.HopByHop), zap.Duration("duration", time.Since(call.start)))
	}
}

// parseECR walks the request's AVPs once, collecting what the answer needs
// (Session-Id, DRMP, Proxy-Info) even when the request turns out invalid. It
// reports header-bit (3008) and AVP-length (5014) errors; answerECR then
// checks routing (3002, 3003) and calls validate (5001, 5009, 5005, 5004), in
// that order.
func parseECR(hdr wire.Header, body []byte) (ecrRequest, *reqError) {
	var r ecrRequest
	single := func(slot *wire.AVP, a wire.AVP) {
		if slot.Raw != nil {
			if r.excess == nil {
				r.excess = a.Raw
			}
			return
		}
		*slot = a
	}
	bad, err := wire.Walk(body, func(a wire.AVP) error {
		if a.Vendor == wire.Vendor3GPP && a.Code == wire.AVPTerminalInformation {
			single(&r.termInfo, a)
			return nil
		}
		if a.Vendor != 0 || a.Flags&flagV != 0 {
			if a.Mandatory() && r.unsupported == nil {
				r.unsupported = a.Raw
			}
			return nil
		}
		switch a.Code {
		case wire.AVPSessionID:
			single(&r.sessionID, a)
		case wire.AVPDRMP:
			single(&r.drmp, a)
		case wire.AVPVendorSpecificApplicationID:
			single(&r.vsai, a)
		case wire.AVPAuthSessionState:
			single(&r.authState, a)
		case wire.AVPOriginHost:
			single(&r.originHost, a)
		case wire.AVPOriginRealm:
			single(&r.originRealm, a)
		case wire.AVPDestinationHost:
			single(&r.destHost, a)
		case wire.AVPDestinationRealm:
			single(&r.destRealm, a)
		case wire.AVPUserName:
			single(&r.userName, a)
		case wire.AVPProxyInfo:
			r.proxyInfo = append(r.proxyInfo, a)
		case wire.AVPRouteRecord:
		default:
			if a.Mandatory() && r.unsupported == nil {
				r.unsupported = a.Raw
			}
		}
		return nil
	})
	if hdr.Flags&wire.FlagError != 0 {
		return r, protocolError(wire.InvalidHdrBits, "E-bit set in a request")
	}
	if err != nil {
		return r, avpError(wire.InvalidAVPLength, minimalHeader(bad.Raw), "AVP length inconsistent with the message")
	}
	return r, nil
}

// validate reports unsupported (5001), repeated (5009), missing (5005) and
// invalid (5004) AVPs, in that order.
func (r *ecrRequest) validate() *reqError {
	if r.termInfo.Raw != nil && r.unsupported == nil && r.excess == nil {
		if rerr := parseTerminalInformation(r); rerr != nil {
			return rerr
		}
	}
	switch {
	case r.unsupported != nil:
		return avpError(wire.AVPUnsupported, r.unsupported, "mandatory AVP not supported")
	case r.excess != nil:
		return avpError(wire.AVPOccursTooManyTimes, r.excess, "AVP occurs too many times")
	}
	missing := []struct {
		a       wire.AVP
		example func() []byte
		name    string
	}{
		{r.sessionID, func() []byte { return exampleAVP(wire.AVPSessionID, 0, 0) }, "Session-Id"},
		{r.authState, func() []byte { return exampleAVP(wire.AVPAuthSessionState, 0, 4) }, "Auth-Session-State"},
		{r.originHost, func() []byte { return exampleAVP(wire.AVPOriginHost, 0, 0) }, "Origin-Host"},
		{r.originRealm, func() []byte { return exampleAVP(wire.AVPOriginRealm, 0, 0) }, "Origin-Realm"},
		{r.termInfo, func() []byte { return exampleAVP(wire.AVPTerminalInformation, wire.Vendor3GPP, 0, exampleIMEI()) }, "Terminal-Information"},
	}
	for _, m := range missing {
		if m.a.Raw == nil {
			return avpError(wire.MissingAVP, m.example(), m.name+" missing")
		}
	}
	if r.imei.Raw == nil {
		// TS 29.272 Table 6.2.1.1/1: Terminal-Information "shall contain
		// the IMEI"; a 3GPP2-MEID alone is not an S13 identity.
		return avpError(wire.MissingAVP,
			wrapGrouped(r.termInfo, exampleIMEI()), "IMEI missing from Terminal-Information")
	}
	for _, a := range []wire.AVP{r.authState, r.drmp} {
		if a.Raw != nil && len(a.Data) != 4 {
			return avpError(wire.InvalidAVPLength, a.Raw, "AVP length invalid for its type")
		}
	}
	if v, _ := r.authState.U32(); v > 1 {
		return avpError(wire.InvalidAVPValue, r.authState.Raw, "Auth-Session-State must be 0 or 1")
	}
	for _, a := range []wire.AVP{r.sessionID, r.originHost, r.originRealm} {
		if len(a.Data) == 0 || !utf8.Valid(a.Data) {
			return avpError(wire.InvalidAVPValue, a.Raw, "empty or invalid identity")
		}
	}
	return nil
}

// parseTerminalInformation walks the Grouped Terminal-Information. Failed-AVP
// for a sub-AVP carries Terminal-Information holding only the offender
// (RFC 6733 §7.5).
func parseTerminalInformation(r *ecrRequest) *reqError {
	var unsupported, excess []byte
	single := func(slot *wire.AVP, a wire.AVP) {
		if slot.Raw != nil {
			if excess == nil {
				excess = a.Raw
			}
			return
		}
		*slot = a
	}
	bad, err := wire.Walk(r.termInfo.Data, func(a wire.AVP) error {
		if a.Vendor == wire.Vendor3GPP {
			switch a.Code {
			case wire.AVPIMEI:
				single(&r.imei, a)
				return nil
			case wire.AVPSoftwareVersion:
				single(&r.swVersion, a)
				return nil
			case wire.AVP3GPP2MEID:
				single(&r.meid, a)
				return nil
			}
		}
		if a.Mandatory() && unsupported == nil {
			unsupported = a.Raw
		}
		return nil
	})
	switch {
	case err != nil:
		return avpError(wire.InvalidAVPLength, wrapGrouped(r.termInfo, minimalHeader(bad.Raw)), "AVP length inconsistent within Terminal-Information")
	case unsupported != nil:
		return avpError(wire.AVPUnsupported, wrapGrouped(r.termInfo, unsupported), "mandatory AVP not supported in Terminal-Information")
	case excess != nil:
		return avpError(wire.AVPOccursTooManyTimes, wrapGrouped(r.termInfo, excess), "AVP occurs too many times in Terminal-Information")
	}
	return nil
}

// route applies the local-consumption test of RFC 6733 §6.1.4: an EIR is not
// an agent, so a request for another host is 3002 and one for another realm
// 3003.
func (h *ecrHandler) route(r *ecrRequest) *reqError {
	if r.destHost.Raw != nil {
		if !bytes.EqualFold(r.destHost.Data, []byte(h.id.host)) {
			return protocolError(wire.UnableToDeliver, fmt.Sprintf("Destination-Host %q is not this node", r.destHost.Data))
		}
		if r.destRealm.Raw == nil {
			return protocolError(wire.UnableToDeliver, "Destination-Host without Destination-Realm")
		}
		return nil
	}
	if r.destRealm.Raw == nil {
		return avpError(wire.MissingAVP, exampleAVP(wire.AVPDestinationRealm, 0, 0), "Destination-Realm missing")
	}
	if !bytes.EqualFold(r.destRealm.Data, []byte(h.id.realm)) {
		return protocolError(wire.RealmNotServed, fmt.Sprintf("Destination-Realm %q is not served", r.destRealm.Data))
	}
	return nil
}
