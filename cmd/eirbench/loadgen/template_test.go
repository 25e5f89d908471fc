package loadgen

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

// avps walks msg and returns each AVP's data by code (Terminal-Information's
// IMEI under 1402).
func avpsOf(t *testing.T, msg []byte) map[uint32]string {
	t.Helper()
	out := map[uint32]string{}
	it := avpIter{b: msg[headerLen:]}
	for a, ok := it.next(); ok; a, ok = it.next() {
		out[a.code] = string(a.data)
		if a.code == avpTerminalInformation {
			sub := avpIter{b: a.data}
			for s, ok := sub.next(); ok; s, ok = sub.next() {
				out[s.code] = string(s.data)
			}
		}
	}
	if it.err != nil {
		t.Fatal(it.err)
	}
	return out
}

func TestTemplateAppend(t *testing.T) {
	p := Peer{OriginHost: "mme1.bench", OriginRealm: "bench", ServerRealm: "eir.realm"}
	for _, withIMSI := range []bool{false, true} {
		tmpl, err := NewTemplate(rawCodec{}, p, "mme1.bench;1700000000;", withIMSI)
		if err != nil {
			t.Fatal(err)
		}
		imei := eir.IMEI(35209900176148)
		r := Request{HopByHop: 0xdeadbeef, EndToEnd: 0x01020304, Session: 42, IMEI: imei, IMSI: 1010123456789}
		out := tmpl.Append([]byte("prefix"), r)
		if string(out[:6]) != "prefix" {
			t.Fatal("Append overwrote dst")
		}
		msg := out[6:]
		if len(msg) != len(tmpl.b) {
			t.Fatalf("request is %d bytes, template %d", len(msg), len(tmpl.b))
		}
		h, err := parseHeader(msg)
		if err != nil || h.hbh != 0xdeadbeef || h.e2e != 0x01020304 || h.code != cmdECR || h.length != len(msg) {
			t.Fatalf("header %+v, %v", h, err)
		}
		a := avpsOf(t, msg)
		if got := a[avpSessionID]; got != "mme1.bench;1700000000;0000000042" {
			t.Errorf("Session-Id %q", got)
		}
		if got := a[avpIMEI]; got != "352099001761481" || got != IMEIString(imei) {
			t.Errorf("IMEI %q", got)
		}
		if got, ok := a[avpUserName]; ok != withIMSI || withIMSI && got != "001010123456789" {
			t.Errorf("User-Name %q (present %v)", got, ok)
		}
		if a[283] != "eir.realm" {
			t.Errorf("Destination-Realm %q", a[283])
		}
		// A second request over a reused buffer changes only its fields.
		r2 := Request{HopByHop: 1, EndToEnd: 2, Session: 9_999_999_999, IMEI: 1, IMSI: 1020000000001}
		msg2 := tmpl.Append(nil, r2)
		a2 := avpsOf(t, msg2)
		if a2[avpSessionID] != "mme1.bench;1700000000;9999999999" || a2[avpIMEI] != "000000000000018" ||
			withIMSI && a2[avpUserName] != "001020000000001" || binary.BigEndian.Uint32(msg2[12:16]) != 1 {
			t.Errorf("second request: %v", a2)
		}
	}
}

// badCodec returns an ECR whose IMEI is not IMEIDigits wide.
type badCodec struct{ rawCodec }

func (badCodec) ECR(p Peer, f ECRFields) ([]byte, error) {
	f.IMEI = f.IMEI[:14]
	return rawCodec{}.ECR(p, f)
}

func TestTemplateRejects(t *testing.T) {
	if _, err := NewTemplate(badCodec{}, Peer{}, "x;", false); err == nil || !strings.Contains(err.Error(), "imei") {
		t.Fatalf("14-digit IMEI template: %v", err)
	}
	b, _ := rawCodec{}.ECR(Peer{}, ECRFields{SessionID: "x;0000000000", IMEI: "000000000000000"})
	if _, err := locate(b, true); err == nil {
		t.Fatal("template without User-Name accepted as one with")
	}
	b[7] = 0 // command code 324 → 256
	if _, err := locate(b, false); err == nil {
		t.Fatal("not an ECR, accepted")
	}
}

// TestHopByHopNeverZero wraps the counter with requests in flight: no
// identifier is 0 (go-diameter's Answer replaces 0 with a random one), and
// none is reused while in flight.
func TestHopByHopNeverZero(t *testing.T) {
	c := &conn{slots: make([]slot, 64), mask: 63, hbh: 0xffff_fff0}
	inflight := map[uint32]bool{}
	var fifo []uint32 // in flight, oldest first; fifo[0] stays (a slow request)
	wrapped := false
	for range 300 {
		id := c.nextHBH()
		if id == 0 {
			t.Fatal("hop-by-hop id 0")
		}
		if inflight[id] {
			t.Fatalf("id %#x reused while in flight", id)
		}
		if id < 0x10 {
			wrapped = true
		}
		inflight[id] = true
		fifo = append(fifo, id)
		c.slots[id&c.mask].hbh = id
		if len(fifo) > 40 {
			victim := fifo[1]
			fifo = append(fifo[:1], fifo[2:]...)
			delete(inflight, victim)
			c.slots[victim&c.mask].hbh = 0
		}
	}
	if !wrapped {
		t.Fatal("the counter did not wrap")
	}
}
