package test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv/capture"
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
	"github.com/eir-sidecar/eir/internal/testenv/fdtest"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
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
// operator's CA naming it (the session opens, ECRs it relays are
// answered, and Wireshark decrypts the capture with GnuTLS's key log),
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
			Identity: "relay.fd.test", Realm: "fd.test", Relay: true,
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
		}{{257, 2}, {324, 6}, {282, 2}} {
			if got := len(rep.Messages(want.code)); got != want.n {
				t.Errorf("command %d: %d messages decrypted and decoded by tshark, want %d", want.code, got, want.n)
			}
		}
		for _, m := range rep.Messages(257) {
			if !m.Request && m.AVP(268) == nil {
				t.Errorf("frame %d: CEA without Result-Code as tshark decodes it", m.Frame)
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
