// Socket tests of framing and dispatch: unsupported applications and
// commands, oversized and malformed messages, bad versions.

package diameter

import (
	"encoding/binary"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/diameter/wire"
)

func TestUnsupportedApplicationAndCommand(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	tests := []struct {
		name      string
		app, code uint32
		want      uint32
	}{
		{"s6a update-location to an eir", 16777251, 316, 3007},
		{"s13 unknown command", 16777252, 325, 3001},
		{"base accounting", 0, 271, 3001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := c.NewRequest(tc.code, tc.app)
			m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("mme.test;9"))
			m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("mme.test"))
			m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
			m.NewAVP(avp.ProxyInfo, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.ProxyHost, avp.Mbit, 0, datatype.DiameterIdentity("dra.test")),
				diam.NewAVP(avp.ProxyState, avp.Mbit, 0, datatype.OctetString("st")),
			}})
			a, err := c.Send(ctx5(t), m)
			if err != nil {
				t.Fatal(err)
			}
			w := decodeWire(t, a.Raw)
			if got := w.u32(t, wire.AVPResultCode, 0); got != tc.want {
				t.Fatalf("Result-Code %d, want %d", got, tc.want)
			}
			if w.Header.CommandFlags&diam.ErrorFlag == 0 || w.Header.CommandCode != tc.code || w.Header.ApplicationID != tc.app {
				t.Errorf("header %v: want E-bit and the request's code and application", w.Header)
			}
			if w.codes[0] != wire.AVPSessionID || !w.has(wire.AVPProxyInfo) {
				t.Errorf("AVPs %v: want Session-Id first and Proxy-Info echoed", w.codes)
			}
		})
	}
}

func TestFraming(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.MaxMessageSize = 1024 })
	r := dialRaw(t, ts.addr)
	r.send(t, cer("raw.test", true))
	if w := r.read(t); w == nil || w.u32(t, wire.AVPResultCode, 0) != 2001 {
		t.Fatal("CER refused")
	}
	// Oversized: discarded, answered 5015, connection kept.
	big := newECR(0x51).std("35209900176148").add(avp.ProxyInfo, avp.Mbit, 0, datatype.OctetString(make([]byte, 2000)))
	r.send(t, big.m)
	w := r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5015 || w.Header.HopByHopID != 0x51 {
		t.Fatalf("oversized message: %v", w)
	}
	r.send(t, newECR(0x52).std("35209900176148").m)
	if w := r.read(t); w == nil || w.u32(t, wire.AVPResultCode, 0) != 2001 {
		t.Fatal("connection unusable after an oversized message")
	}
	// Length not a multiple of four: answered 5015, then closed.
	b, _ := newECR(0x53).std("35209900176148").m.Serialize()
	b[3] -= 2
	r.write(t, b)
	w = r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5015 {
		t.Fatalf("bad length: %v", w)
	}
	if r.read(t) != nil {
		t.Fatal("connection open after a framing error")
	}
}

func TestBadVersion(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	r := dialRaw(t, ts.addr)
	r.send(t, cer("raw.test", true))
	r.read(t)
	b, _ := newECR(0x61).std("35209900176148").m.Serialize()
	b[0] = 2
	r.write(t, b)
	w := r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5011 || binary.BigEndian.Uint32(w.Raw[12:16]) != 0x61 {
		t.Fatalf("version 2: %v", w)
	}
	if r.read(t) != nil {
		t.Fatal("connection open after a version error")
	}
}
