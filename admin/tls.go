package admin

import (
	"crypto/tls"

	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// TLSConfig is the configuration of an HTTPS admin listener: its
// certificate and key, and, when clientCAFile is set, the CAs whose client
// certificates authenticate requests (see Options.CertRoles). A client
// certificate is verified when presented, not required: /healthz, /readyz
// and /metrics stay reachable by probes, and API requests without one
// need a bearer token.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	c, err := tlsconf.Server(tlsconf.Files{Cert: certFile, Key: keyFile, CA: clientCAFile}, tls.VerifyClientCertIfGiven)
	if err != nil {
		return nil, tlsconf.Name(err, "admin tls", "admin tls: client CA")
	}
	return c, nil
}
