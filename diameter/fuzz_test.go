package diameter

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/eir-sidecar/eir/diameter/wire"
)

// FuzzAnswerECR feeds arbitrary ECR bodies and header flags to the handler:
// it must never panic, and every answer must be a well-formed Diameter
// message (lengths consistent, AVPs walkable to the end, Session-Id echoed
// only from the request) with the request's identifiers.
func FuzzAnswerECR(f *testing.F) {
	for _, imei := range []string{"35209900176148", "3520990017614899", "bad", ""} {
		_, body := newECR(1).std(imei).bytesB(f)
		f.Add(body, uint8(0xc0))
	}
	f.Add([]byte{0, 0, 1, 7, 0x40, 0, 0, 4}, uint8(0xe0))
	h := &ecrHandler{id: identity{host: "eir.test", realm: "eir.test"}, checker: nil}
	_, c := testLists(f)
	h.checker = c
	f.Fuzz(func(t *testing.T, body []byte, flags uint8) {
		hdr := wire.Header{Version: 1, Length: uint32(20 + len(body)), Flags: flags | wire.FlagRequest, Code: wire.CmdECR, App: wire.AppS13, HopByHop: 0xabcd, EndToEnd: 0x1234}
		out, res := h.run(context.Background(), hdr, body)
		if len(out) < 20 || len(out)%4 != 0 {
			t.Fatalf("answer of %d bytes", len(out))
		}
		if l := int(out[1])<<16 | int(out[2])<<8 | int(out[3]); l != len(out) {
			t.Fatalf("message length %d, %d bytes", l, len(out))
		}
		if binary.BigEndian.Uint32(out[12:16]) != 0xabcd || binary.BigEndian.Uint32(out[16:20]) != 0x1234 {
			t.Fatal("identifiers not copied")
		}
		if out[4]&wire.FlagRequest != 0 {
			t.Fatal("R-bit set in an answer")
		}
		var codes []uint32
		if _, err := wire.Walk(out[20:], func(a wire.AVP) error {
			codes = append(codes, a.Code)
			if a.Code == wire.AVPFailedAVP || a.Code == wire.AVPExperimentalResult {
				if _, err := wire.Walk(a.Data, func(wire.AVP) error { return nil }); err != nil {
					t.Fatalf("grouped AVP %d does not parse: %v", a.Code, err)
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("answer AVPs do not parse: %v", err)
		}
		if res.code == 0 {
			t.Fatal("no result reported")
		}
	})
}

// FuzzParseCER checks that no CER body makes the capabilities parser panic
// and that a refusal always names a result code.
func FuzzParseCER(f *testing.F) {
	f.Add([]byte{0, 0, 1, 8, 0x40, 0, 0, 12, 'a', '.', 'b', 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, rerr := parseCER(body)
		if rerr != nil && rerr.code == 0 {
			t.Fatal("refusal without a result code")
		}
		_ = r.securityOK()
	})
}
