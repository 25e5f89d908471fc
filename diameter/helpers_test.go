package diameter

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
)

// decoded is a message as seen on the wire: go-diameter's decode plus
// the top-level AVP codes in order.
type decoded struct {
	*diam.Message
	Raw   []byte
	codes []uint32
}

func decodeWire(t *testing.T, raw []byte) decoded {
	t.Helper()
	dec := raw
	if _, err := dict.Default.FindCommand(binary.BigEndian.Uint32(raw[8:12]), uint32(raw[5])<<16|uint32(raw[6])<<8|uint32(raw[7])); err != nil {
		// go-diameter decodes only commands of its dictionary: decode the
		// AVPs of an answer to an unknown command as if it were a CEA,
		// then restore the header.
		dec = append([]byte(nil), raw...)
		dec[5], dec[6], dec[7] = 0, 1, 1
		binary.BigEndian.PutUint32(dec[8:12], 0)
	}
	m, err := diam.ReadMessage(bytes.NewReader(dec), dict.Default)
	if err == nil && len(dec) > 0 && &dec[0] != &raw[0] {
		m.Header, _ = diam.DecodeHeader(raw)
	}
	if err != nil {
		t.Fatalf("answer does not decode: %v\n% x", err, raw)
	}
	if m.DecodeErr != nil {
		t.Fatalf("answer has undecodable AVPs: %v", m.DecodeErr)
	}
	if int(m.Header.MessageLength) != len(raw) || len(raw)%4 != 0 {
		t.Fatalf("message length %d, %d bytes on the wire", m.Header.MessageLength, len(raw))
	}
	var codes []uint32
	for b := raw[20:]; len(b) >= 8; {
		l := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		codes = append(codes, binary.BigEndian.Uint32(b[0:4]))
		b = b[(l+3)&^3:]
	}
	return decoded{Message: m, Raw: raw, codes: codes}
}

func (w decoded) has(code uint32) bool {
	for _, c := range w.codes {
		if c == code {
			return true
		}
	}
	return false
}

func (w decoded) u32(t *testing.T, code, vendor uint32) uint32 {
	t.Helper()
	a, err := w.FindAVP(code, vendor)
	if err != nil {
		t.Fatalf("avp %d not found: %v", code, err)
	}
	switch v := a.Data.(type) {
	case datatype.Unsigned32:
		return uint32(v)
	case datatype.Enumerated:
		return uint32(v)
	}
	t.Fatalf("avp %d has type %T", code, a.Data)
	return 0
}

// ecrBuilder builds ECRs for tests with go-diameter's encoder.
type ecrBuilder struct {
	m *diam.Message
}

func newECR(hbh uint32) ecrBuilder {
	m := diam.NewMessage(diam.MEIdentityCheck, diam.RequestFlag|diam.ProxiableFlag, diam.TGPP_S13_APP_ID, hbh, 77, dict.Default)
	m.Header.HopByHopID = hbh
	return ecrBuilder{m}
}

func (b ecrBuilder) std(imei string) ecrBuilder {
	b.m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("mme.test;1;42"))
	b.m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	b.m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("mme.test"))
	b.m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
	b.m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity("eir.test"))
	if imei != "" {
		b.termInfo(imeiAVP(imei))
	}
	return b
}

func imeiAVP(s string) *diam.AVP {
	return diam.NewAVP(avp.IMEI, avp.Mbit|avp.Vbit, 10415, datatype.UTF8String(s))
}

func (b ecrBuilder) termInfo(children ...*diam.AVP) ecrBuilder {
	b.m.NewAVP(avp.TerminalInformation, avp.Mbit|avp.Vbit, 10415, &diam.GroupedAVP{AVP: children})
	return b
}

func (b ecrBuilder) add(code uint32, flags uint8, vendor uint32, v datatype.Type) ecrBuilder {
	b.m.NewAVP(code, flags, vendor, v)
	return b
}

func (b ecrBuilder) bytesB(t testing.TB) (wire.Header, []byte) {
	raw, err := b.m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return wire.DecodeHeader(raw), raw[20:]
}

func (b ecrBuilder) bytes(t *testing.T) (wire.Header, []byte) {
	t.Helper()
	raw, err := b.m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return wire.DecodeHeader(raw), raw[20:]
}

// testLists returns a checker over a memstore holding one IMEI per list.
func testLists(t testing.TB) (*memstore.Store, *eir.Decider) {
	st := memstore.New()
	ds := func(list eir.List, target eir.Target) eir.Dataset {
		return eir.Dataset{Source: "manual", Target: target, List: list}
	}
	_, err := st.Apply(context.Background(), []eir.Change{
		{Dataset: ds(eir.ListBlack, eir.TargetIMEI), Add: []eir.Entry{{IMEI: 35209900176148}}},
		{Dataset: ds(eir.ListGrey, eir.TargetIMEI), Add: []eir.Entry{{IMEI: 49015420323751}}},
		{Dataset: ds(eir.ListWhite, eir.TargetIMEI), Add: []eir.Entry{{IMEI: 26053179311383}}},
		{Dataset: ds(eir.ListException, eir.TargetPair), Add: []eir.Entry{{IMEI: 35209900176148, IMSI: "001010000000001"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, eir.NewDecider(st, eir.Policy{})
}
