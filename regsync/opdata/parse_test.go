package opdata

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const hdr = "date,imei,imsi,msisdn,rat\r\n"

// A good row, and the row with one field replaced.
const goodLine = "20261201,35120030203334,111018001111111,22300000001,001|006"

func TestParseFields(t *testing.T) {
	cases := []struct {
		name, line string
		wantErr    error
		wantMsg    string
	}{
		{"good", goodLine, nil, ""},
		{"quoted rat", `20261201,35120030203334,111018001111111,22300000001,"001|006"`, nil, ""},
		{"hex check digit", "20261201,35120030203334f,111018001111111,22300000001,001", nil, ""},
		{"16 characters", "20261201,3512003020333401,111018001111111,22300000001,001", nil, ""},
		{"all nullable empty", "20261201,,,,", nil, ""},
		{"14-digit imsi", "20261201,35120030203334,11101800111111,22300000001,105", nil, ""},
		{"date short", "2026120,35120030203334,111018001111111,,001", ErrSyntax, "want YYYYMMDD"},
		{"date dashes", "2026-12-01,35120030203334,111018001111111,,001", ErrSyntax, "want YYYYMMDD"},
		{"date month 13", "20261301,35120030203334,111018001111111,,001", ErrSyntax, "not a calendar date"},
		{"date 29 Feb 2023", "20230229,35120030203334,111018001111111,,001", ErrSyntax, "not a calendar date"},
		{"date 1999", "19991231,35120030203334,111018001111111,,001", ErrSyntax, "2000–2099"},
		{"date missing", ",35120030203334,111018001111111,,001", ErrSyntax, "date: missing"},
		{"imei 13", "20261201,3512003020333,111018001111111,,001", ErrSyntax, "imei: 13 characters"},
		{"imei 17", "20261201,35120030203334000,111018001111111,,001", ErrSyntax, "imei: 17 characters"},
		{"imei letter g", "20261201,3512003020333g,111018001111111,,001", ErrSyntax, "imei: character 14"},
		{"imei space", "20261201, 35120030203334,111018001111111,,001", ErrSyntax, "imei: character 1"},
		{"imsi 13", "20261201,35120030203334,1110180011111,,001", ErrSyntax, "imsi: want 14–15 digits"},
		{"imsi 16", "20261201,35120030203334,1110180011111111,,001", ErrSyntax, "imsi: want 14–15 digits"},
		{"imsi letter", "20261201,35120030203334,11101800111111a,,001", ErrSyntax, "imsi"},
		{"msisdn 16", "20261201,35120030203334,111018001111111,2230000000112345,001", ErrSyntax, "msisdn"},
		{"msisdn plus", "20261201,35120030203334,111018001111111,+22300000001,001", ErrSyntax, "msisdn"},
		{"rat 008", "20261201,35120030203334,111018001111111,,008", ErrSyntax, `"008" is not a code`},
		{"rat 000", "20261201,35120030203334,111018001111111,,000", ErrSyntax, `"000"`},
		{"rat 106", "20261201,35120030203334,111018001111111,,106", ErrSyntax, `"106"`},
		{"rat 1 digit", "20261201,35120030203334,111018001111111,,1", ErrSyntax, `"1"`},
		{"rat trailing pipe", "20261201,35120030203334,111018001111111,,001|", ErrSyntax, `"" is not a code`},
		{"rat comma", `20261201,35120030203334,111018001111111,,"001,006"`, ErrSyntax, `"001,006"`},
		{"4 fields", "20261201,35120030203334,111018001111111,001", ErrSyntax, "wrong number of fields"},
		{"6 fields", goodLine + ",x", ErrSyntax, "wrong number of fields"},
		{"bare quote", `20261201,3512003"0203334,111018001111111,,001`, ErrSyntax, "bare \""},
		{"invalid utf-8", "20261201,3512003020333\xff,111018001111111,,001", ErrSyntax, "imei: character 14"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts()
			opts.Thresholds = Thresholds{NullIMEI: -1, NullIMSI: -1, NullMSISDN: -1, NullRAT: -1, NullAny: -1}
			_, _, err := parseCSVText(t, hdr+tc.line+"\r\n", opts)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
			if !strings.Contains(err.Error(), "line 2") {
				t.Fatalf("err %v does not name line 2", err)
			}
		})
	}
}

func TestParseRowValues(t *testing.T) {
	body := hdr + "20261203,35120030203334F,111018001111111,,006|001|006\n"
	rows, rep, err := parseCSVText(t, body, Options{Now: testOpts().Now, Thresholds: Thresholds{NullMSISDN: -1}})
	if err != nil {
		t.Fatal(err)
	}
	want := Row{Date: Date{2026, 12, 3}, IMEI: "35120030203334F", IMSI: "111018001111111", RAT: []string{"001", "006"}}
	if len(rows) != 1 || rows[0].Date != want.Date || rows[0].IMEI != want.IMEI || rows[0].MSISDN != "" ||
		!slices.Equal(rows[0].RAT, want.RAT) {
		t.Fatalf("rows %+v", rows)
	}
	if c := check(t, rep, "out-of-region imsi"); c.Skipped == "" || !strings.Contains(c.Skipped, "no home networks") {
		t.Fatalf("check %+v, want skipped without networks", c)
	}
	if c := check(t, rep, "null msisdn"); !strings.Contains(c.Skipped, "turned off") {
		t.Fatalf("check %+v", c)
	}
}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name, header string
		wantErr      error
		wantMsg      string
	}{
		{"exact", "date,imei,imsi,msisdn,rat", nil, ""},
		{"upper case", "DATE,Imei,IMSI,msisdn,Rat", nil, ""},
		{"any order and case", "RAT,Msisdn,IMSI,imei,Date", nil, ""},
		{"other order", "imei,date,imsi,msisdn,rat", ErrHeader, `column 1 is "imei", want date,imei,imsi,msisdn,rat`},
		{"missing column", "date,imei,imsi,msisdn,rats", ErrHeader, `column 5 is "rats"`},
		{"missing column any order", "date,imei,imsi,msisdn,rats", ErrHeader, "no column rat"},
		{"duplicate", "date,imei,imsi,imsi,rat", ErrHeader, `column 4 is "imsi"`},
		{"duplicate any order", "date,imei,imsi,imsi,rat", ErrHeader, `column "imsi" twice`},
		{"extra column", "date,imei,imsi,msisdn,rat,x", ErrHeader, "6 columns"},
		{"four columns", "date,imei,imsi,msisdn", ErrHeader, "4 columns"},
		{"spaces", "date, imei,imsi,msisdn,rat", ErrHeader, `column 2 is " imei"`},
		{"unicode fold", "date,imei,im\u017fi,msisdn,rat", ErrHeader, "column 3"},
		{"unicode fold any order", "date,imei,im\u017fi,msisdn,rat", ErrHeader, "no column imsi"},
		{"pipe delimited", "date|imei|imsi|msisdn|rat", ErrHeader, "1 columns"},
		{"byte order mark", "\ufeffdate,imei,imsi,msisdn,rat", ErrHeader, "byte order mark"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The row is in header order for the good cases.
			line := goodLine
			if tc.name == "any order and case" {
				line = "001|006,22300000001,111018001111111,35120030203334,20261201"
			}
			opts := testOpts()
			opts.AnyColumnOrder = strings.HasSuffix(tc.name, "any order") || strings.HasPrefix(tc.name, "any order")
			_, _, err := parseCSVText(t, tc.header+"\r\n"+line+"\r\n", opts)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
	_, _, err := parseCSVText(t, "", testOpts())
	if !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), "empty file") {
		t.Fatalf("empty file: %v", err)
	}
	// A header-only file is valid: no rows, ratio checks skipped.
	_, rep, err := parseCSVText(t, hdr, testOpts())
	if err != nil || rep.Rows != 0 || check(t, rep, "null imei").Skipped != "no rows" {
		t.Fatalf("header only: %v %+v", err, rep)
	}
}

func TestParseArchive(t *testing.T) {
	body := hdr + goodLine + "\r\n"
	good := zipOf(t, member{testName.CSVName(), body})
	corrupt := bytes.Clone(good)
	i := bytes.Index(corrupt, []byte("35120030203334"))
	corrupt[i] = '4' // same syntax, wrong CRC
	cases := []struct {
		name    string
		data    []byte
		wantErr error
		wantMsg string
	}{
		{"not a zip", []byte(body), ErrArchive, "not a readable zip"},
		{"empty", nil, ErrArchive, "not a readable zip"},
		{"truncated", good[:len(good)-30], ErrArchive, "not a readable zip"},
		{"checksum", corrupt, ErrArchive, "checksum"},
		{"two csvs", zipOf(t, member{testName.CSVName(), body}, member{"operator1_20261201_20261205.csv", body}),
			ErrArchive, "2 members, want exactly one"},
		{"no member", zipOf(t), ErrArchive, "0 members"},
		{"name mismatch", zipOf(t, member{"operator2_20261201_20261206.csv", body}), ErrArchive,
			`member "operator2_20261201_20261206.csv", want operator1_20261201_20261206.csv`},
		{"txt member", zipOf(t, member{testName.Base() + ".txt", body}), ErrArchive, "member"},
		{"directory", zipOf(t, member{testName.Base() + ".csv/", ""}), ErrArchive, "member"},
		{"in a folder", zipOf(t, member{"upload/" + testName.CSVName(), body}), nil, ""},
		{"upper-case extension", zipOf(t, member{testName.Base() + ".CSV", body}), ErrArchive, "member"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseZip(bytes.NewReader(tc.data), int64(len(tc.data)), testName.ZipName(), testOpts(), nil)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}

func TestParseName(t *testing.T) {
	z := zipOf(t, member{testName.CSVName(), hdr})
	cases := []struct {
		name, file string
		operator   string
		wantErr    error
		wantMsg    string
	}{
		{"good", "/in/operator1_20261201_20261206.zip", "", nil, ""},
		{"operator with underscores", "Op_North_20261201_20261206.zip", "", ErrArchive, "member"},
		{"no dates", "operator1.zip", "", ErrName, "want <operator_id>_<YYYYMMDD>_<YYYYMMDD>.zip"},
		{"one date", "operator1_20261201.zip", "", ErrName, "want <operator_id>"},
		{"bad end", "operator1_20261201_20261232.zip", "", ErrName, "end date"},
		{"start after end", "operator1_20261206_20261201.zip", "", ErrName, "later than end date"},
		{"start in future", "operator1_20261208_20261209.zip", "", ErrName, "start date 20261208 in the future"},
		{"end in future", "operator1_20261201_20261208.zip", "", ErrName, "end date 20261208 in the future"},
		{"not zip", "operator1_20261201_20261206.csv", "", ErrName, "want a .zip"},
		{"empty operator", "_20261201_20261206.zip", "", ErrName, "empty operator"},
		{"other operator", "operator1_20261201_20261206.zip", "operator2", ErrName, `operator "operator1", want "operator2"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts()
			opts.Operator = tc.operator
			n, _, err := ParseZip(bytes.NewReader(z), int64(len(z)), tc.file, opts, nil)
			if tc.wantErr == nil {
				if err != nil || n != testName {
					t.Fatalf("%+v %v", n, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
	n, err := ParseName("Op_North_20261201_20261206.zip")
	if err != nil || n.Operator != "Op_North" {
		t.Fatalf("%+v %v", n, err)
	}
}

// An unterminated quote cannot read the rest of the file into memory.
func TestParseRowTooLong(t *testing.T) {
	body := hdr + `20261201,"35120030203334` + strings.Repeat("\r\n20261201,35120030203334,111018001111111,,001", 2000)
	opts := testOpts()
	opts.MaxRowBytes = 1024
	_, _, err := parseCSVText(t, body, opts)
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "row too long") {
		t.Fatalf("err %v", err)
	}
}

// LF line ends are read as DIRBS reads them; emit's error stops the parse.
func TestParseLFAndEmitError(t *testing.T) {
	rows := goodRows(20)
	if _, _, err := parseCSVText(t, csvOf(rows, "\n"), testOpts()); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	z := zipOf(t, member{testName.CSVName(), csvOf(rows, "\r\n")})
	_, _, err := ParseZip(bytes.NewReader(z), int64(len(z)), testName.ZipName(), testOpts(), func(Row) error { return stop })
	if err != stop {
		t.Fatalf("err %v, want emit's error as is", err)
	}
	p := filepath.Join(t.TempDir(), testName.ZipName())
	if err := os.WriteFile(p, z, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseFile(p, testOpts(), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseFile(p+".missing", testOpts(), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v", err)
	}
}
