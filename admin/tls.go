package admin

import (
	"crypto/tls"
	"fmt"

	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// TLSConfig is the configuration of an HTTPS admin listener: its
// certificate and key, and, when clientCAFile is set, the CAs whose client
// certificates authenticate requests (see Options.CertRoles). A client
// certificate is verified when presented, not required: /healthz, /readyz
// and /metrics stay reachable by probes, and API requests without one
// need a bearer token.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("admin tls: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pool, err := tlsconf.CertPool(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("admin tls: client CA: %w", err)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return c, nil
}
