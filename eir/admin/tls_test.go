package admin

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
	"github.com/eir-sidecar/eir/internal/certtest"
)

func TestClientCertificates(t *testing.T) {
	ca := certtest.NewCA(t, "ops")
	other := certtest.NewCA(t, "other")
	certFile, keyFile := ca.Server(t, "eird")
	cfg, err := TLSConfig(certFile, keyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	st := &store{Store: memstore.New()}
	api := New(Options{CertRoles: map[string]bool{"noc-write": true, "noc-read": false},
		Tokens: []Token{{Name: "robot", Secret: "robot-secret", Write: true}}}, st, eir.NewChecker(st, eir.Policy{}), zaptest.NewLogger(t))
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)

	roots := x509.NewCertPool()
	pem, _ := os.ReadFile(ca.CertFile)
	roots.AppendCertsFromPEM(pem)
	client := func(ca *certtest.CA, cn string) *http.Client {
		c := &tls.Config{RootCAs: roots}
		if ca != nil {
			cert, err := tls.LoadX509KeyPair(ca.Client(t, cn))
			if err != nil {
				t.Fatal(err)
			}
			// Sent even when the server does not list its CA, so that the
			// server's verification is what is tested.
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
	}
	call := func(c *http.Client, method, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("imei,status\n35209900176148,black\n"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		c.CloseIdleConnections()
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name         string
		client       *http.Client
		method, path string
		token        string
		status       int
		contains     string
	}{
		{"writer imports", client(ca, "noc-write"), "POST", "/v1/import", "", 200, `"rows": 1`},
		{"reader reads", client(ca, "noc-read"), "GET", "/v1/check?imei=35209900176148", "", 200, "BLACKLISTED"},
		{"reader cannot write", client(ca, "noc-read"), "POST", "/v1/import", "", 403, "may only read"},
		{"unknown subject", client(ca, "intern"), "GET", "/v1/datasets", "", 403, "has no role"},
		{"no certificate, no token", client(nil, ""), "GET", "/v1/datasets", "", 401, "unauthenticated"},
		{"no certificate, a token", client(nil, ""), "GET", "/v1/datasets", "robot-secret", 200, "manual/imei/black"},
		{"probes need nothing", client(nil, ""), "GET", "/healthz", "", 200, "ok"},
		{"certificate of another CA", client(other, "noc-write"), "GET", "/v1/datasets", "", 0, "tls: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(tc.client, tc.method, tc.path, tc.token)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %s, want %d containing %q", status, body, tc.status, tc.contains)
			}
		})
	}
	if _, err := TLSConfig(certFile, keyFile, certFile+".missing"); err == nil {
		t.Fatal("a missing client CA file was accepted")
	}
	if _, err := TLSConfig(certFile, keyFile, keyFile); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a key as the client CA: %v", err)
	}
}
