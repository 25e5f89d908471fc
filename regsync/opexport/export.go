package opexport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/eir/sighting"
	"github.com/eir-sidecar/eir/regsync/opdata"
)

// RAT codes (DIRBS OperatorImportSchema_v2).
const (
	RATEUTRAN = "006"
	// OmitN5G as Options.N5GRAT leaves out the pairs seen only through
	// N5g-eir.
	OmitN5G = "omit"
)

// Source is what the export reads: the pairs seen on a day
// (sighting.Store).
type Source interface {
	Day(ctx context.Context, d sighting.Day, fn func(sighting.Pair) error) error
}

// Options configures an Exporter.
type Options struct {
	// Operator is the operator id of the file name (DIRBS operator_id).
	Operator string
	// Networks are the operator's home MCC-MNC pairs, for the importer's
	// out-of-region and non-home-network checks (empty: skipped).
	Networks []opdata.Network
	// CountryCodes are the region's E.164 country codes, for the
	// out-of-region MSISDN check (empty: skipped).
	CountryCodes []string
	// MSISDNFile is an optional CSV "imsi,msisdn" giving the MSISDN of
	// pairs that carry none; read at every export.
	MSISDNFile string
	// N5GRAT is the RAT code of pairs seen through N5g-eir: a DIRBS code
	// (default RATEUTRAN, see the package documentation) or OmitN5G.
	N5GRAT string
	// DayOffset is the sighting store's zone (sighting.Options.DayOffset):
	// dates are civil dates in UTC+DayOffset.
	DayOffset time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Validate reports every invalid option.
func (o Options) Validate() error {
	var errs []error
	if o.Operator == "" {
		errs = append(errs, errors.New("operator_id: required"))
	} else if _, err := opdata.ParseName(o.Operator + "_20260101_20260101.zip"); err != nil {
		errs = append(errs, fmt.Errorf("operator_id: %q: want letters, digits, '_' and '-'", o.Operator))
	}
	if o.N5GRAT != "" && o.N5GRAT != OmitN5G && !validRAT(o.N5GRAT) {
		errs = append(errs, fmt.Errorf("n5g_rat: %q: want a DIRBS RAT code (001-007, 101-105) or %q", o.N5GRAT, OmitN5G))
	}
	if o.DayOffset < -14*time.Hour || o.DayOffset > 14*time.Hour {
		errs = append(errs, fmt.Errorf("day_offset: %v: want within ±14h", o.DayOffset))
	}
	return errors.Join(errs...)
}

func validRAT(code string) bool {
	return len(code) == 3 && (code >= "001" && code <= "007" || code >= "101" && code <= "105")
}

// Exporter writes the operator data dump of a day.
type Exporter struct {
	src  Source
	o    Options
	zone *time.Location
}

// New returns an Exporter reading src.
func New(src Source, o Options) (*Exporter, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("opexport: %w", err)
	}
	if o.N5GRAT == "" {
		o.N5GRAT = RATEUTRAN
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Exporter{src: src, o: o, zone: time.FixedZone("", int(o.DayOffset/time.Second))}, nil
}

// Today is the current date in the store's zone.
func (e *Exporter) Today() opdata.Date { return opdata.DateOf(e.o.Now().In(e.zone)) }

// Name is the file name of date's dump.
func (e *Exporter) Name(date opdata.Date) opdata.Name {
	return opdata.Name{Operator: e.o.Operator, Start: date, End: date}
}

// DayOf is the store's day of a civil date: the store counts days of
// UTC+offset since 1970-01-01, so a civil date's day is its UTC midnight's.
func DayOf(d opdata.Date) sighting.Day {
	return sighting.Day(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Rows returns the rows of date, unsorted and not yet merged.
func (e *Exporter) Rows(ctx context.Context, date opdata.Date) ([]opdata.Row, error) {
	msisdns, err := readMSISDNs(e.o.MSISDNFile)
	if err != nil {
		return nil, fmt.Errorf("opexport: %w", err)
	}
	day := DayOf(date)
	var rows []opdata.Row
	err = e.src.Day(ctx, day, func(p sighting.Pair) error {
		if !p.AdmittedOn(day) {
			return nil // blacklisted all day: DIRBS wants it left out
		}
		rat := e.ratOf(p.Interfaces)
		if rat == nil {
			return nil
		}
		msisdn := p.MSISDN
		if msisdn == "" {
			msisdn = msisdns[string(p.IMSI)]
		}
		rows = append(rows, opdata.Row{Date: date, IMEI: p.IMEI.String(), IMSI: string(p.IMSI), MSISDN: msisdn, RAT: rat})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opexport: %w", err)
	}
	return rows, nil
}

// ratOf is the RAT of a pair's interfaces; nil leaves the pair out.
func (e *Exporter) ratOf(ifs sighting.Interfaces) []string {
	var rat []string
	if ifs.Has(sighting.S13) {
		rat = append(rat, RATEUTRAN)
	}
	if ifs.Has(sighting.N5G) && e.o.N5GRAT != OmitN5G && !slices.Contains(rat, e.o.N5GRAT) {
		rat = append(rat, e.o.N5GRAT)
	}
	return rat
}

// Export writes date's dump into dir (opdata.Write: <name>.zip and
// <name>.zip.sha256, checked as DIRBS's importer checks before anything
// is written). date must not be after today.
func (e *Exporter) Export(ctx context.Context, dir string, date opdata.Date) (opdata.Result, error) {
	rows, err := e.Rows(ctx, date)
	if err != nil {
		return opdata.Result{}, err
	}
	opts := opdata.Options{Networks: e.o.Networks, CountryCodes: e.o.CountryCodes,
		Now: func() time.Time { return e.o.Now().In(e.zone) }}
	res, err := opdata.Write(dir, e.Name(date), slices.Values(rows), opts)
	if err != nil {
		return res, fmt.Errorf("opexport: %s: %w", date, err)
	}
	return res, nil
}

// ParseNetworks reads MCC-MNC pairs ("001-01", "31026" is refused: the
// MNC length is ambiguous without the dash).
func ParseNetworks(list []string) ([]opdata.Network, error) {
	var out []opdata.Network
	var errs []error
	for _, s := range list {
		mcc, mnc, ok := strings.Cut(s, "-")
		if !ok || len(mcc) != 3 || len(mnc) < 2 || len(mnc) > 3 || !allDigits(mcc) || !allDigits(mnc) {
			errs = append(errs, fmt.Errorf("%q: want MCC-MNC (001-01, 310-260)", s))
			continue
		}
		out = append(out, opdata.Network{MCC: mcc, MNC: mnc})
	}
	return out, errors.Join(errs...)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// RefusedError is an export that cannot be made as asked: a date that is
// not YYYYMMDD or is in the future, or rows that fail the registry's
// checks (opdata.ErrCheck, ErrSyntax, ErrName).
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused reports that the caller can fix it (admin maps it to 422).
func (e *RefusedError) Refused() bool { return true }

// ExportFile is Export of a date given as YYYYMMDD, returning the zip's
// path and hex SHA-256 (admin.OperatorData); a date or a file refused is
// a *RefusedError.
func (e *Exporter) ExportFile(ctx context.Context, dir, date string) (path, sum string, err error) {
	d, err := opdata.ParseDate(date)
	if err != nil {
		return "", "", &RefusedError{fmt.Errorf("opexport: %w", err)}
	}
	if d.Compare(e.Today()) > 0 {
		return "", "", &RefusedError{fmt.Errorf("opexport: date %s is after today (%s)", d, e.Today())}
	}
	res, err := e.Export(ctx, dir, d)
	if errors.Is(err, opdata.ErrCheck) || errors.Is(err, opdata.ErrSyntax) || errors.Is(err, opdata.ErrName) {
		return "", "", &RefusedError{err}
	}
	return res.Path, res.SHA256, err
}
