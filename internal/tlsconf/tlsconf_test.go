package tlsconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/internal/testenv/certtest"
)

func TestCertPool(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	if _, err := CertPool(ca.CertFile); err != nil {
		t.Fatal(err)
	}
	_, key := ca.Client(t, "x")
	if _, err := CertPool(key); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a key as a CA file: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.pem")
	if _, err := CertPool(missing); !os.IsNotExist(err) {
		t.Fatalf("a missing file: %v", err)
	}
}
