package loadgen

import (
	"fmt"
	"net"
	"strings"

	"github.com/eir-sidecar/eir/eir"
)

// Fixed widths of the patched fields: every request of a template has the
// same length, so only bytes are overwritten.
const (
	// IMEIDigits is the width of the IMEI AVP sent: the 14 digits of TAC
	// and SNR and the Luhn check digit (TS 23.003 §6.2.1).
	IMEIDigits = 15
	// IMSIDigits is the width of the User-Name (IMSI) sent.
	IMSIDigits = 15
	// SessionDigits is the width of the counter ending each Session-Id.
	SessionDigits = 10
)

// Peer is the identity one connection presents, and what it learnt of the
// server from the CEA.
type Peer struct {
	Index       int    // connection number, from 0
	OriginHost  string // mme<Index+1>.<realm>
	OriginRealm string
	HostIP      net.IP // local address of the connection
	ServerHost  string // the server's Origin-Host (empty before the CEA)
	ServerRealm string // the server's Origin-Realm (empty before the CEA)
}

// ECRFields are the values of one ME-Identity-Check-Request.
type ECRFields struct {
	SessionID        string
	DestinationRealm string
	IMEI             string
	IMSI             string // User-Name; empty: no User-Name AVP
}

// Codec serialises the messages a connection sends; the engine writes its
// own Hop-by-Hop and End-to-End identifiers over whatever the codec puts
// in the header. eirbench implements it with diameter/wire (its bytes are
// tested against go-diameter's encoding).
type Codec interface {
	// CER returns the Capabilities-Exchange-Request of p.
	CER(p Peer) ([]byte, error)
	// ECR returns an ME-Identity-Check-Request of p with the fields f.
	ECR(p Peer, f ECRFields) ([]byte, error)
	// BaseAnswer returns the answer (Result-Code 2001) to a base-protocol
	// request of the server, DWR or DPR, with the request's identifiers.
	BaseAnswer(p Peer, command, hbh, e2e uint32) ([]byte, error)
	// DPR returns the Disconnect-Peer-Request p sends when it is done.
	DPR(p Peer) ([]byte, error)
}

// Template is an ECR serialised once by a Codec; each request is a copy
// with the identifiers, the Session-Id counter, the IMEI and the IMSI
// overwritten (fixed widths, so nothing moves).
type Template struct {
	b          []byte
	sessionOff int // first of the SessionDigits digits ending the Session-Id
	imeiOff    int // IMEI data inside Terminal-Information
	imsiOff    int // User-Name data; -1 without User-Name
}

// NewTemplate asks c for an ECR of p to p.ServerRealm, with a Session-Id
// of sessionPrefix followed by SessionDigits digits and, when withIMSI, a
// User-Name, and locates the fields to patch by walking the bytes.
func NewTemplate(c Codec, p Peer, sessionPrefix string, withIMSI bool) (*Template, error) {
	f := ECRFields{
		SessionID:        sessionPrefix + strings.Repeat("0", SessionDigits),
		DestinationRealm: p.ServerRealm,
		IMEI:             strings.Repeat("0", IMEIDigits),
	}
	if withIMSI {
		f.IMSI = strings.Repeat("0", IMSIDigits)
	}
	b, err := c.ECR(p, f)
	if err != nil {
		return nil, fmt.Errorf("loadgen: ecr template: %w", err)
	}
	t, err := locate(b, withIMSI)
	if err != nil {
		return nil, fmt.Errorf("loadgen: ecr template: %w", err)
	}
	return t, nil
}

// locate finds the fields of an ECR serialised with placeholder values.
func locate(b []byte, withIMSI bool) (*Template, error) {
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.code != cmdECR || h.app != appS13 || !h.isRequest() || h.length != len(b) {
		return nil, fmt.Errorf("not an ECR: command %d, application %d, flags %#x, length %d of %d bytes",
			h.code, h.app, h.flags, h.length, len(b))
	}
	t := &Template{b: b, sessionOff: -1, imeiOff: -1, imsiOff: -1}
	it := avpIter{b: b[headerLen:]}
	for a, ok := it.next(); ok; a, ok = it.next() {
		off := headerLen + a.off
		switch {
		case a.code == avpSessionID && a.vendor == 0:
			if len(a.data) <= SessionDigits {
				return nil, fmt.Errorf("session-id %q too short", a.data)
			}
			t.sessionOff = off + len(a.data) - SessionDigits
		case a.code == avpUserName && a.vendor == 0:
			if len(a.data) != IMSIDigits {
				return nil, fmt.Errorf("user-name has %d bytes, want %d", len(a.data), IMSIDigits)
			}
			t.imsiOff = off
		case a.code == avpTerminalInformation && a.vendor == vendor3GPP:
			sub := avpIter{b: a.data}
			for s, ok := sub.next(); ok; s, ok = sub.next() {
				if s.code == avpIMEI && s.vendor == vendor3GPP {
					if len(s.data) != IMEIDigits {
						return nil, fmt.Errorf("imei has %d bytes, want %d", len(s.data), IMEIDigits)
					}
					t.imeiOff = off + s.off
				}
			}
			if sub.err != nil {
				return nil, fmt.Errorf("terminal-information: %w", sub.err)
			}
		}
	}
	switch {
	case it.err != nil:
		return nil, it.err
	case t.sessionOff < 0:
		return nil, fmt.Errorf("no session-id")
	case t.imeiOff < 0:
		return nil, fmt.Errorf("no terminal-information/imei")
	case withIMSI && t.imsiOff < 0:
		return nil, fmt.Errorf("no user-name")
	case !withIMSI && t.imsiOff >= 0:
		return nil, fmt.Errorf("unexpected user-name")
	}
	fields := [][2]int{{t.sessionOff, SessionDigits}, {t.imeiOff, IMEIDigits}, {t.imsiOff, IMSIDigits}}
	for _, f := range fields {
		if f[0] < 0 {
			continue
		}
		for _, c := range b[f[0] : f[0]+f[1]] {
			if c != '0' {
				return nil, fmt.Errorf("placeholder digits not found at offset %d", f[0])
			}
		}
	}
	return t, nil
}

// Request is what varies from one ECR to the next.
type Request struct {
	HopByHop, EndToEnd uint32
	Session            uint64   // the Session-Id's last SessionDigits digits
	IMEI               eir.IMEI // sent as its 14 digits and the check digit
	IMSI               uint64   // IMSIDigits digits, leading zeros implied; used when the template has a User-Name
}

// Append appends the ECR for r to dst.
func (t *Template) Append(dst []byte, r Request) []byte {
	start := len(dst)
	dst = append(dst, t.b...)
	m := dst[start:]
	putIDs(m, r.HopByHop, r.EndToEnd)
	putDigits(m[t.sessionOff:t.sessionOff+SessionDigits], r.Session)
	imei := m[t.imeiOff : t.imeiOff+IMEIDigits]
	putDigits(imei[:14], uint64(r.IMEI))
	imei[14] = '0' + r.IMEI.CheckDigit()
	if t.imsiOff >= 0 {
		putDigits(m[t.imsiOff:t.imsiOff+IMSIDigits], r.IMSI)
	}
	return dst
}

// WithIMSI reports whether the template carries a User-Name.
func (t *Template) WithIMSI() bool { return t.imsiOff >= 0 }

// putDigits writes the len(b) low decimal digits of v into b, with leading
// zeros.
func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = '0' + byte(v%10)
		v /= 10
	}
}

// digits returns v as a string of n decimal digits.
func digits(v uint64, n int) string {
	b := make([]byte, n)
	putDigits(b, v)
	return string(b)
}
