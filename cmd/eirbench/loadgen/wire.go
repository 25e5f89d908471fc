package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/eir-sidecar/eir/diameter/wire"
)

// Diameter constants the engine reads or patches (RFC 6733, TS 29.272),
// from diameter/wire.
const (
	headerLen = wire.HeaderLen

	flagRequest = wire.FlagRequest
	flagError   = wire.FlagError

	avpFlagVendor = wire.AVPFlagVendor

	vendor3GPP = wire.Vendor3GPP
	appS13     = wire.AppS13

	cmdCER = wire.CmdCER
	cmdDWR = wire.CmdDWR
	cmdDPR = wire.CmdDPR
	cmdECR = wire.CmdECR

	avpUserName               = wire.AVPUserName
	avpSessionID              = wire.AVPSessionID
	avpOriginHost             = wire.AVPOriginHost
	avpResultCode             = wire.AVPResultCode
	avpOriginRealm            = wire.AVPOriginRealm
	avpExperimentalResult     = wire.AVPExperimentalResult
	avpExperimentalResultCode = wire.AVPExperimentalResultCode
	avpTerminalInformation    = wire.AVPTerminalInformation
	avpIMEI                   = wire.AVPIMEI
	avpEquipmentStatus        = wire.AVPEquipmentStatus

	resultSuccess   = wire.Success
	resultUnknownEq = wire.EquipmentUnknown
)

// errShort reports bytes that cannot hold what their lengths announce.
var errShort = errors.New("loadgen: truncated message or AVP")

// header is a decoded Diameter header.
type header struct {
	length int
	flags  uint8
	code   uint32
	app    uint32
	hbh    uint32
	e2e    uint32
}

func (h header) isRequest() bool { return h.flags&flagRequest != 0 }

// parseHeader decodes the 20-byte header at the start of b
// (wire.DecodeHeader) and checks its version and length.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerLen {
		return header{}, errShort
	}
	w := wire.DecodeHeader(b)
	if w.Version != 1 {
		return header{}, fmt.Errorf("loadgen: diameter version %d", w.Version)
	}
	h := header{length: int(w.Length), flags: w.Flags, code: w.Code, app: w.App, hbh: w.HopByHop, e2e: w.EndToEnd}
	if h.length < headerLen || h.length%4 != 0 {
		return header{}, fmt.Errorf("loadgen: message length %d", h.length)
	}
	return h, nil
}

// putIDs writes the Hop-by-Hop and End-to-End identifiers of the message
// starting at b.
func putIDs(b []byte, hbh, e2e uint32) { wire.PutIDs(b, hbh, e2e) }

// rawAVP is one AVP found by an avpIter: off is the offset of its data in
// the bytes the iterator walks.
type rawAVP struct {
	code   uint32
	vendor uint32
	flags  uint8
	data   []byte
	off    int
}

// avpIter walks a sequence of AVPs without allocating (wire.Iter, with the
// offset of each AVP's data, which templates patch).
type avpIter struct {
	b   []byte
	it  wire.Iter
	err error
}

// next returns the next AVP; false at the end or on an inconsistent length
// (then err is set).
func (it *avpIter) next() (rawAVP, bool) {
	if it.it.B == nil {
		it.it.B = it.b
	}
	pos := it.it.Pos
	a, ok := it.it.Next()
	if !ok {
		if it.it.Err != nil {
			it.err = errShort
		}
		return rawAVP{}, false
	}
	return rawAVP{code: a.Code, vendor: a.Vendor, flags: a.Flags, data: a.Data, off: pos + len(a.Raw) - len(a.Data)}, true
}

// Answer is what the engine reads from an ME-Identity-Check-Answer (or any
// answer): the result and the Equipment-Status.
type Answer struct {
	ResultCode             uint32 // Result-Code; 0 when absent
	ExperimentalResultCode uint32 // Experimental-Result-Code; 0 when absent
	EquipmentStatus        int    // Equipment-Status (vendor 10415); -1 when absent
	ErrorBit               bool   // the E-bit of the header
}

// Code returns the Result-Code, or the Experimental-Result-Code when there
// is no Result-Code.
func (a Answer) Code() uint32 {
	if a.ResultCode != 0 {
		return a.ResultCode
	}
	return a.ExperimentalResultCode
}

// ParseAnswer reads the header and the top-level AVPs of one message (the
// whole message, header included): Result-Code (268), Experimental-Result
// (297) → Experimental-Result-Code (298), Equipment-Status (1445, vendor
// 10415).
func ParseAnswer(msg []byte) (Answer, error) {
	h, err := parseHeader(msg)
	if err != nil {
		return Answer{}, err
	}
	if h.length > len(msg) {
		return Answer{}, errShort
	}
	a := Answer{EquipmentStatus: -1, ErrorBit: h.flags&flagError != 0}
	it := avpIter{b: msg[headerLen:h.length]}
	for v, ok := it.next(); ok; v, ok = it.next() {
		switch {
		case v.code == avpResultCode && v.vendor == 0 && len(v.data) == 4:
			a.ResultCode = binary.BigEndian.Uint32(v.data)
		case v.code == avpEquipmentStatus && v.vendor == vendor3GPP && len(v.data) == 4:
			a.EquipmentStatus = int(binary.BigEndian.Uint32(v.data))
		case v.code == avpExperimentalResult && v.vendor == 0:
			sub := avpIter{b: v.data}
			for s, ok := sub.next(); ok; s, ok = sub.next() {
				if s.code == avpExperimentalResultCode && s.vendor == 0 && len(s.data) == 4 {
					a.ExperimentalResultCode = binary.BigEndian.Uint32(s.data)
				}
			}
			if sub.err != nil {
				return a, fmt.Errorf("loadgen: experimental-result: %w", sub.err)
			}
		}
	}
	if it.err != nil {
		return a, it.err
	}
	return a, nil
}

// capabilities is what the engine keeps from a CEA.
type capabilities struct {
	resultCode  uint32
	originHost  string
	originRealm string
}

// parseCEA reads Result-Code, Origin-Host and Origin-Realm from a CEA.
func parseCEA(msg []byte) (capabilities, error) {
	h, err := parseHeader(msg)
	if err != nil {
		return capabilities{}, err
	}
	if h.code != cmdCER || h.isRequest() {
		return capabilities{}, fmt.Errorf("loadgen: expected a CEA, got command %d (flags %#x)", h.code, h.flags)
	}
	var c capabilities
	it := avpIter{b: msg[headerLen:h.length]}
	for v, ok := it.next(); ok; v, ok = it.next() {
		if v.vendor != 0 {
			continue
		}
		switch v.code {
		case avpResultCode:
			if len(v.data) == 4 {
				c.resultCode = binary.BigEndian.Uint32(v.data)
			}
		case avpOriginHost:
			c.originHost = string(v.data)
		case avpOriginRealm:
			c.originRealm = string(v.data)
		}
	}
	return c, it.err
}
