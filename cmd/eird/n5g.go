package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/tlsconf"
	"github.com/eir-sidecar/eir/n5g"
	"github.com/eir-sidecar/eir/n5g/nrf"
	"github.com/eir-sidecar/eir/n5g/oauth"
)

// n5gListener is the N5g-eir service ready to serve.
type n5gListener struct {
	srv *http.Server
	l   net.Listener
	tls bool
}

// newN5g builds the N5g-eir service and opens its listener, or returns nil
// when n5g.listen is empty.
func newN5g(c config.N5g, o n5g.Options, chk eir.Checker, log *zap.Logger, reg prometheus.Registerer) (*n5gListener, error) {
	if c.Listen == "" {
		return nil, nil
	}
	o.APIPrefix, o.RequestTimeout, o.MaxInflight = c.APIPrefix, c.RequestTimeout, c.MaxInflight
	s, err := n5g.New(o, chk, log, reg)
	if err != nil {
		return nil, err
	}
	tlsConf, err := n5gTLS(c.TLS)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("n5g listen: %w", err)
	}
	return &n5gListener{srv: s.HTTPServer(tlsConf), l: l, tls: tlsConf != nil}, nil
}

// serve serves until Shutdown.
func (n *n5gListener) serve() error {
	if n.tls {
		return n.srv.ServeTLS(n.l, "", "")
	}
	return n.srv.Serve(n.l)
}

// n5gTLS is the TLS configuration of the N5g-eir listener, or nil for h2c.
func n5gTLS(c config.N5gTLS) (*tls.Config, error) {
	if c.CertFile == "" {
		return nil, nil
	}
	conf, err := tlsconf.Server(tlsconf.Files{Cert: c.CertFile, Key: c.KeyFile, CA: c.ClientCAFile}, tls.RequireAndVerifyClientCert)
	if err != nil {
		return nil, tlsconf.Name(err, "n5g.tls", "n5g.tls.client_ca_file")
	}
	return conf, nil
}

// newVerifier returns the OAuth2 access-token verifier of N5g-eir, or nil
// when n5g.oauth.enabled is off. Our nfInstanceId is an accepted audience.
func newVerifier(c config.OAuth, instanceID string) (*oauth.Verifier, error) {
	if !c.Enabled {
		return nil, nil
	}
	aud := append([]string(nil), c.Audience...)
	if instanceID != "" {
		aud = append(aud, instanceID)
	}
	v, err := oauth.New(oauth.Options{KeyFile: c.KeyFile, Audience: aud, Scope: c.Scope, Issuer: c.Issuer, Leeway: c.Leeway})
	if err != nil {
		return nil, fmt.Errorf("n5g.oauth: %w", err)
	}
	return v, nil
}

// authorize adapts the verifier to the N5g-eir service: the consumer is
// the token's subject (the AMF's NF instance).
func authorize(v *oauth.Verifier) func(string) (string, *n5g.AuthFailure) {
	return func(h string) (string, *n5g.AuthFailure) {
		c, e := v.Verify(h)
		if e != nil {
			return "", &n5g.AuthFailure{Status: e.Status, WWWAuthenticate: e.WWWAuthenticate, Cause: e.Cause, Detail: e.Detail}
		}
		return c.Subject, nil
	}
}

// newNRF returns the NRF registration client for the N5g-eir service
// listening on addr, or nil when nrf.api_root is empty.
func newNRF(cfg config.Config, addr net.Addr, log *zap.Logger, reg prometheus.Registerer) (*nrf.Client, error) {
	c := cfg.NRF
	if c.APIRoot == "" {
		return nil, nil
	}
	o := nrf.Options{
		NRF: c.APIRoot, InstanceID: c.InstanceID, FQDN: c.FQDN, IPv4: c.IPv4Addresses, IPv6: c.IPv6Addresses,
		Scheme: "http", Port: c.Port, APIPrefix: cfg.N5g.APIPrefix, OAuth2Required: cfg.N5g.OAuth.Enabled,
		AllowedNFTypes: c.AllowedNFTypes, Heartbeat: c.Heartbeat, RequestTimeout: c.Timeout,
	}
	if cfg.N5g.TLS.CertFile != "" {
		o.Scheme = "https"
	}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		if o.Port == 0 {
			o.Port = tcp.Port
		}
		// Without an address configured, advertise the listener's own
		// when it is a specific one.
		if c.FQDN == "" && len(c.IPv4Addresses) == 0 && len(c.IPv6Addresses) == 0 && !tcp.IP.IsUnspecified() {
			if ip4 := tcp.IP.To4(); ip4 != nil {
				o.IPv4 = []string{ip4.String()}
			} else {
				o.IPv6 = []string{tcp.IP.String()}
			}
		}
	}
	if strings.HasPrefix(c.APIRoot, "https:") {
		f := tlsconf.Files{CA: c.TLS.CAFile, Cert: c.TLS.CertFile, Key: c.TLS.KeyFile}
		if c.TLS.CertFile == "" {
			f.Key = "" // a key without its certificate was never read
		}
		conf, err := tlsconf.Client(f, "", false)
		if err != nil {
			return nil, tlsconf.Name(err, "nrf.tls", "nrf.tls.ca_file")
		}
		o.TLS = conf
	}
	client, err := nrf.New(o, log, reg)
	if err != nil {
		return nil, fmt.Errorf("nrf: %w", err)
	}
	return client, nil
}
