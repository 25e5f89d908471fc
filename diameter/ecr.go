package diameter

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/eir-sidecar/eir/eir"
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
	sessionID   rawAVP
	drmp        rawAVP
	proxyInfo   []rawAVP
	originHost  rawAVP
	originRealm rawAVP
	destHost    rawAVP
	destRealm   rawAVP
	authState   rawAVP
	vsai        rawAVP
	termInfo    rawAVP
	userName    rawAVP
	imei        rawAVP
	swVersion   rawAVP
	meid        rawAVP

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

// Answer is what was answered, for metrics and logs.
type Answer struct {
	// ResultCode is the Result-Code, or the Experimental-Result-Code when
	// Experimental is set.
	ResultCode   uint32
	Experimental bool
	// Decision is set when the answer carries an Equipment-Status.
	Decision *eir.Decision
	// Err is the error that decided a non-2001 answer, if any.
	Err error
	// Checked is set when the request was valid and reached the Checker.
	Checked bool
	// Query is what was checked, and Origin the Origin-Host of the request
	// (the MME or SGSN, also behind a relay), when Checked.
	Query  eir.Query
	Origin string
}

// checker is what the ECR handler needs from the decision engine.
type checker interface {
	Check(ctx context.Context, q eir.Query) (eir.Decision, error)
}

// localChecker is a checker that can often decide without I/O
// (eir.Checker over an eir.LocalLookup).
type localChecker interface {
	TryCheck(q eir.Query) (eir.Decision, bool, error)
}

// ecrHandler answers ME-Identity-Check requests.
type ecrHandler struct {
	id      identity
	checker checker
	// keepOrigin fills Answer.Origin for every checked request (hit
	// events); otherwise only for shadow verdicts (their log line).
	keepOrigin bool
}

// answerECR validates one ECR and returns the ECA to send. It never fails:
// every problem becomes an answer (TS 29.272 §7.2.20, RFC 6733 §7).
func (h *ecrHandler) answerECR(ctx context.Context, hdr header, body []byte) ([]byte, Answer) {
	ans, res, _ := h.answer(nil, hdr, body, func(q eir.Query) (eir.Decision, error, bool) {
		d, err := h.checker.Check(ctx, q)
		return d, err, true
	})
	return ans, res
}

// answerLocal is answerECR when the decision needs no I/O, appending the
// answer to dst; ok is false when it does (or the checker cannot tell),
// and nothing was answered.
func (h *ecrHandler) answerLocal(dst []byte, hdr header, body []byte) (ans []byte, res Answer, ok bool) {
	lc, isLocal := h.checker.(localChecker)
	if !isLocal {
		return dst, Answer{}, false
	}
	return h.answer(dst, hdr, body, func(q eir.Query) (eir.Decision, error, bool) {
		d, ok, err := lc.TryCheck(q)
		return d, err, ok
	})
}

// answer validates the ECR, asks decide, and appends the answer to dst. It
// reports false, answering nothing, when decide does.
func (h *ecrHandler) answer(dst []byte, hdr header, body []byte, decide func(eir.Query) (eir.Decision, error, bool)) ([]byte, Answer, bool) {
	r, rerr := parseECR(hdr, body)
	if rerr == nil {
		rerr = h.route(&r)
	}
	if rerr == nil {
		rerr = r.validate()
	}
	if rerr != nil {
		return append(dst, h.errorAnswer(hdr, &r, rerr)...), Answer{ResultCode: rerr.code}, true
	}
	id, err := eir.ParseIdentity(string(r.imei.data))
	if err != nil {
		rerr = avpError(codeInvalidAVPValue, wrapGrouped(r.termInfo, r.imei.raw), "invalid IMEI: want 14, 15 or 16 digits")
		return append(dst, h.errorAnswer(hdr, &r, rerr)...), Answer{ResultCode: codeInvalidAVPValue, Err: err}, true
	}
	q := eir.Query{IMEI: id.IMEI}
	if r.userName.raw != nil {
		// An IMSI that is not 5-15 digits cannot match an exception; it
		// does not make the check fail (User-Name is optional input).
		if imsi, err := eir.ParseIMSI(string(r.userName.data)); err == nil {
			q.IMSI = imsi
		}
	}
	d, err, ok := decide(q)
	if !ok {
		return dst, Answer{}, false
	}
	res := Answer{ResultCode: codeSuccess, Checked: true, Query: q}
	if h.keepOrigin || d.Shadow != nil {
		res.Origin = string(r.originHost.data)
	}
	if err != nil {
		res.ResultCode, res.Experimental = resultFor(err)
		res.Err = err
		return h.resultAnswer(dst, hdr, &r, res.ResultCode, res.Experimental), res, true
	}
	res.Decision = &d
	return h.successAnswer(dst, hdr, &r, d.Status), res, true
}

// successAnswer encodes the ECA of a decision (Result-Code 2001 and
// Equipment-Status), the answer to nearly every ECR, straight into one
// buffer: the same bytes and AVP order as the go-diameter builder used for
// every other answer (a test keeps them equal), without its allocation per
// AVP.
func (h *ecrHandler) successAnswer(dst []byte, hdr header, r *ecrRequest, st eir.Status) []byte {
	b, start := h.beginAnswer(dst, r, 12+16)
	b = appendU32AVP(b, avpResultCode, flagM, 0, codeSuccess)
	b = h.appendIdentity(b)
	b = appendU32AVP(b, avpEquipmentStatus, flagM|flagV, vendor3GPP, uint32(st))
	return h.endAnswer(b, start, hdr, r)
}

// beginAnswer starts a directly encoded ECA at the end of dst, with room
// for body bytes of result AVPs: the header's place, then Session-Id and
// DRMP echoed. It returns where the answer starts.
func (h *ecrHandler) beginAnswer(dst []byte, r *ecrRequest, body int) ([]byte, int) {
	n := headerLen + padded(len(r.sessionID.raw)) + padded(len(r.drmp.raw)) + body +
		12 + 8 + padded(len(h.id.host)) + 8 + padded(len(h.id.realm))
	for _, p := range r.proxyInfo {
		n += padded(len(p.raw))
	}
	start := len(dst)
	b := slices.Grow(dst, n)[:start+headerLen]
	b = appendRawAVP(b, r.sessionID.raw)
	return appendRawAVP(b, r.drmp.raw), start
}

// appendIdentity appends Auth-Session-State (NO_STATE_MAINTAINED),
// Origin-Host and Origin-Realm.
func (h *ecrHandler) appendIdentity(b []byte) []byte {
	b = appendU32AVP(b, avpAuthSessionState, flagM, 0, 1)
	b = appendAVP(b, avpOriginHost, flagM, 0, string(h.id.host))
	return appendAVP(b, avpOriginRealm, flagM, 0, string(h.id.realm))
}

// endAnswer appends the request's Proxy-Info AVPs and writes the header of
// the answer starting at start.
func (h *ecrHandler) endAnswer(b []byte, start int, hdr header, r *ecrRequest) []byte {
	for _, p := range r.proxyInfo {
		b = appendRawAVP(b, p.raw)
	}
	putHeader(b[start:], hdr.flags&cmdFlagP, hdr)
	return b
}

// start begins an ECA: Session-Id first, then DRMP echoed (RFC 7944 §9 lets
// the answerer keep the request's priority).
func (h *ecrHandler) start(hdr header, r *ecrRequest, protocol bool) msg {
	b := newAnswer(hdr, protocol)
	if r.sessionID.raw != nil {
		b.echo(r.sessionID)
	}
	if r.drmp.raw != nil && !protocol {
		b.echo(r.drmp)
	}
	return b
}

// finish appends every Proxy-Info of the request, in order (RFC 6733 §6.2).
// Route-Record is not copied.
func (h *ecrHandler) finish(b msg, r *ecrRequest) {
	for _, p := range r.proxyInfo {
		b.echo(p)
	}
}

// resultAnswer builds an ECA whose result comes from a decision error:
// Experimental-Result 5422 (vendor 10415, no Result-Code, no
// Equipment-Status) or a Result-Code.
func (h *ecrHandler) resultAnswer(dst []byte, hdr header, r *ecrRequest, code uint32, experimental bool) []byte {
	if !experimental {
		return append(dst, h.errorAnswer(hdr, r, avpError(code, nil, ""))...)
	}
	return h.experimentalAnswer(dst, hdr, r, code)
}

// experimentalAnswer encodes an ECA with Experimental-Result (5422, the
// answer for unknown equipment) straight into one buffer, like
// successAnswer: the same bytes as go-diameter's encoding (a test keeps
// them equal).
func (h *ecrHandler) experimentalAnswer(dst []byte, hdr header, r *ecrRequest, code uint32) []byte {
	b, start := h.beginAnswer(dst, r, 8+12+12)
	b = binary.BigEndian.AppendUint32(b, avpExperimentalResult)
	b = append(b, flagM, 0, 0, 8+12+12)
	b = appendU32AVP(b, avpVendorID, flagM, 0, vendor3GPP)
	b = appendU32AVP(b, avpExperimentalResCode, flagM, 0, code)
	b = h.appendIdentity(b)
	return h.endAnswer(b, start, hdr, r)
}

// errorAnswer builds an error ECA. Protocol errors (3xxx) use the generic
// answer-message grammar of RFC 6733 §7.2 with the E-bit; other errors use
// the ECA grammar with Auth-Session-State.
func (h *ecrHandler) errorAnswer(hdr header, r *ecrRequest, e *reqError) []byte {
	b := h.start(hdr, r, e.protocol)
	if e.protocol {
		b.origin(h.id)
		b.resultCode(e.code)
		b.errorMessage(e.text)
		b.failedAVP(e.failed)
	} else {
		b.resultCode(e.code)
		b.u32(avpAuthSessionState, 1)
		b.origin(h.id)
		b.errorMessage(e.text)
		b.failedAVP(e.failed)
	}
	h.finish(b, r)
	return b.bytes()
}

// parseECR walks the request's AVPs once, collecting what the answer needs
// (Session-Id, DRMP, Proxy-Info) even when the request turns out invalid. It
// reports header-bit (3008) and AVP-length (5014) errors; answerECR then
// checks routing (3002, 3003) and calls validate (5001, 5009, 5005, 5004), in
// that order.
func parseECR(hdr header, body []byte) (ecrRequest, *reqError) {
	var r ecrRequest
	single := func(slot *rawAVP, a rawAVP) {
		if slot.raw != nil {
			if r.excess == nil {
				r.excess = a.raw
			}
			return
		}
		*slot = a
	}
	bad, err := forEachAVP(body, func(a rawAVP) error {
		if a.vendor == vendor3GPP && a.code == avpTerminalInformation {
			single(&r.termInfo, a)
			return nil
		}
		if a.vendor != 0 || a.flags&flagV != 0 {
			if a.mandatory() && r.unsupported == nil {
				r.unsupported = a.raw
			}
			return nil
		}
		switch a.code {
		case avpSessionID:
			single(&r.sessionID, a)
		case avpDRMP:
			single(&r.drmp, a)
		case avpVendorSpecificAppID:
			single(&r.vsai, a)
		case avpAuthSessionState:
			single(&r.authState, a)
		case avpOriginHost:
			single(&r.originHost, a)
		case avpOriginRealm:
			single(&r.originRealm, a)
		case avpDestinationHost:
			single(&r.destHost, a)
		case avpDestinationRealm:
			single(&r.destRealm, a)
		case avpUserName:
			single(&r.userName, a)
		case avpProxyInfo:
			r.proxyInfo = append(r.proxyInfo, a)
		case avpRouteRecord:
		default:
			if a.mandatory() && r.unsupported == nil {
				r.unsupported = a.raw
			}
		}
		return nil
	})
	if hdr.flags&cmdFlagE != 0 {
		return r, protocolError(codeInvalidHdrBits, "E-bit set in a request")
	}
	if err != nil {
		return r, avpError(codeInvalidAVPLength, minimalHeader(bad.raw), "AVP length inconsistent with the message")
	}
	return r, nil
}

// validate reports unsupported (5001), repeated (5009), missing (5005) and
// invalid (5004) AVPs, in that order.
func (r *ecrRequest) validate() *reqError {
	if r.termInfo.raw != nil && r.unsupported == nil && r.excess == nil {
		if rerr := parseTerminalInformation(r); rerr != nil {
			return rerr
		}
	}
	switch {
	case r.unsupported != nil:
		return avpError(codeAVPUnsupported, r.unsupported, "mandatory AVP not supported")
	case r.excess != nil:
		return avpError(codeAVPOccursTooManyTimes, r.excess, "AVP occurs too many times")
	}
	missing := []struct {
		a       rawAVP
		example func() []byte
		name    string
	}{
		{r.sessionID, func() []byte { return exampleAVP(avpSessionID, 0, 0) }, "Session-Id"},
		{r.authState, func() []byte { return exampleAVP(avpAuthSessionState, 0, 4) }, "Auth-Session-State"},
		{r.originHost, func() []byte { return exampleAVP(avpOriginHost, 0, 0) }, "Origin-Host"},
		{r.originRealm, func() []byte { return exampleAVP(avpOriginRealm, 0, 0) }, "Origin-Realm"},
		{r.termInfo, func() []byte { return exampleAVP(avpTerminalInformation, vendor3GPP, 0, exampleIMEI()) }, "Terminal-Information"},
	}
	for _, m := range missing {
		if m.a.raw == nil {
			return avpError(codeMissingAVP, m.example(), m.name+" missing")
		}
	}
	if r.imei.raw == nil {
		// TS 29.272 Table 6.2.1.1/1: Terminal-Information "shall contain
		// the IMEI"; a 3GPP2-MEID alone is not an S13 identity.
		return avpError(codeMissingAVP,
			wrapGrouped(r.termInfo, exampleIMEI()), "IMEI missing from Terminal-Information")
	}
	for _, a := range []rawAVP{r.authState, r.drmp} {
		if a.raw != nil && len(a.data) != 4 {
			return avpError(codeInvalidAVPLength, a.raw, "AVP length invalid for its type")
		}
	}
	if v, _ := u32(r.authState); v > 1 {
		return avpError(codeInvalidAVPValue, r.authState.raw, "Auth-Session-State must be 0 or 1")
	}
	for _, a := range []rawAVP{r.sessionID, r.originHost, r.originRealm} {
		if len(a.data) == 0 || !utf8.Valid(a.data) {
			return avpError(codeInvalidAVPValue, a.raw, "empty or invalid identity")
		}
	}
	return nil
}

// parseTerminalInformation walks the Grouped Terminal-Information. Failed-AVP
// for a sub-AVP carries Terminal-Information holding only the offender
// (RFC 6733 §7.5).
func parseTerminalInformation(r *ecrRequest) *reqError {
	var unsupported, excess []byte
	single := func(slot *rawAVP, a rawAVP) {
		if slot.raw != nil {
			if excess == nil {
				excess = a.raw
			}
			return
		}
		*slot = a
	}
	bad, err := forEachAVP(r.termInfo.data, func(a rawAVP) error {
		if a.vendor == vendor3GPP {
			switch a.code {
			case avpIMEI:
				single(&r.imei, a)
				return nil
			case avpSoftwareVersion:
				single(&r.swVersion, a)
				return nil
			case avp3GPP2MEID:
				single(&r.meid, a)
				return nil
			}
		}
		if a.mandatory() && unsupported == nil {
			unsupported = a.raw
		}
		return nil
	})
	switch {
	case err != nil:
		return avpError(codeInvalidAVPLength, wrapGrouped(r.termInfo, minimalHeader(bad.raw)), "AVP length inconsistent within Terminal-Information")
	case unsupported != nil:
		return avpError(codeAVPUnsupported, wrapGrouped(r.termInfo, unsupported), "mandatory AVP not supported in Terminal-Information")
	case excess != nil:
		return avpError(codeAVPOccursTooManyTimes, wrapGrouped(r.termInfo, excess), "AVP occurs too many times in Terminal-Information")
	}
	return nil
}

// minimalHeader returns the offending AVP of a 5014 answer (RFC 6733
// §7.1.5): its header with an empty payload. The length field is rewritten
// to the header's own length so that the answer itself stays well-formed;
// code, flags and vendor identify the offender.
func minimalHeader(b []byte) []byte {
	hl := 8
	if len(b) > 4 && b[4]&flagV != 0 {
		hl = 12
	}
	out := make([]byte, hl)
	copy(out, b)
	out[5], out[6], out[7] = 0, 0, byte(hl)
	return out
}

// route applies the local-consumption test of RFC 6733 §6.1.4: an EIR is not
// an agent, so a request for another host is 3002 and one for another realm
// 3003.
func (h *ecrHandler) route(r *ecrRequest) *reqError {
	if r.destHost.raw != nil {
		if !bytes.EqualFold(r.destHost.data, []byte(h.id.host)) {
			return protocolError(codeUnableToDeliver, fmt.Sprintf("Destination-Host %q is not this node", r.destHost.data))
		}
		if r.destRealm.raw == nil {
			return protocolError(codeUnableToDeliver, "Destination-Host without Destination-Realm")
		}
		return nil
	}
	if r.destRealm.raw == nil {
		return avpError(codeMissingAVP, exampleAVP(avpDestinationRealm, 0, 0), "Destination-Realm missing")
	}
	if !bytes.EqualFold(r.destRealm.data, []byte(h.id.realm)) {
		return protocolError(codeRealmNotServed, fmt.Sprintf("Destination-Realm %q is not served", r.destRealm.data))
	}
	return nil
}
