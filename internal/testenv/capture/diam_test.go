package capture

import "encoding/binary"

// Hand-built Diameter encoding for the tests (RFC 6733 §3, §4).

const (
	flagR = 0x80 // request
	flagP = 0x40 // proxiable
	flagE = 0x20 // error
	flagT = 0x10 // potentially retransmitted

	avpV = 0x80 // vendor-specific
	avpM = 0x40 // mandatory
)

// avp encodes one AVP: code, flags, length (header+data, excluding padding),
// optional vendor id, data, then zero padding to a 32-bit boundary.
func avp(code uint32, flags uint8, vendor uint32, data []byte) []byte {
	hdr := 8
	if flags&avpV != 0 {
		hdr = 12
	}
	length := hdr + len(data)
	b := make([]byte, 0, (length+3)&^3)
	b = binary.BigEndian.AppendUint32(b, code)
	b = binary.BigEndian.AppendUint32(b, uint32(flags)<<24|uint32(length))
	if flags&avpV != 0 {
		b = binary.BigEndian.AppendUint32(b, vendor)
	}
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func avpStr(code uint32, s string) []byte { return avp(code, avpM, 0, []byte(s)) }

func avpU32(code uint32, v uint32) []byte {
	return avp(code, avpM, 0, binary.BigEndian.AppendUint32(nil, v))
}

// avpAddr encodes an Address AVP holding an IPv4 address (family 1).
func avpAddr(code uint32, ip [4]byte) []byte {
	return avp(code, avpM, 0, append([]byte{0, 1}, ip[:]...))
}

func avpGrouped(code uint32, children ...[]byte) []byte {
	var data []byte
	for _, c := range children {
		data = append(data, c...)
	}
	return avp(code, avpM, 0, data)
}

// message encodes a Diameter message: version 1, the length of the whole
// message (header + padded AVPs), flags, command code, application id,
// hop-by-hop and end-to-end identifiers, then the AVPs.
func message(flags uint8, code, app, hbh, e2e uint32, avps ...[]byte) []byte {
	var body []byte
	for _, a := range avps {
		body = append(body, a...)
	}
	length := 20 + len(body)
	b := make([]byte, 0, length)
	b = binary.BigEndian.AppendUint32(b, 1<<24|uint32(length))
	b = binary.BigEndian.AppendUint32(b, uint32(flags)<<24|code)
	b = binary.BigEndian.AppendUint32(b, app)
	b = binary.BigEndian.AppendUint32(b, hbh)
	b = binary.BigEndian.AppendUint32(b, e2e)
	return append(b, body...)
}

const s13App = 16777252

func cer(hbh, e2e uint32) []byte {
	return message(flagR, 257, 0, hbh, e2e,
		avpStr(264, "client.test"),
		avpStr(296, "test"),
		avpAddr(257, [4]byte{127, 0, 0, 1}),
		avpU32(266, 0),
		avp(269, 0, 0, []byte("cap")), // Product-Name: M bit must not be set
		avpU32(258, s13App),
	)
}

func cea(hbh, e2e uint32) []byte {
	return message(0, 257, 0, hbh, e2e,
		avpU32(268, 2001),
		avpStr(264, "server.test"),
		avpStr(296, "test"),
		avpAddr(257, [4]byte{127, 0, 0, 1}),
		avpU32(266, 0),
		avp(269, 0, 0, []byte("cap")),
		avpU32(258, s13App),
	)
}
