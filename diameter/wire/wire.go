// Package wire reads and writes Diameter messages (RFC 6733 §3, §4) with the
// standard library only: the header, the walk over AVPs (Grouped ones too,
// by walking their data), and appenders that build messages into one
// buffer. It knows the codes of the S13 interface (TS 29.272) and of the base
// protocol that this module uses; it knows no message grammar.
//
// Every decoder here returns views into the bytes it is given; nothing is
// copied.
package wire

import (
	"encoding/binary"
	"errors"
)

// HeaderLen is the length of a Diameter header.
const HeaderLen = 20

// Command flags (RFC 6733 §3).
const (
	FlagRequest       uint8 = 0x80
	FlagProxiable     uint8 = 0x40
	FlagError         uint8 = 0x20
	FlagRetransmitted uint8 = 0x10
	FlagsReserved     uint8 = 0x0f
)

// AVP flags (RFC 6733 §4.1).
const (
	AVPFlagVendor    uint8 = 0x80
	AVPFlagMandatory uint8 = 0x40
	AVPFlagProtected uint8 = 0x20
)

// Applications, vendors and commands (RFC 6733 §2.4, TS 29.272 §7).
const (
	AppBase  uint32 = 0
	AppS13   uint32 = 16777252
	AppRelay uint32 = 0xffffffff

	Vendor3GPP uint32 = 10415

	CmdCER uint32 = 257
	CmdDWR uint32 = 280
	CmdDPR uint32 = 282
	CmdECR uint32 = 324
)

// AVP codes (RFC 6733 §4.5, RFC 7944, TS 29.272 §7.3).
const (
	AVPUserName                    uint32 = 1
	AVPProxyState                  uint32 = 33
	AVPHostIPAddress               uint32 = 257
	AVPAuthApplicationID           uint32 = 258
	AVPAcctApplicationID           uint32 = 259
	AVPVendorSpecificApplicationID uint32 = 260
	AVPSessionID                   uint32 = 263
	AVPOriginHost                  uint32 = 264
	AVPSupportedVendorID           uint32 = 265
	AVPVendorID                    uint32 = 266
	AVPFirmwareRevision            uint32 = 267
	AVPResultCode                  uint32 = 268
	AVPProductName                 uint32 = 269
	AVPDisconnectCause             uint32 = 273
	AVPAuthSessionState            uint32 = 277
	AVPOriginStateID               uint32 = 278
	AVPFailedAVP                   uint32 = 279
	AVPProxyHost                   uint32 = 280
	AVPErrorMessage                uint32 = 281
	AVPRouteRecord                 uint32 = 282
	AVPDestinationRealm            uint32 = 283
	AVPProxyInfo                   uint32 = 284
	AVPDestinationHost             uint32 = 293
	AVPOriginRealm                 uint32 = 296
	AVPExperimentalResult          uint32 = 297
	AVPExperimentalResultCode      uint32 = 298
	AVPInbandSecurityID            uint32 = 299
	AVPDRMP                        uint32 = 301
	AVPTerminalInformation         uint32 = 1401
	AVPIMEI                        uint32 = 1402
	AVPSoftwareVersion             uint32 = 1403
	AVPEquipmentStatus             uint32 = 1445
	AVP3GPP2MEID                   uint32 = 1471
)

// Disconnect-Cause values (RFC 6733 §5.4.3).
const (
	DisconnectRebooting         uint32 = 0
	DisconnectBusy              uint32 = 1
	DisconnectDoNotWantToTalkTo uint32 = 2
)

// Result codes (RFC 6733 §7.1, TS 29.272 §7.4.3).
const (
	Success                uint32 = 2001
	CommandUnsupported     uint32 = 3001
	UnableToDeliver        uint32 = 3002
	RealmNotServed         uint32 = 3003
	ApplicationUnsupported uint32 = 3007
	InvalidHdrBits         uint32 = 3008
	UnknownPeer            uint32 = 3010
	AVPUnsupported         uint32 = 5001
	InvalidAVPValue        uint32 = 5004
	MissingAVP             uint32 = 5005
	AVPOccursTooManyTimes  uint32 = 5009
	NoCommonApplication    uint32 = 5010
	UnsupportedVersion     uint32 = 5011
	UnableToComply         uint32 = 5012
	InvalidAVPLength       uint32 = 5014
	InvalidMessageLength   uint32 = 5015
	NoCommonSecurity       uint32 = 5017
	EquipmentUnknown       uint32 = 5422
)

// Header is a decoded message header (RFC 6733 §3).
type Header struct {
	Version  uint8
	Length   uint32
	Flags    uint8
	Code     uint32
	App      uint32
	HopByHop uint32
	EndToEnd uint32
}

// IsRequest reports whether the R-bit is set.
func (h Header) IsRequest() bool { return h.Flags&FlagRequest != 0 }

// DecodeHeader decodes the header at the start of b, which must hold at
// least HeaderLen bytes. It does not judge the version or the length.
func DecodeHeader(b []byte) Header {
	_ = b[HeaderLen-1]
	return Header{
		Version:  b[0],
		Length:   uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]),
		Flags:    b[4],
		Code:     uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]),
		App:      binary.BigEndian.Uint32(b[8:12]),
		HopByHop: binary.BigEndian.Uint32(b[12:16]),
		EndToEnd: binary.BigEndian.Uint32(b[16:20]),
	}
}

// PutHeader writes a version 1 header at the start of msg, a whole message
// whose length is len(msg), with the flags, command, application and
// identifiers of h (h.Version and h.Length are not used).
func PutHeader(msg []byte, h Header) {
	l := len(msg)
	msg[0] = 1
	msg[1], msg[2], msg[3] = byte(l>>16), byte(l>>8), byte(l)
	msg[4] = h.Flags
	msg[5], msg[6], msg[7] = byte(h.Code>>16), byte(h.Code>>8), byte(h.Code)
	binary.BigEndian.PutUint32(msg[8:], h.App)
	binary.BigEndian.PutUint32(msg[12:], h.HopByHop)
	binary.BigEndian.PutUint32(msg[16:], h.EndToEnd)
}

// PutIDs writes the Hop-by-Hop and End-to-End identifiers of the message
// starting at msg.
func PutIDs(msg []byte, hbh, e2e uint32) {
	binary.BigEndian.PutUint32(msg[12:16], hbh)
	binary.BigEndian.PutUint32(msg[16:20], e2e)
}

// AVP is one AVP as it arrived: the header fields, a view of the data and
// a view of the whole AVP (header and data, without padding).
type AVP struct {
	Code   uint32
	Flags  uint8
	Vendor uint32 // 0 unless the V-bit is set
	Data   []byte
	Raw    []byte
}

// Mandatory reports whether the M-bit is set.
func (a AVP) Mandatory() bool { return a.Flags&AVPFlagMandatory != 0 }

// Is reports whether a has the given code and vendor (0: none).
func (a AVP) Is(code, vendor uint32) bool { return a.Code == code && a.Vendor == vendor }

// U32 returns the value of an Unsigned32 or Enumerated AVP; false when the
// data is not four bytes long.
func (a AVP) U32() (uint32, bool) {
	if len(a.Data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(a.Data), true
}

// ErrAVPLength reports an AVP whose length field is shorter than its header
// or runs past the end of the enclosing message or Grouped AVP.
var ErrAVPLength = errors.New("diameter: invalid avp length")

// Next decodes the AVP at the start of b. n is the number of bytes it
// occupies including padding. On ErrAVPLength, a.Raw holds what is left of
// b, at most one AVP header, so that a Failed-AVP can name the offender.
func Next(b []byte) (a AVP, n int, err error) {
	if len(b) < 8 {
		a.Raw = b
		return a, 0, ErrAVPLength
	}
	a.Code = binary.BigEndian.Uint32(b[0:4])
	a.Flags = b[4]
	l := int(uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]))
	hl := 8
	if a.Flags&AVPFlagVendor != 0 {
		hl = 12
	}
	if l < hl || l > len(b) || len(b) < hl {
		a.Raw = b[:min(len(b), hl)]
		return a, 0, ErrAVPLength
	}
	if hl == 12 {
		a.Vendor = binary.BigEndian.Uint32(b[8:12])
	}
	a.Data = b[hl:l]
	a.Raw = b[:l]
	n = Padded(l)
	if n > len(b) {
		// Padding missing at the very end: the length field itself is
		// consistent, so accept it (RFC 6733 §4.1 padding is not counted).
		n = len(b)
	}
	return a, n, nil
}

// Walk calls fn for each AVP of b (the AVPs of a message body, or the data
// of a Grouped AVP), in order, and stops at the first error returned by fn
// or by decoding; it returns the AVP it stopped at.
func Walk(b []byte, fn func(a AVP) error) (AVP, error) {
	for len(b) > 0 {
		a, n, err := Next(b)
		if err != nil {
			return a, err
		}
		if err := fn(a); err != nil {
			return a, err
		}
		b = b[n:]
	}
	return AVP{}, nil
}

// Iter walks a sequence of AVPs without a callback:
//
//	it := wire.Iter{B: body}
//	for a, ok := it.Next(); ok; a, ok = it.Next() { … }
//	if it.Err != nil { … }
type Iter struct {
	B   []byte
	Pos int   // offset in B of the next AVP
	Err error // ErrAVPLength when the walk stopped on a bad length
}

// Next returns the next AVP; false at the end or on an inconsistent length
// (then Err is set).
func (it *Iter) Next() (AVP, bool) {
	if it.Pos >= len(it.B) || it.Err != nil {
		return AVP{}, false
	}
	a, n, err := Next(it.B[it.Pos:])
	if err != nil {
		it.Err = err
		return AVP{}, false
	}
	it.Pos += n
	return a, true
}

// Padded is n rounded up to a multiple of four.
func Padded(n int) int { return (n + 3) &^ 3 }

// Pad returns b extended with zero bytes to a multiple of four (b itself
// when it is one already).
func Pad(b []byte) []byte {
	n := Padded(len(b))
	if n == len(b) {
		return b
	}
	out := make([]byte, n)
	copy(out, b)
	return out
}

// AppendAVP appends an AVP holding data, padded (RFC 6733 §4.1). A non-zero
// vendor sets the V-bit; with the V-bit the Vendor-Id field is written.
func AppendAVP(b []byte, code uint32, flags uint8, vendor uint32, data []byte) []byte {
	b = appendAVPHeader(b, code, flags, vendor, len(data))
	b = append(b, data...)
	return appendPadding(b, len(data))
}

// AppendString is AppendAVP for data held in a string (UTF8String,
// DiameterIdentity, OctetString).
func AppendString(b []byte, code uint32, flags uint8, vendor uint32, data string) []byte {
	b = appendAVPHeader(b, code, flags, vendor, len(data))
	b = append(b, data...)
	return appendPadding(b, len(data))
}

// appendAVPHeader appends the header of an AVP with n bytes of data.
func appendAVPHeader(b []byte, code uint32, flags uint8, vendor uint32, n int) []byte {
	flags, hl := avpHeader(flags, vendor)
	l := hl + n
	b = binary.BigEndian.AppendUint32(b, code)
	b = append(b, flags, byte(l>>16), byte(l>>8), byte(l))
	if hl == 12 {
		b = binary.BigEndian.AppendUint32(b, vendor)
	}
	return b
}

// AppendU32 appends an Unsigned32 or Enumerated AVP.
func AppendU32(b []byte, code uint32, flags uint8, vendor uint32, v uint32) []byte {
	flags, hl := avpHeader(flags, vendor)
	b = binary.BigEndian.AppendUint32(b, code)
	b = append(b, flags, 0, 0, byte(hl+4))
	if hl == 12 {
		b = binary.BigEndian.AppendUint32(b, vendor)
	}
	return binary.BigEndian.AppendUint32(b, v)
}

// avpHeader returns the flags of an AVP of vendor (V-bit set when vendor is
// not 0) and the length of its header.
func avpHeader(flags uint8, vendor uint32) (uint8, int) {
	if vendor != 0 {
		flags |= AVPFlagVendor
	}
	if flags&AVPFlagVendor != 0 {
		return flags, 12
	}
	return flags, 8
}

// AppendRaw appends an AVP as it arrived (raw holds its header and data
// without padding, AVP.Raw), padded; nothing when raw is empty.
func AppendRaw(b []byte, raw []byte) []byte {
	b = append(b, raw...)
	return appendPadding(b, len(raw))
}

// BeginAVP appends the header of an AVP whose data the caller appends next
// (the AVPs of a Grouped AVP, with the appenders of this package), and
// returns where the AVP starts, for EndAVP.
func BeginAVP(b []byte, code uint32, flags uint8, vendor uint32) ([]byte, int) {
	start := len(b)
	flags, hl := avpHeader(flags, vendor)
	b = binary.BigEndian.AppendUint32(b, code)
	b = append(b, flags, 0, 0, 0)
	if hl == 12 {
		b = binary.BigEndian.AppendUint32(b, vendor)
	}
	return b, start
}

// EndAVP writes the length of the AVP begun at start and pads it.
func EndAVP(b []byte, start int) []byte {
	l := len(b) - start
	b[start+5], b[start+6], b[start+7] = byte(l>>16), byte(l>>8), byte(l)
	return appendPadding(b, l)
}

func appendPadding(b []byte, l int) []byte {
	var zero [3]byte
	return append(b, zero[:Padded(l)-l]...)
}
