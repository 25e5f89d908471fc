//go:build linux

package fdtest

// A minimal raw Diameter codec (RFC 6733 §3, §4) so that the harness tests
// depend on nothing but the standard library and can see every AVP on the
// wire, including ones no dictionary knows.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

const (
	flagR = 0x80 // request
	flagP = 0x40 // proxiable
	flagE = 0x20 // error

	avpV = 0x80 // vendor-specific
	avpM = 0x40 // mandatory

	cmdCE  = 257
	cmdDW  = 280
	cmdDP  = 282
	cmdMIC = 324 // ME-Identity-Check (S13)

	appS13   = 16777252
	appRelay = 0xffffffff
	vend3GPP = 10415

	avpHostIP        = 257
	avpAuthAppID     = 258
	avpVSAppID       = 260
	avpSessionID     = 263
	avpOriginHost    = 264
	avpSupVendorID   = 265
	avpVendorID      = 266
	avpResultCode    = 268
	avpProductName   = 269
	avpDisconnCause  = 273
	avpAuthSessState = 277
	avpOriginStateID = 278
	avpFailedAVP     = 279
	avpProxyHost     = 280
	avpErrorMessage  = 281
	avpRouteRecord   = 282
	avpDestRealm     = 283
	avpProxyInfo     = 284
	avpDestHost      = 293
	avpOriginRealm   = 296
	avpFirmwareRev   = 267
	avpInbandSecID   = 299
	avpAcctAppID     = 259
	avpTerminalInfo  = 1401
	avpIMEI          = 1402
	avpEquipStatus   = 1445
)

type avp struct {
	Code   uint32
	Flags  uint8
	Vendor uint32
	Data   []byte
}

type msg struct {
	Flags uint8
	Code  uint32
	App   uint32
	HbH   uint32
	E2E   uint32
	AVPs  []avp
}

func pad4(n int) int { return (n + 3) &^ 3 }

func (a avp) encode() []byte {
	hl := 8
	if a.Flags&avpV != 0 {
		hl = 12
	}
	l := hl + len(a.Data)
	b := make([]byte, pad4(l))
	binary.BigEndian.PutUint32(b[0:], a.Code)
	binary.BigEndian.PutUint32(b[4:], uint32(l))
	b[4] = a.Flags
	if hl == 12 {
		binary.BigEndian.PutUint32(b[8:], a.Vendor)
	}
	copy(b[hl:], a.Data)
	return b
}

func (m *msg) encode() []byte {
	var body []byte
	for _, a := range m.AVPs {
		body = append(body, a.encode()...)
	}
	b := make([]byte, 20, 20+len(body))
	binary.BigEndian.PutUint32(b[0:], uint32(20+len(body)))
	b[0] = 1
	binary.BigEndian.PutUint32(b[4:], m.Code)
	b[4] = m.Flags
	binary.BigEndian.PutUint32(b[8:], m.App)
	binary.BigEndian.PutUint32(b[12:], m.HbH)
	binary.BigEndian.PutUint32(b[16:], m.E2E)
	return append(b, body...)
}

func parseAVPs(b []byte) ([]avp, error) {
	var out []avp
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("short AVP header")
		}
		a := avp{Code: binary.BigEndian.Uint32(b[0:]), Flags: b[4]}
		l := int(binary.BigEndian.Uint32(b[4:]) & 0xffffff)
		hl := 8
		if a.Flags&avpV != 0 {
			hl = 12
			if len(b) < 12 {
				return nil, errors.New("short vendor AVP header")
			}
			a.Vendor = binary.BigEndian.Uint32(b[8:])
		}
		if l < hl || l > len(b) {
			return nil, fmt.Errorf("bad AVP length %d (have %d)", l, len(b))
		}
		a.Data = append([]byte(nil), b[hl:l]...)
		out = append(out, a)
		n := pad4(l)
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	return out, nil
}

func readMsg(r io.Reader) (*msg, error) {
	var h [20]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 1 {
		return nil, fmt.Errorf("bad Diameter version %d", h[0])
	}
	l := int(binary.BigEndian.Uint32(h[0:]) & 0xffffff)
	if l < 20 || l > 1<<20 {
		return nil, fmt.Errorf("bad message length %d", l)
	}
	body := make([]byte, l-20)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	m := &msg{
		Flags: h[4],
		Code:  binary.BigEndian.Uint32(h[4:]) & 0xffffff,
		App:   binary.BigEndian.Uint32(h[8:]),
		HbH:   binary.BigEndian.Uint32(h[12:]),
		E2E:   binary.BigEndian.Uint32(h[16:]),
	}
	avps, err := parseAVPs(body)
	if err != nil {
		return nil, err
	}
	m.AVPs = avps
	return m, nil
}

func writeMsg(w io.Writer, m *msg) error {
	_, err := w.Write(m.encode())
	return err
}

// AVP constructors.

func aStr(code uint32, s string) avp { return avp{Code: code, Flags: avpM, Data: []byte(s)} }

func aU32(code uint32, v uint32) avp {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return avp{Code: code, Flags: avpM, Data: b}
}

func aGroup(code uint32, kids ...avp) avp {
	var b []byte
	for _, k := range kids {
		b = append(b, k.encode()...)
	}
	return avp{Code: code, Flags: avpM, Data: b}
}

func aIPv4(code uint32, ip net.IP) avp {
	return avp{Code: code, Flags: avpM, Data: append([]byte{0, 1}, ip.To4()...)}
}

func vendor(a avp, v uint32) avp {
	a.Flags |= avpV
	a.Vendor = v
	return a
}

// Accessors.

func (m *msg) find(code uint32) (avp, bool) { return findAVP(m.AVPs, code) }

func findAVP(as []avp, code uint32) (avp, bool) {
	for _, a := range as {
		if a.Code == code {
			return a, true
		}
	}
	return avp{}, false
}

func (m *msg) all(code uint32) []avp {
	var out []avp
	for _, a := range m.AVPs {
		if a.Code == code {
			out = append(out, a)
		}
	}
	return out
}

func (a avp) u32() uint32 {
	if len(a.Data) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(a.Data)
}

func (a avp) str() string { return string(a.Data) }

func (a avp) kids() []avp {
	k, err := parseAVPs(a.Data)
	if err != nil {
		return nil
	}
	return k
}

func (m *msg) str(code uint32) string {
	a, ok := m.find(code)
	if !ok {
		return ""
	}
	return a.str()
}

func (m *msg) u32(code uint32) (uint32, bool) {
	a, ok := m.find(code)
	if !ok {
		return 0, false
	}
	return a.u32(), true
}

// String renders the message for test logs.
func (m *msg) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cmd=%d app=%d flags=%#02x hbh=%#08x e2e=%#08x", m.Code, m.App, m.Flags, m.HbH, m.E2E)
	dumpAVPs(&b, m.AVPs, "  ")
	return b.String()
}

var groupedAVPs = map[uint32]bool{avpVSAppID: true, avpProxyInfo: true, avpTerminalInfo: true, avpFailedAVP: true}

func dumpAVPs(b *strings.Builder, as []avp, indent string) {
	for _, a := range as {
		fmt.Fprintf(b, "\n%scode=%d flags=%#02x vendor=%d len=%d", indent, a.Code, a.Flags, a.Vendor, len(a.Data))
		switch {
		case groupedAVPs[a.Code]:
			dumpAVPs(b, a.kids(), indent+"  ")
		case len(a.Data) == 4 && !printable(a.Data):
			fmt.Fprintf(b, " u32=%d", a.u32())
		case printable(a.Data):
			fmt.Fprintf(b, " %q", a.Data)
		default:
			fmt.Fprintf(b, " % x", a.Data)
		}
	}
}

func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
