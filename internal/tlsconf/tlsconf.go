// Package pemfile reads the PEM files of TLS configurations: a pool of CA
// certificates, with an error that names the file when it holds none.
package tlsconf

import (
	"crypto/x509"
	"fmt"
	"os"
)

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
