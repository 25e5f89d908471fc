package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/n5g"
)

// n5gListener is the N5g-eir service ready to serve.
type n5gListener struct {
	srv *http.Server
	l   net.Listener
	tls bool
}

// newN5g builds the N5g-eir service and opens its listener, or returns nil
// when n5g.listen is empty.
func newN5g(c config.N5g, o n5g.Options, chk n5g.Checker, log *zap.Logger, reg prometheus.Registerer) (*n5gListener, error) {
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
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("n5g.tls: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("n5g.tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("n5g.tls.client_ca_file %s: no PEM certificate found", c.ClientCAFile)
		}
		conf.ClientCAs, conf.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return conf, nil
}
