package redact

import (
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

func TestIMEIHidesSNR(t *testing.T) {
	r := New([]byte("k"))
	f := r.IMEI(eir.IMEI(35209900176148))
	if !strings.HasPrefix(f.String, "35209900-") || strings.Contains(f.String, "176148") {
		t.Fatalf("imei field %q: want TAC and hash only", f.String)
	}
	if g := New([]byte("k")).IMEI(eir.IMEI(35209900176148)); g.String != f.String {
		t.Fatalf("same key gave %q and %q", f.String, g.String)
	}
	if g := New([]byte("other")).IMEI(eir.IMEI(35209900176148)); g.String == f.String {
		t.Fatalf("different keys gave the same hash %q", f.String)
	}
}

func TestIMSIHidesMSIN(t *testing.T) {
	f := New(nil).IMSI("001010123456789")
	if !strings.HasPrefix(f.String, "00101-") || strings.Contains(f.String, "0123456789") {
		t.Fatalf("imsi field %q: want MCC+MNC and hash only", f.String)
	}
}
