package tlsconf

import (
	"crypto/tls"
	"errors"
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

func TestServer(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	cert, key := ca.Server(t, "eir")
	missing := filepath.Join(t.TempDir(), "none.pem")
	tests := []struct {
		name       string
		f          Files
		auth       tls.ClientAuthType
		wantPart   Part
		wantAuth   tls.ClientAuthType
		wantPool   bool
		wantErrStr string
	}{
		{"certificate only", Files{Cert: cert, Key: key}, tls.RequireAndVerifyClientCert, 0, tls.NoClientCert, false, ""},
		{"client CAs required", Files{Cert: cert, Key: key, CA: ca.CertFile}, tls.RequireAndVerifyClientCert, 0, tls.RequireAndVerifyClientCert, true, ""},
		{"client CAs if given", Files{Cert: cert, Key: key, CA: ca.CertFile}, tls.VerifyClientCertIfGiven, 0, tls.VerifyClientCertIfGiven, true, ""},
		{"missing key", Files{Cert: cert, Key: missing}, 0, PartKeyPair, 0, false, "no such file"},
		{"bad client CA", Files{Cert: cert, Key: key, CA: key}, 0, PartCA, 0, false, "holds no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Server(tc.f, tc.auth)
			if tc.wantPart != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Part != tc.wantPart || !strings.Contains(err.Error(), tc.wantErrStr) {
					t.Fatalf("error %v, want part %d", err, tc.wantPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MinVersion != tls.VersionTLS12 || len(c.Certificates) != 1 || c.ClientAuth != tc.wantAuth || (c.ClientCAs != nil) != tc.wantPool {
				t.Fatalf("%+v", c)
			}
		})
	}
}

func TestClient(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	cert, key := ca.Client(t, "ops")
	missing := filepath.Join(t.TempDir(), "none.pem")
	tests := []struct {
		name       string
		f          Files
		serverName string
		insecure   bool
		wantPart   Part
		wantCerts  int
		wantRoots  bool
	}{
		{"system roots", Files{}, "", false, 0, 0, false},
		{"CA, server name", Files{CA: ca.CertFile}, "redis.example", false, 0, 0, true},
		{"client certificate", Files{CA: ca.CertFile, Cert: cert, Key: key}, "", false, 0, 1, true},
		{"insecure", Files{}, "", true, 0, 0, false},
		{"half a key pair", Files{Cert: cert}, "", false, PartKeyPair, 0, false},
		{"missing CA", Files{CA: missing, Cert: cert, Key: key}, "", false, PartCA, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Client(tc.f, tc.serverName, tc.insecure)
			if tc.wantPart != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Part != tc.wantPart {
					t.Fatalf("error %v, want part %d", err, tc.wantPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MinVersion != tls.VersionTLS12 || len(c.Certificates) != tc.wantCerts || (c.RootCAs != nil) != tc.wantRoots ||
				c.ServerName != tc.serverName || c.InsecureSkipVerify != tc.insecure || c.ClientAuth != tls.NoClientCert {
				t.Fatalf("%+v", c)
			}
		})
	}
}

func TestName(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	_, key := ca.Client(t, "x")
	_, err := Client(Files{CA: key}, "", false)
	if got := Name(err, "n5g.tls", "n5g.tls.client_ca_file").Error(); !strings.HasPrefix(got, "n5g.tls.client_ca_file: ") || !strings.HasSuffix(got, "holds no PEM certificate") {
		t.Fatalf("CA: %s", got)
	}
	_, err = Client(Files{Cert: key, Key: key}, "", false)
	if got := Name(err, "n5g.tls", "n5g.tls.client_ca_file").Error(); !strings.HasPrefix(got, "n5g.tls: ") {
		t.Fatalf("key pair: %s", got)
	}
	if got := Name(errors.New("x"), "a", "b").Error(); got != "a: x" {
		t.Fatalf("other: %s", got)
	}
}

func TestAtLeastTLS12(t *testing.T) {
	if c := AtLeastTLS12(nil); c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("nil: %+v", c)
	}
	in := &tls.Config{ServerName: "nrf"}
	if c := AtLeastTLS12(in); c.MinVersion != tls.VersionTLS12 || c.ServerName != "nrf" || c == in || in.MinVersion != 0 {
		t.Fatalf("unset: %+v", c)
	}
	if c := AtLeastTLS12(&tls.Config{MinVersion: tls.VersionTLS13}); c.MinVersion != tls.VersionTLS13 {
		t.Fatalf("1.3: %+v", c)
	}
}

func TestReloader(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	cert, key := ca.Server(t, "eir")
	r, err := NewReloader(Files{Cert: cert, Key: key, CA: ca.CertFile}, tls.RequireAndVerifyClientCert, tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Current()
	if first.MinVersion != tls.VersionTLS13 || first.ClientAuth != tls.RequireAndVerifyClientCert || first.ClientCAs == nil {
		t.Fatalf("%+v", first)
	}
	got, err := r.Config().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil || got != first {
		t.Fatalf("GetConfigForClient: %p, %v; want %p", got, err, first)
	}
	if changed, err := r.Reload(); changed || err != nil || r.Current() != first {
		t.Fatalf("unchanged files: changed %v, %v", changed, err)
	}
	cert2, key2 := ca.Server(t, "eir2")
	for _, f := range [][2]string{{cert2, cert}, {key2, key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if changed, err := r.Reload(); !changed || err != nil || r.Current() == first {
		t.Fatalf("new certificate: changed %v, %v", changed, err)
	}
	second := r.Current()
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := r.Reload(); !errors.As(err, &e) || e.Part != PartKeyPair || r.Current() != second {
		t.Fatalf("broken key: %v; the configuration in use must stay", err)
	}
	if r2, err := NewReloader(Files{Cert: cert, Key: key}, tls.RequireAndVerifyClientCert, 0); err == nil || r2 != nil {
		t.Fatalf("NewReloader of a broken key: %v", err)
	}
	if c := (&Reloader{minVersion: tls.VersionTLS12}).Config(); c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("%+v", c)
	}
}
