package diameter

import (
	"net"
	"slices"

	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
)

// This file is the one encoder of the messages the server sends: every ECA
// (decision, 5422, errors with Failed-AVP), the CEA, DWA and DPA, the DWR
// and DPR it sends, and the generic answer-message of protocol errors. Each
// message is appended to one buffer with the appenders of diameter/wire.
// The bytes are those go-diameter's message builder produced for the same
// answers (the tests decode them with go-diameter and compare them with its
// encoding): AVPs in the order of each grammar, Session-Id first,
// Proxy-Info and DRMP echoed byte for byte.

const (
	flagM = wire.AVPFlagMandatory
	flagV = wire.AVPFlagVendor
)

// identity is what this node puts in the Origin-* AVPs of its messages.
type identity struct {
	host  string
	realm string
}

// message is a message being appended to a buffer; bytes writes its header.
type message struct {
	b     []byte
	start int // where the message starts in b
	hdr   wire.Header
}

// beginMessage starts a message with header h at the end of dst, with room
// for size bytes of AVPs.
func beginMessage(dst []byte, h wire.Header, size int) message {
	var m message
	m.begin(dst, h, size)
	return m
}

// begin starts m, with header h, at the end of dst, with room for size
// bytes of AVPs. (A method filling m in place: the ECA of every check is
// encoded without copying the message around.)
func (m *message) begin(dst []byte, h wire.Header, size int) {
	m.start = len(dst)
	m.b = slices.Grow(dst, wire.HeaderLen+size)[:m.start+wire.HeaderLen]
	m.hdr = h
}

// beginAnswer starts the answer to req at the end of dst: same command
// code, application and identifiers, R cleared, P copied (RFC 6733 §6.2), E
// set for protocol errors (3xxx, §7.2).
func beginAnswer(dst []byte, req wire.Header, protocolError bool, size int) message {
	var m message
	m.beginAnswer(dst, req, protocolError, size)
	return m
}

func (m *message) beginAnswer(dst []byte, req wire.Header, protocolError bool, size int) {
	flags := req.Flags & wire.FlagProxiable
	if protocolError {
		flags |= wire.FlagError
	}
	m.begin(dst, wire.Header{Flags: flags, Code: req.Code, App: req.App, HopByHop: req.HopByHop, EndToEnd: req.EndToEnd}, size)
}

// bytes writes the header and returns the buffer, the message at its end.
func (m *message) bytes() []byte {
	wire.PutHeader(m.b[m.start:], m.hdr)
	return m.b
}

func (m *message) u32(code uint32, v uint32) { m.b = wire.AppendU32(m.b, code, flagM, 0, v) }

func (m *message) resultCode(code uint32) { m.u32(wire.AVPResultCode, code) }

func (m *message) origin(id identity) {
	m.b = wire.AppendString(m.b, wire.AVPOriginHost, flagM, 0, id.host)
	m.b = wire.AppendString(m.b, wire.AVPOriginRealm, flagM, 0, id.realm)
}

// echo copies an AVP of the request byte for byte (Session-Id, Proxy-Info,
// DRMP); nothing when raw is nil.
func (m *message) echo(raw []byte) { m.b = wire.AppendRaw(m.b, raw) }

func (m *message) errorMessage(text string) {
	if text != "" {
		m.b = wire.AppendString(m.b, wire.AVPErrorMessage, 0, 0, text)
	}
}

// failedAVP adds Failed-AVP (RFC 6733 §7.5) holding content, complete AVPs
// (padded here); nothing when content is nil.
func (m *message) failedAVP(content []byte) {
	if content != nil {
		m.b = appendGrouped(m.b, wire.AVPFailedAVP, flagM, 0, content)
	}
}

// appendGrouped appends a Grouped AVP holding content, complete AVPs whose
// last one may lack its padding.
func appendGrouped(b []byte, code uint32, flags uint8, vendor uint32, content []byte) []byte {
	b, start := wire.BeginAVP(b, code, flags, vendor)
	b = wire.AppendRaw(b, content)
	return wire.EndAVP(b, start)
}

// appendAddress appends an Address AVP holding an IP address (RFC 6733
// §4.3.1: address family 1 for IPv4, 2 for IPv6).
func appendAddress(b []byte, code uint32, ip net.IP) []byte {
	b, start := wire.BeginAVP(b, code, flagM, 0)
	if ip4 := ip.To4(); ip4 != nil {
		b = append(append(b, 0, 1), ip4...)
	} else if ip.To16() != nil {
		b = append(append(b, 0, 2), ip...)
	} else {
		b = append(b, ip...)
	}
	return wire.EndAVP(b, start)
}

// ECA, TS 29.272 §7.2.20:
//
//	< ME-Identity-Check-Answer> ::= < Diameter Header: 324, PXY, 16777252 >
//	        < Session-Id >
//	        [ DRMP ]
//	        [ Vendor-Specific-Application-Id ]
//	        [ Result-Code ]
//	        [ Experimental-Result ]
//	        { Auth-Session-State }
//	        { Origin-Host }
//	        { Origin-Realm }
//	        [ Equipment-Status ]
//	       *[ AVP ]
//	       *[ Failed-AVP ]
//	       *[ Proxy-Info ]
//	       *[ Route-Record ]

// eca encodes ECAs for one node.
type eca struct{ id identity }

// begin starts the ECA to r at the end of dst, with room for size bytes of
// result AVPs: Session-Id first, then DRMP echoed (RFC 7944 §9 lets the
// answerer keep the request's priority), except in protocol errors.
func (e *eca) begin(m *message, dst []byte, hdr wire.Header, r *ecrRequest, protocol bool, size int) {
	size += wire.Padded(len(r.sessionID.Raw)) + wire.Padded(len(r.drmp.Raw)) +
		12 + 8 + wire.Padded(len(e.id.host)) + 8 + wire.Padded(len(e.id.realm))
	for _, p := range r.proxyInfo {
		size += wire.Padded(len(p.Raw))
	}
	m.beginAnswer(dst, hdr, protocol, size)
	m.echo(r.sessionID.Raw)
	if !protocol {
		m.echo(r.drmp.Raw)
	}
}

// end appends every Proxy-Info of the request, in order (RFC 6733 §6.2;
// Route-Record is not copied), and writes the header.
func (e *eca) end(m *message, r *ecrRequest) []byte {
	for _, p := range r.proxyInfo {
		m.b = wire.AppendRaw(m.b, p.Raw)
	}
	return m.bytes()
}

// identity appends Auth-Session-State (NO_STATE_MAINTAINED), Origin-Host
// and Origin-Realm.
func (e *eca) identity(b []byte) []byte {
	b = wire.AppendU32(b, wire.AVPAuthSessionState, flagM, 0, 1)
	b = wire.AppendString(b, wire.AVPOriginHost, flagM, 0, e.id.host)
	return wire.AppendString(b, wire.AVPOriginRealm, flagM, 0, e.id.realm)
}

// status encodes the ECA of a decision: Result-Code 2001 and
// Equipment-Status. It is the answer to nearly every ECR, and allocates
// nothing when dst has room.
func (e *eca) status(dst []byte, hdr wire.Header, r *ecrRequest, st eir.Status) []byte {
	var m message
	e.begin(&m, dst, hdr, r, false, 12+16)
	b := wire.AppendU32(m.b, wire.AVPResultCode, flagM, 0, wire.Success)
	b = e.identity(b)
	m.b = wire.AppendU32(b, wire.AVPEquipmentStatus, flagM|flagV, wire.Vendor3GPP, uint32(st))
	return e.end(&m, r)
}

// experimental encodes an ECA with Experimental-Result (vendor 10415; 5422
// for unknown equipment) and neither Result-Code nor Equipment-Status.
func (e *eca) experimental(dst []byte, hdr wire.Header, r *ecrRequest, code uint32) []byte {
	var m message
	e.begin(&m, dst, hdr, r, false, 8+12+12)
	b, start := wire.BeginAVP(m.b, wire.AVPExperimentalResult, flagM, 0)
	b = wire.AppendU32(b, wire.AVPVendorID, flagM, 0, wire.Vendor3GPP)
	b = wire.AppendU32(b, wire.AVPExperimentalResultCode, flagM, 0, code)
	m.b = e.identity(wire.EndAVP(b, start))
	return e.end(&m, r)
}

// failure encodes an error ECA. Protocol errors (3xxx) use the generic
// answer-message grammar of RFC 6733 §7.2 with the E-bit; other errors use
// the ECA grammar with Auth-Session-State.
func (e *eca) failure(dst []byte, hdr wire.Header, r *ecrRequest, re *reqError) []byte {
	var m message
	e.begin(&m, dst, hdr, r, re.protocol, 12+8+len(re.text)+12+len(re.failed))
	if re.protocol {
		m.origin(e.id)
		m.resultCode(re.code)
	} else {
		m.resultCode(re.code)
		m.b = e.identity(m.b)
	}
	m.errorMessage(re.text)
	m.failedAVP(re.failed)
	return e.end(&m, r)
}

// plainAnswer encodes the answer to a request answered by the peer layer,
// not by an application grammar: the generic answer-message of RFC 6733
// §7.2 with the Session-Id and every Proxy-Info of the request echoed when
// they can be found in body, which may be malformed (it may be what made
// a handler panic).
func (s *Server) plainAnswer(hdr wire.Header, body []byte, code uint32, text string) []byte {
	var sid []byte
	var proxies [][]byte
	func() {
		defer func() { _ = recover() }()
		wire.Walk(body, func(a wire.AVP) error {
			if a.Vendor == 0 && a.Flags&flagV == 0 {
				switch a.Code {
				case wire.AVPSessionID:
					if sid == nil {
						sid = a.Raw
					}
				case wire.AVPProxyInfo:
					proxies = append(proxies, a.Raw)
				}
			}
			return nil
		})
	}()
	m := beginAnswer(nil, hdr, code >= 3000 && code < 4000, 128+len(text))
	m.echo(sid)
	m.origin(s.id)
	m.resultCode(code)
	if hdr.App == wire.AppS13 && code >= 5000 {
		m.u32(wire.AVPAuthSessionState, 1)
	}
	m.errorMessage(text)
	for _, p := range proxies {
		m.echo(p)
	}
	return m.bytes()
}

// cea encodes the Capabilities-Exchange-Answer, RFC 6733 §5.3.2:
//
//	<CEA> ::= < Diameter Header: 257 >
//	          { Result-Code }
//	          { Origin-Host }
//	          { Origin-Realm }
//	       1* { Host-IP-Address }
//	          { Vendor-Id }
//	          { Product-Name }
//	          [ Origin-State-Id ]
//	          [ Error-Message ]
//	          [ Failed-AVP ]
//	        * [ Supported-Vendor-Id ]
//	        * [ Auth-Application-Id ]
//	        * [ Inband-Security-Id ]
//	        * [ Acct-Application-Id ]
//	        * [ Vendor-Specific-Application-Id ]
//	          [ Firmware-Revision ]
//	        * [ AVP ]
//
// S13 is advertised (apps) as a vendor-specific application of 3GPP (TS
// 29.272 §7.1.7).
func (s *Server) cea(hdr wire.Header, code uint32, local net.Addr, re *reqError, apps bool) []byte {
	m := beginAnswer(nil, hdr, re != nil && re.protocol, 256)
	m.resultCode(code)
	m.origin(s.id)
	for _, ip := range s.hostIPs(local) {
		m.b = appendAddress(m.b, wire.AVPHostIPAddress, ip)
	}
	m.u32(wire.AVPVendorID, s.opts.VendorID)
	m.b = wire.AppendString(m.b, wire.AVPProductName, 0, 0, s.opts.ProductName)
	m.u32(wire.AVPOriginStateID, s.stateID)
	if re != nil {
		m.errorMessage(re.text)
		m.failedAVP(re.failed)
	}
	if apps {
		m.u32(wire.AVPSupportedVendorID, wire.Vendor3GPP)
		b, start := wire.BeginAVP(m.b, wire.AVPVendorSpecificApplicationID, flagM, 0)
		b = wire.AppendU32(b, wire.AVPVendorID, flagM, 0, wire.Vendor3GPP)
		b = wire.AppendU32(b, wire.AVPAuthApplicationID, flagM, 0, wire.AppS13)
		m.b = wire.EndAVP(b, start)
	}
	if s.opts.FirmwareRevision != 0 {
		m.b = wire.AppendU32(m.b, wire.AVPFirmwareRevision, 0, 0, s.opts.FirmwareRevision)
	}
	return m.bytes()
}

// baseAnswer encodes the DWA and the DPA, RFC 6733 §5.5.2 and §5.4.2:
//
//	<DWA> ::= < Diameter Header: 280 >         <DPA> ::= < Diameter Header: 282 >
//	          { Result-Code }                            { Result-Code }
//	          { Origin-Host }                            { Origin-Host }
//	          { Origin-Realm }                           { Origin-Realm }
//	          [ Error-Message ]                          [ Error-Message ]
//	          [ Failed-AVP ]                             [ Failed-AVP ]
//	          [ Origin-State-Id ]
func (s *Server) baseAnswer(hdr wire.Header, code uint32, re *reqError) []byte {
	m := beginAnswer(nil, hdr, false, 128)
	m.resultCode(code)
	m.origin(s.id)
	if re != nil {
		m.errorMessage(re.text)
		m.failedAVP(re.failed)
	}
	if hdr.Code == wire.CmdDWR {
		m.u32(wire.AVPOriginStateID, s.stateID)
	}
	return m.bytes()
}

// request encodes a DWR or DPR sent by this node; cause is the DPR's
// Disconnect-Cause.
//
//	<DWR> ::= < Diameter Header: 280, REQ > { Origin-Host } { Origin-Realm } [ Origin-State-Id ]
//	<DPR> ::= < Diameter Header: 282, REQ > { Origin-Host } { Origin-Realm } { Disconnect-Cause }
func (s *Server) request(code uint32, hbh uint32, cause uint32) []byte {
	m := beginMessage(nil, wire.Header{Flags: wire.FlagRequest, Code: code, App: wire.AppBase, HopByHop: hbh, EndToEnd: s.nextE2E()}, 64)
	m.origin(s.id)
	if code == wire.CmdDPR {
		m.u32(wire.AVPDisconnectCause, cause)
	} else {
		m.u32(wire.AVPOriginStateID, s.stateID)
	}
	return m.bytes()
}

// exampleAVP builds the "example of the missing AVP" of RFC 6733 §7.1.5 for
// DIAMETER_MISSING_AVP: the right code, flags and vendor, and a value of the
// minimum length filled with zeros, or the given children for a Grouped
// AVP. String types get one zero octet rather than no data, which Wireshark
// reports as an empty AVP.
func exampleAVP(code uint32, vendor uint32, zeroLen int, children ...[]byte) []byte {
	if len(children) > 0 {
		var g []byte
		for _, c := range children {
			g = wire.AppendRaw(g, c)
		}
		return appendGrouped(nil, code, flagM, vendor, g)
	}
	return wire.AppendAVP(nil, code, flagM, vendor, make([]byte, max(zeroLen, 1)))
}

// exampleIMEI is the example of a missing IMEI: 14 zero digits, the
// minimum an IMEI has (TS 29.272 §7.3.4).
func exampleIMEI() []byte {
	return wire.AppendString(nil, wire.AVPIMEI, flagM|flagV, wire.Vendor3GPP, "00000000000000")
}

// exampleHostIP is the example of a missing Host-IP-Address: an IPv4
// address of zeros (AddressType 0 is reserved and would make the answer
// itself undecodable).
func exampleHostIP() []byte {
	return appendAddress(nil, wire.AVPHostIPAddress, net.IPv4zero.To4())
}

// wrapGrouped returns a Grouped AVP with the header of parent that holds only
// child (RFC 6733 §7.5: Failed-AVP may carry the enclosing Grouped AVP with
// just the offending sub-AVP).
func wrapGrouped(parent wire.AVP, child []byte) []byte {
	return appendGrouped(nil, parent.Code, parent.Flags, parent.Vendor, child)
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
