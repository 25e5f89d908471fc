package diameter

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
)

func testHandler(t *testing.T) *ecrHandler {
	_, c := testLists(t)
	return &ecrHandler{id: identity{host: "eir.test", realm: "eir.test"}, checker: c}
}

// TestECAShape checks the answers to valid requests field by field, as
// decoded from the bytes (TS 29.272 §7.2.20, spec sheet §4 rows 1-3, 8-10).
func TestECAShape(t *testing.T) {
	h := testHandler(t)
	tests := []struct {
		name       string
		imei, imsi string
		wantCode   uint32 // Result-Code, 0 when absent
		wantExp    uint32 // Experimental-Result-Code, 0 when absent
		wantStatus int    // Equipment-Status, -1 when absent
	}{
		{"14 digits blacklisted", "35209900176148", "", 2001, 0, 1},
		{"15 digits valid luhn", "352099001761481", "", 2001, 0, 1},
		{"15 digits spare zero", "352099001761480", "", 2001, 0, 1},
		{"15 digits failing luhn", "352099001761487", "", 2001, 0, 1},
		{"16 digit imeisv", "3520990017614899", "", 2001, 0, 1},
		{"greylisted", "49015420323751", "", 2001, 0, 2},
		{"whitelisted", "26053179311383", "", 2001, 0, 0},
		{"exception pair", "35209900176148", "001010000000001", 2001, 0, 0},
		{"other imsi stays black", "35209900176148", "001010000000002", 2001, 0, 1},
		{"malformed imsi ignored", "35209900176148", "not-an-imsi", 2001, 0, 1},
		{"unknown equipment", "12345678901234", "", 0, 5422, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newECR(0x1234).std(tc.imei)
			if tc.imsi != "" {
				b.add(avp.UserName, avp.Mbit, 0, datatype.UTF8String(tc.imsi))
			}
			hdr, body := b.bytes(t)
			out, res := h.run(context.Background(), hdr, body)
			w := decodeWire(t, out)
			if w.Header.CommandCode != 324 || w.Header.ApplicationID != 16777252 {
				t.Fatalf("header %v", w.Header)
			}
			if w.Header.CommandFlags != diam.ProxiableFlag {
				t.Errorf("flags %#x, want 0x40 (P only)", w.Header.CommandFlags)
			}
			if w.Header.HopByHopID != 0x1234 || w.Header.EndToEndID != 77 {
				t.Errorf("identifiers %#x/%d not copied", w.Header.HopByHopID, w.Header.EndToEndID)
			}
			if w.codes[0] != wire.AVPSessionID {
				t.Errorf("first AVP %d, want Session-Id", w.codes[0])
			}
			if w.has(wire.AVPDestinationHost) || w.has(wire.AVPDestinationRealm) || w.has(wire.AVPRouteRecord) {
				t.Errorf("answer carries Destination-* or Route-Record: %v", w.codes)
			}
			if got := w.u32(t, wire.AVPAuthSessionState, 0); got != 1 {
				t.Errorf("Auth-Session-State %d", got)
			}
			if tc.wantCode != 0 {
				if got := w.u32(t, wire.AVPResultCode, 0); got != tc.wantCode {
					t.Errorf("Result-Code %d, want %d", got, tc.wantCode)
				}
			} else if w.has(wire.AVPResultCode) {
				t.Errorf("Result-Code present with Experimental-Result")
			}
			if tc.wantExp != 0 {
				if got := w.u32(t, wire.AVPExperimentalResultCode, 0); got != tc.wantExp {
					t.Errorf("Experimental-Result-Code %d", got)
				}
				if got := w.u32(t, wire.AVPVendorID, 0); got != 10415 {
					t.Errorf("Experimental-Result Vendor-Id %d", got)
				}
			}
			if tc.wantStatus >= 0 {
				a, err := w.FindAVP(wire.AVPEquipmentStatus, 10415)
				if err != nil {
					t.Fatalf("no Equipment-Status")
				}
				if a.Flags != avp.Mbit|avp.Vbit || a.VendorID != 10415 {
					t.Errorf("Equipment-Status flags %#x vendor %d", a.Flags, a.VendorID)
				}
				if got := int(a.Data.(datatype.Enumerated)); got != tc.wantStatus {
					t.Errorf("Equipment-Status %d, want %d", got, tc.wantStatus)
				}
			} else if w.has(wire.AVPEquipmentStatus) {
				t.Errorf("Equipment-Status present in a %d answer", tc.wantExp)
			}
			if res.code != max(tc.wantCode, tc.wantExp) {
				t.Errorf("reported result %d", res.code)
			}
		})
	}
}

// TestECAErrors checks error answers: code, E-bit and Failed-AVP content.
func TestECAErrors(t *testing.T) {
	h := testHandler(t)
	tests := []struct {
		name     string
		build    func() ecrBuilder
		mutate   func(hdr *wire.Header, body []byte) []byte
		wantCode uint32
		wantE    bool
		// failed is checked against the Failed-AVP content: the codes of
		// the AVP and, for a Grouped offender, of its one child.
		failed []uint32
	}{
		{name: "terminal-information missing", build: func() ecrBuilder { return newECR(1).std("") },
			wantCode: 5005, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "imei missing (meid only)", build: func() ecrBuilder {
			return newECR(1).std("").termInfo(diam.NewAVP(wire.AVP3GPP2MEID, avp.Mbit|avp.Vbit, 10415, datatype.OctetString("\x01\x02\x03\x04\x05\x06\x07")))
		}, wantCode: 5005, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "imei empty group", build: func() ecrBuilder { return newECR(1).std("").termInfo() },
			wantCode: 5005, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "imei with letters", build: func() ecrBuilder { return newECR(1).std("3520990017614A") },
			wantCode: 5004, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "imei 13 digits", build: func() ecrBuilder { return newECR(1).std("3520990017614") },
			wantCode: 5004, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "imei 17 digits", build: func() ecrBuilder { return newECR(1).std("35209900176148991") },
			wantCode: 5004, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "imei invalid utf-8", build: func() ecrBuilder { return newECR(1).std("352099001761\xff\xfe") },
			wantCode: 5004, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "imei repeated", build: func() ecrBuilder {
			return newECR(1).std("").termInfo(imeiAVP("35209900176148"), imeiAVP("35209900176148"))
		}, wantCode: 5009, failed: []uint32{wire.AVPTerminalInformation, wire.AVPIMEI}},
		{name: "terminal-information repeated", build: func() ecrBuilder {
			return newECR(1).std("35209900176148").termInfo(imeiAVP("35209900176148"))
		}, wantCode: 5009, failed: []uint32{wire.AVPTerminalInformation}},
		{name: "unknown mandatory avp", build: func() ecrBuilder {
			return newECR(1).std("35209900176148").add(9999, avp.Mbit, 0, datatype.Unsigned32(1))
		}, wantCode: 5001, failed: []uint32{9999}},
		{name: "unknown mandatory vendor avp in terminal-information", build: func() ecrBuilder {
			return newECR(1).std("").termInfo(imeiAVP("35209900176148"), diam.NewAVP(1499, avp.Mbit|avp.Vbit, 10415, datatype.Unsigned32(1)))
		}, wantCode: 5001, failed: []uint32{wire.AVPTerminalInformation, 1499}},
		{name: "auth-session-state missing", build: func() ecrBuilder {
			return ecrWith(-1, "", "eir.test")
		}, wantCode: 5005, failed: []uint32{wire.AVPAuthSessionState}},
		{name: "auth-session-state 7", build: func() ecrBuilder {
			return ecrWith(7, "", "eir.test")
		}, wantCode: 5004, failed: []uint32{wire.AVPAuthSessionState}},
		{name: "destination-host not us", build: func() ecrBuilder {
			return newECR(1).std("35209900176148").add(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity("other.eir"))
		}, wantCode: 3002, wantE: true},
		{name: "destination-realm not served", build: func() ecrBuilder {
			return ecrWith(1, "", "elsewhere")
		}, wantCode: 3003, wantE: true},
		{name: "e-bit on request", build: func() ecrBuilder {
			b := newECR(1).std("35209900176148")
			b.m.Header.CommandFlags |= diam.ErrorFlag
			return b
		}, wantCode: 3008, wantE: true},
		{name: "avp length beyond message", build: func() ecrBuilder { return newECR(1).std("35209900176148") },
			mutate: func(hdr *wire.Header, body []byte) []byte {
				// Grow the last AVP's length field past the end.
				last := lastAVPOffset(body)
				body[last+7] += 40
				return body
			}, wantCode: 5014, failed: []uint32{wire.AVPTerminalInformation}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr, body := tc.build().bytes(t)
			if tc.mutate != nil {
				body = tc.mutate(&hdr, body)
			}
			out, _ := h.run(context.Background(), hdr, body)
			w := decodeWire(t, out)
			if got := w.u32(t, wire.AVPResultCode, 0); got != tc.wantCode {
				t.Fatalf("Result-Code %d, want %d (error message %v)", got, tc.wantCode, w.AVP)
			}
			gotE := w.Header.CommandFlags&diam.ErrorFlag != 0
			if gotE != tc.wantE {
				t.Errorf("E-bit %v, want %v", gotE, tc.wantE)
			}
			if w.Header.CommandFlags&diam.RequestFlag != 0 {
				t.Errorf("R-bit set in an answer")
			}
			if w.codes[0] != wire.AVPSessionID {
				t.Errorf("first AVP %d, want Session-Id", w.codes[0])
			}
			if w.has(wire.AVPEquipmentStatus) || w.has(wire.AVPExperimentalResult) {
				t.Errorf("error answer carries a status or an Experimental-Result")
			}
			if !tc.wantE && !w.has(wire.AVPAuthSessionState) {
				t.Errorf("5xxx ECA without Auth-Session-State")
			}
			if tc.failed == nil {
				if w.has(wire.AVPFailedAVP) {
					t.Errorf("unexpected Failed-AVP")
				}
				return
			}
			checkFailed(t, w, tc.failed)
		})
	}
}

// ecrWith builds a valid ECR for 35209900176148 with the given
// Auth-Session-State (omitted when negative), Destination-Host (omitted when
// empty) and Destination-Realm.
func ecrWith(authState int, destHost, destRealm string) ecrBuilder {
	b := newECR(1)
	b.m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("mme.test;2;7"))
	if authState >= 0 {
		b.m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(authState))
	}
	b.m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("mme.test"))
	b.m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
	if destHost != "" {
		b.m.NewAVP(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity(destHost))
	}
	b.m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(destRealm))
	return b.termInfo(imeiAVP("35209900176148"))
}

func lastAVPOffset(body []byte) int {
	off := 0
	for n := 0; n < len(body); {
		l := int(body[n+5])<<16 | int(body[n+6])<<8 | int(body[n+7])
		off = n
		n += (l + 3) &^ 3
	}
	return off
}

// checkFailed walks the Failed-AVP's raw content: want[0] is the code of the
// AVP it holds, want[1] (if any) the code of that AVP's only child.
func checkFailed(t *testing.T, w decoded, want []uint32) {
	t.Helper()
	fa, err := w.FindAVP(wire.AVPFailedAVP, 0)
	if err != nil {
		t.Fatalf("no Failed-AVP")
	}
	if fa.Flags&avp.Mbit == 0 {
		t.Errorf("Failed-AVP without M-bit")
	}
	g, ok := fa.Data.(*diam.GroupedAVP)
	if !ok || len(g.AVP) != 1 {
		t.Fatalf("Failed-AVP content %v", fa.Data)
	}
	inner := g.AVP[0]
	if inner.Code != want[0] {
		t.Fatalf("Failed-AVP holds AVP %d, want %d", inner.Code, want[0])
	}
	if want[0] == wire.AVPTerminalInformation && inner.VendorID != 10415 {
		t.Errorf("Terminal-Information in Failed-AVP without vendor 10415")
	}
	if len(want) > 1 {
		var children []*diam.AVP
		switch d := inner.Data.(type) {
		case *diam.GroupedAVP:
			children = d.AVP
		}
		if len(children) != 1 || children[0].Code != want[1] {
			t.Fatalf("Failed-AVP %d holds %v, want only AVP %d", want[0], children, want[1])
		}
	}
}

// TestProxyInfoEchoed checks that every Proxy-Info is copied in order,
// byte for byte, and Route-Record is not (RFC 6733 §6.2; spec row 20).
func TestProxyInfoEchoed(t *testing.T) {
	h := testHandler(t)
	for _, imei := range []string{"35209900176148", "12345678901234", "bad"} {
		b := newECR(9).std(imei)
		var want [][]byte
		for i, state := range []string{"one", "two", "three"} {
			p := diam.NewAVP(avp.ProxyInfo, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.ProxyHost, avp.Mbit, 0, datatype.DiameterIdentity("dra"+string(rune('0'+i))+".test")),
				diam.NewAVP(avp.ProxyState, avp.Mbit, 0, datatype.OctetString(state)),
			}})
			raw, _ := p.Serialize()
			want = append(want, raw)
			b.m.AddAVP(p)
		}
		b.add(avp.RouteRecord, avp.Mbit, 0, datatype.DiameterIdentity("dra0.test"))
		hdr, body := b.bytes(t)
		out, _ := h.run(context.Background(), hdr, body)
		var got [][]byte
		for rest := out[20:]; len(rest) > 0; {
			l := int(rest[5])<<16 | int(rest[6])<<8 | int(rest[7])
			n := (l + 3) &^ 3
			if code := uint32(rest[3]) | uint32(rest[2])<<8; code == wire.AVPProxyInfo {
				got = append(got, rest[:n])
			}
			if code := uint32(rest[3]) | uint32(rest[2])<<8; code == wire.AVPRouteRecord {
				t.Errorf("%s: Route-Record copied", imei)
			}
			rest = rest[n:]
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d Proxy-Info echoed, want %d", imei, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: Proxy-Info %d differs:\n got % x\nwant % x", imei, i, got[i], want[i])
			}
		}
	}
}

// TestZeroHopByHop checks that identifiers of 0 are kept (go-diameter's
// NewMessage would replace them with random values).
func TestZeroHopByHop(t *testing.T) {
	h := testHandler(t)
	b := newECR(0).std("35209900176148")
	b.m.Header.EndToEndID = 0
	hdr, body := b.bytes(t)
	out, _ := h.run(context.Background(), hdr, body)
	w := decodeWire(t, out)
	if w.Header.HopByHopID != 0 || w.Header.EndToEndID != 0 {
		t.Fatalf("identifiers %d/%d, want 0/0", w.Header.HopByHopID, w.Header.EndToEndID)
	}
}

func TestDRMPEchoed(t *testing.T) {
	h := testHandler(t)
	b := newECR(3).std("35209900176148").add(wire.AVPDRMP, 0, 0, datatype.Enumerated(4))
	hdr, body := b.bytes(t)
	w := decodeWire(t, must(h.run(context.Background(), hdr, body)))
	if len(w.codes) < 2 || w.codes[1] != wire.AVPDRMP {
		t.Fatalf("DRMP not second in %v", w.codes)
	}
	if got := w.u32(t, wire.AVPDRMP, 0); got != 4 {
		t.Fatalf("DRMP %d", got)
	}
}

func must(b []byte, _ ecrResult) []byte { return b }

func TestResultFor(t *testing.T) {
	tests := []struct {
		err          error
		code         uint32
		experimental bool
	}{
		{eir.ErrUnknown, 5422, true},
		{eir.ErrInvalidIMEI, 5004, false},
		{eir.ErrUnavailable, 5012, false},
		{context.DeadlineExceeded, 5012, false},
		{errors.New("anything"), 5012, false},
	}
	for _, tc := range tests {
		code, exp := resultFor(tc.err)
		if code != tc.code || exp != tc.experimental {
			t.Errorf("%v: %d/%v, want %d/%v", tc.err, code, exp, tc.code, tc.experimental)
		}
	}
}

// TestStorePolicy checks 5012 under the default policy and a fixed status
// under a fail-open policy.
func TestStorePolicy(t *testing.T) {
	st, c := testLists(t)
	st.SetFailure(errors.New("redis down"))
	h := &ecrHandler{id: identity{host: "eir.test", realm: "eir.test"}, checker: c}
	hdr, body := newECR(5).std("35209900176148").bytes(t)
	w := decodeWire(t, must(h.run(context.Background(), hdr, body)))
	if got := w.u32(t, wire.AVPResultCode, 0); got != 5012 || w.Header.CommandFlags&diam.ErrorFlag != 0 {
		t.Fatalf("Result-Code %d flags %#x, want 5012 without E-bit", got, w.Header.CommandFlags)
	}
	c.SetPolicy(eir.Policy{OnStoreError: eir.Fallback{Set: true, Status: eir.Greylisted}})
	w = decodeWire(t, must(h.run(context.Background(), hdr, body)))
	if got := w.u32(t, wire.AVPResultCode, 0); got != 2001 || w.u32(t, wire.AVPEquipmentStatus, 10415) != 2 {
		t.Fatalf("fail-open answer %d/%d", got, w.u32(t, wire.AVPEquipmentStatus, 10415))
	}
}

// TestSpecSheetRows covers the rows of the spec sheet's edge-case table (§4)
// not exercised by TestECAShape and TestECAErrors. The row number is in the
// case name.
func TestSpecSheetRows(t *testing.T) {
	h := testHandler(t)
	sv := func(v string) *diam.AVP {
		return diam.NewAVP(wire.AVPSoftwareVersion, avp.Mbit|avp.Vbit, 10415, datatype.UTF8String(v))
	}
	meid := diam.NewAVP(wire.AVP3GPP2MEID, avp.Mbit|avp.Vbit, 10415, datatype.OctetString("\x01\x02\x03\x04\x05\x06\x07"))
	tests := []struct {
		name   string
		build  func() ecrBuilder
		code   uint32
		status int
		check  func(t *testing.T, w decoded)
	}{
		{"row 5: software-version not 2 digits is ignored", func() ecrBuilder {
			return newECR(1).std("").termInfo(imeiAVP("35209900176148"), sv("1A3"))
		}, 2001, 1, nil},
		{"row 5: software-version 2 digits", func() ecrBuilder {
			return newECR(1).std("").termInfo(imeiAVP("35209900176148"), sv("01"))
		}, 2001, 1, nil},
		{"row 12: destination-host is us, realm foreign: processed", func() ecrBuilder {
			return ecrWith(1, "EIR.test", "foreign.realm")
		}, 2001, 1, nil},
		{"row 16: p-bit clear accepted, answer copies it", func() ecrBuilder {
			b := newECR(1).std("35209900176148")
			b.m.Header.CommandFlags = diam.RequestFlag
			return b
		}, 2001, 1, func(t *testing.T, w decoded) {
			if w.Header.CommandFlags != 0 {
				t.Errorf("flags %#x, want 0 (P copied from the request)", w.Header.CommandFlags)
			}
		}},
		{"row 17: 3gpp2-meid next to the imei is not 5001", func() ecrBuilder {
			return newECR(1).std("").termInfo(imeiAVP("35209900176148"), meid)
		}, 2001, 1, nil},
		{"row 19: auth-session-state 0 answered with 1", func() ecrBuilder {
			return ecrWith(0, "", "eir.test")
		}, 2001, 1, nil},
		{"row 24: retransmission (T-bit) answered again, T cleared", func() ecrBuilder {
			b := newECR(1).std("35209900176148")
			b.m.Header.CommandFlags |= diam.RetransmittedFlag
			return b
		}, 2001, 1, func(t *testing.T, w decoded) {
			if w.Header.CommandFlags != diam.ProxiableFlag {
				t.Errorf("flags %#x, want 0x40", w.Header.CommandFlags)
			}
		}},
		{"session-id not first is accepted", func() ecrBuilder {
			b := newECR(1)
			b.m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("mme.test"))
			b.m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("s;late"))
			b.m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
			b.m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
			b.m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity("eir.test"))
			return b.termInfo(imeiAVP("35209900176148"))
		}, 2001, 1, func(t *testing.T, w decoded) {
			if w.codes[0] != wire.AVPSessionID {
				t.Errorf("answer does not start with Session-Id")
			}
		}},
		{"unknown avp without m-bit is ignored", func() ecrBuilder {
			return newECR(1).std("35209900176148").add(4242, 0, 0, datatype.Unsigned32(1))
		}, 2001, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr, body := tc.build().bytes(t)
			w := decodeWire(t, must(h.run(context.Background(), hdr, body)))
			if got := w.u32(t, wire.AVPResultCode, 0); got != tc.code {
				t.Fatalf("Result-Code %d, want %d", got, tc.code)
			}
			if got := w.u32(t, wire.AVPEquipmentStatus, 10415); int(got) != tc.status {
				t.Fatalf("Equipment-Status %d, want %d", got, tc.status)
			}
			if got := w.u32(t, wire.AVPAuthSessionState, 0); got != 1 {
				t.Errorf("Auth-Session-State %d", got)
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

// TestSuccessAnswerBytes keeps the direct encoder of successful ECAs equal,
// byte for byte, to go-diameter's encoding of the same answer, and checks
// that go-diameter decodes it.
func TestSuccessAnswerBytes(t *testing.T) {
	h := testHandler(t)
	proxy := func(host, state string) *diam.AVP {
		return diam.NewAVP(avp.ProxyInfo, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.ProxyHost, avp.Mbit, 0, datatype.DiameterIdentity(host)),
			diam.NewAVP(avp.ProxyState, avp.Mbit, 0, datatype.OctetString(state)),
		}})
	}
	for name, b := range map[string]ecrBuilder{
		"plain":           newECR(1).std("35209900176148"),
		"zero ids":        newECR(0).std("35209900176148"),
		"drmp":            newECR(2).std("35209900176148").add(wire.AVPDRMP, 0, 0, datatype.Enumerated(3)),
		"odd session id":  newECR(3).std("35209900176148").add(avp.UserName, avp.Mbit, 0, datatype.UTF8String("001010000000001")),
		"two proxy-infos": newECR(4).std("35209900176148").add(avp.ProxyInfo, avp.Mbit, 0, proxy("dra1.test", "x").Data).add(avp.ProxyInfo, avp.Mbit, 0, proxy("dra2.test", "statestate").Data),
	} {
		hdr, body := b.bytes(t)
		r, rerr := parseECR(hdr, body)
		if rerr != nil {
			t.Fatalf("%s: %s", name, rerr.text)
		}
		for _, st := range []eir.Status{eir.Whitelisted, eir.Blacklisted, eir.Greylisted} {
			got := (&eca{h.id}).status(nil, hdr, &r, st)
			m := h.refStart(hdr, &r, false)
			m.resultCode(wire.Success)
			m.u32(wire.AVPAuthSessionState, 1)
			m.origin(h.id)
			m.add(wire.AVPEquipmentStatus, flagM|flagV, wire.Vendor3GPP, datatype.Enumerated(st))
			h.refFinish(m, &r)
			want := m.bytes()
			if !bytes.Equal(got, want) {
				t.Fatalf("%s %v:\n got %x\nwant %x", name, st, got, want)
			}
			// Appended after other answers, as the read loop does.
			prev := []byte("earlier answers")
			if both := (&eca{h.id}).status(prev, hdr, &r, st); string(both[:len(prev)]) != "earlier answers" || !bytes.Equal(both[len(prev):], want) {
				t.Fatalf("%s %v: appended answer %x", name, st, both)
			}
			w := decodeWire(t, got)
			if w.u32(t, wire.AVPEquipmentStatus, wire.Vendor3GPP) != uint32(st) || w.u32(t, wire.AVPResultCode, 0) != wire.Success {
				t.Fatalf("%s: decoded %v", name, w)
			}
		}
		got, want := (&eca{h.id}).experimental(nil, hdr, &r, wire.EquipmentUnknown), h.experimentalAnswerBuilt(hdr, &r, wire.EquipmentUnknown)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s 5422:\n got %x\nwant %x", name, got, want)
		}
		if w := decodeWire(t, got); w.has(wire.AVPResultCode) || w.has(wire.AVPEquipmentStatus) {
			t.Fatalf("%s: 5422 with Result-Code or Equipment-Status", name)
		}
	}
}

// experimentalAnswerBuilt is experimentalAnswer with go-diameter's encoder,
// the reference its bytes are tested against.
func (h *ecrHandler) experimentalAnswerBuilt(hdr wire.Header, r *ecrRequest, code uint32) []byte {
	b := h.refStart(hdr, r, false)
	b.add(wire.AVPExperimentalResult, flagM, 0, datatype.Grouped(append(
		encodeAVP(wire.AVPVendorID, flagM, 0, datatype.Unsigned32(wire.Vendor3GPP)),
		encodeAVP(wire.AVPExperimentalResultCode, flagM, 0, datatype.Unsigned32(code))...)))
	b.u32(wire.AVPAuthSessionState, 1)
	b.origin(h.id)
	h.refFinish(b, r)
	return b.bytes()
}
