package eir

import (
	"errors"
	"fmt"
	"strings"
)

// PEIKind is the form of a Permanent Equipment Identifier (TS 23.003 §6.4).
type PEIKind uint8

// PEI forms.
const (
	PEIIMEI   PEIKind = iota + 1 // imei-<15 digits>: TAC, SNR, check or spare digit
	PEIIMEISV                    // imeisv-<16 digits>: TAC, SNR, SVN
	PEIMAC                       // mac-<6 hex pairs>[-untrusted]: a 48-bit MAC address
	PEIEUI                       // eui-<8 hex pairs>: an EUI-64
)

// HasIMEI reports whether a PEI of this form carries an IMEI, the key of
// every list. The zero PEIKind, a query that is not an N5g-eir PEI (S13,
// the admin API), is an IMEI.
func (k PEIKind) HasIMEI() bool { return k != PEIMAC && k != PEIEUI }

// PEI is a parsed PEI. IMEI is its TAC+SNR key for the IMEI and IMEISV
// forms, so that both key on the same 14 digits as S13.
type PEI struct {
	Kind PEIKind
	IMEI IMEI
}

// ErrInvalidPEI reports a PEI that is not one of the forms of TS 29.571
// (Pei): imei-, imeisv-, mac-, eui-.
var ErrInvalidPEI = errors.New("eir: invalid pei")

// ParsePEI parses the pei of N5g-eir (TS 29.571 Pei). The schema's last
// alternative (".+") accepts any string; this accepts only the defined
// forms, with their prefixes in lower case as written: "imei-" and 15
// digits (the 15th, a check or spare digit, is not verified), "imeisv-"
// and 16 digits, "mac-" and six hexadecimal pairs separated by "-"
// (optionally followed by "-untrusted"), "eui-" and eight pairs.
func ParsePEI(s string) (PEI, error) {
	switch {
	case strings.HasPrefix(s, "imei-"):
		d := s[len("imei-"):]
		if len(d) != 15 || !allDigits(d) {
			return PEI{}, fmt.Errorf("%w: imei- takes 15 digits", ErrInvalidPEI)
		}
		id, _ := ParseIdentity(d)
		return PEI{Kind: PEIIMEI, IMEI: id.IMEI}, nil
	case strings.HasPrefix(s, "imeisv-"):
		d := s[len("imeisv-"):]
		if len(d) != 16 || !allDigits(d) {
			return PEI{}, fmt.Errorf("%w: imeisv- takes 16 digits", ErrInvalidPEI)
		}
		id, _ := ParseIdentity(d)
		return PEI{Kind: PEIIMEISV, IMEI: id.IMEI}, nil
	case strings.HasPrefix(s, "mac-"):
		rest, _ := strings.CutSuffix(s[len("mac-"):], "-untrusted")
		if !hexPairs(rest, 6) {
			return PEI{}, fmt.Errorf("%w: mac- takes six hexadecimal pairs separated by '-'", ErrInvalidPEI)
		}
		return PEI{Kind: PEIMAC}, nil
	case strings.HasPrefix(s, "eui-"):
		if !hexPairs(s[len("eui-"):], 8) {
			return PEI{}, fmt.Errorf("%w: eui- takes eight hexadecimal pairs separated by '-'", ErrInvalidPEI)
		}
		return PEI{Kind: PEIEUI}, nil
	}
	return PEI{}, fmt.Errorf("%w: want imei-, imeisv-, mac- or eui- (in lower case)", ErrInvalidPEI)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hexPairs reports whether s is n pairs of hexadecimal digits joined by
// '-'.
func hexPairs(s string, n int) bool {
	if len(s) != 3*n-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseSUPI parses the supi of N5g-eir (TS 29.571 Supi): "imsi-" and 5 to
// 15 digits gives the IMSI the exception rule uses; "nai-", "gci-" and
// "gli-" forms (non-empty) are well-formed and give none. Anything else
// is invalid.
func ParseSUPI(s string) (IMSI, error) {
	switch {
	case strings.HasPrefix(s, "imsi-"):
		imsi, err := ParseIMSI(s[len("imsi-"):])
		if err != nil {
			return "", fmt.Errorf("supi: %w", err)
		}
		return imsi, nil
	case strings.HasPrefix(s, "nai-") && len(s) > len("nai-"),
		strings.HasPrefix(s, "gci-") && len(s) > len("gci-"),
		strings.HasPrefix(s, "gli-") && len(s) > len("gli-"):
		return "", nil
	}
	return "", errors.New("supi: want imsi-<5 to 15 digits>, nai-, gci- or gli-")
}

// ValidGPSI reports whether s is a GPSI of TS 29.571: "msisdn-" and 5 to
// 15 digits, or "extid-" and an external identifier user@domain.
func ValidGPSI(s string) bool {
	switch {
	case strings.HasPrefix(s, "msisdn-"):
		d := s[len("msisdn-"):]
		return len(d) >= 5 && len(d) <= 15 && allDigits(d)
	case strings.HasPrefix(s, "extid-"):
		user, domain, ok := strings.Cut(s[len("extid-"):], "@")
		return ok && user != "" && domain != "" && !strings.Contains(domain, "@")
	}
	return false
}
