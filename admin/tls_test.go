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
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
)

// tlsAPI is an API on an HTTPS listener that verifies the client
// certificates of ca.
type tlsAPI struct {
	srv               *httptest.Server
	st                *store
	ca, other         *certtest.CA
	certFile, keyFile string
	roots             *x509.CertPool
}

func newTLSAPI(t *testing.T, o Options) *tlsAPI {
	t.Helper()
	a := &tlsAPI{ca: certtest.NewCA(t, "ops"), other: certtest.NewCA(t, "other"), st: &store{Store: memstore.New()}}
	a.certFile, a.keyFile = a.ca.Server(t, "eird")
	cfg, err := TLSConfig(a.certFile, a.keyFile, a.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	api := New(o, a.st, eir.NewDecider(a.st, eir.Policy{}), zaptest.NewLogger(t))
	a.srv = httptest.NewUnstartedServer(api.Handler())
	a.srv.TLS = cfg
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	a.roots = x509.NewCertPool()
	pem, _ := os.ReadFile(a.ca.CertFile)
	a.roots.AppendCertsFromPEM(pem)
	return a
}

// client presents a certificate for cn signed by ca, or none when ca is
// nil.
func (a *tlsAPI) client(t *testing.T, ca *certtest.CA, cn string) *http.Client {
	t.Helper()
	c := &tls.Config{RootCAs: a.roots}
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

func (a *tlsAPI) call(t *testing.T, c *http.Client, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
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

func TestClientCertificates(t *testing.T) {
	a := newTLSAPI(t, Options{CertRoles: map[string]bool{"noc-write": true, "noc-read": false},
		Tokens: []Token{{Name: "robot", Secret: "robot-secret", Write: true}}})
	const csv = "imei,status\n35209900176148,black\n"
	tests := []struct {
		name         string
		client       *http.Client
		method, path string
		token        string
		status       int
		contains     string
	}{
		{"writer imports", a.client(t, a.ca, "noc-write"), "POST", "/v1/import", "", 200, `"rows": 1`},
		{"reader reads", a.client(t, a.ca, "noc-read"), "GET", "/v1/check?imei=35209900176148", "", 200, "BLACKLISTED"},
		{"reader cannot write", a.client(t, a.ca, "noc-read"), "POST", "/v1/import", "", 403, "may only read"},
		{"unknown subject", a.client(t, a.ca, "intern"), "GET", "/v1/datasets", "", 403, "has no role"},
		{"no certificate, no token", a.client(t, nil, ""), "GET", "/v1/datasets", "", 401, "unauthenticated"},
		{"no certificate, a token", a.client(t, nil, ""), "GET", "/v1/datasets", "robot-secret", 200, "manual/imei/black"},
		{"probes need nothing", a.client(t, nil, ""), "GET", "/healthz", "", 200, "ok"},
		{"certificate of another CA", a.client(t, a.other, "noc-write"), "GET", "/v1/datasets", "", 0, "tls: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.call(t, tc.client, tc.method, tc.path, tc.token, csv)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %s, want %d containing %q", status, body, tc.status, tc.contains)
			}
		})
	}
	if _, err := TLSConfig(a.certFile, a.keyFile, a.certFile+".missing"); err == nil {
		t.Fatal("a missing client CA file was accepted")
	}
	if _, err := TLSConfig(a.certFile, a.keyFile, a.keyFile); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a key as the client CA: %v", err)
	}
}

func TestClientCertificateSources(t *testing.T) {
	roles := map[string]bool{"noc-write": true}
	tests := []struct {
		name        string
		certSources []string
		source      string
		status      int
		contains    string
	}{
		{"default writes manual", nil, "manual", 200, `"action": "added"`},
		{"default: not other", nil, "other", 403, `client certificate \"noc-write\" may not write source \"other\" (allowed: manual)`},
		{"default: not national", nil, "national", 403, `may not write source \"national\" (registry sync source`},
		{"listed source", []string{"ceir"}, "ceir", 200, `"action": "added"`},
		{"listed only: not manual", []string{"ceir"}, "manual", 403, "forbidden_source"},
		{"star writes other", []string{"*"}, "other", 200, `"action": "added"`},
		{"star: not national", []string{"*"}, "national", 403, "forbidden_source"},
		{"named national", []string{"manual", "national"}, "national", 200, `"action": "added"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTLSAPI(t, Options{CertRoles: roles, CertWriterSources: tc.certSources, ProtectedSources: []string{"national"}})
			c := a.client(t, a.ca, "noc-write")
			status, body := a.call(t, c, "POST", "/v1/entries", "", entryBody("35209900176148", tc.source))
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %s, want %d containing %q", status, body, tc.status, tc.contains)
			}
			// An import of the source follows the same rule.
			status, body = a.call(t, c, "POST", "/v1/import", "", "imei,status,source\n49015420323751,grey,"+tc.source+"\n")
			if status != tc.status {
				t.Fatalf("import: %d %s, want %d", status, body, tc.status)
			}
		})
	}
}
