package opdata

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors. Each is wrapped with the detail (file, line, field, figures).
var (
	// ErrName: a file name that is not <operator_id>_<YYYYMMDD>_<YYYYMMDD>,
	// a start after the end, a date in the future, or (Parse) another
	// operator than Options.Operator.
	ErrName = errors.New("opdata: invalid file name")
	// ErrArchive: not a zip, a zip that does not hold exactly one file, a
	// member whose name is not the zip's with .csv, or a member that cannot
	// be read to its end (corrupt data, wrong CRC).
	ErrArchive = errors.New("opdata: invalid package")
	// ErrHeader: the header is not date,imei,imsi,msisdn,rat (any ASCII
	// case; any order with Options.AnyColumnOrder), or a byte order mark.
	ErrHeader = errors.New("opdata: invalid header")
	// ErrSyntax: a row that does not parse (field count, quoting, a field
	// breaking its rule, a row over Options.MaxRowBytes). DIRBS's
	// pre-validator rejects the whole file on one such row, and so do we.
	ErrSyntax = errors.New("opdata: invalid row")
	// ErrCheck: a ratio or consistency check DIRBS would fail the import
	// on; the error is (or joins) *CheckError values.
	ErrCheck = errors.New("opdata: import check failed")
	// ErrOptions: invalid Options (a malformed MCC, MNC or country code).
	ErrOptions = errors.New("opdata: invalid options")
)

// Thresholds are the largest ratios (count of rows / rows in the file)
// that pass, compared as DIRBS does: ratio <= threshold. Zero means the
// DIRBS default (etc/config.yml operator_threshold); a negative value
// turns the check off (as DIRBS's region.import_msisdn_data: false does
// for the MSISDN checks). To allow no row at all use a tiny positive
// value such as 1e-12.
type Thresholds struct {
	NullIMEI, NullIMSI, NullMSISDN, NullRAT float64 // default 0.05 each
	NullAny                                 float64 // any of the four NULL; default 0.05
	UncleanIMEI                             float64 // default 0.05
	OutOfRegionIMSI                         float64 // default 0.1
	OutOfRegionMSISDN                       float64 // default 0.1
	OutOfRegionAny                          float64 // IMSI or MSISDN; default 0.1
	NonHomeNetwork                          float64 // default 0.2
}

// DIRBS defaults (etc/config.yml, operator_threshold).
const (
	DefaultNull           = 0.05
	DefaultUnclean        = 0.05
	DefaultOutOfRegion    = 0.1
	DefaultNonHomeNetwork = 0.2
)

// Network is one of the operator's home networks (a DIRBS mcc_mnc_pair).
type Network struct {
	MCC string // 3 digits
	MNC string // 2 or 3 digits
}

// Options tune the checks of Write and Parse.
type Options struct {
	Thresholds Thresholds
	// Networks are the operator's MCC-MNC pairs. The out-of-region IMSI
	// check counts IMSIs that start with none of their MCCs, the
	// non-home-network check IMSIs that start with none of their MCC+MNC
	// (both as DIRBS, which takes the MCCs from the operator's own pairs).
	// Empty: both checks are skipped, and the Report says so.
	Networks []Network
	// CountryCodes are the region's E.164 country codes (DIRBS
	// region.country_codes) for the out-of-region MSISDN check, and with
	// Networks the combined out-of-region check. Empty: skipped.
	CountryCodes []string
	// SkipLeadingZero turns off the leading-zero heuristic.
	SkipLeadingZero bool
	// AnyColumnOrder lets Parse accept the five columns in any order.
	// DIRBS itself loads them by position, so a file it imports has them
	// in the order of Header (which Write always uses).
	AnyColumnOrder bool
	// Operator, when set, is the operator id Parse expects in the name.
	Operator string
	// Now gives today's date for the "not in the future" rules (default
	// time.Now; the date is taken in its location).
	Now func() time.Time
	// MaxRowBytes bounds a row read by Parse, and so the memory an
	// unterminated quote can take (default 64 KiB).
	MaxRowBytes int
}

// DefaultMaxRowBytes is Options.MaxRowBytes's default.
const DefaultMaxRowBytes = 64 << 10

func (o Options) withDefaults() (Options, error) {
	t := &o.Thresholds
	for _, p := range []*float64{&t.NullIMEI, &t.NullIMSI, &t.NullMSISDN, &t.NullRAT, &t.NullAny} {
		def(p, DefaultNull)
	}
	def(&t.UncleanIMEI, DefaultUnclean)
	for _, p := range []*float64{&t.OutOfRegionIMSI, &t.OutOfRegionMSISDN, &t.OutOfRegionAny} {
		def(p, DefaultOutOfRegion)
	}
	def(&t.NonHomeNetwork, DefaultNonHomeNetwork)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxRowBytes <= 0 {
		o.MaxRowBytes = DefaultMaxRowBytes
	}
	var errs []error
	for _, n := range o.Networks {
		if len(n.MCC) != 3 || !allDigits(n.MCC) || len(n.MNC) < 2 || len(n.MNC) > 3 || !allDigits(n.MNC) {
			errs = append(errs, fmt.Errorf("%w: network %q-%q: want a 3-digit MCC and a 2–3 digit MNC", ErrOptions, n.MCC, n.MNC))
		}
	}
	for _, cc := range o.CountryCodes {
		if len(cc) < 1 || len(cc) > 3 || !allDigits(cc) {
			errs = append(errs, fmt.Errorf("%w: country code %q: want 1–3 digits", ErrOptions, cc))
		}
	}
	return o, errors.Join(errs...)
}

func def(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

// Check is the outcome of one check over a file's rows.
type Check struct {
	Name      string  // "null imei", "unclean imei", "date range", ...
	Count     int     // rows failing the rule
	Rows      int     // rows in the file
	Ratio     float64 // Count / Rows (0 when Rows is 0)
	Threshold float64 // largest passing ratio; for "date range" 0 (none may fail)
	Passed    bool
	// Skipped says why the check was not applied ("" when it was).
	Skipped string
	// Detail adds what Count and Ratio cannot say (the leading-zero
	// heuristic's two counts).
	Detail string
}

// Report lists every check, applied or skipped, in a fixed order.
type Report struct {
	Rows   int
	Checks []Check
}

// Err returns nil when every applied check passed, else the failed
// checks as *CheckError values joined (each wraps ErrCheck).
func (r Report) Err() error {
	var errs []error
	for _, c := range r.Checks {
		if c.Skipped == "" && !c.Passed {
			errs = append(errs, &CheckError{Check: c})
		}
	}
	return errors.Join(errs...)
}

// CheckError is a failed check.
type CheckError struct{ Check Check }

func (e *CheckError) Error() string {
	c := e.Check
	if c.Name == checkLeadingZero {
		return fmt.Sprintf("opdata: %s check failed: %s: leading zeros were probably stripped", c.Name, c.Detail)
	}
	if c.Name == checkDateRange {
		return fmt.Sprintf("opdata: %s check failed: %d of %d rows outside the dates of the file name", c.Name, c.Count, c.Rows)
	}
	return fmt.Sprintf("opdata: %s check failed: %d of %d rows (%.4g%%) above the threshold %.4g%%",
		c.Name, c.Count, c.Rows, 100*c.Ratio, 100*c.Threshold)
}

// Unwrap makes errors.Is(err, ErrCheck) true.
func (e *CheckError) Unwrap() error { return ErrCheck }

// Check names.
const (
	checkDateRange   = "date range"
	checkLeadingZero = "leading zero"
)

// tally counts, row by row, what the checks need, so that a file is read
// once and never held in memory.
type tally struct {
	name Name
	opt  Options

	rows, outside                           int
	nullIMEI, nullIMSI, nullMSISDN, nullRAT int
	nullAny, uncleanIMEI                    int
	oorIMSI, oorMSISDN, oorAny, nonHome     int
	lead0, lead1                            int
}

// add counts one row whose fields have passed the syntax checks.
func (t *tally) add(d Date, imei, imsi, msisdn string, rat ratSet) {
	t.rows++
	if d.Compare(t.name.Start) < 0 || d.Compare(t.name.End) > 0 {
		t.outside++
	}
	t.nullIMEI += b2i(imei == "")
	t.nullIMSI += b2i(imsi == "")
	t.nullMSISDN += b2i(msisdn == "")
	t.nullRAT += b2i(rat == 0)
	// As DIRBS, the combined NULL check leaves out MSISDN and RAT when
	// they are not imported (here: their own check turned off).
	t.nullAny += b2i(imei == "" || imsi == "" ||
		msisdn == "" && t.opt.Thresholds.NullMSISDN >= 0 || rat == 0 && t.opt.Thresholds.NullRAT >= 0)
	t.uncleanIMEI += b2i(uncleanIMEI(imei))
	// NULL never fails a prefix check (DIRBS fails_prefix_check).
	oi := imsi != "" && !hasAnyPrefix(imsi, t.opt.Networks, false)
	om := msisdn != "" && !hasCC(msisdn, t.opt.CountryCodes)
	t.oorIMSI += b2i(oi)
	t.oorMSISDN += b2i(om)
	t.oorAny += b2i(oi || om)
	t.nonHome += b2i(imsi != "" && !hasAnyPrefix(imsi, t.opt.Networks, true))
	if imei != "" {
		t.lead0 += b2i(imei[0] == '0')
		t.lead1 += b2i(imei[0] == '1')
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hasAnyPrefix(imsi string, nets []Network, withMNC bool) bool {
	for _, n := range nets {
		p := n.MCC
		if withMNC {
			p += n.MNC
		}
		if strings.HasPrefix(imsi, p) {
			return true
		}
	}
	return false
}

func hasCC(msisdn string, ccs []string) bool {
	for _, cc := range ccs {
		if strings.HasPrefix(msisdn, cc) {
			return true
		}
	}
	return false
}

// report applies the checks to the counts.
func (t *tally) report() Report {
	th := t.opt.Thresholds
	r := Report{Rows: t.rows}
	r.Checks = append(r.Checks, Check{Name: checkDateRange, Count: t.outside, Rows: t.rows,
		Ratio: t.ratio(t.outside), Passed: t.outside == 0})
	r.Checks = append(r.Checks, t.leadingZero())
	noNets := "no home networks (MCC-MNC) given"
	noCC := "no country codes given"
	for _, c := range []struct {
		name     string
		n        int
		th       float64
		skipWhen string
	}{
		{"null imei", t.nullIMEI, th.NullIMEI, ""},
		{"null imsi", t.nullIMSI, th.NullIMSI, ""},
		{"null msisdn", t.nullMSISDN, th.NullMSISDN, ""},
		{"null rat", t.nullRAT, th.NullRAT, ""},
		{"null any", t.nullAny, th.NullAny, ""},
		{"unclean imei", t.uncleanIMEI, th.UncleanIMEI, ""},
		{"out-of-region imsi", t.oorIMSI, th.OutOfRegionIMSI, when(len(t.opt.Networks) == 0, noNets)},
		{"out-of-region msisdn", t.oorMSISDN, th.OutOfRegionMSISDN, when(len(t.opt.CountryCodes) == 0, noCC)},
		{"out-of-region any", t.oorAny, th.OutOfRegionAny,
			when(len(t.opt.Networks) == 0 || len(t.opt.CountryCodes) == 0, "needs both home networks and country codes")},
		{"non-home-network imsi", t.nonHome, th.NonHomeNetwork, when(len(t.opt.Networks) == 0, noNets)},
	} {
		ck := Check{Name: c.name, Count: c.n, Rows: t.rows, Ratio: t.ratio(c.n), Threshold: c.th, Skipped: c.skipWhen}
		switch {
		case ck.Skipped != "":
		case c.th < 0:
			ck.Skipped = "turned off (negative threshold)"
		case t.rows == 0:
			// DIRBS skips the threshold checks on an empty file.
			ck.Skipped = "no rows"
		default:
			ck.Passed = ck.Ratio <= c.th
		}
		r.Checks = append(r.Checks, ck)
	}
	return r
}

// leadingZero is the first half of DIRBS's _check_for_leading_zeroes: if
// more IMEIs start with 1 than with 0, leading zeros were probably
// stripped (by a spreadsheet) on the way. Its second half compares IMEIs
// starting with 1 against the GSMA TAC database and is not applied.
func (t *tally) leadingZero() Check {
	c := Check{Name: checkLeadingZero, Count: t.lead1, Rows: t.rows, Ratio: t.ratio(t.lead1),
		Detail: fmt.Sprintf("%d IMEIs start with 1, %d with 0", t.lead1, t.lead0)}
	switch {
	case t.opt.SkipLeadingZero:
		c.Skipped = "turned off (SkipLeadingZero)"
	default:
		c.Passed = t.lead1 <= t.lead0
	}
	return c
}

func (t *tally) ratio(n int) float64 {
	if t.rows == 0 {
		return 0
	}
	return float64(n) / float64(t.rows)
}

func when(cond bool, why string) string {
	if cond {
		return why
	}
	return ""
}
