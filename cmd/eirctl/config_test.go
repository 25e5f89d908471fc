package main

import (
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
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeDefaultConfig writes $XDG_CONFIG_HOME/eirctl/config.yaml.
func writeDefaultConfig(t *testing.T, content string) string {
	t.Helper()
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	p := filepath.Join(xdg, "eirctl", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	fileSrv, envSrv, flagSrv := newFake(t), newFake(t), newFake(t)
	secrets := []string{"file-s3cret", "env-s3cret", "flag-s3cret", "tokenfile-s3cret", "envfile-s3cret"}
	var outputs strings.Builder
	ctl := func(args ...string) (string, string, int) {
		t.Helper()
		out, errOut, code := runCLI(t, "", args...)
		outputs.WriteString(out + errOut)
		return out, errOut, code
	}
	// lastAuth returns which server got the last request, and its token.
	lastAuth := func() (string, string) {
		t.Helper()
		var who string
		var last recorded
		n := 0
		for name, f := range map[string]*fakeEIRD{"file": fileSrv, "env": envSrv, "flag": flagSrv} {
			if reqs := f.requests(); len(reqs) > 0 {
				who, last = name, reqs[len(reqs)-1]
				n += len(reqs)
				f.mu.Lock()
				f.reqs = nil
				f.mu.Unlock()
			}
		}
		if n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
		return who, strings.TrimPrefix(last.Auth, "Bearer ")
	}

	writeDefaultConfig(t, "# eirctl\nserver: "+fileSrv.URL+"\ntoken: \"file-s3cret\"   # the NOC token\noutput: json\n")
	out, errOut, code := ctl("datasets")
	wantCode(t, code, exitOK, out, errOut)
	if who, tok := lastAuth(); who != "file" || tok != "file-s3cret" || !strings.HasPrefix(out, "{") {
		t.Errorf("file only: server %s, token %q, output %q", who, tok, out)
	}

	t.Setenv("EIRCTL_SERVER", envSrv.URL)
	t.Setenv("EIRCTL_TOKEN", "env-s3cret")
	t.Setenv("EIRCTL_OUTPUT", "table")
	out, errOut, code = ctl("datasets")
	wantCode(t, code, exitOK, out, errOut)
	if who, tok := lastAuth(); who != "env" || tok != "env-s3cret" || !strings.HasPrefix(out, "DATASET") {
		t.Errorf("env over file: server %s, token %q, output %q", who, tok, out)
	}

	out, errOut, code = ctl("-server", flagSrv.URL, "-token", "flag-s3cret", "-o", "json", "datasets")
	wantCode(t, code, exitOK, out, errOut)
	if who, tok := lastAuth(); who != "flag" || tok != "flag-s3cret" || !strings.HasPrefix(out, "{") {
		t.Errorf("flag over env: server %s, token %q, output %q", who, tok, out)
	}

	// A token file at a higher level beats a token at a lower one; in one
	// level, the token beats the token file.
	tf := writeFile(t, "token", "tokenfile-s3cret\n")
	out, errOut, code = ctl("-token-file", tf, "datasets")
	wantCode(t, code, exitOK, out, errOut)
	if _, tok := lastAuth(); tok != "tokenfile-s3cret" {
		t.Errorf("-token-file over EIRCTL_TOKEN: token %q", tok)
	}
	t.Setenv("EIRCTL_TOKEN_FILE", writeFile(t, "token", "envfile-s3cret"))
	out, errOut, code = ctl("datasets")
	wantCode(t, code, exitOK, out, errOut)
	if _, tok := lastAuth(); tok != "env-s3cret" {
		t.Errorf("EIRCTL_TOKEN with EIRCTL_TOKEN_FILE: token %q", tok)
	}
	t.Setenv("EIRCTL_TOKEN", "")
	out, errOut, code = ctl("datasets")
	wantCode(t, code, exitOK, out, errOut)
	if _, tok := lastAuth(); tok != "envfile-s3cret" {
		t.Errorf("EIRCTL_TOKEN_FILE over the file's token: token %q", tok)
	}

	// An explicit file: -config beats EIRCTL_CONFIG beats the default path;
	// its relative token_file is relative to it.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "noc.token"), []byte("tokenfile-s3cret"), 0o600)
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("server: '"+flagSrv.URL+"'\ntoken_file: noc.token\n"), 0o600)
	t.Setenv("EIRCTL_SERVER", "")
	t.Setenv("EIRCTL_TOKEN_FILE", "")
	t.Setenv("EIRCTL_OUTPUT", "")
	t.Setenv("EIRCTL_CONFIG", filepath.Join(dir, "missing.yaml"))
	out, errOut, code = ctl("-config", filepath.Join(dir, "a.yaml"), "datasets")
	wantCode(t, code, exitOK, out, errOut)
	if who, tok := lastAuth(); who != "flag" || tok != "tokenfile-s3cret" {
		t.Errorf("-config: server %s, token %q", who, tok)
	}
	out, errOut, code = ctl("datasets")
	wantCode(t, code, exitUsage, out, errOut)
	wantContains(t, "stderr", errOut, "missing.yaml: no such file")

	// A rejected token, and errors, print no token either.
	fileSrv.token = "another"
	t.Setenv("EIRCTL_CONFIG", "")
	out, errOut, code = ctl("datasets")
	wantCode(t, code, exitRejected, out, errOut)
	lastAuth()
	ctl("-h")
	ctl("-token", "flag-s3cret", "-o", "xml", "datasets")
	ctl("-token", "flag-s3cret", "-server", "ftp://x", "datasets")
	for _, s := range secrets {
		if strings.Contains(outputs.String(), s) {
			t.Errorf("a token (%s) is printed:\n%s", s, outputs.String())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, config string
		want         []string
	}{
		{"unknown key", "server: http://127.0.0.1:1\n\ntokn: s3cret-value\n", []string{`line 3: unknown key "tokn"`, "known: server, token"}},
		{"no colon", "server http://x\n", []string{"line 1: want \"key: value\""}},
		{"twice", "token: a\ntoken: s3cret-value\n", []string{`line 2: key "token" given twice (first on line 1)`}},
		{"open quote", "token: \"s3cret-value\n", []string{`line 1: key "token": unterminated`}},
		{"text after quote", "token: 's3cret-value' x\n", []string{`line 1: key "token": unexpected text after the closing quote`}},
		{"bad output", "output: yaml\n", []string{`output (`, `config.yaml:1): "yaml": want table or json`}},
		{"bad server", "server: ftp://x\n", []string{`server (`, `scheme "ftp": want http or https`}},
		{"missing token file", "token_file: nope\n", []string{"token_file (", "no such file"}},
		{"cert without key", "cert: c.pem\n", []string{"cert and key go together"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeDefaultConfig(t, tc.config)
			out, errOut, code := runCLI(t, "", "datasets")
			wantCode(t, code, exitUsage, out, errOut)
			wantContains(t, "stderr", errOut, tc.want...)
			if strings.Contains(tc.want[0], "line") {
				wantContains(t, "stderr", errOut, p)
			}
			if strings.Contains(errOut, "s3cret") {
				t.Errorf("a value is printed: %s", errOut)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	in := "\ufeff# eirctl\r\n" +
		"server: https://eird.example:9468   # primary\r\n" +
		"  token: \"a \\\"quoted\\\" # token\"  # comment\n" +
		"output: 'it''s'\n" +
		"cacert:\n" +
		"cert: #empty\n" +
		"key: /etc/eirctl/key#1.pem\n"
	vals, lines, err := parseConfig("c.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"server": "https://eird.example:9468", "token": `a "quoted" # token`, "output": "it's",
		"cacert": "", "cert": "", "key": "/etc/eirctl/key#1.pem"}
	if !reflect.DeepEqual(vals, want) {
		t.Errorf("values %q\nwant %q", vals, want)
	}
	if lines["server"] != 2 || lines["key"] != 7 {
		t.Errorf("lines %v", lines)
	}
}

func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9468/":     "http://127.0.0.1:9468",
		"127.0.0.1:9468":             "http://127.0.0.1:9468",
		"https://eird.example/admin": "https://eird.example/admin",
	} {
		if got, err := normalizeServer(in); err != nil || got != want {
			t.Errorf("normalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://x", "http://", "http://user:pw@x", "http://x/?a=b"} {
		if got, err := normalizeServer(bad); err == nil {
			t.Errorf("normalizeServer(%q) = %q, want an error", bad, got)
		}
	}
}

// TestMutualTLS runs eirctl against an https eird that requires a client
// certificate, with -cacert, -cert and -key from flags, the environment
// and the config file.
func TestMutualTLS(t *testing.T) {
	ca, caKey := newCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	writeClientCert(t, ca, caKey, certFile, keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	f := &fakeEIRD{t: t, routes: contractRoutes()}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "noc" {
			writeAPIError(w, 401, "unauthenticated", "no client certificate")
			return
		}
		f.serve(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes below
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	f.URL = srv.URL
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)

	out, errOut, code := runCLI(t, "", "-server", srv.URL, "-cacert", caFile, "-cert", certFile, "-key", keyFile, "datasets")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "national/imei/black")

	t.Setenv("EIRCTL_CACERT", caFile)
	t.Setenv("EIRCTL_CERT", certFile)
	writeDefaultConfig(t, "server: "+srv.URL+"\nkey: "+keyFile+"\n")
	out, errOut, code = runCLI(t, "", "status")
	wantCode(t, code, exitOK, out, errOut)

	// Without a client certificate the handshake fails: eird unreachable.
	t.Setenv("EIRCTL_CERT", "")
	writeDefaultConfig(t, "server: "+srv.URL+"\n")
	out, errOut, code = runCLI(t, "", "datasets")
	wantCode(t, code, exitFailure, out, errOut)
	// Without the CA, the server is not trusted.
	t.Setenv("EIRCTL_CACERT", "")
	out, errOut, code = runCLI(t, "", "-cert", certFile, "-key", keyFile, "datasets")
	wantCode(t, code, exitFailure, out, errOut)
	wantContains(t, "stderr", errOut, "certificate")
	// A CA file without a certificate is a usage error.
	out, errOut, code = runCLI(t, "", "-cacert", keyFile, "datasets")
	wantCode(t, code, exitUsage, out, errOut)
	wantContains(t, "stderr", errOut, "holds no PEM certificate")
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "eirctl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func writeClientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "noc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}
