// Package certtest issues throw-away X.509 certificates for tests of TLS
// listeners and clients: a CA, server certificates for 127.0.0.1 and
// localhost, and client certificates by common name, written as PEM files.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority in a temporary directory.
type CA struct {
	// CertFile is the CA certificate (PEM).
	CertFile string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	dir      string
	serial   int64
}

// NewCA creates a CA named name.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{cert: cert, key: key, dir: tb.TempDir(), serial: 1}
	ca.CertFile = ca.write(tb, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost;
// it returns the certificate and key files.
func (ca *CA) Server(tb testing.TB, cn string) (certFile, keyFile string) {
	return ca.issue(tb, cn, x509.ExtKeyUsageServerAuth)
}

// Client issues a client certificate with common name cn.
func (ca *CA) Client(tb testing.TB, cn string) (certFile, keyFile string) {
	return ca.issue(tb, cn, x509.ExtKeyUsageClientAuth)
}

// Peer issues a certificate for a Diameter node, usable both as a TLS
// client and as a server (a node connects and accepts): common name cn,
// dNSName subject alternative names dnsNames (none: the common name is the
// certificate's only name). The files are named after the serial number,
// so that one CA can issue several certificates with the same name.
func (ca *CA) Peer(tb testing.TB, cn string, dnsNames ...string) (certFile, keyFile string) {
	tb.Helper()
	tmpl := ca.template(cn, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	tmpl.DNSNames = dnsNames
	return ca.sign(tb, tmpl, fmt.Sprintf("peer-%d", ca.serial))
}

func (ca *CA) template(cn string, usage ...x509.ExtKeyUsage) *x509.Certificate {
	ca.serial++
	return &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
}

func (ca *CA) issue(tb testing.TB, cn string, usage x509.ExtKeyUsage) (string, string) {
	tb.Helper()
	tmpl := ca.template(cn, usage)
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	return ca.sign(tb, tmpl, cn)
}

// sign signs tmpl with a new key and writes name.pem and name-key.pem.
func (ca *CA) sign(tb testing.TB, tmpl *x509.Certificate, name string) (string, string) {
	tb.Helper()
	key := newKey(tb)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return ca.write(tb, name+".pem", "CERTIFICATE", der), ca.write(tb, name+"-key.pem", "PRIVATE KEY", keyDER)
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func (ca *CA) write(tb testing.TB, name, typ string, der []byte) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
