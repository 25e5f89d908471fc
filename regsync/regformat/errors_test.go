package regformat

import (
	"errors"
	"strings"
	"testing"
)

// TestParseRejectsFile covers the file-level errors (case 19 and more).
func TestParseRejectsFile(t *testing.T) {
	files := []struct {
		file string
		list List
		want error
	}{
		{"barred_list_missing_header.csv", Blacklist, ErrHeader},
		{"barred_list_missing_header.csv", Stolen, ErrHeader},
		{"barred_tac_list_missing_header.csv", BarredTAC, ErrHeader},
		{"pairing_list_empty_file_noheaders.csv", Exceptions, ErrHeader}, // 0 bytes
		{"pairing_list_missing_imsi_column.csv", Exceptions, ErrHeader},
		{"barred_list_incorrectfiletype.txt", Blacklist, ErrFormat}, // a zip
		{"operator1_pipedelimited_20160701_20160731.csv", Exceptions, ErrHeader},
		{"operator1_pipedelimited_20160701_20160731.csv", Blacklist, ErrHeader},
	}
	for _, tt := range files {
		t.Run(tt.file+"/"+string(tt.list), func(t *testing.T) {
			n := 0
			st, err := Parse(strings.NewReader(sample(t, tt.file)), FileInfo{List: tt.list}, Options{},
				func(Record) error { n++; return nil })
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %+v, %v; want %v", st, err, tt.want)
			}
			if n != 0 {
				t.Errorf("%d records emitted", n)
			}
			t.Logf("%v", err)
		})
	}

	synthetic := []struct {
		name string
		fi   FileInfo
		body string
		want error
		msg  string
	}{
		{"empty", FileInfo{List: Blacklist}, "", ErrHeader, "empty file: header required"},
		{"bom only", FileInfo{List: Blacklist}, "\ufeff", ErrHeader, "empty file"},
		{"blank lines", FileInfo{List: Blacklist}, "\r\n\n\r\n", ErrHeader, "empty file"},
		{"no required column", FileInfo{List: Blacklist}, "foo,bar\n1,2\n", ErrHeader, "no required column"},
		{"notifications missing reasons", FileInfo{List: Notifications}, "imei,imsi,msisdn,block_date\n", ErrHeader, "missing required column reasons"},
		{"ranges missing to", FileInfo{List: Ranges}, "from,reason\n", ErrHeader, "missing required column to"},
		{"duplicate column", FileInfo{List: Blacklist}, "imei,IMEI\n", ErrHeader, "duplicate column imei"},
		{"duplicate alias", FileInfo{List: Ranges}, "from,start,to\n", ErrHeader, "duplicate column from"},
		{"semicolon", FileInfo{List: Blacklist}, "imei;block_date\n12345678901234;20200101\n", ErrHeader, "semicolon-delimited"},
		{"tab", FileInfo{List: Exceptions}, "imei\timsi\n", ErrHeader, "tab-delimited"},
		{"gsma tac db", FileInfo{List: BarredTAC}, "TAC|Marketing Name|Internal Model Name|Manufacturer|Bands\n", ErrHeader, "pipe-delimited"},
		{"legacy delta without change_type", FileInfo{List: Exceptions, Delta: true}, "imei,imsi\n", ErrHeader, "change_type"},
		{"lsds delta without change_type", FileInfo{List: Stolen, Delta: true}, "imei,reporting_date,status\n", ErrHeader, "change_type"},
		{"header quote error", FileInfo{List: Blacklist}, "im\"ei\n", ErrHeader, "unreadable header"},
		{"zip", FileInfo{List: Blacklist}, "PK\x03\x04\x14\x00", ErrFormat, "zip archive"},
		{"empty zip", FileInfo{List: Blacklist}, "PK\x05\x06" + strings.Repeat("\x00", 18), ErrFormat, "zip archive"},
		{"gzip", FileInfo{List: Blacklist}, "\x1f\x8b\x08\x00", ErrFormat, "gzip"},
		{"utf-16", FileInfo{List: Blacklist}, "\xff\xfei\x00m\x00e\x00i\x00", ErrFormat, "utf-16"},
		{"nul in header", FileInfo{List: Blacklist}, "imei\x00\n", ErrFormat, "nul byte"},
		{"nul in data", FileInfo{List: Blacklist}, "imei\n12345678901234\n1234\x005678901234\n", ErrFormat, "nul byte"},
		{"latin-1 header", FileInfo{List: Blacklist}, "imei,raison_\xe9\n", ErrFormat, "not utf-8"},
		{"quote error across lines", FileInfo{List: Blacklist}, "imei,reasons\n12345678901234,\"a\nb\"x\n12345678901235,c\n", ErrFormat, "quoted field from line 2 to line 3"},
		{"unterminated quote to eof", FileInfo{List: Blacklist}, "imei,reasons\n12345678901234,\"stolen\n12345678901235,c\n12345678901236,d\n", ErrFormat, "quoted field from line 2"},
	}
	for _, tt := range synthetic {
		t.Run(tt.name, func(t *testing.T) {
			recs, st, err := collect(t, tt.body, tt.fi, Options{})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Parse = %+v, %v; want %v containing %q", st, err, tt.want, tt.msg)
			}
			_ = recs
		})
	}
}

// TestParseLongRow checks that a row without line breaks cannot grow past
// MaxRowBytes.
func TestParseLongRow(t *testing.T) {
	for _, body := range []string{
		"imei,reasons\n12345678901234,a\n12345678901235," + strings.Repeat("x", 300_000),
		"imei,reasons\n12345678901234,\"" + strings.Repeat("stolen\n", 50_000),
		strings.Repeat("i", 300_000),
	} {
		_, st, err := collect(t, body, FileInfo{List: Blacklist}, Options{MaxRowBytes: 100_000})
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "longer than 100000 bytes") {
			t.Errorf("Parse = %+v, %v; want ErrFormat for a long row", st, err)
		}
	}
	// Under the limit, a long reason is fine.
	body := "imei,reasons\n12345678901234," + strings.Repeat("x", 50_000) + "\n"
	if _, st, err := collect(t, body, FileInfo{List: Blacklist}, Options{MaxRowBytes: 100_000}); err != nil || st.Good != 1 {
		t.Errorf("Parse = %+v, %v", st, err)
	}
}

func TestParseBadRowLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("imei,reasons\n")
	for i := range 10 {
		b.WriteString("bad" + strings.Repeat("x", i) + "," + strings.Repeat("é", 150) + "\n")
	}
	b.WriteString("12345678901234,ok\n")
	for _, tt := range []struct{ max, keep int }{{0, 10}, {3, 3}, {-1, 0}} {
		_, st, err := collect(t, b.String(), FileInfo{List: Blacklist}, Options{MaxBadRows: tt.max})
		if err != nil || st.Bad != 10 || st.Good != 1 || st.Rows != 11 || len(st.BadRows) != tt.keep {
			t.Fatalf("max %d: %+v, %v", tt.max, st, err)
		}
		for _, br := range st.BadRows {
			// 200 bytes, cut at a rune boundary: "badx…," then 2-byte runes.
			if len(br.Raw) > 200 || len(br.Raw) < 199 || !strings.HasPrefix(br.Raw, "bad") || !strings.HasSuffix(br.Raw, "é") {
				t.Errorf("raw %d bytes %q", len(br.Raw), br.Raw)
			}
		}
	}
}

func TestParseEmitError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	st, err := Parse(strings.NewReader("imei\n12345678901234\n12345678901235\n12345678901236\n"),
		FileInfo{List: Blacklist}, Options{}, func(Record) error {
			n++
			if n == 2 {
				return stop
			}
			return nil
		})
	if err != stop || n != 2 || st.Good != 2 {
		t.Fatalf("Parse = %+v, %v after %d records; want the emit error as is", st, err, n)
	}
}

func TestParseNilEmitAndBadInfo(t *testing.T) {
	st, err := Parse(strings.NewReader("imei\n12345678901234\n"), FileInfo{List: Blacklist}, Options{}, nil)
	if err != nil || st.Good != 1 {
		t.Fatalf("nil emit: %+v, %v", st, err)
	}
	if _, err := Parse(strings.NewReader("imei\n"), FileInfo{List: "golden"}, Options{}, nil); err == nil {
		t.Error("unknown list accepted")
	}
	if _, err := Parse(strings.NewReader("imei\n"), FileInfo{List: Blacklist, DeltaOp: 9}, Options{}, nil); err == nil {
		t.Error("invalid delta op accepted")
	}
}

// errReader fails after its data.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("zip: checksum error")
	for _, data := range []string{"", "imei\n", "imei\n12345678901234\n1234"} {
		_, err := Parse(&errReader{data, boom}, FileInfo{List: Blacklist}, Options{}, nil)
		if !errors.Is(err, boom) || errors.Is(err, ErrFormat) || errors.Is(err, ErrHeader) {
			t.Errorf("%q: Parse error %v, want the read error wrapped", data, err)
		}
	}
}
