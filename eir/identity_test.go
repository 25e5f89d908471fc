package eir

import (
	"errors"
	"testing"
)

// TestParseIdentity covers the IMEI forms of TS 23.003 §6.2 and the S13 edge
// cases of the spec sheet (§4 rows 1-5): the key is always TAC+SNR and the
// 15th digit is never checked.
func TestParseIdentity(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    IMEI
		digit15 int8
		svn     int8
		wantErr error
	}{
		{"14 digits", "35209900176148", 35209900176148, -1, -1, nil},
		{"15 digits valid check digit", "352099001761481", 35209900176148, 1, -1, nil},
		{"15 digits spare digit 0", "352099001761480", 35209900176148, 0, -1, nil},
		{"15 digits failing luhn", "352099001761489", 35209900176148, 9, -1, nil},
		{"16 digit imeisv", "3520990017614802", 35209900176148, -1, 2, nil},
		{"imeisv svn 99", "3520990017614899", 35209900176148, -1, 99, nil},
		{"leading zeros kept", "00100100123456", 100100123456, -1, -1, nil},
		{"all zeros", "00000000000000", 0, -1, -1, nil},
		{"13 digits", "3520990017614", 0, -1, -1, ErrInvalidIMEI},
		{"17 digits", "35209900176148000", 0, -1, -1, ErrInvalidIMEI},
		{"empty", "", 0, -1, -1, ErrInvalidIMEI},
		{"letter", "3520990017614A", 0, -1, -1, ErrInvalidIMEI},
		{"hex digit f", "35120030203334f", 0, -1, -1, ErrInvalidIMEI},
		{"pound sign", "52003020863612#", 0, -1, -1, ErrInvalidIMEI},
		{"leading space", " 35209900176148", 0, -1, -1, ErrInvalidIMEI},
		{"invalid utf-8", "352099001761\xff\xfe", 0, -1, -1, ErrInvalidIMEI},
		{"pei prefix", "imei-352099001761481", 0, -1, -1, ErrInvalidIMEI},
		{"full-width digits", "３５２０９９００１７６１４８", 0, -1, -1, ErrInvalidIMEI},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := ParseIdentity(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if id.IMEI != tc.want || id.Digit15 != tc.digit15 || id.SVN != tc.svn {
				t.Fatalf("got %+v, want imei %d digit15 %d svn %d", id, tc.want, tc.digit15, tc.svn)
			}
		})
	}
}

func TestParseIMEIListEntries(t *testing.T) {
	// REGISTRY.md §5.4 case 2: every form of one device keys the same.
	for _, in := range []string{"862222222222264", "862222222222260", "8622222222222601", " 86222222222226 "} {
		v, err := ParseIMEI(in)
		if err != nil || v != 86222222222226 {
			t.Errorf("%q: %v %v", in, v, err)
		}
	}
}

func TestCheckDigit(t *testing.T) {
	// TS 23.003 Annex B.3 and the spec sheet's vectors.
	for imei, want := range map[IMEI]uint8{26053179311383: 7, 35209900176148: 1, 49015420323751: 8} {
		if got := imei.CheckDigit(); got != want {
			t.Errorf("%s: check digit %d, want %d", imei, got, want)
		}
	}
}

func TestStrings(t *testing.T) {
	if s := IMEI(100100123456).String(); s != "00100100123456" {
		t.Errorf("IMEI string %q", s)
	}
	if s := IMEI(100100123456).TAC().String(); s != "00100100" {
		t.Errorf("TAC string %q", s)
	}
}

func TestParseTAC(t *testing.T) {
	if v, err := ParseTAC("00100100"); err != nil || v != 100100 {
		t.Fatalf("%v %v", v, err)
	}
	for _, bad := range []string{"1001001", "123456789", "3520990A", ""} {
		if _, err := ParseTAC(bad); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseIMSI(t *testing.T) {
	for _, ok := range []string{"00101", "001010123456789", "310150123456789"} {
		if _, err := ParseIMSI(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0010", "0010101234567890", "imsi-00101", "00101a"} {
		if _, err := ParseIMSI(bad); !errors.Is(err, ErrInvalidIMSI) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"35209900176148", "352099001761481", "3520990017614899", "", "abc", "35209900176148\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidIMEI) {
				t.Fatalf("error %v does not wrap ErrInvalidIMEI", err)
			}
			return
		}
		if len(s) < 14 || len(s) > 16 {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
		if id.IMEI.String() != s[:14] {
			t.Fatalf("key %s is not the first 14 digits of %q", id.IMEI, s)
		}
		if id.IMEI > MaxIMEI {
			t.Fatalf("key out of range")
		}
	})
}

func BenchmarkParseIdentity(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIdentity("352099001761481"); err != nil {
			b.Fatal(err)
		}
	}
}
