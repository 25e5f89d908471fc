package fetch

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// DefaultTimeout bounds one attempt (connection, headers and body) of a
// client from NewClient when its timeout is zero.
const DefaultTimeout = 10 * time.Minute

// maxRedirects bounds the redirects a client from NewClient follows.
const maxRedirects = 10

// TLSOptions configures the TLS side of NewClient.
type TLSOptions struct {
	// CAFile is a PEM file of CA certificates. When set, it replaces the
	// system roots: only servers with a certificate from these CAs are
	// trusted.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate (with any
	// intermediates) and its key, for mutual TLS. Both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name the server certificate is checked
	// against (default: the URL's host).
	ServerName string
	// InsecureSkipVerify disables server certificate verification. For
	// tests only.
	InsecureSkipVerify bool
}

// NewClient returns an HTTP client for HTTP.Client: TLS 1.2 or later, the
// CA, client certificate and server name of tlsOpts (nil: system roots, no
// client certificate), proxies from the environment, at most 10 redirects
// and none away from https. timeout bounds one attempt including reading
// the body (DefaultTimeout when zero).
func NewClient(timeout time.Duration, tlsOpts *TLSOptions) (*http.Client, error) {
	if timeout < 0 {
		return nil, fmt.Errorf("fetch: client timeout %v is negative", timeout)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	var o TLSOptions
	if tlsOpts != nil {
		o = *tlsOpts
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("fetch: client certificate: cert file and key file must be set together")
	}
	cfg, err := tlsconf.Client(tlsconf.Files{CA: o.CAFile, Cert: o.CertFile, Key: o.KeyFile}, o.ServerName, o.InsecureSkipVerify)
	if err != nil {
		return nil, tlsconf.Name(err, "fetch: client certificate", "fetch: ca file")
	}

	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	tr.TLSClientConfig = cfg
	tr.ForceAttemptHTTP2 = true
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: checkRedirect,
	}, nil
}

// errRedirect marks a redirect the client refuses to follow (not retried).
var errRedirect = errors.New("redirect refused")

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", errRedirect, maxRedirects)
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("%w: to a %s url", errRedirect, req.URL.Scheme)
	}
	return nil
}
