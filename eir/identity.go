package eir

import (
	"fmt"
	"strconv"
	"strings"
)

// IMEI is the 14-digit TAC+SNR of a mobile equipment identity (TS 23.003
// §6.2.1), the key of every list lookup. The check or spare digit and the
// software version are not part of it: "the Check Digit is not part of the
// digits transmitted when the IMEI is checked".
type IMEI uint64

// MaxIMEI is the largest 14-digit value.
const MaxIMEI IMEI = 99_999_999_999_999

// TAC is the 8-digit Type Allocation Code, the first eight digits of an IMEI.
type TAC uint32

// MaxTAC is the largest 8-digit value.
const MaxTAC TAC = 99_999_999

// TAC returns the Type Allocation Code of i.
func (i IMEI) TAC() TAC { return TAC(i / 1_000_000) }

// String returns the 14 digits of i, with leading zeros.
func (i IMEI) String() string { return string(i.AppendDigits(make([]byte, 0, 14))) }

// AppendDigits appends the 14 digits of i to b.
func (i IMEI) AppendDigits(b []byte) []byte { return appendPadded(b, uint64(i), 14) }

// CheckDigit returns the Luhn check digit of i (TS 23.003 Annex B).
func (i IMEI) CheckDigit() uint8 {
	sum := 0
	v := uint64(i)
	for pos := 1; pos <= 14; pos++ { // pos 1 is the last SNR digit (D1)
		d := int(v % 10)
		v /= 10
		if pos%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return uint8((10 - sum%10) % 10)
}

// String returns the 8 digits of t, with leading zeros.
func (t TAC) String() string { return string(appendPadded(make([]byte, 0, 8), uint64(t), 8)) }

func appendPadded(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	d := strconv.AppendUint(tmp[:0], v, 10)
	for n := len(d); n < width; n++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// Identity is an equipment identity as it arrived on the wire or in a list.
type Identity struct {
	IMEI IMEI
	// Digit15 is the 15th digit of a 15-digit IMEI (a check digit, or a spare
	// digit sent as 0), or -1. It is kept for diagnostics only.
	Digit15 int8
	// SVN is the software version number from a 16-digit IMEISV, or -1.
	SVN int8
}

// ParseIdentity parses the IMEI AVP of S13 (TS 29.272 §7.3.4) and list
// entries: 14 digits (TAC+SNR); 15 digits, whatever the 15th digit is (a check
// digit that may fail Luhn, or a spare 0); or a 16-digit IMEISV (TAC+SNR+SVN).
// Anything else, including surrounding spaces, is ErrInvalidIMEI.
func ParseIdentity(s string) (Identity, error) {
	n := len(s)
	if n < 14 || n > 16 {
		return Identity{}, fmt.Errorf("%w: %d characters, want 14, 15 or 16 digits", ErrInvalidIMEI, n)
	}
	var v uint64
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Identity{}, fmt.Errorf("%w: non-digit at position %d", ErrInvalidIMEI, i+1)
		}
		if i < 14 {
			v = v*10 + uint64(c-'0')
		}
	}
	id := Identity{IMEI: IMEI(v), Digit15: -1, SVN: -1}
	switch n {
	case 15:
		id.Digit15 = int8(s[14] - '0')
	case 16:
		id.SVN = int8(s[14]-'0')*10 + int8(s[15]-'0')
	}
	return id, nil
}

// ParseIMEI normalises a list entry or an operator's input to its 14-digit
// key. Surrounding spaces are ignored; the digits follow ParseIdentity.
func ParseIMEI(s string) (IMEI, error) {
	id, err := ParseIdentity(strings.TrimSpace(s))
	return id.IMEI, err
}

// ParseTAC parses an 8-digit Type Allocation Code. Exactly eight digits are
// required: a TAC that lost its leading zero in a spreadsheet must not
// silently match other equipment.
func ParseTAC(s string) (TAC, error) {
	s = strings.TrimSpace(s)
	if len(s) != 8 {
		return 0, fmt.Errorf("%w: tac has %d characters, want 8 digits", ErrInvalidEntry, len(s))
	}
	v, ok := parseDigits(s)
	if !ok {
		return 0, fmt.Errorf("%w: tac is not 8 digits", ErrInvalidEntry)
	}
	return TAC(v), nil
}

// IMSI is an International Mobile Subscriber Identity in its digit form
// (TS 23.003 §2.2), as carried in the S13 User-Name AVP.
type IMSI string

// ParseIMSI validates an IMSI: 5 to 15 decimal digits (MCC, MNC and MSIN).
func ParseIMSI(s string) (IMSI, error) {
	if len(s) < 5 || len(s) > 15 {
		return "", fmt.Errorf("%w: %d characters, want 5 to 15 digits", ErrInvalidIMSI, len(s))
	}
	if _, ok := parseDigits(s); !ok {
		return "", fmt.Errorf("%w: non-digit character", ErrInvalidIMSI)
	}
	return IMSI(s), nil
}

func parseDigits(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, len(s) > 0
}
