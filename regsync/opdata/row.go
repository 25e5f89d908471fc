package opdata

import (
	"fmt"
	"slices"
	"strings"
)

// Row is one line of the dump: on Date, the equipment IMEI was used with
// the subscription IMSI (and MSISDN) over the radio technologies RAT.
// An empty IMEI, IMSI or MSISDN and a nil RAT are NULL in DIRBS's terms:
// allowed by the syntax, limited by the NULL ratio checks.
type Row struct {
	Date Date
	// IMEI as seen on the network, leading zeros kept: 14–16 characters
	// of [0-9A-Fa-f*#] (DIRBS keys it on its first 14 digits).
	IMEI string
	// IMSI: 14–15 digits.
	IMSI string
	// MSISDN: E.164 digits only, up to 15, no '+'.
	MSISDN string
	// RAT lists 3-digit radio access technology codes: 001 UTRAN, 002
	// GERAN, 003 WLAN, 004 GAN, 005 HSPA Evolution, 006 E-UTRAN, 007
	// Virtual, 101–105 3GPP2. An element may itself be pipe-separated
	// ("001|006"). Rows the parser returns hold each code once, sorted.
	RAT []string
}

// ratCodes are the codes DIRBS accepts, in order; a set of them is a
// bit mask over this slice.
var ratCodes = []string{"001", "002", "003", "004", "005", "006", "007", "101", "102", "103", "104", "105"}

type ratSet uint16

// parseRAT reads a pipe-separated list of codes ("" is the empty set).
func parseRAT(s string) (ratSet, error) {
	var set ratSet
	if s == "" {
		return 0, nil
	}
	for code := range strings.SplitSeq(s, "|") {
		i := slices.Index(ratCodes, code)
		if i < 0 {
			return 0, fmt.Errorf("rat: %q is not a code of 001–007 or 101–105", code)
		}
		set |= 1 << i
	}
	return set, nil
}

// ratOf reads Row.RAT.
func ratOf(codes []string) (ratSet, error) {
	var set ratSet
	for _, c := range codes {
		if c == "" {
			return 0, fmt.Errorf("rat: empty code")
		}
		s, err := parseRAT(c)
		if err != nil {
			return 0, err
		}
		set |= s
	}
	return set, nil
}

// codes returns the set's codes in order (nil for the empty set).
func (s ratSet) codes() []string {
	var out []string
	for i, c := range ratCodes {
		if s&(1<<i) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// String returns the set as written in the file: codes joined by '|'.
func (s ratSet) String() string { return strings.Join(s.codes(), "|") }

// checkIMEI, checkIMSI and checkMSISDN apply the field syntax to a
// non-empty value. Their errors name the field and the rule but not the
// value: an IMSI is personal data and error strings end up in logs.
func checkIMEI(s string) error {
	if len(s) < 14 || len(s) > 16 {
		return fmt.Errorf("imei: %d characters, want 14–16", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '*' || c == '#') {
			return fmt.Errorf("imei: character %d is not one of [0-9A-Fa-f*#]", i+1)
		}
	}
	return nil
}

func checkIMSI(s string) error {
	if len(s) < 14 || len(s) > 15 || !allDigits(s) {
		return fmt.Errorf("imsi: want 14–15 digits (%d characters)", len(s))
	}
	return nil
}

func checkMSISDN(s string) error {
	if len(s) > 15 || !allDigits(s) {
		return fmt.Errorf("msisdn: want up to 15 digits, E.164 without '+' (%d characters)", len(s))
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkFields applies the syntax of the IMEI, IMSI and MSISDN (empty is
// NULL and passes).
func checkFields(imei, imsi, msisdn string) error {
	if imei != "" {
		if err := checkIMEI(imei); err != nil {
			return err
		}
	}
	if imsi != "" {
		if err := checkIMSI(imsi); err != nil {
			return err
		}
	}
	if msisdn != "" {
		if err := checkMSISDN(msisdn); err != nil {
			return err
		}
	}
	return nil
}

// uncleanIMEI reports whether a non-empty IMEI would not normalise to 14
// digits (DIRBS is_unclean_imei: imei_norm !~ '^\d{14}').
func uncleanIMEI(imei string) bool {
	return imei != "" && (len(imei) < 14 || !allDigits(imei[:14]))
}
