package diameter

import (
	"encoding/binary"
	"errors"

	"github.com/fiorix/go-diameter/v4/diam"
)

// Application, command, vendor and AVP codes used on S13 (TS 29.272 §7,
// RFC 6733 §4.5).
const (
	appBase  uint32 = 0
	appS13   uint32 = 16777252
	appRelay uint32 = 0xffffffff

	vendor3GPP uint32 = 10415

	cmdCER uint32 = 257
	cmdDWR uint32 = 280
	cmdDPR uint32 = 282
	cmdECR uint32 = 324

	avpUserName              uint32 = 1
	avpHostIPAddress         uint32 = 257
	avpAuthApplicationID     uint32 = 258
	avpAcctApplicationID     uint32 = 259
	avpVendorSpecificAppID   uint32 = 260
	avpSessionID             uint32 = 263
	avpOriginHost            uint32 = 264
	avpSupportedVendorID     uint32 = 265
	avpVendorID              uint32 = 266
	avpFirmwareRevision      uint32 = 267
	avpResultCode            uint32 = 268
	avpProductName           uint32 = 269
	avpDisconnectCause       uint32 = 273
	avpAuthSessionState      uint32 = 277
	avpOriginStateID         uint32 = 278
	avpFailedAVP             uint32 = 279
	avpProxyHost             uint32 = 280
	avpErrorMessage          uint32 = 281
	avpRouteRecord           uint32 = 282
	avpDestinationRealm      uint32 = 283
	avpProxyInfo             uint32 = 284
	avpDestinationHost       uint32 = 293
	avpOriginRealm           uint32 = 296
	avpExperimentalResult    uint32 = 297
	avpExperimentalResCode   uint32 = 298
	avpInbandSecurityID      uint32 = 299
	avpDRMP                  uint32 = 301
	avpProxyState            uint32 = 33
	avpTerminalInformation   uint32 = 1401
	avpIMEI                  uint32 = 1402
	avpSoftwareVersion       uint32 = 1403
	avpEquipmentStatus       uint32 = 1445
	avp3GPP2MEID             uint32 = 1471
	flagV                    uint8  = 0x80
	flagM                    uint8  = 0x40
	flagP                    uint8  = 0x20
	headerLen                       = diam.HeaderLength
	cmdFlagR                 uint8  = diam.RequestFlag
	cmdFlagP                 uint8  = diam.ProxiableFlag
	cmdFlagE                 uint8  = diam.ErrorFlag
	cmdFlagT                 uint8  = diam.RetransmittedFlag
	cmdFlagsReserved         uint8  = 0x0f
	disconnectCauseRebooting        = 0
)

// Result codes (RFC 6733 §7.1, TS 29.272 §7.4.3).
const (
	codeSuccess               uint32 = 2001
	codeCommandUnsupported    uint32 = 3001
	codeUnableToDeliver       uint32 = 3002
	codeRealmNotServed        uint32 = 3003
	codeApplicationUnsupp     uint32 = 3007
	codeInvalidHdrBits        uint32 = 3008
	codeUnknownPeer           uint32 = 3010
	codeAVPUnsupported        uint32 = 5001
	codeInvalidAVPValue       uint32 = 5004
	codeMissingAVP            uint32 = 5005
	codeAVPOccursTooManyTimes uint32 = 5009
	codeNoCommonApplication   uint32 = 5010
	codeUnsupportedVersion    uint32 = 5011
	codeUnableToComply        uint32 = 5012
	codeInvalidAVPLength      uint32 = 5014
	codeInvalidMessageLength  uint32 = 5015
	codeNoCommonSecurity      uint32 = 5017
	codeEquipmentUnknown      uint32 = 5422
)

// header is a decoded Diameter message header (RFC 6733 §3).
type header struct {
	version uint8
	length  uint32
	flags   uint8
	code    uint32
	app     uint32
	hbh     uint32
	e2e     uint32
}

func (h header) isRequest() bool { return h.flags&cmdFlagR != 0 }

func decodeHeader(b []byte) header {
	return header{
		version: b[0],
		length:  uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]),
		flags:   b[4],
		code:    uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]),
		app:     binary.BigEndian.Uint32(b[8:12]),
		hbh:     binary.BigEndian.Uint32(b[12:16]),
		e2e:     binary.BigEndian.Uint32(b[16:20]),
	}
}

// rawAVP is one AVP as it arrived: header fields and a view of the payload
// and of the whole AVP (header and payload, without padding).
type rawAVP struct {
	code   uint32
	flags  uint8
	vendor uint32
	data   []byte
	raw    []byte
}

func (a rawAVP) mandatory() bool { return a.flags&flagM != 0 }

// errAVPLength reports an AVP whose length field is shorter than its header
// or runs past the end of the enclosing message or Grouped AVP.
var errAVPLength = errors.New("invalid avp length")

// nextAVP decodes the AVP at the start of b. n is the number of bytes it
// occupies including padding. On errAVPLength, a.raw holds what is left of b,
// at most one AVP header, so that a Failed-AVP can name the offender.
func nextAVP(b []byte) (a rawAVP, n int, err error) {
	if len(b) < 8 {
		a.raw = b
		return a, 0, errAVPLength
	}
	a.code = binary.BigEndian.Uint32(b[0:4])
	a.flags = b[4]
	l := int(uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]))
	hl := 8
	if a.flags&flagV != 0 {
		hl = 12
	}
	if l < hl || l > len(b) || len(b) < hl {
		a.raw = b[:min(len(b), hl)]
		return a, 0, errAVPLength
	}
	if hl == 12 {
		a.vendor = binary.BigEndian.Uint32(b[8:12])
	}
	a.data = b[hl:l]
	a.raw = b[:l]
	n = (l + 3) &^ 3
	if n > len(b) {
		// Padding missing at the very end: the length field itself is
		// consistent, so accept it (RFC 6733 §4.1 padding is not counted).
		n = len(b)
	}
	return a, n, nil
}

// forEachAVP walks the AVPs of b and stops at the first error returned by fn
// or by decoding.
func forEachAVP(b []byte, fn func(a rawAVP) error) (rawAVP, error) {
	for len(b) > 0 {
		a, n, err := nextAVP(b)
		if err != nil {
			return a, err
		}
		if err := fn(a); err != nil {
			return a, err
		}
		b = b[n:]
	}
	return rawAVP{}, nil
}

func u32(a rawAVP) (uint32, bool) {
	if len(a.data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(a.data), true
}
