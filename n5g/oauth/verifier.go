package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Defaults of Options.
const (
	DefaultScope  = "n5g-eir-eic" // the N5g-eir service name, its single OAuth2 scope (TS 29.511)
	DefaultLeeway = 30 * time.Second
)

// Realm is the realm of every WWW-Authenticate challenge.
const Realm = "5G-EIR"

// maxTokenLen bounds the token before any decoding. NRF tokens are well
// under 2 KiB; the bound keeps a hostile header from costing more than a
// real one.
const maxTokenLen = 8 << 10

// Options configures a Verifier. Zero values take the defaults noted.
type Options struct {
	// KeyFile holds the NRF's public key(s): PEM (PUBLIC KEY, RSA PUBLIC
	// KEY or CERTIFICATE blocks; RSA ≥ 2048 bits, EC P-256/384/521,
	// Ed25519) or a JWKS / single JWK (JSON), decided by content. Required.
	KeyFile string
	// Audience lists the accepted aud values: our NF type ("5G_EIR")
	// and/or our nfInstanceId. A token is accepted when its aud (a string
	// or an array) holds one of them. Required.
	Audience []string
	// Scope is the scope the token must grant (a whole word of its
	// space-separated scope claim); default DefaultScope.
	Scope string
	// Issuer, when set, is the required iss (the NRF's NF instance id).
	Issuer string
	// Leeway is the clock skew allowed on exp, nbf and iat; default
	// DefaultLeeway. Use a tiny positive value for (almost) none.
	Leeway time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Claims are the checked claims of an accepted token.
type Claims struct {
	Issuer   string   // iss: the NRF's NF instance id
	Subject  string   // sub: the consumer's NF instance id
	Audience []string // aud, as a list even when the token sent a string
	Scopes   []string // scope, split at spaces
	Expiry   time.Time
}

// Reason says why a request was refused. The set is fixed, so it can label
// a metric.
type Reason string

// Reasons of an Error.
const (
	ReasonNoToken           Reason = "no_token"           // no Authorization, another scheme, or an empty token
	ReasonMalformed         Reason = "malformed"          // not a compact JWS with a JSON claims set
	ReasonAlgorithm         Reason = "algorithm"          // alg absent, "none", HMAC, or not one the key verifies
	ReasonUnknownKey        Reason = "unknown_kid"        // no key with the token's kid
	ReasonSignature         Reason = "signature"          // no key verified the signature
	ReasonExpired           Reason = "expired"            // exp passed (beyond the leeway)
	ReasonNotYetValid       Reason = "not_yet_valid"      // nbf or iat in the future (beyond the leeway)
	ReasonMissingExpiry     Reason = "missing_exp"        // no exp claim
	ReasonAudience          Reason = "audience"           // aud holds none of Options.Audience
	ReasonIssuer            Reason = "issuer"             // iss is not Options.Issuer
	ReasonInsufficientScope Reason = "insufficient_scope" // valid token without Options.Scope
)

// Error is why a request is refused, ready for the HTTP answer: the status,
// the WWW-Authenticate challenge (RFC 6750 §3) and the ProblemDetails
// members.
type Error struct {
	Status          int    // 401 or 403
	WWWAuthenticate string // the challenge to send in WWW-Authenticate
	// Cause is ProblemDetails.cause. It is empty: TS 29.500 Table
	// 5.2.7.2-1 has no cause for 401, and its 403 causes
	// (MODIFICATION_NOT_ALLOWED, CCA_VERIFICATION_FAILURE,
	// TOKEN_CCA_MISMATCH) do not describe a bad token or a missing scope.
	// The machine-readable code travels in the challenge's error=.
	Cause  string
	Detail string // human-readable, for ProblemDetails.detail; never holds token content
	Reason Reason // for logs and metrics
}

// Verifier verifies N5g-eir access tokens. It is safe for concurrent use.
type Verifier struct {
	o        Options
	keys     atomic.Pointer[keySet]
	validate []jwt.ValidateOption
	noToken  string // the challenge without error: RFC 6750 §3.1

	// accepted caches the tokens accepted, until they expire: an AMF
	// sends the same token with every request for its lifetime, and a
	// signature check costs tens of microseconds. Entries are tied to
	// the key set that verified them (a reload drops them); the cache is
	// emptied when it reaches maxCached.
	accepted sync.Map // token → cachedToken
	cached   atomic.Int64
}

// maxCached bounds the accepted-token cache.
const maxCached = 4096

type cachedToken struct {
	keys   *keySet
	claims Claims
	until  time.Time // exp plus the leeway
}

// New loads the keys and returns a Verifier. It fails on a missing or
// unparsable key file, a file without a usable key, an unsupported key type
// and on invalid options.
func New(o Options) (*Verifier, error) {
	if o.Scope == "" {
		o.Scope = DefaultScope
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var errs []error
	if o.KeyFile == "" {
		errs = append(errs, errors.New("oauth: key file: required"))
	}
	o.Audience = slices.DeleteFunc(slices.Clone(o.Audience), func(s string) bool { return s == "" })
	if len(o.Audience) == 0 {
		errs = append(errs, errors.New("oauth: audience: required (our NF type 5G_EIR and/or our nfInstanceId)"))
	}
	if !isScopeToken(o.Scope) {
		errs = append(errs, fmt.Errorf("oauth: scope %q: want one scope token (RFC 6749 §3.3)", o.Scope))
	}
	if o.Leeway < 0 {
		errs = append(errs, fmt.Errorf("oauth: leeway %s: must be >= 0", o.Leeway))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ks, err := loadKeys(o.KeyFile)
	if err != nil {
		return nil, err
	}
	v := &Verifier{o: o, noToken: `Bearer realm="` + Realm + `"`}
	v.keys.Store(ks)
	// jwx checks iat, exp and nbf (with the leeway) before these, in order.
	v.validate = []jwt.ValidateOption{
		jwt.WithClock(jwt.ClockFunc(o.Now)),
		jwt.WithAcceptableSkew(o.Leeway),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithValidator(jwt.ValidatorFunc(v.checkAudience)),
	}
	if o.Issuer != "" {
		v.validate = append(v.validate, jwt.WithIssuer(o.Issuer))
	}
	return v, nil
}

// Reload re-reads the key file. On error the Verifier keeps its keys, and
// requests in flight finish with the keys they started with.
func (v *Verifier) Reload() error {
	ks, err := loadKeys(v.o.KeyFile)
	if err != nil {
		return err
	}
	v.keys.Store(ks)
	return nil
}

// Keys reports how many keys the Verifier holds (for a reload log line).
func (v *Verifier) Keys() int { return len(v.keys.Load().keys) }

var errAudience = errors.New("aud holds none of the accepted audiences")

// checkAudience is the aud validator: the token's aud, a string or an array
// (jwx reads both as a list), must hold one of Options.Audience.
func (v *Verifier) checkAudience(_ context.Context, t jwt.Token) error {
	aud, _ := t.Audience()
	for _, a := range aud {
		if slices.Contains(v.o.Audience, a) {
			return nil
		}
	}
	return errAudience
}

// Verify checks the value of an Authorization header. It returns the
// token's claims, or why the request must be refused.
func (v *Verifier) Verify(authorization string) (Claims, *Error) {
	raw, ok := bearerToken(authorization)
	if !ok {
		return Claims{}, &Error{Status: 401, WWWAuthenticate: v.noToken, Reason: ReasonNoToken,
			Detail: "an OAuth2 access token is required: Authorization: Bearer <token>"}
	}
	ks := v.keys.Load()
	if e, ok := v.accepted.Load(raw); ok {
		if c := e.(cachedToken); c.keys == ks && v.o.Now().Before(c.until) {
			return c.claims, nil
		}
		v.accepted.Delete(raw)
	}
	c, fail := v.verify(raw)
	if fail == nil {
		if v.cached.Add(1) > maxCached {
			v.accepted.Clear()
			v.cached.Store(1)
		}
		v.accepted.Store(raw, cachedToken{keys: ks, claims: c, until: c.Expiry.Add(v.o.Leeway)})
	}
	return c, fail
}

// verify checks a token from scratch: signature, claims, scope.
func (v *Verifier) verify(raw string) (Claims, *Error) {
	tok, fail := v.verifySignature(raw)
	if fail != nil {
		return Claims{}, fail
	}
	if err := jwt.Validate(tok, v.validate...); err != nil {
		return Claims{}, v.invalidClaims(err)
	}
	var c Claims
	c.Issuer, _ = tok.Issuer()
	c.Subject, _ = tok.Subject()
	c.Audience, _ = tok.Audience()
	c.Expiry, _ = tok.Expiration()
	var scope string
	if err := tok.Get("scope", &scope); err == nil {
		c.Scopes = strings.Fields(scope)
	}
	if !slices.Contains(c.Scopes, v.o.Scope) {
		return Claims{}, &Error{
			Status: 403,
			WWWAuthenticate: `Bearer realm="` + Realm + `", error="insufficient_scope", ` +
				`error_description="the access token does not grant the scope", scope="` + v.o.Scope + `"`,
			Detail: "the access token does not grant the scope " + v.o.Scope,
			Reason: ReasonInsufficientScope,
		}
	}
	return c, nil
}

// verifySignature selects the keys that may have signed raw and returns the
// token of the first that verifies it. A key is a candidate when its kid is
// the token's (or either is absent) and it verifies the token's alg: the
// alg must be one bound to the key's type, so "none", HS256 with an RSA key
// (algorithm confusion) and the like never reach a verifier.
func (v *Verifier) verifySignature(raw string) (jwt.Token, *Error) {
	if len(raw) > maxTokenLen {
		return nil, invalidToken(ReasonMalformed, "the access token is too long")
	}
	if !isCompactJWS(raw) {
		return nil, invalidToken(ReasonMalformed, "the access token is not a compact JWS")
	}
	hdr, _, _, err := jwsbb.SplitCompactString(raw)
	if err != nil {
		return nil, invalidToken(ReasonMalformed, "the access token is not a compact JWS")
	}
	h := jwsbb.HeaderParseCompact(hdr)
	alg, err := jwsbb.HeaderGetString(h, jws.AlgorithmKey)
	if err != nil {
		if errors.Is(err, jwsbb.ErrHeaderNotFound()) {
			return nil, invalidToken(ReasonAlgorithm, "the access token header has no alg")
		}
		return nil, invalidToken(ReasonMalformed, "the access token header is not base64url JSON with a string alg")
	}
	if jwsbb.HeaderHas(h, jws.CriticalKey) || jwsbb.HeaderHas(h, "b64") {
		// RFC 7515 §4.1.11: extensions listed in crit must be understood;
		// this NF understands none.
		return nil, invalidToken(ReasonMalformed, "the access token header has extensions this NF does not support (crit, b64)")
	}
	kid, err := jwsbb.HeaderGetString(h, jws.KeyIDKey)
	if err != nil && !errors.Is(err, jwsbb.ErrHeaderNotFound()) {
		return nil, invalidToken(ReasonMalformed, "the access token header kid is not a string")
	}
	ks := v.keys.Load()
	var kidKnown, tried bool
	var malformed error
	for i := range ks.keys {
		k := &ks.keys[i]
		if kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		kidKnown = true
		opts := k.algFor(alg)
		if opts == nil {
			continue
		}
		tried = true
		tok, err := jwt.ParseString(raw, opts...)
		if err == nil {
			return tok, nil
		}
		if !errors.Is(err, jws.VerifyError()) {
			// The signature verified but the claims set did not parse.
			malformed = err
		}
	}
	switch {
	case malformed != nil:
		return nil, invalidToken(ReasonMalformed, "the access token claims are not a valid JWT claims set")
	case tried:
		return nil, invalidToken(ReasonSignature, "the access token signature does not verify")
	case !kidKnown:
		return nil, invalidToken(ReasonUnknownKey, "the access token kid names no key of the NRF")
	}
	return nil, invalidToken(ReasonAlgorithm, "the access token alg is not one the NRF key verifies")
}

// invalidClaims maps a jwt.Validate error.
func (v *Verifier) invalidClaims(err error) *Error {
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		return invalidToken(ReasonExpired, "the access token expired")
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return invalidToken(ReasonNotYetValid, "the access token is not valid yet (nbf)")
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return invalidToken(ReasonNotYetValid, "the access token was issued in the future (iat)")
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return invalidToken(ReasonMissingExpiry, "the access token has no exp")
	case errors.Is(err, errAudience):
		return invalidToken(ReasonAudience, "the access token is not for this NF (aud)")
	case errors.Is(err, jwt.InvalidIssuerError()):
		return invalidToken(ReasonIssuer, "the access token is not from the expected NRF (iss)")
	}
	return invalidToken(ReasonMalformed, "the access token claims are not valid")
}

// invalidToken is a 401 error="invalid_token". desc goes into a quoted
// string, so it is a constant without '"' or '\' (RFC 6750 §3).
func invalidToken(r Reason, desc string) *Error {
	return &Error{
		Status:          401,
		WWWAuthenticate: `Bearer realm="` + Realm + `", error="invalid_token", error_description="` + desc + `"`,
		Detail:          desc,
		Reason:          r,
	}
}

// bearerToken returns the token of an Authorization value "Bearer <token>"
// (the scheme is case-insensitive, RFC 9110 §11.1). It reports false when
// there is no bearer token to check: no header, another scheme, or nothing
// after the scheme.
func bearerToken(h string) (string, bool) {
	const scheme = "Bearer"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	t := strings.Trim(h[len(scheme):], " \t")
	return t, t != ""
}

// isCompactJWS reports whether s has the characters of a compact JWS:
// base64url segments (RFC 7515 §2: no padding) separated by dots. jwx
// checks the structure; this keeps anything else, spaces included, from
// reaching a decoder.
func isCompactJWS(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// isScopeToken reports whether s is one scope token: 1*( %x21 / %x23-5B /
// %x5D-7E ) (RFC 6749 §3.3), which also makes it safe in a quoted string.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
