package test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv/capture"
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
	"github.com/eir-sidecar/eir/internal/testenv/fdtest"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// tlsConfig is eird with a cleartext and a TLS listener; the peers are
// the freeDiameter instances of *.fd.test.
const tlsConfig = `
diameter:
  listen: 127.0.0.1:0
  origin_host: eir.e2e.test
  origin_realm: e2e.test
  request_timeout: 500ms
  peers:
    - origin_host: "*.fd.test"
      addresses: ["127.0.0.1/32"]
  tls:
    listen: 127.0.0.1:0
    cert_file: %s
    key_file: %s
    client_ca_file: %s
redis:
  addresses: ["%s"]
admin:
  listen: 127.0.0.1:0
`

// TestDiameterTLSFreeDiameter has freeDiameterd (GnuTLS) connect to eird
// over TLS/TCP, TLS from the first byte, with a certificate of the
// operator's CA naming it (the session opens, ECRs it relays and its DWR
// are answered, a SIGHUP with renewed certificates keeps it open, and
// Wireshark decrypts the capture with GnuTLS's key log),
// with a certificate of another CA (the handshake fails) and with a
// certificate whose name is not its Origin-Host (CEA 3010).
func TestDiameterTLSFreeDiameter(t *testing.T) {
	rds := redistest.Start(t)
	operator := certtest.NewCA(t, "operator")
	cert, key := operator.Peer(t, "eir.e2e.test", "eir.e2e.test")
	e := startEIRD(t, fmt.Sprintf(tlsConfig, cert, key, operator.CertFile, rds.Addr()))
	loadLists(t, e)
	if e.dtls == "" {
		t.Fatalf("no diameter_tls address in the log:\n%s", e.log())
	}
	port := diamPort(t, e.dtls)

	t.Run("good certificate", func(t *testing.T) {
		keyLog := filepath.Join(t.TempDir(), "keys.log")
		cap := capture.Start(t, port)
		c, k := operator.Peer(t, "relay.fd.test", "relay.fd.test")
		fd := fdtest.Start(t, fdtest.Options{
			Identity: "relay.fd.test", Realm: "fd.test", Relay: true, TwSeconds: 6,
			TLS:           &fdtest.TLSCred{Cert: c, Key: k, CAs: []string{operator.CertFile}, KeyLogFile: keyLog},
			Peers:         []fdtest.PeerOpt{{Identity: "eir.e2e.test", Realm: "e2e.test", Port: port, Connect: true, TLS: true}},
			AllowIncoming: []string{"*.e2e.test"},
		})
		fd.WaitPeerOpen(t, "eir.e2e.test", 15*time.Second)
		e.waitLog(t, `"peer":"relay.fd.test"`, 5*time.Second)
		open := e.waitLog(t, `"tls_version"`, 5*time.Second)
		if !strings.Contains(open, `"peer open"`) {
			t.Errorf("peer open line without the TLS version: %s", open)
		}
		mme, err := s13client.Dial(ctxT(t), fd.Addr(), s13client.Options{OriginHost: "mme7.e2e.test", OriginRealm: "e2e.test", DestinationRealm: "e2e.test"})
		if err != nil {
			t.Fatalf("CER to freeDiameter: %v", err)
		}
		for _, ck := range []struct {
			imei   string
			code   uint32
			status int
		}{{"35209900176148", 2001, 1}, {"49015420323751", 2001, 2}, {"12345678901234", 5422, -1}} {
			a, err := mme.Check(ctxT(t), ck.imei, "")
			if err != nil {
				t.Fatalf("%s through freeDiameter over TLS: %v", ck.imei, err)
			}
			if rc, es := s13client.ResultCode(a.Msg), s13client.EquipmentStatus(a.Msg); rc != ck.code || es != ck.status {
				t.Errorf("%s: %d/%d, want %d/%d", ck.imei, rc, es, ck.code, ck.status)
			}
		}
		// Renewed certificate files and SIGHUP: freeDiameter's session stays
		// open and answers; a new handshake gets the new certificate.
		renewed, renewedKey := operator.Peer(t, "eir.e2e.test", "eir.e2e.test")
		copyFile(t, renewed, cert)
		copyFile(t, renewedKey, key)
		if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		e.waitLog(t, `"changed":["diameter.tls"]`, 10*time.Second)
		if a, err := mme.Check(ctxT(t), "35209900176148", ""); err != nil || s13client.EquipmentStatus(a.Msg) != 1 {
			t.Fatalf("ECR through the session open before the reload: %v", err)
		}
		mme9 := dialEIRDTLS(t, e.dtls, operator, "mme9.fd.test", keyLog)
		if got, want := mme9.leaf, readCert(t, renewed); !got.Equal(want) {
			t.Fatalf("certificate after SIGHUP: serial %v, want %v", got.SerialNumber, want.SerialNumber)
		}
		if _, err := mme9.c.Disconnect(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		// freeDiameter's watchdog (Tw 6 s ± 2 s) over the TLS session,
		// answered.
		e.waitMetric(t, `eir_diameter_requests_total{command="DWR",result="2001"}`, 1, 20*time.Second)
		if fd.Exited() || PeerLeft(fd) {
			t.Fatal("freeDiameter's session did not survive the reload")
		}
		mme.Disconnect(ctxT(t))
		fd.Stop(t) // DPR/DPA over TLS
		e.waitLog(t, "peer disconnecting", 10*time.Second)
		rep := capture.AnalyzeTLS(t, cap.Stop(t), port, keyLog)
		// After the close_notify exchange freeDiameter 1.2.1 sends one more
		// record (a second gnutls_bye; it logs "Error in the push
		// function") to the socket eird closed, which the kernel answers
		// with a reset.
		rep.Allow("tcp.connection.rst").AssertClean(t)
		for _, want := range []struct {
			code uint32
			n    int
		}{{257, 4}, {324, 8}, {282, 4}, {280, 2}} {
			// DWR/DWA: one exchange at least (another may come before DPR).
			if got := len(rep.Messages(want.code)); got != want.n && (want.code != 280 || got < want.n) {
				t.Errorf("command %d: %d messages decrypted and decoded by tshark, want %d", want.code, got, want.n)
			}
		}
		for _, m := range rep.Messages(257) {
			if !m.Request && m.AVP(268) == nil {
				t.Errorf("frame %d: CEA without Result-Code as tshark decodes it", m.Frame)
			}
			// TLS from the first byte: neither freeDiameter's CER nor eird's
			// CEA carries Inband-Security-Id (as observed with 1.2.1).
			if a := m.AVP(299); a != nil {
				t.Errorf("frame %d: Inband-Security-Id %q", m.Frame, a.Value)
			}
		}
	})

	t.Run("certificate of another CA", func(t *testing.T) {
		rogue := certtest.NewCA(t, "rogue")
		c, k := rogue.Peer(t, "rogue.fd.test", "rogue.fd.test")
		before := e.metric(t, `eir_diameter_tls_handshake_failures_total{reason="certificate"}`)
		fd := fdtest.Start(t, fdtest.Options{
			Identity: "rogue.fd.test", Realm: "fd.test", Relay: true,
			TLS:   &fdtest.TLSCred{Cert: c, Key: k, CAs: []string{rogue.CertFile, operator.CertFile}},
			Peers: []fdtest.PeerOpt{{Identity: "eir.e2e.test", Realm: "e2e.test", Port: port, Connect: true, TLS: true}},
		})
		e.waitMetric(t, `eir_diameter_tls_handshake_failures_total{reason="certificate"}`, before+1, 15*time.Second)
		fd.WaitLog(t, "A TLS fatal alert has been received", 10*time.Second) // eird's bad_certificate alert
		fd.Stop(t)
		if strings.Contains(fd.Log(), fdtest.PeerOpenLine("eir.e2e.test")) {
			t.Fatal("freeDiameter opened a session with a certificate of another CA")
		}
		if e.hasLog(`"peer":"rogue.fd.test"`) {
			t.Fatal("eird read a CER from the rogue peer")
		}
	})

	t.Run("certificate not naming the Origin-Host", func(t *testing.T) {
		// freeDiameter starts only with a certificate naming its Identity
		// as GnuTLS matches names, wildcards included; eird compares the
		// Origin-Host with the certificate's names exactly.
		c, k := operator.Peer(t, "wild.fd.test", "*.fd.test")
		before := e.metric(t, `eir_diameter_requests_total{command="CER",result="3010"}`)
		fd := fdtest.Start(t, fdtest.Options{
			Identity: "other.fd.test", Realm: "fd.test", Relay: true,
			TLS:   &fdtest.TLSCred{Cert: c, Key: k, CAs: []string{operator.CertFile}},
			Peers: []fdtest.PeerOpt{{Identity: "eir.e2e.test", Realm: "e2e.test", Port: port, Connect: true, TLS: true}},
		})
		e.waitMetric(t, `eir_diameter_requests_total{command="CER",result="3010"}`, before+1, 15*time.Second)
		refused := e.waitLog(t, `"origin_host":"other.fd.test"`, 5*time.Second)
		if !strings.Contains(refused, "capabilities exchange refused") || !strings.Contains(refused, "TLS certificate") {
			t.Errorf("eird's refusal: %s", refused)
		}
		// freeDiameter decodes the CEA: E-bit, 3010, the Origin-Host it sent
		// as Failed-AVP.
		fd.WaitLog(t, `Capabilities-Exchange-Answer(257)[--E-]`, 10*time.Second)
		for _, want := range []string{`Result-Code(268)[-M]='DIAMETER_UNKNOWN_PEER' (3010`, `Failed-AVP(279)[-M]={ Origin-Host(264)[-M]="other.fd.test" }`} {
			if !strings.Contains(fd.Log(), want) {
				t.Errorf("freeDiameter's log lacks %s", want)
			}
		}
		fd.Stop(t)
		if strings.Contains(fd.Log(), fdtest.PeerOpenLine("eir.e2e.test")) {
			t.Fatal("freeDiameter opened a session whose certificate does not name it")
		}
	})
}

// TestDiameterTLSOnly: with diameter.listen empty eird serves S13 over TLS
// only, and -print-addresses says so.
func TestDiameterTLSOnly(t *testing.T) {
	rds := redistest.Start(t)
	ca := certtest.NewCA(t, "operator")
	cert, key := ca.Peer(t, "eir.e2e.test", "eir.e2e.test")
	e := startEIRD(t, fmt.Sprintf(tlsConfig, cert, key, ca.CertFile, rds.Addr()), "EIR_DIAMETER_LISTEN=")
	loadLists(t, e)
	if e.diameter != "" || e.dtls == "" {
		t.Fatalf("listening on %q (cleartext) and %q (TLS), want TLS only", e.diameter, e.dtls)
	}
	p := dialEIRDTLS(t, e.dtls, ca, "mme3.fd.test", filepath.Join(t.TempDir(), "keys.log"))
	a, err := p.c.Check(ctxT(t), "35209900176148", "")
	if err != nil || s13client.ResultCode(a.Msg) != 2001 || s13client.EquipmentStatus(a.Msg) != 1 {
		t.Fatalf("ECR over TLS: %v", err)
	}
	p.c.Disconnect(ctxT(t))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsPeer is an S13 client connected to eird over TLS.
type tlsPeer struct {
	c    *s13client.Client
	leaf *x509.Certificate // eird's certificate
}

// dialEIRDTLS connects to eird's TLS listener at addr with a certificate
// of ca naming host, and completes CER/CEA as host. The session secrets are
// appended to keyLog (for tshark).
func dialEIRDTLS(t *testing.T, addr string, ca *certtest.CA, host, keyLog string) tlsPeer {
	t.Helper()
	cert, key := ca.Peer(t, host, host)
	conf, err := tlsconf.Client(tlsconf.Files{CA: ca.CertFile, Cert: cert, Key: key}, "eir.e2e.test", false)
	if err != nil {
		t.Fatal(err)
	}
	kl, err := os.OpenFile(keyLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kl.Close() })
	conf.KeyLogWriter = kl
	d := tls.Dialer{Config: conf}
	nc, err := d.DialContext(ctxT(t), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s13client.New(ctxT(t), nc, s13client.Options{OriginHost: host, OriginRealm: "fd.test"})
	if err != nil {
		nc.Close()
		t.Fatalf("CER over TLS as %s: %v", host, err)
	}
	t.Cleanup(func() { c.Close() })
	return tlsPeer{c: c, leaf: nc.(*tls.Conn).ConnectionState().PeerCertificates[0]}
}
