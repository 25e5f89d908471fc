package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// A message built with the appenders is the message go-diameter builds,
// byte for byte, and decodes back to the same fields with Walk and Iter.
func TestAppendersMatchGoDiameter(t *testing.T) {
	body := AppendString(nil, AVPSessionID, AVPFlagMandatory, 0, "mme.example;1;2")
	body = AppendU32(body, AVPAuthSessionState, AVPFlagMandatory, 0, 1)
	body = AppendString(body, AVPOriginHost, AVPFlagMandatory, 0, "eir") // 3 bytes: padded
	b, start := BeginAVP(body, AVPExperimentalResult, AVPFlagMandatory, 0)
	b = AppendU32(b, AVPVendorID, AVPFlagMandatory, 0, Vendor3GPP)
	b = AppendU32(b, AVPExperimentalResultCode, AVPFlagMandatory, 0, EquipmentUnknown)
	body = EndAVP(b, start)
	body = AppendU32(body, AVPEquipmentStatus, AVPFlagMandatory, Vendor3GPP, 1) // V-bit set by the vendor
	msg := append(make([]byte, HeaderLen), body...)
	PutHeader(msg, Header{Flags: FlagProxiable, Code: 324, App: 16777252, HopByHop: 7, EndToEnd: 9})

	ref := diam.NewMessage(324, diam.ProxiableFlag, 16777252, 7, 9, dict.Default)
	ref.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("mme.example;1;2"))
	ref.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	ref.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("eir"))
	ref.NewAVP(avp.ExperimentalResult, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(Vendor3GPP)),
		diam.NewAVP(avp.ExperimentalResultCode, avp.Mbit, 0, datatype.Unsigned32(EquipmentUnknown)),
	}})
	ref.NewAVP(AVPEquipmentStatus, avp.Mbit|avp.Vbit, Vendor3GPP, datatype.Enumerated(1))
	want, err := ref.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, want) {
		t.Fatalf("appenders:\n% x\ngo-diameter:\n% x", msg, want)
	}

	h := DecodeHeader(msg)
	if h != (Header{Version: 1, Length: uint32(len(msg)), Flags: FlagProxiable, Code: 324, App: 16777252, HopByHop: 7, EndToEnd: 9}) || h.IsRequest() {
		t.Fatalf("header %+v", h)
	}
	var codes []uint32
	if _, err := Walk(msg[HeaderLen:], func(a AVP) error { codes = append(codes, a.Code); return nil }); err != nil {
		t.Fatal(err)
	}
	it := Iter{B: msg[HeaderLen:]}
	var group AVP
	n := 0
	for a, ok := it.Next(); ok; a, ok = it.Next() {
		if a.Code != codes[n] {
			t.Fatalf("Iter and Walk disagree at %d: %d vs %d", n, a.Code, codes[n])
		}
		if a.Is(AVPExperimentalResult, 0) {
			group = a
		}
		if a.Is(AVPEquipmentStatus, Vendor3GPP) {
			if v, ok := a.U32(); !ok || v != 1 || !a.Mandatory() {
				t.Fatalf("Equipment-Status %v %v", v, ok)
			}
		}
		n++
	}
	if it.Err != nil || n != 5 {
		t.Fatalf("Iter: %d AVPs, %v", n, it.Err)
	}
	var code uint32
	Walk(group.Data, func(a AVP) error {
		if a.Is(AVPExperimentalResultCode, 0) {
			code, _ = a.U32()
		}
		return nil
	})
	if code != EquipmentUnknown {
		t.Fatalf("grouped walk: Experimental-Result-Code %d", code)
	}
}

// Inconsistent lengths stop the walk with ErrAVPLength and name the AVP.
func TestBadLengths(t *testing.T) {
	good := AppendU32(nil, AVPResultCode, AVPFlagMandatory, 0, Success)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short header", good[:6]},
		{"length below the header", func() []byte { b := bytes.Clone(good); b[7] = 4; return b }()},
		{"length past the end", func() []byte { b := bytes.Clone(good); b[7] = 200; return b }()},
		{"vendor header cut", func() []byte { b := bytes.Clone(good)[:10]; b[4] |= AVPFlagVendor; b[7] = 10; return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := append(bytes.Clone(good), tc.b...)
			a, err := Walk(body, func(AVP) error { return nil })
			if !errors.Is(err, ErrAVPLength) || len(a.Raw) == 0 || len(a.Raw) > 12 {
				t.Fatalf("Walk: %v, offender % x", err, a.Raw)
			}
			it := Iter{B: body}
			n := 0
			for _, ok := it.Next(); ok; _, ok = it.Next() {
				n++
			}
			if n != 1 || !errors.Is(it.Err, ErrAVPLength) {
				t.Fatalf("Iter: %d AVPs, %v; want 1 then ErrAVPLength", n, it.Err)
			}
		})
	}
	// Padding missing at the very end of a message is accepted.
	b := AppendString(nil, AVPOriginHost, AVPFlagMandatory, 0, "eir")
	if a, n, err := Next(b[:len(b)-1]); err != nil || string(a.Data) != "eir" || n != len(b)-1 {
		t.Fatalf("unpadded last AVP: %q %d %v", a.Data, n, err)
	}
}

func TestPadding(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 4, 3: 4, 4: 4, 5: 8} {
		if got := Padded(n); got != want {
			t.Errorf("Padded(%d) = %d, want %d", n, got, want)
		}
		if got := len(Pad(make([]byte, n))); got != want {
			t.Errorf("len(Pad(%d bytes)) = %d, want %d", n, got, want)
		}
	}
	msg := make([]byte, HeaderLen)
	PutHeader(msg, Header{Flags: FlagRequest, Code: 280})
	PutIDs(msg, 0xdeadbeef, 42)
	if h := DecodeHeader(msg); !h.IsRequest() || h.HopByHop != 0xdeadbeef || h.EndToEnd != 42 || h.Length != HeaderLen {
		t.Fatalf("%+v", h)
	}
}
