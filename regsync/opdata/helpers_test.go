package opdata

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests run on 7 December 2026, exporting 1–6 December.
var (
	today    = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	testName = Name{Operator: "operator1", Start: Date{2026, 12, 1}, End: Date{2026, 12, 6}}
)

// testOpts has the operator's networks and the region's country code, so
// that every check runs.
func testOpts() Options {
	return Options{
		Now:          func() time.Time { return today },
		Networks:     []Network{{MCC: "111", MNC: "01"}},
		CountryCodes: []string{"22"},
	}
}

// goodRow is a row that fails no check.
func goodRow(i int) Row {
	return Row{
		Date:   Date{2026, 12, 1 + i%6},
		IMEI:   fmt.Sprintf("35%012d", i),
		IMSI:   fmt.Sprintf("11101%010d", i),
		MSISDN: fmt.Sprintf("22%09d", i),
		RAT:    []string{"006"},
	}
}

func goodRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = goodRow(i)
	}
	return rows
}

// csvOf renders rows the way an independent producer would (LF or CRLF).
func csvOf(rows []Row, eol string) string {
	var b strings.Builder
	b.WriteString("date,imei,imsi,msisdn,rat" + eol)
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s%s", r.Date, r.IMEI, r.IMSI, r.MSISDN, strings.Join(r.RAT, "|"), eol)
	}
	return b.String()
}

type member struct{ name, body string }

// zipOf builds a zip of the members, stored uncompressed.
func zipOf(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parseCSVText parses body as the one member of testName's zip.
func parseCSVText(t testing.TB, body string, opts Options) ([]Row, Report, error) {
	t.Helper()
	z := zipOf(t, member{testName.CSVName(), body})
	var rows []Row
	_, rep, err := ParseZip(bytes.NewReader(z), int64(len(z)), testName.ZipName(), opts, func(r Row) error {
		rows = append(rows, r)
		return nil
	})
	return rows, rep, err
}

// failed returns the names of the failed checks in err.
func failed(err error) []string {
	var out []string
	var j interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &j) {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ce *CheckError
		if errors.As(e, &ce) {
			out = append(out, ce.Check.Name)
		}
	}
	slices.Sort(out)
	return out
}

func check(t testing.TB, rep Report, name string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep)
	return Check{}
}
