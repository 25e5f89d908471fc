package opdata

import (
	"cmp"
	"fmt"
	"path"
	"strings"
	"time"
)

// Date is a civil date, the day a row was seen (local time of the
// network, as DIRBS expects).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads YYYYMMDD. The date must exist (no 20230229) and, as in
// DIRBS's import schema, fall in the years 2000–2099.
func ParseDate(s string) (Date, error) {
	if len(s) != 8 || !allDigits(s) {
		return Date{}, fmt.Errorf("date %q: want YYYYMMDD", s)
	}
	t, err := time.Parse("20060102", s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: not a calendar date", s)
	}
	d := DateOf(t)
	if d.Year < 2000 || d.Year > 2099 {
		return Date{}, fmt.Errorf("date %q: year outside 2000–2099", s)
	}
	return d, nil
}

// String returns the date as YYYYMMDD.
func (d Date) String() string {
	return fmt.Sprintf("%04d%02d%02d", d.Year, int(d.Month), d.Day)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmp.Compare(d.Year, e.Year)
	case d.Month != e.Month:
		return cmp.Compare(int(d.Month), int(e.Month))
	default:
		return cmp.Compare(d.Day, e.Day)
	}
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Name is what an operator data dump's file name says:
// <Operator>_<Start>_<End>, the zip and the CSV inside it sharing it.
type Name struct {
	// Operator is the operator id. It may contain underscores
	// (OperatorName_OptionalRegion in DIRBS's operator data requirements):
	// DIRBS reads the dates from the last two parts only.
	Operator   string
	Start, End Date
}

// Base returns <Operator>_<Start>_<End>, without extension.
func (n Name) Base() string {
	return n.Operator + "_" + n.Start.String() + "_" + n.End.String()
}

// ZipName returns the file name of the package, Base() + ".zip".
func (n Name) ZipName() string { return n.Base() + ".zip" }

// CSVName returns the name of the CSV inside the package, Base() + ".csv".
func (n Name) CSVName() string { return n.Base() + ".csv" }

// ParseName reads a zip (or CSV) file name, with or without folder, as
// <operator>_<YYYYMMDD>_<YYYYMMDD>.<ext>. The extension is dropped
// whatever it is.
func ParseName(file string) (Name, error) {
	base := path.Base(strings.ReplaceAll(file, "\\", "/"))
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	parts := strings.Split(base, "_")
	if len(parts) < 3 {
		return Name{}, fmt.Errorf("%w: %q: want <operator_id>_<YYYYMMDD>_<YYYYMMDD>.zip", ErrName, file)
	}
	n := Name{Operator: strings.Join(parts[:len(parts)-2], "_")}
	var err error
	if n.Start, err = ParseDate(parts[len(parts)-2]); err != nil {
		return Name{}, fmt.Errorf("%w: %q: start %w", ErrName, file, err)
	}
	if n.End, err = ParseDate(parts[len(parts)-1]); err != nil {
		return Name{}, fmt.Errorf("%w: %q: end %w", ErrName, file, err)
	}
	if err := n.check(); err != nil {
		return Name{}, fmt.Errorf("%w: %q: %w", ErrName, file, err)
	}
	return n, nil
}

// check applies the rules DIRBS applies to the name alone, except the
// comparison with today (checkDates).
func (n Name) check() error {
	if n.Operator == "" {
		return fmt.Errorf("empty operator id")
	}
	for _, c := range n.Operator {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("operator id %q: want letters, digits, '_' or '-'", n.Operator)
		}
	}
	if n.Start.IsZero() || n.End.IsZero() {
		return fmt.Errorf("start and end dates are required")
	}
	if n.End.Compare(n.Start) < 0 {
		return fmt.Errorf("start date %s later than end date %s", n.Start, n.End)
	}
	return nil
}

// checkDates applies DIRBS's comparisons with today: neither the start nor
// the end date may be in the future.
func (n Name) checkDates(today Date) error {
	if n.Start.Compare(today) > 0 {
		return fmt.Errorf("%w: %s: start date %s in the future (today %s)", ErrName, n.Base(), n.Start, today)
	}
	if n.End.Compare(today) > 0 {
		return fmt.Errorf("%w: %s: end date %s in the future (today %s)", ErrName, n.Base(), n.End, today)
	}
	return nil
}
