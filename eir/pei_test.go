package eir

import (
	"errors"
	"testing"
)

func TestParsePEI(t *testing.T) {
	tests := []struct {
		in   string
		kind PEIKind
		imei IMEI
		ok   bool
	}{
		{"imei-352099001761481", PEIIMEI, 35209900176148, true},
		{"imei-352099001761480", PEIIMEI, 35209900176148, true}, // spare digit
		{"imei-352099001761489", PEIIMEI, 35209900176148, true}, // failing Luhn: never rejected
		{"imeisv-3520990017614899", PEIIMEISV, 35209900176148, true},
		{"imei-012345678901234", PEIIMEI, 1234567890123, true},
		{"mac-00-1A-2b-3c-4d-5e", PEIMAC, 0, true},
		{"mac-00-1a-2b-3c-4d-5e-untrusted", PEIMAC, 0, true},
		{"eui-00-1a-2b-3c-4d-5e-6f-70", PEIEUI, 0, true},
		{"imei-35209900176148", 0, 0, false},   // 14 digits
		{"imei-3520990017614811", 0, 0, false}, // 16 digits
		{"imei-35209900176148x", 0, 0, false},
		{"imei-123", 0, 0, false},
		{"IMEI-352099001761481", 0, 0, false}, // prefixes are lower case
		{"imeisv-352099001761481", 0, 0, false},
		{"352099001761481", 0, 0, false}, // no type prefix
		{"mac-00-1a-2b-3c-4d", 0, 0, false},
		{"mac-00:1a:2b:3c:4d:5e", 0, 0, false},
		{"mac-00-1a-2b-3c-4d-5e-trusted", 0, 0, false},
		{"eui-00-1a-2b-3c-4d-5e-6f", 0, 0, false},
		{"eui-00-1a-2b-3c-4d-5e-6f-7g", 0, 0, false},
		{"", 0, 0, false},
		{"imei-", 0, 0, false},
	}
	for _, tc := range tests {
		p, err := ParsePEI(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidPEI) {
				t.Errorf("%q: %v does not wrap ErrInvalidPEI", tc.in, err)
			}
			continue
		}
		if p.Kind != tc.kind || p.IMEI != tc.imei {
			t.Errorf("%q: %+v, want kind %d imei %d", tc.in, p, tc.kind, tc.imei)
		}
	}
}

func TestParseSUPIAndGPSI(t *testing.T) {
	for in, want := range map[string]IMSI{"imsi-001010000000001": "001010000000001", "imsi-00101": "00101", "nai-user@realm": "", "gci-x": "", "gli-y": ""} {
		if got, err := ParseSUPI(in); err != nil || got != want {
			t.Errorf("supi %q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"imsi-1234", "imsi-0010100000000012", "imsi-00101x", "IMSI-00101", "nai-", "001010000000001", ""} {
		if _, err := ParseSUPI(in); err == nil {
			t.Errorf("supi %q accepted", in)
		}
	}
	for in, want := range map[string]bool{"msisdn-4915123456789": true, "msisdn-1234": false, "msisdn-12345a": false,
		"extid-user@example.org": true, "extid-@example.org": false, "extid-user@": false, "extid-a@b@c": false, "4915123456789": false, "": false} {
		if ValidGPSI(in) != want {
			t.Errorf("gpsi %q: %v, want %v", in, !want, want)
		}
	}
}
