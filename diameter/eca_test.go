package diameter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
)

// errChecker answers every check with err, with or without I/O.
type errChecker struct{ err error }

func (c errChecker) Check(context.Context, eir.Query) (eir.Decision, error) {
	return eir.Decision{}, c.err
}

func (c errChecker) TryCheck(eir.Query) (eir.Decision, bool, error) {
	return eir.Decision{}, true, c.err
}

// TestResultOnTheWire checks resultFor's mapping as the peer sees it: the
// ECA of each decision error, decoded by go-diameter, on both paths.
func TestResultOnTheWire(t *testing.T) {
	tests := []struct {
		err          error
		resultCode   uint32 // 0: absent
		experimental uint32 // 0: absent
	}{
		{eir.ErrUnknown, 0, 5422},
		{fmt.Errorf("memstore: %w", eir.ErrUnknown), 0, 5422},
		{eir.ErrInvalidIMEI, 5004, 0},
		{eir.ErrUnavailable, 5012, 0},
		{fmt.Errorf("redisstore: %w: %w", eir.ErrUnavailable, errors.New("dial")), 5012, 0},
		{context.DeadlineExceeded, 5012, 0},
		{context.Canceled, 5012, 0},
		{errors.New("anything"), 5012, 0},
	}
	for _, tc := range tests {
		h := &ecrHandler{id: identity{host: "eir.test", realm: "eir.test"}, checker: errChecker{tc.err}}
		hdr, body := newECR(9).std("35209900176148").add(wire.AVPDRMP, 0, 0, datatype.Enumerated(2)).bytes(t)
		for _, inline := range []bool{true, false} {
			call := ecrCall{hdr: hdr, body: body}
			out, res, done := h.process(context.Background(), nil, &call, inline)
			if !done || !res.checked || !errors.Is(res.err, tc.err) {
				t.Fatalf("%v: done %v, result %+v", tc.err, done, res)
			}
			w := decodeWire(t, out)
			if w.Header.CommandFlags&diam.ErrorFlag != 0 {
				t.Errorf("%v: E-bit set", tc.err)
			}
			if w.codes[0] != wire.AVPSessionID || w.codes[1] != wire.AVPDRMP {
				t.Errorf("%v: answer starts %v", tc.err, w.codes[:2])
			}
			if w.has(wire.AVPEquipmentStatus) {
				t.Errorf("%v: Equipment-Status in an error answer", tc.err)
			}
			if tc.resultCode != 0 {
				if got := w.u32(t, wire.AVPResultCode, 0); got != tc.resultCode || w.has(wire.AVPExperimentalResult) {
					t.Errorf("%v: Result-Code %d, want %d alone", tc.err, got, tc.resultCode)
				}
				continue
			}
			if w.has(wire.AVPResultCode) {
				t.Errorf("%v: Result-Code with Experimental-Result", tc.err)
			}
			er, err := w.FindAVP(avp.ExperimentalResult, 0)
			if err != nil {
				t.Fatalf("%v: no Experimental-Result", tc.err)
			}
			var code, vendor uint32
			for _, a := range er.Data.(*diam.GroupedAVP).AVP {
				switch a.Code {
				case avp.ExperimentalResultCode:
					code = uint32(a.Data.(datatype.Unsigned32))
				case avp.VendorID:
					vendor = uint32(a.Data.(datatype.Unsigned32))
				}
			}
			if code != tc.experimental || vendor != wire.Vendor3GPP {
				t.Errorf("%v: Experimental-Result %d vendor %d, want %d vendor 10415", tc.err, code, vendor, tc.experimental)
			}
		}
	}
}

// TestEncoderMatchesReference keeps every message of eca.go equal, byte for
// byte, to go-diameter's encoding of the same message, and decodable by it.
func TestEncoderMatchesReference(t *testing.T) {
	s, err := NewServer(Options{OriginHost: "eir.test", OriginRealm: "realm.test", AllowAnyPeer: true, VendorID: 99,
		FirmwareRevision: 7, OriginStateID: 1234}, nil, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	local := &net.TCPAddr{IP: net.ParseIP("::1"), Port: 3868}
	cerHdr := wire.Header{Flags: wire.FlagRequest, Code: wire.CmdCER, HopByHop: 5, EndToEnd: 6}
	refCEA := func(code uint32, re *reqError, apps bool) []byte {
		b := refAnswer(cerHdr, re != nil && re.protocol)
		b.resultCode(code)
		b.origin(s.id)
		b.add(wire.AVPHostIPAddress, flagM, 0, datatype.Address(net.ParseIP("::1")))
		b.u32(wire.AVPVendorID, 99)
		b.add(wire.AVPProductName, 0, 0, datatype.UTF8String("eird"))
		b.u32(wire.AVPOriginStateID, 1234)
		if re != nil {
			b.errorMessage(re.text)
			b.failedAVP(re.failed)
		}
		if apps {
			b.u32(wire.AVPSupportedVendorID, wire.Vendor3GPP)
			b.add(wire.AVPVendorSpecificApplicationID, flagM, 0, datatype.Grouped(append(
				encodeAVP(wire.AVPVendorID, flagM, 0, datatype.Unsigned32(wire.Vendor3GPP)),
				encodeAVP(wire.AVPAuthApplicationID, flagM, 0, datatype.Unsigned32(wire.AppS13))...)))
		}
		b.add(wire.AVPFirmwareRevision, 0, 0, datatype.Unsigned32(7))
		return b.bytes()
	}
	base := func(code uint32, hdr wire.Header, re *reqError) []byte {
		b := refAnswer(hdr, false)
		b.resultCode(code)
		b.origin(s.id)
		if re != nil {
			b.errorMessage(re.text)
			b.failedAVP(re.failed)
		}
		if hdr.Code == wire.CmdDWR {
			b.u32(wire.AVPOriginStateID, 1234)
		}
		return b.bytes()
	}
	dwr := wire.Header{Flags: wire.FlagRequest | wire.FlagProxiable, Code: wire.CmdDWR, HopByHop: 1, EndToEnd: 2}
	dpr := wire.Header{Flags: wire.FlagRequest, Code: wire.CmdDPR, HopByHop: 3, EndToEnd: 4}
	missing := avpError(wire.MissingAVP, exampleAVP(wire.AVPOriginRealm, 0, 0), "Origin-Realm missing")
	odd := avpError(wire.AVPUnsupported, []byte{0, 0, 0x10, 0x92, 0x40, 0, 0, 9, 'x'}, "mandatory AVP not supported")
	tests := []struct {
		name      string
		got, want []byte
	}{
		{"cea", s.cea(cerHdr, 2001, local, nil, true), refCEA(2001, nil, true)},
		{"cea 3010", s.cea(cerHdr, 3010, local, protocolError(3010, "peer not in the allow-list"), false),
			refCEA(3010, protocolError(3010, "peer not in the allow-list"), false)},
		{"cea 5005", s.cea(cerHdr, 5005, local, missing, false), refCEA(5005, missing, false)},
		{"cea 5010", s.cea(cerHdr, 5010, local, avpError(5010, nil, "no S13"), true), refCEA(5010, avpError(5010, nil, "no S13"), true)},
		{"dwa", s.baseAnswer(dwr, 2001, nil), base(2001, dwr, nil)},
		{"dwa 5001 odd failed-avp", s.baseAnswer(dwr, 5001, odd), base(5001, dwr, odd)},
		{"dpa", s.baseAnswer(dpr, 2001, nil), base(2001, dpr, nil)},
		{"dpa 5005", s.baseAnswer(dpr, 5005, missing), base(5005, dpr, missing)},
		{"example imei", exampleIMEI(), encodeAVP(wire.AVPIMEI, flagM|flagV, wire.Vendor3GPP, datatype.UTF8String("00000000000000"))},
		{"example host ip", exampleHostIP(), encodeAVP(wire.AVPHostIPAddress, flagM, 0, datatype.Address(net.IPv4zero.To4()))},
		{"example grouped", exampleAVP(wire.AVPTerminalInformation, wire.Vendor3GPP, 0, exampleIMEI()),
			encodeAVP(wire.AVPTerminalInformation, flagM|flagV, wire.Vendor3GPP, datatype.Grouped(exampleIMEI()))},
		{"example u32", exampleAVP(wire.AVPVendorID, 0, 4), encodeAVP(wire.AVPVendorID, flagM, 0, datatype.OctetString(make([]byte, 4)))},
	}
	for _, tc := range tests {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, tc.got, tc.want)
		}
		if len(tc.got) >= 20 && tc.got[0] == 1 {
			decodeWire(t, tc.got)
		}
	}
	// Requests this node sends: identifiers of its own.
	for _, code := range []uint32{wire.CmdDWR, wire.CmdDPR} {
		got := s.request(code, 77, wire.DisconnectRebooting)
		h := wire.DecodeHeader(got)
		b := refMessage(code, wire.FlagRequest, 0, 77, h.EndToEnd)
		b.origin(s.id)
		if code == wire.CmdDPR {
			b.add(wire.AVPDisconnectCause, flagM, 0, datatype.Enumerated(0))
		} else {
			b.u32(wire.AVPOriginStateID, 1234)
		}
		if want := b.bytes(); !bytes.Equal(got, want) {
			t.Errorf("request %d:\n got %x\nwant %x", code, got, want)
		}
		decodeWire(t, got)
	}
}

// TestErrorECAMatchesReference keeps the error ECAs and the generic
// answer-message equal to go-diameter's encoding: protocol errors without
// DRMP and with the E-bit, other errors in the ECA grammar, Proxy-Info
// echoed last.
func TestErrorECAMatchesReference(t *testing.T) {
	h := testHandler(t)
	proxy := diam.NewAVP(avp.ProxyInfo, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.ProxyHost, avp.Mbit, 0, datatype.DiameterIdentity("dra.test")),
		diam.NewAVP(avp.ProxyState, avp.Mbit, 0, datatype.OctetString("abc")),
	}})
	hdr, body := newECR(8).std("35209900176148").add(wire.AVPDRMP, 0, 0, datatype.Enumerated(1)).
		add(avp.ProxyInfo, avp.Mbit, 0, proxy.Data).bytes(t)
	r, re := parseECR(hdr, body)
	if re != nil {
		t.Fatal(re.text)
	}
	for _, e := range []*reqError{
		protocolError(wire.UnableToDeliver, "Destination-Host \"x\" is not this node"),
		avpError(wire.MissingAVP, exampleAVP(wire.AVPDestinationRealm, 0, 0), "Destination-Realm missing"),
		avpError(wire.InvalidAVPValue, wrapGrouped(r.termInfo, r.imei.Raw), "invalid IMEI"),
		avpError(wire.UnableToComply, nil, ""),
	} {
		b := h.refStart(hdr, &r, e.protocol)
		if e.protocol {
			b.origin(h.id)
			b.resultCode(e.code)
		} else {
			b.resultCode(e.code)
			b.u32(wire.AVPAuthSessionState, 1)
			b.origin(h.id)
		}
		b.errorMessage(e.text)
		b.failedAVP(e.failed)
		h.refFinish(b, &r)
		got, want := (&eca{h.id}).failure([]byte("x"), hdr, &r, e)[1:], b.bytes()
		if !bytes.Equal(got, want) {
			t.Errorf("%d:\n got %x\nwant %x", e.code, got, want)
		}
		decodeWire(t, got)
	}
	s := &Server{id: h.id}
	for _, code := range []uint32{wire.CommandUnsupported, wire.UnableToComply} {
		b := refAnswer(hdr, code < 4000)
		b.echo(r.sessionID)
		b.origin(h.id)
		b.resultCode(code)
		if code >= 5000 {
			b.u32(wire.AVPAuthSessionState, 1)
		}
		b.errorMessage("text")
		h.refFinish(b, &r)
		if got, want := s.plainAnswer(hdr, body, code, "text"), b.bytes(); !bytes.Equal(got, want) {
			t.Errorf("plain %d:\n got %x\nwant %x", code, got, want)
		}
	}
}
