// Package oauth verifies the OAuth2 access token of an N5g-eir request: the
// bearer token an NF service consumer (the AMF) obtained from the NRF with the
// client-credentials grant (TS 29.510 §6.3 Nnrf_AccessToken, TS 33.501
// §13.4.1) and sends in the Authorization header (RFC 6750 §2.1).
//
// The token is a JWS-signed JWT whose claims are TS 29.510 AccessTokenClaims:
// iss (the NRF's NF instance id), sub (the consumer's NF instance id), aud
// (the producer NF type "5G_EIR", or an array of producer NF instance ids),
// scope (space-separated service names; ours is "n5g-eir-eic") and exp, with
// optional iat, nbf and PLMN claims. A Verifier checks, in order: the bearer
// syntax, the signature against the NRF's public keys (the algorithm is bound
// to the key type and never taken from the token alone, so "none" and HMAC
// tokens are refused), exp (required), nbf and iat with a leeway, aud, iss
// (when configured) and finally the scope. Failures are answered as RFC 6750
// §3 says: 401 with WWW-Authenticate, error="invalid_token" when a token was
// sent, and 403 error="insufficient_scope" for a valid token without our
// scope.
//
// The keys come from one file, PEM (public keys or certificates) or a JWKS,
// read by New and re-read by Reload (eird calls it on SIGHUP). A verify does
// no I/O and takes no lock: it loads the key set with one atomic load.
//
// The package owns token verification only. It uses the standard library and
// github.com/lestrrat-go/jwx/v3 (JWK parsing, JWS/JWT verification and claim
// validation); it must not import zap, Prometheus, config/ or any other
// package of this module. Counting and logging failures (by Error.Reason, a
// bounded set) is the caller's job.
package oauth
