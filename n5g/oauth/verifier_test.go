package oauth_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/eir-sidecar/eir/n5g/oauth"
)

// newVerifier returns a Verifier on keyFile accepting our NF type and
// instance id, issuer nrfID, on the test clock; mod changes the options.
func newVerifier(t testing.TB, keyFile string, mod func(o *oauth.Options)) *oauth.Verifier {
	t.Helper()
	o := oauth.Options{KeyFile: keyFile, Audience: []string{eirType, eirID}, Issuer: nrfID, Now: clock}
	if mod != nil {
		mod(&o)
	}
	v, err := oauth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// challenge is RFC 6750 §3's WWW-Authenticate for our errors: the scheme
// and comma-separated auth-params whose quoted values hold only the
// characters §3 allows for error_description.
var challenge = regexp.MustCompile(`^Bearer realm="5G-EIR"(, [a-z_]+="[\x20\x21\x23-\x5b\x5d-\x7e]*")*$`)

// checkRefusal checks a refusal: its status, reason and the form of its
// challenge (no error= without a token, insufficient_scope with our scope
// for 403, invalid_token otherwise).
func checkRefusal(t *testing.T, e *oauth.Error, want oauth.Reason) {
	t.Helper()
	if e == nil {
		t.Fatalf("accepted, want refused (%s)", want)
	}
	if e.Reason != want {
		t.Errorf("reason %q (%s), want %q", e.Reason, e.Detail, want)
	}
	if !challenge.MatchString(e.WWWAuthenticate) {
		t.Errorf("WWW-Authenticate %q is not an RFC 6750 challenge", e.WWWAuthenticate)
	}
	if e.Detail == "" {
		t.Error("no detail")
	}
	if e.Cause != "" {
		t.Errorf("cause %q, want none", e.Cause)
	}
	switch want {
	case oauth.ReasonNoToken:
		if e.Status != 401 || e.WWWAuthenticate != realmOnly {
			t.Errorf("%d %q, want 401 %q", e.Status, e.WWWAuthenticate, realmOnly)
		}
	case oauth.ReasonInsufficientScope:
		w := `Bearer realm="5G-EIR", error="insufficient_scope", error_description="the access token does not grant the scope", scope="n5g-eir-eic"`
		if e.Status != 403 || e.WWWAuthenticate != w {
			t.Errorf("%d %q, want 403 %q", e.Status, e.WWWAuthenticate, w)
		}
	default:
		if e.Status != 401 || !strings.HasPrefix(e.WWWAuthenticate, invalidPfx) || e.WWWAuthenticate != invalidPfx+e.Detail+`"` {
			t.Errorf("%d %q, want 401 %s<detail>\"", e.Status, e.WWWAuthenticate, invalidPfx)
		}
	}
}

func TestVerify(t *testing.T) {
	k := keysOnce()
	dir := t.TempDir()
	file := writeFile(t, dir, "nrf.jwks", jwks(t,
		jwkOf(t, &k.rsa1.PublicKey, "rsa-1", ""),
		jwkOf(t, &k.rsa2.PublicKey, "rsa-2", ""),
		jwkOf(t, &k.ec256.PublicKey, "ec-256", ""),
		jwkOf(t, &k.ec384.PublicKey, "ec-384", ""),
		jwkOf(t, k.ed.Public(), "ed", ""),
	))
	v := newVerifier(t, file, nil)

	rs256 := func(c map[string]any) string { return "Bearer " + sign(t, c, jwa.RS256(), k.rsa1, "rsa-1") }
	valid := sign(t, claims(), jwa.RS256(), k.rsa1, "rsa-1")
	segs := strings.Split(valid, ".")
	other := sign(t, with(func(c map[string]any) { c["scope"] = "nudm-sdm" }), jwa.RS256(), k.rsa1, "rsa-1")
	tampered := segs[0] + "." + strings.Split(other, ".")[1] + "." + segs[2]

	// Algorithm confusion: HS256 keyed with the RSA public key as the
	// verifier would have it in PEM, DER or JWK n bytes.
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	attacker := mustEC(t)

	tests := []struct {
		name string
		auth string
		want oauth.Reason // "" accepted
	}{
		{"valid aud string", "Bearer " + valid, ""},
		{"valid aud array with our instance id", rs256(with(func(c map[string]any) { c["aud"] = []string{"someone-else", eirID} })), ""},
		{"valid several scopes", rs256(with(func(c map[string]any) { c["scope"] = "nudm-sdm n5g-eir-eic  namf-comm" })), ""},
		{"valid scheme in lower case", "bearer " + valid, ""},
		{"valid spaces around the token", "Bearer   " + valid + " ", ""},
		{"valid no iat no nbf", rs256(with(func(c map[string]any) { delete(c, "iat") })), ""},
		{"valid PLMN claims", rs256(with(func(c map[string]any) {
			c["consumerPlmnId"] = map[string]string{"mcc": "001", "mnc": "01"}
			c["producerPlmnId"] = map[string]string{"mcc": "001", "mnc": "01"}
		})), ""},
		{"valid exp within leeway", rs256(with(func(c map[string]any) { c["exp"] = now.Add(-20 * time.Second).Unix() })), ""},
		{"valid nbf within leeway", rs256(with(func(c map[string]any) { c["nbf"] = now.Add(20 * time.Second).Unix() })), ""},
		{"valid PS256", "Bearer " + sign(t, claims(), jwa.PS256(), k.rsa1, "rsa-1"), ""},
		{"valid RS512 second key", "Bearer " + sign(t, claims(), jwa.RS512(), k.rsa2, "rsa-2"), ""},
		{"valid ES256", "Bearer " + sign(t, claims(), jwa.ES256(), k.ec256, "ec-256"), ""},
		{"valid ES384", "Bearer " + sign(t, claims(), jwa.ES384(), k.ec384, "ec-384"), ""},
		{"valid EdDSA", "Bearer " + sign(t, claims(), jwa.EdDSA(), k.ed, "ed"), ""},
		{"valid no kid tries every key", "Bearer " + sign(t, claims(), jwa.RS256(), k.rsa2, ""), ""},

		{"no header", "", oauth.ReasonNoToken},
		{"basic scheme", "Basic YW1mOnNlY3JldA==", oauth.ReasonNoToken},
		{"scheme only", "Bearer", oauth.ReasonNoToken},
		{"scheme and spaces", "Bearer   ", oauth.ReasonNoToken},
		{"scheme glued to token", "Bearer" + valid, oauth.ReasonNoToken},
		{"token without scheme", valid, oauth.ReasonNoToken},

		{"garbage", "Bearer not-a-jwt", oauth.ReasonMalformed},
		{"two segments", "Bearer " + segs[0] + "." + segs[1], oauth.ReasonMalformed},
		{"JWE shaped", "Bearer a.b.c.d.e", oauth.ReasonMalformed},
		{"header not base64", "Bearer !!!." + segs[1] + "." + segs[2], oauth.ReasonMalformed},
		{"header not JSON", "Bearer bm90IGpzb24." + segs[1] + "." + segs[2], oauth.ReasonMalformed},
		{"space inside token", "Bearer " + segs[0] + ". " + segs[1] + "." + segs[2], oauth.ReasonMalformed},
		{"too long", "Bearer " + strings.Repeat("a", 9000) + "." + segs[1] + "." + segs[2], oauth.ReasonMalformed},
		{"claims not JSON", "Bearer " + signRaw(t, []byte("not json"), k.rsa1, "rsa-1"), oauth.ReasonMalformed},

		{"alg none", "Bearer " + unsigned(t, claims()), oauth.ReasonAlgorithm},
		{"alg none with a kid-less signature", "Bearer " + unsigned(t, claims()) + segs[2], oauth.ReasonAlgorithm},
		{"HS256 keyed with the RSA public key PEM", "Bearer " + sign(t, claims(), jwa.HS256(), pubPEM, "rsa-1"), oauth.ReasonAlgorithm},
		{"HS256 keyed with the RSA public key DER, no kid", "Bearer " + sign(t, claims(), jwa.HS256(), pubDER, ""), oauth.ReasonAlgorithm},
		{"HS512 keyed with the RSA modulus", "Bearer " + sign(t, claims(), jwa.HS512(), k.rsa1.N.Bytes(), "rsa-1"), oauth.ReasonAlgorithm},
		{"RS256 naming the EC key", "Bearer " + sign(t, claims(), jwa.RS256(), k.rsa1, "ec-256"), oauth.ReasonAlgorithm},
		{"ES384 naming the P-256 key", "Bearer " + sign(t, claims(), jwa.ES384(), k.ec384, "ec-256"), oauth.ReasonAlgorithm},
		{"ES256K", "Bearer " + forgeHeader(segs, `{"alg":"ES256K","kid":"ec-256"}`), oauth.ReasonAlgorithm},
		{"no alg", "Bearer " + forgeHeader(segs, `{"kid":"rsa-1"}`), oauth.ReasonAlgorithm},
		{"crit extension", "Bearer " + signHeaders(t, claims(), jwa.RS256(), k.rsa1, map[string]any{"kid": "rsa-1", "crit": []string{"x-nrf"}, "x-nrf": 1}), oauth.ReasonMalformed},
		{"embedded jwk of the signer is ignored", "Bearer " + signHeaders(t, claims(), jwa.ES256(), attacker, map[string]any{"jwk": jwkOf(t, &attacker.PublicKey, "", "")}), oauth.ReasonSignature},
		{"kid not a string", "Bearer " + forgeHeader(segs, `{"alg":"RS256","kid":7}`), oauth.ReasonMalformed},

		{"unknown kid", "Bearer " + sign(t, claims(), jwa.RS256(), k.rsa1, "rsa-9"), oauth.ReasonUnknownKey},
		{"kid of another key", "Bearer " + sign(t, claims(), jwa.RS256(), k.rsa1, "rsa-2"), oauth.ReasonSignature},
		{"tampered claims", "Bearer " + tampered, oauth.ReasonSignature},
		{"signature of another token", "Bearer " + segs[0] + "." + segs[1] + "." + strings.Split(other, ".")[2], oauth.ReasonSignature},
		{"signature not base64url", "Bearer " + segs[0] + "." + segs[1] + ".!!!", oauth.ReasonMalformed},
		{"padded base64", "Bearer " + segs[0] + "." + segs[1] + "." + segs[2] + "==", oauth.ReasonMalformed},
		{"empty signature", "Bearer " + segs[0] + "." + segs[1] + ".", oauth.ReasonSignature},
		{"no kid signed by an unknown key", "Bearer " + sign(t, claims(), jwa.ES256(), attacker, ""), oauth.ReasonSignature},

		{"expired", rs256(with(func(c map[string]any) { c["exp"] = now.Add(-31 * time.Second).Unix() })), oauth.ReasonExpired},
		{"expired long ago", rs256(with(func(c map[string]any) { c["exp"] = now.Add(-24 * time.Hour).Unix() })), oauth.ReasonExpired},
		{"not yet valid", rs256(with(func(c map[string]any) { c["nbf"] = now.Add(31 * time.Second).Unix() })), oauth.ReasonNotYetValid},
		{"issued in the future", rs256(with(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() })), oauth.ReasonNotYetValid},
		{"missing exp", rs256(with(func(c map[string]any) { delete(c, "exp") })), oauth.ReasonMissingExpiry},
		{"exp not a number", rs256(with(func(c map[string]any) { c["exp"] = "tomorrow" })), oauth.ReasonMalformed},
		{"wrong audience", rs256(with(func(c map[string]any) { c["aud"] = "5G_AMF" })), oauth.ReasonAudience},
		{"wrong audience array", rs256(with(func(c map[string]any) { c["aud"] = []string{"x", "y"} })), oauth.ReasonAudience},
		{"audience differs in case", rs256(with(func(c map[string]any) { c["aud"] = "5g_eir" })), oauth.ReasonAudience},
		{"no audience", rs256(with(func(c map[string]any) { delete(c, "aud") })), oauth.ReasonAudience},
		{"wrong issuer", rs256(with(func(c map[string]any) { c["iss"] = "rogue-nrf" })), oauth.ReasonIssuer},
		{"no issuer", rs256(with(func(c map[string]any) { delete(c, "iss") })), oauth.ReasonIssuer},

		{"no scope", rs256(with(func(c map[string]any) { delete(c, "scope") })), oauth.ReasonInsufficientScope},
		{"other scope", "Bearer " + other, oauth.ReasonInsufficientScope},
		{"scope prefix of a word", rs256(with(func(c map[string]any) { c["scope"] = "n5g-eir-eic-extra" })), oauth.ReasonInsufficientScope},
		{"scope part of a word", rs256(with(func(c map[string]any) { c["scope"] = "n5g-eir" })), oauth.ReasonInsufficientScope},
		{"scope in another case", rs256(with(func(c map[string]any) { c["scope"] = "N5G-EIR-EIC" })), oauth.ReasonInsufficientScope},
		{"scope as an array", rs256(with(func(c map[string]any) { c["scope"] = []string{ourScope} })), oauth.ReasonInsufficientScope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, e := v.Verify(tc.auth)
			if tc.want != "" {
				checkRefusal(t, e, tc.want)
				return
			}
			if e != nil {
				t.Fatalf("refused: %d %s (%s)", e.Status, e.Reason, e.Detail)
			}
			if got.Issuer != nrfID || got.Subject != amfID || !slices.Contains(got.Scopes, ourScope) || got.Expiry.IsZero() || len(got.Audience) == 0 {
				t.Errorf("claims %+v", got)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	k := keysOnce()
	v := newVerifier(t, writeFile(t, t.TempDir(), "nrf.pem", pemPublic(t, &k.rsa1.PublicKey)), nil)
	tok := sign(t, with(func(c map[string]any) {
		c["aud"] = []string{eirID}
		c["scope"] = "namf-comm n5g-eir-eic"
	}), jwa.RS256(), k.rsa1, "any-kid")
	got, e := v.Verify("Bearer " + tok)
	if e != nil {
		t.Fatalf("refused: %s (%s)", e.Reason, e.Detail)
	}
	want := oauth.Claims{
		Issuer:   nrfID,
		Subject:  amfID,
		Audience: []string{eirID},
		Scopes:   []string{"namf-comm", ourScope},
		Expiry:   now.Add(time.Hour),
	}
	if got.Issuer != want.Issuer || got.Subject != want.Subject || !slices.Equal(got.Audience, want.Audience) ||
		!slices.Equal(got.Scopes, want.Scopes) || !got.Expiry.Equal(want.Expiry) {
		t.Errorf("claims\n got %+v\nwant %+v", got, want)
	}
}

// TestVerifyOptions covers the options that change a decision: no issuer
// configured, another scope, the leeway, the audience list.
func TestVerifyOptions(t *testing.T) {
	k := keysOnce()
	file := writeFile(t, t.TempDir(), "nrf.pem", pemPublic(t, &k.ec256.PublicKey))
	tok := func(f func(c map[string]any)) string { return "Bearer " + sign(t, with(f), jwa.ES256(), k.ec256, "") }
	tests := []struct {
		name string
		mod  func(o *oauth.Options)
		auth string
		want oauth.Reason
	}{
		{"any issuer when none configured", func(o *oauth.Options) { o.Issuer = "" }, tok(func(c map[string]any) { c["iss"] = "another-nrf" }), ""},
		{"no issuer when none configured", func(o *oauth.Options) { o.Issuer = "" }, tok(func(c map[string]any) { delete(c, "iss") }), ""},
		{"other scope required", func(o *oauth.Options) { o.Scope = "n5g-eir-test" }, tok(nil), oauth.ReasonInsufficientScope},
		{"other scope granted", func(o *oauth.Options) { o.Scope = "n5g-eir-test" }, tok(func(c map[string]any) { c["scope"] = "n5g-eir-test" }), ""},
		{"leeway 1m accepts 50s late", func(o *oauth.Options) { o.Leeway = time.Minute }, tok(func(c map[string]any) { c["exp"] = now.Add(-50 * time.Second).Unix() }), ""},
		{"leeway 1s refuses 5s late", func(o *oauth.Options) { o.Leeway = time.Second }, tok(func(c map[string]any) { c["exp"] = now.Add(-5 * time.Second).Unix() }), oauth.ReasonExpired},
		{"instance id only refuses the NF type", func(o *oauth.Options) { o.Audience = []string{eirID} }, tok(nil), oauth.ReasonAudience},
		{"instance id only accepts the instance id", func(o *oauth.Options) { o.Audience = []string{"", eirID} }, tok(func(c map[string]any) { c["aud"] = eirID }), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := newVerifier(t, file, tc.mod).Verify(tc.auth)
			if tc.want == "" {
				if e != nil {
					t.Fatalf("refused: %s (%s)", e.Reason, e.Detail)
				}
				return
			}
			if e == nil || e.Reason != tc.want {
				t.Fatalf("got %+v, want %s", e, tc.want)
			}
		})
	}
	t.Run("403 names the configured scope", func(t *testing.T) {
		_, e := newVerifier(t, file, func(o *oauth.Options) { o.Scope = "n5g-eir-test" }).Verify(tok(nil))
		if e == nil || !strings.HasSuffix(e.WWWAuthenticate, `, scope="n5g-eir-test"`) {
			t.Fatalf("got %+v", e)
		}
	})
}

// TestKeyFormats loads each accepted key file format and verifies a token
// signed by its private key.
func TestKeyFormats(t *testing.T) {
	k := keysOnce()
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa1.PublicKey)})
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	rsaTok := sign(t, claims(), jwa.RS256(), k.rsa1, "")
	tests := []struct {
		name  string
		file  []byte
		token string
		keys  int
	}{
		{"PEM PUBLIC KEY RSA", pemPublic(t, &k.rsa1.PublicKey), rsaTok, 1},
		{"PEM RSA PUBLIC KEY", pkcs1, rsaTok, 1},
		{"PEM CERTIFICATE", pemCert(t, k.rsa1), rsaTok, 1},
		{"PEM with text around", append(append([]byte("NRF key, rotated 2026-03-01\n"), pemCert(t, k.rsa1)...), "\ntrailer\n"...), rsaTok, 1},
		{"PEM EC P-256 after EC PARAMETERS", append(ecParams, pemPublic(t, &k.ec256.PublicKey)...), sign(t, claims(), jwa.ES256(), k.ec256, "kid-ignored"), 1},
		{"PEM EC P-384", pemPublic(t, &k.ec384.PublicKey), sign(t, claims(), jwa.ES384(), k.ec384, ""), 1},
		{"PEM Ed25519", pemPublic(t, k.ed.Public()), sign(t, claims(), jwa.EdDSA(), k.ed, ""), 1},
		{"PEM Ed25519 fully specified alg", pemPublic(t, k.ed.Public()), sign(t, claims(), jwa.EdDSAEd25519(), k.ed, ""), 1},
		{"PEM bundle second key", pemPublic(t, &k.rsa2.PublicKey, &k.ec256.PublicKey, &k.rsa1.PublicKey), rsaTok, 3},
		{"JWKS", jwks(t, jwkOf(t, &k.rsa1.PublicKey, "a", "RS256")), sign(t, claims(), jwa.RS256(), k.rsa1, "a"), 1},
		{"single JWK", mustJSON(t, jwkOf(t, &k.ec256.PublicKey, "e", "")), sign(t, claims(), jwa.ES256(), k.ec256, "e"), 1},
		{"JWKS skips an encryption key", jwks(t, withUse(t, jwkOf(t, &k.rsa2.PublicKey, "enc", ""), "enc"), jwkOf(t, &k.rsa1.PublicKey, "sig", "")), sign(t, claims(), jwa.RS256(), k.rsa1, "sig"), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, writeFile(t, t.TempDir(), "keys", tc.file), nil)
			if n := v.Keys(); n != tc.keys {
				t.Errorf("%d keys, want %d", n, tc.keys)
			}
			if _, e := v.Verify("Bearer " + tc.token); e != nil {
				t.Fatalf("refused: %s (%s)", e.Reason, e.Detail)
			}
		})
	}
}

// TestJWKAlgBindsTheKey checks that a JWK's alg narrows its key to that one
// algorithm.
func TestJWKAlgBindsTheKey(t *testing.T) {
	k := keysOnce()
	v := newVerifier(t, writeFile(t, t.TempDir(), "nrf.jwks", jwks(t, jwkOf(t, &k.rsa1.PublicKey, "r", "PS256"))), nil)
	if _, e := v.Verify("Bearer " + sign(t, claims(), jwa.PS256(), k.rsa1, "r")); e != nil {
		t.Fatalf("PS256 refused: %s", e.Detail)
	}
	_, e := v.Verify("Bearer " + sign(t, claims(), jwa.RS256(), k.rsa1, "r"))
	checkRefusal(t, e, oauth.ReasonAlgorithm)
}

func TestNewErrors(t *testing.T) {
	k := keysOnce()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.pem", pemPublic(t, &k.rsa1.PublicKey))
	tests := []struct {
		name    string
		file    []byte // written to the key file unless nil
		path    string // the key file when file is nil
		mod     func(o *oauth.Options)
		wantErr error  // errors.Is, or nil to check the message only
		wantMsg string // substring of the message
	}{
		{name: "no key file", path: "", wantMsg: "key file: required"},
		{name: "missing file", path: filepath.Join(dir, "absent.pem"), wantErr: fs.ErrNotExist, wantMsg: "absent.pem"},
		{name: "a directory", path: dir, wantMsg: "key file"},
		{name: "empty", file: []byte(" \n"), wantErr: oauth.ErrNoKey},
		{name: "text", file: []byte("hello"), wantErr: oauth.ErrMalformedKeyFile, wantMsg: "neither a JWKS (JSON) nor PEM"},
		{name: "bad JSON", file: []byte(`{"keys": [`), wantErr: oauth.ErrMalformedKeyFile},
		{name: "empty JWKS", file: []byte(`{"keys": []}`), wantErr: oauth.ErrNoKey},
		{name: "JWKS of encryption keys", file: jwks(t, withUse(t, jwkOf(t, &k.rsa1.PublicKey, "e", ""), "enc")), wantErr: oauth.ErrNoKey},
		{name: "JWKS symmetric key", file: jwks(t, jwkOf(t, []byte("0123456789abcdef0123456789abcdef"), "hmac", "")), wantErr: oauth.ErrUnsupportedKey, wantMsg: "symmetric"},
		{name: "JWKS private key", file: jwks(t, jwkOf(t, k.rsa1, "priv", "")), wantErr: oauth.ErrUnsupportedKey, wantMsg: "private"},
		{name: "JWKS alg not of the key type", file: jwks(t, jwkOf(t, &k.ec256.PublicKey, "e", "RS256")), wantErr: oauth.ErrUnsupportedKey, wantMsg: `JWK 0 (kid "e"): alg "RS256" does not fit this EC P-256 key`},
		{name: "JWKS ES256 on P-384", file: jwks(t, jwkOf(t, &k.ec384.PublicKey, "e", "ES256")), wantErr: oauth.ErrUnsupportedKey},
		{name: "JWKS HS256 on RSA", file: jwks(t, jwkOf(t, &k.rsa1.PublicKey, "r", "HS256")), wantErr: oauth.ErrUnsupportedKey},
		{name: "JWKS unknown kty", file: []byte(`{"keys":[{"kty":"XYZ","kid":"x"}]}`), wantErr: oauth.ErrMalformedKeyFile, wantMsg: "XYZ"},
		{name: "PEM private key", file: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa1)}), wantErr: oauth.ErrUnsupportedKey, wantMsg: "private"},
		{name: "PEM private key after a public key", file: append(pemPublic(t, &k.rsa1.PublicKey), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})...), wantErr: oauth.ErrUnsupportedKey, wantMsg: "PEM block 2"},
		{name: "PEM other block", file: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}}), wantErr: oauth.ErrUnsupportedKey},
		{name: "PEM corrupt key", file: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")}), wantErr: oauth.ErrMalformedKeyFile},
		{name: "PEM corrupt certificate", file: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), wantErr: oauth.ErrMalformedKeyFile},
		{name: "RSA 1024", file: pemPublic(t, rsa1024(t)), wantErr: oauth.ErrUnsupportedKey, wantMsg: "PEM block 1: RSA key of 1024 bits"},
		{name: "EC P-224", file: pemPublic(t, ecP224(t)), wantErr: oauth.ErrUnsupportedKey, wantMsg: "P-224"},
		{name: "X25519", file: pemPublic(t, x25519(t)), wantErr: oauth.ErrUnsupportedKey, wantMsg: "PEM block 1: ECDH X25519 key"},
		{name: "too large", file: append(pemPublic(t, &k.rsa1.PublicKey), strings.Repeat("#", 1<<20)...), wantErr: oauth.ErrMalformedKeyFile},
		{name: "no audience", path: good, mod: func(o *oauth.Options) { o.Audience = []string{""} }, wantMsg: "audience: required"},
		{name: "scope with a space", path: good, mod: func(o *oauth.Options) { o.Scope = "a b" }, wantMsg: "scope"},
		{name: "scope with a quote", path: good, mod: func(o *oauth.Options) { o.Scope = `a"b` }, wantMsg: "scope"},
		{name: "negative leeway", path: good, mod: func(o *oauth.Options) { o.Leeway = -time.Second }, wantMsg: "leeway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if tc.file != nil {
				path = writeFile(t, t.TempDir(), "keys", tc.file)
			}
			o := oauth.Options{KeyFile: path, Audience: []string{eirType}}
			if tc.mod != nil {
				tc.mod(&o)
			}
			v, err := oauth.New(o)
			if err == nil {
				t.Fatalf("New succeeded with %d keys", v.Keys())
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q, want it to mention %q", err, tc.wantMsg)
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), "oauth: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
	t.Run("every option problem at once", func(t *testing.T) {
		_, err := oauth.New(oauth.Options{Scope: "a b", Leeway: -1})
		for _, w := range []string{"key file", "audience", "scope", "leeway"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("error %v does not mention %s", err, w)
			}
		}
	})
}

func TestReload(t *testing.T) {
	k := keysOnce()
	file := writeFile(t, t.TempDir(), "nrf.jwks", jwks(t, jwkOf(t, &k.rsa1.PublicKey, "2026-01", "")))
	v := newVerifier(t, file, nil)
	oldTok := "Bearer " + sign(t, claims(), jwa.RS256(), k.rsa1, "2026-01")
	newTok := "Bearer " + sign(t, claims(), jwa.ES256(), k.ec256, "2026-03")
	expect := func(t *testing.T, auth string, want oauth.Reason) {
		t.Helper()
		_, e := v.Verify(auth)
		switch {
		case want == "" && e != nil:
			t.Fatalf("refused: %s (%s)", e.Reason, e.Detail)
		case want != "" && (e == nil || e.Reason != want):
			t.Fatalf("got %+v, want %s", e, want)
		}
	}
	expect(t, oldTok, "")
	expect(t, newTok, oauth.ReasonUnknownKey)

	// Rotation: the NRF publishes the new key next to the old one, then
	// drops the old one.
	writeFile(t, filepath.Dir(file), filepath.Base(file), jwks(t, jwkOf(t, &k.rsa1.PublicKey, "2026-01", ""), jwkOf(t, &k.ec256.PublicKey, "2026-03", "")))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	expect(t, oldTok, "")
	expect(t, newTok, "")
	writeFile(t, filepath.Dir(file), filepath.Base(file), jwks(t, jwkOf(t, &k.ec256.PublicKey, "2026-03", "")))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	expect(t, oldTok, oauth.ReasonUnknownKey)
	expect(t, newTok, "")

	// A broken file keeps the keys loaded.
	for _, broken := range [][]byte{[]byte(`{"keys": [`), []byte(""), pemPublic(t, rsa1024(t))} {
		writeFile(t, filepath.Dir(file), filepath.Base(file), broken)
		if err := v.Reload(); err == nil {
			t.Fatalf("Reload of %q succeeded", broken)
		}
		expect(t, newTok, "")
		if v.Keys() != 1 {
			t.Fatalf("%d keys after a failed reload, want 1", v.Keys())
		}
	}
}

// TestReloadConcurrent verifies while reloading, for the race detector.
func TestReloadConcurrent(t *testing.T) {
	k := keysOnce()
	a := jwks(t, jwkOf(t, &k.rsa1.PublicKey, "k", ""))
	b := jwks(t, jwkOf(t, &k.rsa1.PublicKey, "k", ""), jwkOf(t, &k.ec256.PublicKey, "e", ""))
	file := writeFile(t, t.TempDir(), "nrf.jwks", a)
	v := newVerifier(t, file, nil)
	tok := "Bearer " + sign(t, claims(), jwa.RS256(), k.rsa1, "k")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, e := v.Verify(tok); e != nil {
					t.Errorf("refused: %s (%s)", e.Reason, e.Detail)
					return
				}
			}
		})
	}
	for i := range 20 {
		data := a
		if i%2 == 1 {
			data = b
		}
		writeFile(t, filepath.Dir(file), filepath.Base(file), data)
		if err := v.Reload(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

// BenchmarkVerify measures one Verify of a valid token, the hot path of an
// N5g-eir request with OAuth2 on.
func BenchmarkVerify(b *testing.B) {
	k := keysOnce()
	file := writeFile(b, b.TempDir(), "nrf.jwks", jwks(b,
		jwkOf(b, &k.rsa1.PublicKey, "rsa", ""),
		jwkOf(b, &k.ec256.PublicKey, "ec", ""),
		jwkOf(b, k.ed.Public(), "ed", ""),
	))
	v := newVerifier(b, file, nil)
	for _, bc := range []struct {
		alg  jwa.SignatureAlgorithm
		key  any
		kid  string
		want oauth.Reason
	}{
		{jwa.RS256(), k.rsa1, "rsa", ""},
		{jwa.ES256(), k.ec256, "ec", ""},
		{jwa.EdDSA(), k.ed, "ed", ""},
		{jwa.RS256(), k.rsa2, "rsa", oauth.ReasonSignature}, // forged: the cost of a refusal
	} {
		name := bc.alg.String()
		if bc.want != "" {
			name += "-" + string(bc.want)
		}
		auth := "Bearer " + sign(b, claims(), bc.alg, bc.key, bc.kid)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, e := v.Verify(auth)
				if (e == nil) != (bc.want == "") {
					b.Fatalf("got %+v, want %q", e, bc.want)
				}
			}
		})
	}
	b.Run("no-token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, e := v.Verify(""); e == nil {
				b.Fatal("accepted")
			}
		}
	})
}

func mustJSON(t testing.TB, k jwk.Key) []byte {
	t.Helper()
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withUse(t testing.TB, k jwk.Key, use string) jwk.Key {
	t.Helper()
	if err := k.Set(jwk.KeyUsageKey, use); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAcceptedTokensExpire(t *testing.T) {
	// An accepted token is remembered, but not beyond its exp (plus the
	// leeway): the cache never lengthens a token's life.
	k := keysOnce()
	file := writeFile(t, t.TempDir(), "nrf.pem", pemPublic(t, &k.rsa1.PublicKey))
	var at atomic.Int64
	at.Store(now.UnixNano())
	v := newVerifier(t, file, func(o *oauth.Options) {
		o.Now = func() time.Time { return time.Unix(0, at.Load()) }
		o.Leeway = time.Second
	})
	tok := "Bearer " + sign(t, with(func(c map[string]any) { c["exp"] = now.Add(time.Minute).Unix() }), jwa.RS256(), k.rsa1, "")
	for range 3 {
		if _, e := v.Verify(tok); e != nil {
			t.Fatalf("refused: %s", e.Detail)
		}
	}
	at.Store(now.Add(time.Minute + 2*time.Second).UnixNano())
	if _, e := v.Verify(tok); e == nil || e.Reason != oauth.ReasonExpired {
		t.Fatalf("a cached token outlived its exp: %+v", e)
	}
}
