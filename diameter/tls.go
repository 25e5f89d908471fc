package diameter

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/diameter/wire"
)

// Diameter over TLS/TCP (RFC 6733 §13.1), TLS from the first byte: a
// connection accepted by ServeTLS starts with the TLS handshake, and the
// CER is the first message inside it. The in-band upgrade of RFC 3588
// (Inband-Security-Id TLS, then a handshake after the CEA) is not offered:
// a CER that asks only for it is answered 5017 DIAMETER_NO_COMMON_SECURITY
// on every listener (cerRequest.securityOK).
//
// Identity: the peer's certificate names it, and the CER must come from
// that name. The certificate's names are its dNSName subject alternative
// names or, when it has none, its subject common name; the CER's
// Origin-Host must equal one of them, compared case-insensitively
// (DiameterIdentity is an FQDN; no wildcard matching). Otherwise the CEA is
// 3010 DIAMETER_UNKNOWN_PEER with the Origin-Host as Failed-AVP, and the
// connection closes. The allow-list applies as on any connection.

// Reasons a TLS handshake failed, the values of the reason label of
// eir_diameter_tls_handshake_failures_total.
const (
	tlsFailTimeout     = "timeout"     // not complete within the CER timeout
	tlsFailCertificate = "certificate" // no client certificate, or one that does not chain to the client CAs
	tlsFailProtocol    = "protocol"    // anything else: not TLS, no common version or cipher, closed
)

// ServeTLS is Serve for TLS/TCP: every connection accepted on l is a TLS
// server connection of conf, and must complete its handshake within
// Options.CERTimeout of being accepted (before its CER). conf must require
// a client certificate (tls.RequireAndVerifyClientCert, or a
// GetConfigForClient returning such configurations, which lets the
// certificates be replaced while connections stay open): a connection
// whose peer presented none is refused at CER with 3010. The admission
// checks (MaxConnections, the allow-list's addresses) run at accept, before
// the handshake.
func (s *Server) ServeTLS(l net.Listener, conf *tls.Config) error {
	if conf == nil {
		return errors.New("diameter: ServeTLS without a TLS configuration")
	}
	return s.serve(l, conf)
}

// handshake runs the TLS handshake of a connection accepted by ServeTLS,
// bounded by the CER timeout. It records the names of the peer's
// certificate; on failure it counts and logs (rate-limited) and returns the
// reason the connection closes.
func (c *conn) handshake() string {
	tc := c.nc.(*tls.Conn)
	deadline := c.accepted.Add(c.s.opts.CERTimeout)
	tc.SetDeadline(deadline)
	err := tc.Handshake()
	c.handshaking.Store(false)
	if err == nil {
		tc.SetDeadline(time.Time{})
		cs := tc.ConnectionState()
		c.certNames = certNames(cs)
		c.tlsVersion = tls.VersionName(cs.Version)
		return ""
	}
	if r := c.reason.Load(); r != nil {
		return *r // closed by this side (shutdown)
	}
	why := handshakeFailure(err)
	c.s.m.tlsFailures.WithLabelValues(why).Inc()
	if n, ok := c.s.handshakes.allow(time.Now()); ok {
		c.s.log.Warn("tls handshake failed", zap.String("reason", why), zap.String("remote", c.raddr),
			zap.Error(err), zap.Int64("failed_unlogged", n))
	}
	return "tls_handshake_failed"
}

// handshakeFailure classifies a server handshake error. Go reports a client
// that sent no certificate with an error of no type of its own; its text
// is matched (a test pins it).
func handshakeFailure(err error) string {
	var ne net.Error
	var ve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return tlsFailTimeout
	case errors.As(err, &ve), strings.Contains(err.Error(), "didn't provide a certificate"):
		return tlsFailCertificate
	}
	return tlsFailProtocol
}

// certNames returns the names a peer's certificate gives it: its dNSName
// subject alternative names or, when it has none, its subject common name.
func certNames(cs tls.ConnectionState) []string {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames
	}
	if leaf.Subject.CommonName != "" {
		return []string{leaf.Subject.CommonName}
	}
	return nil
}

// certIdentityError reports an Origin-Host that is not one of the names of
// the peer's certificate (nil when it is, or on a connection without TLS).
func (c *conn) certIdentityError(r *cerRequest) *reqError {
	if !c.isTLS {
		return nil
	}
	host := string(r.originHost.Data)
	for _, n := range c.certNames {
		if strings.EqualFold(n, host) {
			return nil
		}
	}
	e := protocolError(wire.UnknownPeer, "Origin-Host is not the identity of the peer's TLS certificate")
	e.failed = r.originHost.Raw
	return e
}
