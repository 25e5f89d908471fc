package diameter

import (
	"encoding/binary"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// identity is what this node puts in the Origin-* AVPs of its messages.
type identity struct {
	host  datatype.DiameterIdentity
	realm datatype.DiameterIdentity
}

// msg wraps a go-diameter message under construction.
type msg struct{ m *diam.Message }

// newAnswer starts the answer to req: same command code, application and
// end-to-end and hop-by-hop identifiers, R cleared, P copied (RFC 6733 §6.2),
// E set for protocol errors (3xxx, §7.2).
func newAnswer(req header, protocolError bool) msg {
	flags := req.flags & cmdFlagP
	if protocolError {
		flags |= cmdFlagE
	}
	return newMessage(req.code, flags, req.app, req.hbh, req.e2e)
}

func newMessage(code uint32, flags uint8, app, hbh, e2e uint32) msg {
	m := diam.NewMessage(code, flags, app, hbh, e2e, dict.Default)
	// NewMessage replaces a zero identifier with a random one; an answer
	// must carry the request's identifiers whatever they are.
	m.Header.HopByHopID = hbh
	m.Header.EndToEndID = e2e
	return msg{m}
}

func (b msg) add(code uint32, flags uint8, vendor uint32, v datatype.Type) {
	b.m.AddAVP(diam.NewAVP(code, flags, vendor, v))
}

func (b msg) u32(code uint32, v uint32) { b.add(code, flagM, 0, datatype.Unsigned32(v)) }

func (b msg) resultCode(code uint32) { b.u32(avpResultCode, code) }

func (b msg) origin(id identity) {
	b.add(avpOriginHost, flagM, 0, id.host)
	b.add(avpOriginRealm, flagM, 0, id.realm)
}

// echo copies an AVP of the request byte for byte (Session-Id, Proxy-Info,
// DRMP).
func (b msg) echo(a rawAVP) {
	b.m.AddAVP(&diam.AVP{Code: a.code, Flags: a.flags, VendorID: a.vendor, Data: datatype.OctetString(a.data)})
}

func (b msg) errorMessage(text string) {
	if text != "" {
		b.add(avpErrorMessage, 0, 0, datatype.UTF8String(text))
	}
}

// failedAVP adds Failed-AVP (RFC 6733 §7.5) holding the given AVP bytes,
// which must already be complete AVPs; padding is added here.
func (b msg) failedAVP(content []byte) {
	if content == nil {
		return
	}
	b.add(avpFailedAVP, flagM, 0, datatype.Grouped(pad(content)))
}

func (b msg) bytes() []byte {
	out, err := b.m.Serialize()
	if err != nil {
		// Serialize fails only for an AVP without data, which this package
		// never builds.
		panic("diameter: serialize answer: " + err.Error())
	}
	return out
}

// pad returns b extended with zero bytes to a multiple of four.
func pad(b []byte) []byte {
	n := (len(b) + 3) &^ 3
	if n == len(b) {
		return b
	}
	out := make([]byte, n)
	copy(out, b)
	return out
}

// encodeAVP serialises one AVP; grouped content is given as complete AVPs.
func encodeAVP(code uint32, flags uint8, vendor uint32, v datatype.Type) []byte {
	out, err := diam.NewAVP(code, flags, vendor, v).Serialize()
	if err != nil {
		panic("diameter: serialize avp: " + err.Error())
	}
	return out
}

// exampleAVP builds the "example of the missing AVP" of RFC 6733 §7.1.5 for
// DIAMETER_MISSING_AVP: the right code, flags and vendor, and a value of the
// minimum length filled with zeros. String types get one zero octet rather
// than no data, which Wireshark reports as an empty AVP.
func exampleAVP(code uint32, vendor uint32, zeroLen int, children ...[]byte) []byte {
	flags := flagM
	if vendor != 0 {
		flags |= flagV
	}
	if len(children) > 0 {
		var g []byte
		for _, c := range children {
			g = append(g, pad(c)...)
		}
		return encodeAVP(code, flags, vendor, datatype.Grouped(g))
	}
	return encodeAVP(code, flags, vendor, datatype.OctetString(make([]byte, max(zeroLen, 1))))
}

// exampleIMEI is the example of a missing IMEI: 14 zero digits, the
// minimum an IMEI has (TS 29.272 §7.3.4).
func exampleIMEI() []byte {
	return encodeAVP(avpIMEI, flagM|flagV, vendor3GPP, datatype.UTF8String("00000000000000"))
}

// wrapGrouped returns a Grouped AVP with the header of parent that holds only
// child (RFC 6733 §7.5: Failed-AVP may carry the enclosing Grouped AVP with
// just the offending sub-AVP).
func wrapGrouped(parent rawAVP, child []byte) []byte {
	return encodeAVP(parent.code, parent.flags, parent.vendor, datatype.Grouped(pad(child)))
}

// padded is n rounded up to a multiple of four.
func padded(n int) int { return (n + 3) &^ 3 }

// appendAVP appends an AVP with data, padded (RFC 6733 §4.1).
func appendAVP(b []byte, code uint32, flags uint8, vendor uint32, data string) []byte {
	hl := 8
	if vendor != 0 {
		flags |= flagV
		hl = 12
	}
	l := hl + len(data)
	b = binary.BigEndian.AppendUint32(b, code)
	b = append(b, flags, byte(l>>16), byte(l>>8), byte(l))
	if vendor != 0 {
		b = binary.BigEndian.AppendUint32(b, vendor)
	}
	b = append(b, data...)
	return append(b, make([]byte, padded(l)-l)...)
}

// appendU32AVP appends an Unsigned32 or Enumerated AVP.
func appendU32AVP(b []byte, code uint32, flags uint8, vendor uint32, v uint32) []byte {
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], v)
	return appendAVP(b, code, flags, vendor, string(d[:]))
}

// appendRawAVP appends an AVP of a request as it arrived (raw holds its
// header and payload without padding), padded; nothing when raw is nil.
func appendRawAVP(b []byte, raw []byte) []byte {
	b = append(b, raw...)
	return append(b, make([]byte, padded(len(raw))-len(raw))...)
}

// putHeader writes the header of the answer to req at the start of b, with
// the length of b.
func putHeader(b []byte, flags uint8, req header) {
	l := len(b)
	b[0] = 1
	b[1], b[2], b[3] = byte(l>>16), byte(l>>8), byte(l)
	b[4] = flags
	b[5], b[6], b[7] = byte(req.code>>16), byte(req.code>>8), byte(req.code)
	binary.BigEndian.PutUint32(b[8:], req.app)
	binary.BigEndian.PutUint32(b[12:], req.hbh)
	binary.BigEndian.PutUint32(b[16:], req.e2e)
}
