package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/admin"
	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/diameter"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/memstore"
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
)

// pingStore is a memstore that answers Ping (admin.Store).
type pingStore struct{ *memstore.Store }

func (pingStore) Ping(context.Context) error { return nil }

// streams keeps the audit records in memory.
type streams struct{ docs []string }

func (s *streams) AppendStream(_ context.Context, _ string, docs []string, _ int64, _ time.Duration) error {
	s.docs = append(s.docs, docs...)
	return nil
}

func (s *streams) ReadStream(context.Context, string, string, string, int64, bool) ([]string, []string, error) {
	return nil, nil, nil
}

// writeKey writes a new NRF public key (PEM) to path.
func writeKey(t *testing.T, path string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadReportsWhatChanged checks that a reload reports only the
// sections whose configuration changed: none when the file is as in
// force; admin.tokens when a token file's content was rotated (the
// configuration file itself unchanged); the OAuth2 keys when the key
// file's content changed; policy when a policy key changed; and the keys
// that need a restart apart.
func TestReloadReportsWhatChanged(t *testing.T) {
	dir := t.TempDir()
	path, tokenFile, keyFile := filepath.Join(dir, "eird.yaml"), filepath.Join(dir, "ops.token"), filepath.Join(dir, "nrf.pem")
	ca := certtest.NewCA(t, "diameter")
	dcert, dkey := ca.Peer(t, "eir.localdomain", "eir.localdomain")
	renewCert := func() {
		t.Helper()
		c, k := ca.Peer(t, "eir.localdomain", "eir.localdomain")
		for _, f := range [][2]string{{c, dcert}, {k, dkey}} {
			b, err := os.ReadFile(f[0])
			if err == nil {
				err = os.WriteFile(f[1], b, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	writeConfig := func(extra string) {
		t.Helper()
		yaml := "diameter: {allow_any_peer: true, tls: {cert_file: " + dcert + ", key_file: " + dkey + ", client_ca_file: " + ca.CertFile + "}}\nadmin:\n  tokens:\n    - {name: ops, token_file: " + tokenFile + ", role: write}\n" +
			"n5g:\n  oauth: {enabled: true, key_file: " + keyFile + ", audience: [5G_EIR], scope: n5g-eir-eic}\n" + extra
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeSecret := func(s string) {
		t.Helper()
		if err := os.WriteFile(tokenFile, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeSecret("first-secret")
	writeKey(t, keyFile)
	writeConfig("")
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	pol, err := policyFrom(cfg.Policy)
	if err != nil {
		t.Fatal(err)
	}
	st := pingStore{memstore.New()}
	checker := eir.NewDecider(st, pol)
	dopts, err := diameterOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dsrv, err := diameter.NewServer(dopts, checker, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := newVerifier(cfg.N5g.OAuth, "")
	if err != nil {
		t.Fatal(err)
	}
	dtls, err := diameterTLS(cfg.Diameter.TLS)
	if err != nil {
		t.Fatal(err)
	}
	trail := &streams{}
	r := &reloader{dtls: dtls, path: path, cfg: cfg, dsrv: dsrv, checker: checker, trail: audit.New(trail, audit.Options{}), verifier: verifier, log: log,
		api: admin.New(admin.Options{Tokens: adminTokens(cfg.Admin.Tokens)}, st, checker, log), keySum: fileSum(keyFile)}

	for _, step := range []struct {
		name            string
		change          func()
		reloaded, later []string
	}{
		{"nothing changed", func() {}, []string{}, nil},
		{"token file rotated", func() { writeSecret("second-secret") }, []string{"admin.tokens"}, nil},
		{"nothing changed again", func() {}, []string{}, nil},
		{"key file rotated", func() { writeKey(t, keyFile) }, []string{"n5g.oauth keys"}, nil},
		{"diameter certificate renewed", renewCert, []string{"diameter.tls"}, nil},
		{"policy and a restart key", func() {
			writeConfig("policy: {unknown_equipment: greylisted}\nredis: {addresses: ['127.0.0.1:6390']}\n")
		}, []string{"policy"}, []string{"redis.addresses"}},
		{"the restart key is still pending", func() {}, []string{}, []string{"redis.addresses"}},
	} {
		step.change()
		res, err := r.reload(context.Background(), "test")
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !reflect.DeepEqual(res.Reloaded, step.reloaded) || !reflect.DeepEqual(res.RestartNeeded, step.later) {
			t.Errorf("%s: reloaded %q, restart needed %q; want %q, %q", step.name, res.Reloaded, res.RestartNeeded, step.reloaded, step.later)
		}
	}
	if len(trail.docs) != 7 {
		t.Errorf("%d audit records, want one per reload (7)", len(trail.docs))
	}
}
