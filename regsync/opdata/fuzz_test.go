package opdata

import (
	"bytes"
	"errors"
	"testing"
)

var fuzzErrs = []error{ErrName, ErrArchive, ErrHeader, ErrSyntax, ErrCheck}

// fuzzCheck parses data as a zip and checks the invariants: no panic,
// every error is one of the package's, emitted rows are within the syntax.
func fuzzCheck(t *testing.T, data []byte) {
	opts := testOpts()
	opts.MaxRowBytes = 512
	opts.AnyColumnOrder = len(data)%2 == 0
	n := 0
	_, rep, err := ParseZip(bytes.NewReader(data), int64(len(data)), testName.ZipName(), opts, func(r Row) error {
		n++
		if r.Date.IsZero() || checkFields(r.IMEI, r.IMSI, r.MSISDN) != nil {
			t.Fatalf("emitted a bad row %+v", r)
		}
		if _, err := ratOf(r.RAT); err != nil {
			t.Fatalf("emitted a bad rat %+v", r)
		}
		return nil
	})
	if err != nil {
		known := false
		for _, e := range fuzzErrs {
			known = known || errors.Is(err, e)
		}
		if !known {
			t.Fatalf("error of no known kind: %v", err)
		}
		return
	}
	if rep.Rows != n {
		t.Fatalf("report rows %d, emitted %d", rep.Rows, n)
	}
}

// FuzzParseCSV fuzzes the CSV inside a well-formed package.
func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		hdr + goodLine + "\r\n",
		"RAT,imsi,IMEI,msisdn,date\n001,111018001111111,35120030203334,,20261201\n",
		hdr + `20261201,"35120030203334",111018001111111,"",""` + "\r\n",
		hdr + `20261201,"3512` + "\r\n",
		hdr + "20261201,,,,\r\n20261207,1,2,3,4\r\n",
		"\ufeff" + hdr,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCheck(t, zipOf(t, member{testName.CSVName(), string(body)}))
	})
}

// FuzzParseZip fuzzes the package bytes.
func FuzzParseZip(f *testing.F) {
	good := zipOf(f, member{testName.CSVName(), hdr + goodLine + "\r\n"})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(zipOf(f, member{testName.CSVName(), hdr}, member{"x.csv", hdr}))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
	})
}
