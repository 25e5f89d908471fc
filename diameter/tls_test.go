// Socket tests of Diameter over TLS/TCP (ServeTLS): mutual certificates,
// the certificate identity against the CER's Origin-Host, the handshake
// deadline, and certificates replaced while connections stay open.

package diameter

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// tlsEnv is a server listening with TLS, its certificates issued by ca
// and read through rl.
type tlsEnv struct {
	*testServer
	ca       *certtest.CA
	rl       *tlsconf.Reloader
	certFile string // the server's, rewritten by the reload test
	keyFile  string
	caFile   string // the client CAs
}

func startTLS(t *testing.T, mod func(*Options)) *tlsEnv {
	t.Helper()
	_, chk := testLists(t)
	ca := certtest.NewCA(t, "diameter")
	cert, key := ca.Peer(t, "eir.test", "eir.test")
	e := &tlsEnv{ca: ca, certFile: cert, keyFile: key, caFile: ca.CertFile}
	var err error
	if e.rl, err = tlsconf.NewReloader(tlsconf.Files{Cert: cert, Key: key, CA: ca.CertFile}, tls.RequireAndVerifyClientCert, 0); err != nil {
		t.Fatal(err)
	}
	o := Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true,
		HostIPAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	if mod != nil {
		mod(&o)
	}
	reg := prometheus.NewRegistry()
	s, err := NewServer(o, chk, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.testServer = &testServer{Server: s, addr: l.Addr().String(), reg: reg, done: make(chan error, 1)}
	go func() { e.done <- s.ServeTLS(l, e.rl.Config()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-e.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeTLS returned %v", err)
		}
	})
	return e
}

// dialTLS connects with the client certificate cert/key (none when empty),
// trusting root, and completes the client's side of the handshake. The
// certificate is sent even when it is not issued by a CA the server names
// (Go's client would send none; freeDiameter's sends it).
func dialTLS(t *testing.T, addr, root, cert, key string) (*tls.Conn, error) {
	t.Helper()
	conf, err := tlsconf.Client(tlsconf.Files{CA: root, Cert: cert, Key: key}, "eir.test", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.Certificates) == 1 {
		c := &conf.Certificates[0]
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
	}
	d := tls.Dialer{Config: conf}
	nc, err := d.DialContext(ctx5(t), "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { nc.Close() })
	return nc.(*tls.Conn), nil
}

// peerTLS connects with a certificate of names cn and dns issued by ca and
// completes CER/CEA as mme.test.
func (e *tlsEnv) peerTLS(t *testing.T, ca *certtest.CA, cn string, dns ...string) (*s13client.Client, error) {
	t.Helper()
	cert, key := ca.Peer(t, cn, dns...)
	nc, err := dialTLS(t, e.addr, e.ca.CertFile, cert, key)
	if err != nil {
		return nil, err
	}
	c, err := s13client.New(ctx5(t), nc, s13client.Options{})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func (e *tlsEnv) failures(reason string) prometheus.Collector {
	return e.m.tlsFailures.WithLabelValues(reason)
}

func TestTLSGoodCertificate(t *testing.T) {
	e := startTLS(t, nil)
	c, err := e.peerTLS(t, e.ca, "mme.test", "mme.test")
	if err != nil {
		t.Fatal(err)
	}
	cea := decodeWire(t, c.CEA.Raw)
	if got := cea.u32(t, wire.AVPResultCode, 0); got != wire.Success {
		t.Fatalf("CEA %d", got)
	}
	if cea.has(wire.AVPInbandSecurityID) {
		t.Errorf("CEA advertises Inband-Security-Id: %v", cea.codes)
	}
	a, err := c.Check(ctx5(t), "352099001761481", "")
	if err != nil {
		t.Fatal(err)
	}
	if rc, st := s13client.ResultCode(a.Msg), s13client.EquipmentStatus(a.Msg); rc != wire.Success || st != 1 {
		t.Fatalf("ECA %d status %d, want 2001 BLACKLISTED", rc, st)
	}
	if n := e.OpenPeers(); n != 1 {
		t.Fatalf("%d open peers", n)
	}
}

// TestTLSHandshakeRefused: a peer whose certificate does not chain to the
// client CAs, a peer without a certificate and a peer speaking Diameter
// in clear to the TLS port never reach the CER; each is counted.
func TestTLSHandshakeRefused(t *testing.T) {
	e := startTLS(t, nil)
	other := certtest.NewCA(t, "other")
	t.Run("wrong CA", func(t *testing.T) {
		// With TLS 1.3 the client's handshake ends before the server has
		// checked its certificate: the refusal arrives as an alert on the
		// first read, i.e. the CER gets no CEA.
		if c, err := e.peerTLS(t, other, "mme.test", "mme.test"); err == nil {
			t.Fatalf("CEA %v", c.CEA.Msg)
		}
		waitCounter(t, e.failures(tlsFailCertificate), 1)
	})
	t.Run("no certificate", func(t *testing.T) {
		nc, err := dialTLS(t, e.addr, e.ca.CertFile, "", "")
		if err == nil {
			_, err = s13client.New(ctx5(t), nc, s13client.Options{})
		}
		if err == nil {
			t.Fatal("CER answered without a client certificate")
		}
		waitCounter(t, e.failures(tlsFailCertificate), 2)
	})
	t.Run("cleartext", func(t *testing.T) {
		r := dialRaw(t, e.addr)
		r.send(t, cer("mme.test", true))
		if m := r.read(t); m != nil {
			t.Fatalf("answered in clear: %v", m)
		}
		waitCounter(t, e.failures(tlsFailProtocol), 1)
	})
	if n := e.OpenPeers(); n != 0 {
		t.Fatalf("%d open peers", n)
	}
}

// TestTLSIdentity: the CER's Origin-Host must be a name of the peer's
// certificate (dNSName SANs, else the CN; case-insensitive), else CEA 3010
// with the Origin-Host as Failed-AVP, and the connection closes. The
// allow-list and the security check still apply.
func TestTLSIdentity(t *testing.T) {
	tests := []struct {
		name   string
		cn     string
		dns    []string
		inband uint32 // Inband-Security-Id in the CER, when not 0
		peers  []PeerRule
		want   uint32
	}{
		{"SAN equals Origin-Host", "x", []string{"other.test", "mme.test"}, 0, nil, wire.Success},
		{"SAN in other case", "x", []string{"MME.Test"}, 0, nil, wire.Success},
		{"CN without SAN", "mme.test", nil, 0, nil, wire.Success},
		{"SAN differs, CN equal", "mme.test", []string{"mme2.test"}, 0, nil, wire.UnknownPeer},
		{"wildcard SAN", "x", []string{"*.test"}, 0, nil, wire.UnknownPeer},
		{"CN differs", "other.test", nil, 0, nil, wire.UnknownPeer},
		{"identity right, not in the allow-list", "x", []string{"mme.test"}, 0, []PeerRule{{OriginHost: "hss*.test"}}, wire.UnknownPeer},
		{"in-band TLS only", "x", []string{"mme.test"}, 1, nil, wire.NoCommonSecurity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startTLS(t, func(o *Options) {
				if tc.peers != nil {
					o.AllowAnyPeer, o.Peers = false, tc.peers
				}
			})
			cert, key := e.ca.Peer(t, tc.cn, tc.dns...)
			nc, err := dialTLS(t, e.addr, e.ca.CertFile, cert, key)
			if err != nil {
				t.Fatal(err)
			}
			r := &rawConn{nc, bufio.NewReader(nc)}
			m := cer("mme.test", true)
			if tc.inband != 0 {
				m.NewAVP(avp.InbandSecurityID, avp.Mbit, 0, datatype.Unsigned32(tc.inband))
			}
			r.send(t, m)
			w := r.read(t)
			if w == nil {
				t.Fatal("closed without a CEA")
			}
			if got := w.u32(t, wire.AVPResultCode, 0); got != tc.want {
				t.Fatalf("CEA %d, want %d", got, tc.want)
			}
			if tc.want == wire.Success {
				return
			}
			if tc.want == wire.UnknownPeer && w.Header.CommandFlags&diam.ErrorFlag == 0 {
				t.Errorf("3010 without the E-bit")
			}
			if tc.want == wire.UnknownPeer && tc.peers == nil {
				checkFailedOriginHost(t, w, "mme.test")
			}
			if r.read(t) != nil {
				t.Fatal("connection open after the refusal")
			}
		})
	}
}

// checkFailedOriginHost checks that the answer's Failed-AVP holds the
// Origin-Host host.
func checkFailedOriginHost(t *testing.T, w *decoded, host string) {
	t.Helper()
	f, err := w.FindAVP(avp.FailedAVP, 0)
	if err != nil {
		t.Fatalf("no Failed-AVP: %v", err)
	}
	g, ok := f.Data.(*diam.GroupedAVP)
	if !ok || len(g.AVP) != 1 || g.AVP[0].Code != avp.OriginHost || string(g.AVP[0].Data.(datatype.DiameterIdentity)) != host {
		t.Fatalf("Failed-AVP %v, want Origin-Host %s", f, host)
	}
}

// TestTLSHandshakeDeadline: a client that connects and says nothing holds
// its slot for the CER timeout at most, and a Shutdown does not wait for
// it.
func TestTLSHandshakeDeadline(t *testing.T) {
	e := startTLS(t, func(o *Options) { o.MaxConnections, o.CERTimeout = 1, 300*time.Millisecond })
	r := dialRaw(t, e.addr)
	start := time.Now()
	if m := r.read(t); m != nil {
		t.Fatalf("silent client got %v", m)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("silent client closed after %v", d)
	}
	waitCounter(t, e.failures(tlsFailTimeout), 1)
	// The slot is free again.
	eventually(t, func() bool { return testutil.ToFloat64(e.m.peers.WithLabelValues("wait_cer")) == 0 }, func() string { return "slot held" })
	if _, err := e.peerTLS(t, e.ca, "mme.test", "mme.test"); err != nil {
		t.Fatal(err)
	}
}

func TestTLSShutdownDuringHandshake(t *testing.T) {
	e := startTLS(t, func(o *Options) { o.CERTimeout = time.Minute })
	r := dialRaw(t, e.addr)
	eventually(t, func() bool { return testutil.ToFloat64(e.m.peers.WithLabelValues("wait_cer")) == 1 }, func() string { return "not accepted" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a handshake pending", d)
	}
	if m := r.read(t); m != nil {
		t.Fatalf("got %v", m)
	}
	if n := testutil.ToFloat64(e.failures(tlsFailTimeout)) + testutil.ToFloat64(e.failures(tlsFailProtocol)); n != 0 {
		t.Fatalf("%v handshake failures counted for a shutdown", n)
	}
}

// TestTLSReload: new certificate and client CAs are read by Reload; the
// connection open before keeps answering, the next handshakes use the new
// files (the old client CA is no longer trusted).
func TestTLSReload(t *testing.T) {
	e := startTLS(t, nil)
	old, err := e.peerTLS(t, e.ca, "mme.test", "mme.test")
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := e.rl.Reload(); err != nil || changed {
		t.Fatalf("reload of unchanged files: changed %v, %v", changed, err)
	}
	next := certtest.NewCA(t, "next")
	cert, key := next.Peer(t, "eir.test", "eir.test")
	for _, f := range [][2]string{{cert, e.certFile}, {key, e.keyFile}, {next.CertFile, e.caFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if changed, err := e.rl.Reload(); err != nil || !changed {
		t.Fatalf("reload: changed %v, %v", changed, err)
	}
	// The open connection answers.
	for range 3 {
		a, err := old.Check(ctx5(t), "352099001761481", "")
		if err != nil || s13client.ResultCode(a.Msg) != wire.Success {
			t.Fatalf("ECR on the connection open before the reload: %v", err)
		}
	}
	// The old client CA is refused; the new one is served with the new
	// server certificate.
	if _, err := e.peerTLS(t, e.ca, "mme2.test", "mme.test"); err == nil {
		t.Fatal("a client of the old CA was accepted after the reload")
	}
	cc, ck := next.Peer(t, "mme.test", "mme.test")
	nc, err := dialTLS(t, e.addr, next.CertFile, cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	if got := nc.ConnectionState().PeerCertificates[0].Issuer.CommonName; got != "next" {
		t.Fatalf("server certificate issued by %q after the reload", got)
	}
	c, err := s13client.New(ctx5(t), nc, s13client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A broken file keeps the certificates in use.
	if err := os.WriteFile(e.keyFile, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rl.Reload(); err == nil {
		t.Fatal("reload of a broken key succeeded")
	}
	if e.rl.Current() == nil || len(e.rl.Current().Certificates) != 1 {
		t.Fatal("configuration lost")
	}
}
