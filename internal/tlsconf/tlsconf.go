// Package tlsconf builds the TLS configurations of eird, eirctl and
// eirbench from PEM files: a server's (certificate, optional client CAs)
// and a client's (CAs, optional client certificate, server name), each at
// TLS 1.2 or later. It imports the standard library only (eirctl uses it).
//
// An error names the part that failed (Error.Part), so that the caller can
// name the configuration key; its text is the underlying error's.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of a configuration.
type Files struct {
	Cert, Key string // the certificate (chain) and its private key
	// CA holds the CAs to verify the peer with: the client CAs of a
	// server, the root CAs of a client (empty: the system's).
	CA string
}

// Part is the part of a configuration that failed.
type Part uint8

// Parts.
const (
	PartKeyPair Part = iota + 1 // Files.Cert and Files.Key
	PartCA                      // Files.CA
)

// Error is a file that could not be used.
type Error struct {
	Part Part
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Name prefixes err with keyPair or ca, whichever part failed: the
// configuration keys (or flags) of the caller. Other errors take keyPair.
func Name(err error, keyPair, ca string) error {
	var e *Error
	if errors.As(err, &e) && e.Part == PartCA {
		return fmt.Errorf("%s: %w", ca, err)
	}
	return fmt.Errorf("%s: %w", keyPair, err)
}

// Server returns the configuration of a TLS listener: the certificate of
// f.Cert and f.Key and, when f.CA is set, its CAs as the client CAs with
// clientAuth (tls.RequireAndVerifyClientCert, tls.VerifyClientCertIfGiven).
func Server(f Files, clientAuth tls.ClientAuthType) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, &Error{PartKeyPair, err}
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := CertPool(f.CA)
		if err != nil {
			return nil, &Error{PartCA, err}
		}
		c.ClientCAs, c.ClientAuth = pool, clientAuth
	}
	return c, nil
}

// Client returns the configuration of a TLS client: the root CAs of f.CA
// (the system's when empty), the client certificate of f.Cert and f.Key
// when either is set, the server name to verify (empty: the dialled
// host's) and, for tests only, no verification at all.
func Client(f Files, serverName string, insecureSkipVerify bool) (*tls.Config, error) {
	c := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in, test-only
	if f.CA != "" {
		pool, err := CertPool(f.CA)
		if err != nil {
			return nil, &Error{PartCA, err}
		}
		c.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, &Error{PartKeyPair, err}
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// AtLeastTLS12 returns a copy of c (an empty configuration when c is nil)
// whose MinVersion is TLS 1.2 when c leaves it unset.
func AtLeastTLS12(c *tls.Config) *tls.Config {
	if c == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c = c.Clone()
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// CertPool returns the certificates of the PEM file as a pool.
func CertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
