package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDialable(t *testing.T) {
	for listen, want := range map[string]string{
		"0.0.0.0:9468":      "127.0.0.1:9468",
		":9468":             "127.0.0.1:9468",
		"[::]:9468":         "[::1]:9468",
		"127.0.0.1:9468":    "127.0.0.1:9468",
		"10.1.2.3:9468":     "10.1.2.3:9468",
		"[fd00::1]:9468":    "[fd00::1]:9468",
		"eird.example:9468": "eird.example:9468",
	} {
		if got := dialable(listen); got != want {
			t.Errorf("dialable(%q) = %q, want %q", listen, got, want)
		}
	}
}

// TestHealthcheck runs eird -healthcheck against a fake admin API: exit 0
// only on a 200 from /readyz, 1 for anything else, configuration errors
// included (a container health check knows only 0 and 1).
func TestHealthcheck(t *testing.T) {
	var status atomic.Int32 // the answer of /readyz
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if code := int(status.Load()); code != http.StatusOK {
			w.WriteHeader(code)
			io.WriteString(w, "{\n  \"code\": \"no_lists\",\n  \"message\": \"no list version is loaded\"\n}\n")
			return
		}
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().(*net.TCPAddr)
	cfg := func(t *testing.T, admin string) string {
		return writeConfig(t, "admin:\n"+admin)
	}
	closed := freeAddr(t)

	for _, tc := range []struct {
		name   string
		config string
		status int
		code   int
		out    string // a substring of stdout (code 0) or stderr
	}{
		{"ready", cfg(t, "  listen: "+addr.String()+"\n"), 200, 0, "eird is ready (GET http://" + addr.String() + "/readyz: 200 OK)"},
		{"wildcard listen probed on loopback", cfg(t, "  listen: 0.0.0.0:"+strconv.Itoa(addr.Port)+"\n"), 200, 0, "eird is ready"},
		{"not ready", cfg(t, "  listen: "+addr.String()+"\n"), 503, 1, `eird: not ready: GET http://` + addr.String() + `/readyz: 503 Service Unavailable {"code":"no_lists","message":"no list version is loaded"}` + "\n"},
		{"nothing listening", cfg(t, "  listen: "+closed+"\n"), 200, 1, "eird: healthcheck: Get \"http://" + closed + "/readyz\""},
		{"no admin listener", cfg(t, "  listen: \"\"\n"), 200, 1, "admin.listen is empty"},
		{"configuration error", cfg(t, "  lisen: x\n"), 200, 1, "eird: healthcheck: configuration: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(int32(tc.status))
			var out, errb bytes.Buffer
			code := run([]string{"-config", tc.config, "-healthcheck"}, &out, &errb)
			got := out.String()
			if tc.code != 0 {
				got = errb.String()
			}
			if code != tc.code || !strings.Contains(got, tc.out) {
				t.Errorf("exit %d, want %d\nstdout %q\nstderr %q\nwant %q", code, tc.code, out.String(), errb.String(), tc.out)
			}
		})
	}
}

// TestHealthcheckTLS: with admin.tls, the probe uses https and accepts only
// the certificate of admin.tls.cert_file.
func TestHealthcheckTLS(t *testing.T) {
	served, servedPEM := selfSigned(t)
	_, otherPEM := selfSigned(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{served}}
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		pem  []byte
		code int
		out  string
	}{
		"its own certificate": {servedPEM, 0, "eird is ready (GET https://"},
		"another certificate": {otherPEM, 1, "the server's certificate is not admin.tls.cert_file"},
	} {
		t.Run(name, func(t *testing.T) {
			certFile := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".pem")
			if err := os.WriteFile(certFile, tc.pem, 0o600); err != nil {
				t.Fatal(err)
			}
			path := writeConfig(t, "admin:\n  listen: "+srv.Listener.Addr().String()+"\n  tls:\n    cert_file: "+certFile+"\n    key_file: "+certFile+"\n")
			var out, errb bytes.Buffer
			code := run([]string{"-config", path, "-healthcheck"}, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
				t.Errorf("exit %d, want %d\nstdout %q\nstderr %q\nwant %q", code, tc.code, out.String(), errb.String(), tc.out)
			}
		})
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "eird.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr is a loopback address nothing listens on (a port the kernel
// gave and took back).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// selfSigned is a fresh self-signed certificate for 127.0.0.1, as a
// tls.Certificate and as PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "eird.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
