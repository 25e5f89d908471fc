package oauth

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Key file errors, wrapped with the file name and the offending key.
var (
	ErrMalformedKeyFile = errors.New("oauth: malformed key file")
	ErrUnsupportedKey   = errors.New("oauth: unsupported key")
	ErrNoKey            = errors.New("oauth: no signature verification key")
)

const (
	maxKeyFileSize = 1 << 20 // a JWKS of a few keys is a few KiB
	minRSABits     = 2048    // RFC 7518 §3.3
)

// keySet is what one read of the key file gave. It is never modified after
// loadKeys returns, so a Verify may use it without a lock.
type keySet struct {
	keys []key
}

// key is one NRF public key and the algorithms it verifies.
type key struct {
	kid  string // "" (a PEM key): tried whatever kid the token names
	algs []keyAlg
}

// keyAlg is one algorithm a key verifies, with the parse options that verify
// a token with exactly this algorithm and key (built once, at load).
type keyAlg struct {
	name  string
	parse []jwt.ParseOption
}

// algFor returns the options verifying alg with k, or nil when k does not
// verify alg.
func (k *key) algFor(alg string) []jwt.ParseOption {
	for i := range k.algs {
		if k.algs[i].name == alg {
			return k.algs[i].parse
		}
	}
	return nil
}

// loadKeys reads and parses the key file.
func loadKeys(path string) (*keySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("oauth: key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("oauth: key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes (key file %s)", ErrMalformedKeyFile, maxKeyFileSize, path)
	}
	keys, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%w (key file %s)", err, path)
	}
	return &keySet{keys: keys}, nil
}

// parseKeys parses a JWKS or a single JWK (content starting with '{') or
// PEM (anything else).
func parseKeys(data []byte) ([]key, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrNoKey)
	}
	if trimmed[0] == '{' {
		return parseJWKS(trimmed)
	}
	return parsePEM(trimmed)
}

// parsePEM accepts PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1) and
// CERTIFICATE blocks; a certificate is only a container for the key (its
// validity and chain are not checked). Private keys are refused: the EIR has
// no business holding the NRF's signing key.
func parsePEM(data []byte) ([]key, error) {
	var keys []key
	rest := data
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var pub any
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case "EC PARAMETERS": // openssl ecparam -genkey writes it before the key
			continue
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
			return nil, fmt.Errorf("%w: PEM block %d is a %s: give the NRF's public key or certificate", ErrUnsupportedKey, n, b.Type)
		default:
			return nil, fmt.Errorf("%w: PEM block %d: type %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", ErrUnsupportedKey, n, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: PEM block %d (%s): %w", ErrMalformedKeyFile, n, b.Type, err)
		}
		k, err := newKey(fmt.Sprintf("PEM block %d", n), "", pub, "")
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: neither a JWKS (JSON) nor PEM with a public key or certificate", ErrMalformedKeyFile)
	}
	return keys, nil
}

// parseJWKS accepts a JWK Set or a single JWK. Keys whose "use" is not
// "sig" are skipped; a key of an unsupported type, a symmetric key or a
// private key fails the whole file, so that a wrong file is noticed at load
// rather than as 401s.
func parseJWKS(data []byte) ([]key, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS: %w", ErrMalformedKeyFile, err)
	}
	var keys []key
	for i := range set.Len() {
		jk, _ := set.Key(i)
		kid, _ := jk.KeyID()
		name := fmt.Sprintf("JWK %d (kid %q)", i, kid)
		if u, ok := jk.KeyUsage(); ok && u != jwk.ForSignature.String() {
			continue
		}
		if _, ok := jk.(jwk.UnsupportedKey); ok {
			return nil, fmt.Errorf("%w: %s: kty %q", ErrUnsupportedKey, name, jk.KeyType().String())
		}
		if jk.KeyType() == jwa.OctetSeq() {
			return nil, fmt.Errorf("%w: %s: a symmetric key (kty oct): tokens MACed with a shared secret are not supported", ErrUnsupportedKey, name)
		}
		if private, err := jwk.IsPrivateKey(jk); err != nil || private {
			return nil, fmt.Errorf("%w: %s: a private key: give the NRF's public keys", ErrUnsupportedKey, name)
		}
		var raw any
		if err := jwk.Export(jk, &raw); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformedKeyFile, name, err)
		}
		var alg string
		if a, ok := jk.Algorithm(); ok {
			alg = a.String()
		}
		k, err := newKey(name, kid, raw, alg)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the JWKS holds no signature key (use \"sig\" or no use)", ErrNoKey)
	}
	return keys, nil
}

// newKey binds the algorithms to the key type: RSA verifies RS* and PS*, an
// EC key the ES* of its curve, Ed25519 EdDSA. When the JWK names an alg, the
// key verifies that algorithm only.
func newKey(where, kid string, pub any, alg string) (key, error) {
	algs, err := algsFor(where, pub)
	if err != nil {
		return key{}, err
	}
	if alg != "" {
		var found bool
		for _, a := range algs {
			if a.String() == alg {
				algs, found = []jwa.SignatureAlgorithm{a}, true
				break
			}
		}
		if !found {
			return key{}, fmt.Errorf("%w: %s: alg %q does not fit this %s", ErrUnsupportedKey, where, alg, keyKind(pub))
		}
	}
	k := key{kid: kid}
	for _, a := range algs {
		k.algs = append(k.algs, keyAlg{
			name:  a.String(),
			parse: []jwt.ParseOption{jwt.WithKey(a, pub), jwt.WithValidate(false)},
		})
	}
	return k, nil
}

// algsFor lists the JWS algorithms (RFC 7518 §3.1, RFC 8037) a public key
// verifies.
func algsFor(where string, pub any) ([]jwa.SignatureAlgorithm, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("%w: %s: RSA key of %d bits: want at least %d", ErrUnsupportedKey, where, bits, minRSABits)
		}
		return []jwa.SignatureAlgorithm{jwa.RS256(), jwa.RS384(), jwa.RS512(), jwa.PS256(), jwa.PS384(), jwa.PS512()}, nil
	case *ecdsa.PublicKey:
		switch p.Curve.Params().Name {
		case "P-256":
			return []jwa.SignatureAlgorithm{jwa.ES256()}, nil
		case "P-384":
			return []jwa.SignatureAlgorithm{jwa.ES384()}, nil
		case "P-521":
			return []jwa.SignatureAlgorithm{jwa.ES512()}, nil
		}
		return nil, fmt.Errorf("%w: %s: EC curve %s: want P-256, P-384 or P-521", ErrUnsupportedKey, where, p.Curve.Params().Name)
	case ed25519.PublicKey:
		return []jwa.SignatureAlgorithm{jwa.EdDSA(), jwa.EdDSAEd25519()}, nil
	}
	return nil, fmt.Errorf("%w: %s: %s: want RSA, EC P-256/384/521 or Ed25519", ErrUnsupportedKey, where, keyKind(pub))
}

// keyKind names a key type for error messages.
func keyKind(pub any) string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return "RSA key"
	case *ecdsa.PublicKey:
		return "EC " + p.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "Ed25519 key"
	case *ecdh.PublicKey:
		return fmt.Sprintf("ECDH %v key", p.Curve())
	}
	return fmt.Sprintf("%T", pub)
}
