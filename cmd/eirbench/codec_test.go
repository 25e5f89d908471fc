package main

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/eir"
)

// decode decodes b with go-diameter and fails on any error.
func decode(t *testing.T, b []byte) *diam.Message {
	t.Helper()
	m, err := diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil || m.DecodeErr != nil {
		t.Fatalf("go-diameter cannot decode: %v %v\n% x", err, m.DecodeErr, b)
	}
	if int(m.Header.MessageLength) != len(b) || len(b)%4 != 0 {
		t.Fatalf("length %d, %d bytes", m.Header.MessageLength, len(b))
	}
	return m
}

func avpString(t *testing.T, m *diam.Message, code, vendor uint32) string {
	t.Helper()
	a, err := m.FindAVP(code, vendor)
	if err != nil {
		t.Fatalf("AVP %d missing", code)
	}
	switch v := a.Data.(type) {
	case datatype.UTF8String:
		return string(v)
	case datatype.DiameterIdentity:
		return string(v)
	}
	t.Fatalf("AVP %d has type %T", code, a.Data)
	return ""
}

// TestECRTemplateDecodes builds requests the way the engine does (a
// go-diameter template, patched) and decodes the bytes that would be sent
// with go-diameter: every field is the patched value, the rest is intact.
func TestECRTemplateDecodes(t *testing.T) {
	p := loadgen.Peer{Index: 0, OriginHost: "mme1.eirbench.test", OriginRealm: "eirbench.test", ServerRealm: "eir.realm"}
	for _, withIMSI := range []bool{false, true} {
		tmpl, err := loadgen.NewTemplate(newDiamCodec(), p, "mme1.eirbench.test;1700000000;", withIMSI)
		if err != nil {
			t.Fatal(err)
		}
		imei := eir.IMEI(49015420323751)
		var buf []byte
		for i, r := range []loadgen.Request{
			{HopByHop: 0x01020304, EndToEnd: 0xa0b0c0d0, Session: 7, IMEI: imei, IMSI: 1010000012345},
			{HopByHop: 0xffffffff, EndToEnd: 1, Session: 4_294_967_295, IMEI: 1, IMSI: 1029999999999},
		} {
			start := len(buf)
			buf = tmpl.Append(buf, r) // several requests in one buffer, as written
			m := decode(t, buf[start:])
			h := m.Header
			if h.CommandCode != diam.MEIdentityCheck || h.ApplicationID != diam.TGPP_S13_APP_ID ||
				h.CommandFlags != diam.RequestFlag|diam.ProxiableFlag || h.HopByHopID != r.HopByHop || h.EndToEndID != r.EndToEnd {
				t.Fatalf("request %d: header %v", i, h)
			}
			if m.AVP[0].Code != avp.SessionID {
				t.Fatalf("first AVP %d, want Session-Id", m.AVP[0].Code)
			}
			wantSID := []string{"mme1.eirbench.test;1700000000;0000000007", "mme1.eirbench.test;1700000000;4294967295"}[i]
			if got := avpString(t, m, avp.SessionID, 0); got != wantSID {
				t.Errorf("Session-Id %q, want %q", got, wantSID)
			}
			if got := avpString(t, m, avp.IMEI, vendor3GPP); got != loadgen.IMEIString(r.IMEI) || len(got) != 15 {
				t.Errorf("IMEI %q", got)
			}
			if id, err := eir.ParseIdentity(avpString(t, m, avp.IMEI, vendor3GPP)); err != nil || id.IMEI != r.IMEI || id.IMEI.CheckDigit() != uint8(id.Digit15) {
				t.Errorf("IMEI parses as %+v, %v", id, err)
			}
			if withIMSI {
				if got := avpString(t, m, avp.UserName, 0); got != loadgen.IMSIString(r.IMSI) || len(got) != 15 {
					t.Errorf("User-Name %q", got)
				}
			} else if _, err := m.FindAVP(avp.UserName, 0); err == nil {
				t.Error("User-Name in a request without IMSI")
			}
			if avpString(t, m, avp.OriginHost, 0) != p.OriginHost || avpString(t, m, avp.OriginRealm, 0) != p.OriginRealm ||
				avpString(t, m, avp.DestinationRealm, 0) != "eir.realm" {
				t.Error("origin or destination changed")
			}
			ti, err := m.FindAVP(avp.TerminalInformation, vendor3GPP)
			if err != nil || ti.Flags != avp.Mbit|avp.Vbit || ti.VendorID != vendor3GPP {
				t.Errorf("Terminal-Information %v, %v", ti, err)
			}
			st, err := m.FindAVP(avp.AuthSessionState, 0)
			if err != nil || st.Data.(datatype.Enumerated) != 1 {
				t.Errorf("Auth-Session-State %v, %v", st, err)
			}
		}
	}
}

func TestCodecBaseMessages(t *testing.T) {
	c := newDiamCodec()
	p := loadgen.Peer{OriginHost: "mme2.x", OriginRealm: "x"}
	cer, err := c.CER(p)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, cer)
	vsai, err := m.FindAVP(avp.VendorSpecificApplicationID, 0)
	if err != nil || m.Header.CommandCode != diam.CapabilitiesExchange || avpString(t, m, avp.OriginHost, 0) != "mme2.x" {
		t.Fatalf("CER %v", m)
	}
	app := vsai.Data.(*diam.GroupedAVP).AVP[1]
	if app.Code != avp.AuthApplicationID || app.Data.(datatype.Unsigned32) != diam.TGPP_S13_APP_ID {
		t.Fatalf("CER advertises %v", vsai)
	}
	dwa, err := c.BaseAnswer(p, diam.DeviceWatchdog, 11, 12)
	if err != nil {
		t.Fatal(err)
	}
	m = decode(t, dwa)
	if m.Header.CommandFlags&diam.RequestFlag != 0 || m.Header.HopByHopID != 11 || m.Header.EndToEndID != 12 ||
		binary.BigEndian.Uint32(dwa[12:16]) != 11 {
		t.Fatalf("DWA %v", m)
	}
	dpr, err := c.DPR(p)
	if err != nil {
		t.Fatal(err)
	}
	if m = decode(t, dpr); m.Header.CommandCode != diam.DisconnectPeer {
		t.Fatalf("DPR %v", m)
	}
}
