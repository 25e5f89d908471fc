package fetch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a throw-away CA with a server and a client certificate, written
// as PEM files.
type pki struct {
	caFile, certFile, keyFile string // the CA; the client's certificate and key
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newPKI(t *testing.T, serverName string) *pki {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test registry ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}

	p := &pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = writePEM("ca.pem", "CERTIFICATE", caDER)

	srvDER, srvKey := issue(2, serverName, x509.ExtKeyUsageServerAuth, []string{serverName})
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}

	cliDER, cliKey := issue(3, "eir-sidecar", x509.ExtKeyUsageClientAuth, nil)
	p.certFile = writePEM("client.pem", "CERTIFICATE", cliDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	p.keyFile = writePEM("client-key.pem", "PRIVATE KEY", keyDER)
	return p
}

func TestFetchMutualTLS(t *testing.T) {
	t.Parallel()
	const serverName = "registry.example"
	p := newPKI(t, serverName)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "eir-sidecar" {
			http.Error(w, "who are you", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "imei,status\n")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	}
	srv.StartTLS()
	defer srv.Close()
	u := srv.URL + "/20250314_full.csv" // https://127.0.0.1:<port>: the certificate names registry.example

	fetch := func(opts *TLSOptions) (Result, error) {
		t.Helper()
		c, err := NewClient(10*time.Second, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseIdleConnections()
		h := &HTTP{URL: u, Client: c, BearerToken: token, SpoolDir: t.TempDir(), Sleep: (&sleeper{}).Sleep}
		res, err := h.Fetch(context.Background())
		noToken(t, err)
		if err != nil {
			if got := spoolFiles(t, h.SpoolDir); len(got) != 0 {
				t.Errorf("spool after a failed fetch = %v", got)
			}
		}
		return res, err
	}

	res, err := fetch(&TLSOptions{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: serverName})
	if err != nil || !res.Fetched || readFile(t, res.File) != "imei,status\n" {
		t.Fatalf("fetch with a client certificate = %+v, %v", res, err)
	}

	// No client certificate: the server refuses the handshake, which is not
	// worth retrying.
	res, err = fetch(&TLSOptions{CAFile: p.caFile, ServerName: serverName})
	if err == nil || res.Fetched {
		t.Fatalf("fetch without a client certificate = %+v, %v", res, err)
	}
	if res.Attempts != 1 {
		t.Errorf("refused handshake retried: %d attempts (%v)", res.Attempts, err)
	}

	// The server's certificate does not verify: without ServerName (it is
	// not for 127.0.0.1), or without the CA (system roots).
	for _, opts := range []*TLSOptions{
		{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile},
		{CertFile: p.certFile, KeyFile: p.keyFile, ServerName: serverName},
	} {
		res, err := fetch(opts)
		if err == nil || res.Attempts != 1 || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("fetch with %+v = %+v, %v; want one failed attempt", opts, res, err)
		}
	}
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "registry.example")
	c, err := NewClient(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	tr := c.Transport.(*http.Transport)
	if c.Timeout != DefaultTimeout || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.RootCAs != nil || tr.Proxy == nil {
		t.Errorf("default client: timeout %v, tls %+v", c.Timeout, tr.TLSClientConfig)
	}

	c, err = NewClient(time.Minute, &TLSOptions{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: "r.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	cfg := c.Transport.(*http.Transport).TLSClientConfig
	if c.Timeout != time.Minute || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "r.example" || cfg.InsecureSkipVerify {
		t.Errorf("client: %+v", cfg)
	}

	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]*TLSOptions{
		"missing ca":        {CAFile: p.caFile + ".missing"},
		"ca not pem":        {CAFile: notPEM},
		"cert without key":  {CertFile: p.certFile},
		"key without cert":  {KeyFile: p.keyFile},
		"key does not pair": {CertFile: p.certFile, KeyFile: notPEM},
	} {
		if _, err := NewClient(time.Second, opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewClient(-time.Second, nil); err == nil {
		t.Error("negative timeout: no error")
	}
}
