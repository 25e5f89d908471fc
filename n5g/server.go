// Package n5g is the 5G-EIR's N5g-eir_EquipmentIdentityCheck service
// (TS 29.511): GET {apiRoot}/n5g-eir-eic/v1/equipment-status over HTTP/2,
// answered by the same decision engine (and lists, and policy) as S13.
//
// Answers: 200 EirResponseData {"status": WHITELISTED|BLACKLISTED|
// GREYLISTED}; unknown equipment 404 ProblemDetails cause
// ERROR_EQUIPMENT_UNKNOWN (or the unknown-equipment policy's status); bad
// query parameters 400 with the causes of TS 29.500 and
// invalidParams[].param "query <name>"; wrong method 405; unknown API name
// or version 400 INVALID_API; unacceptable Accept 406; too long a URI 414;
// too many requests in flight 503 NF_CONGESTION; the list store failing
// 503 (or the store-failure policy's status). Every error is
// application/problem+json.
package n5g

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe"
)

// API of TS 29.511 V19.1.0.
const (
	APIName     = "n5g-eir-eic"
	APIVersion  = "v1"
	FullVersion = "1.4.0"
	resource    = "/" + APIName + "/" + APIVersion + "/equipment-status"
)

// AuthFailure is a request refused by OAuth2 authorization.
type AuthFailure struct {
	Status          int // 401 or 403
	WWWAuthenticate string
	Cause           string
	Detail          string
}

// Options configures the service. Zero values take the defaults noted.
type Options struct {
	// APIPrefix is the deployment-specific part of apiRoot after the
	// authority (TS 29.501 §4.4.1), e.g. "/eir"; default none.
	APIPrefix      string
	RequestTimeout time.Duration // for a check that must read Redis; default 1s
	MaxInflight    int           // requests being answered at once; beyond, 503 NF_CONGESTION; default 10,000
	MaxURILength   int           // longer request URIs get 414; default 4096
	// Authorize checks the Authorization header (OAuth2, TS 29.510); nil
	// accepts every request. It returns the consumer's NF instance (for
	// hit events) or why the request is refused.
	Authorize func(authorization string) (consumer string, fail *AuthFailure)
	// Observer is told of every check answered (decision counts, hit
	// events, the decision log lines); nil observes nothing.
	Observer observe.Observer
}

// Server answers N5g-eir requests.
type Server struct {
	o     Options
	chk   eir.Checker
	log   *zap.Logger
	m     *metrics
	slots chan struct{}
}

// New returns the service.
func New(o Options, chk eir.Checker, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = time.Second
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 10_000
	}
	if o.MaxURILength <= 0 {
		o.MaxURILength = 4096
	}
	o.APIPrefix = strings.TrimRight(o.APIPrefix, "/")
	if o.APIPrefix != "" && !strings.HasPrefix(o.APIPrefix, "/") {
		return nil, errors.New("n5g: the API prefix must start with '/'")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Server{o: o, chk: chk, log: log, m: m, slots: make(chan struct{}, o.MaxInflight)}, nil
}

// HTTPServer returns an HTTP server for the service speaking HTTP/2 only:
// over TLS (ALPN h2) when tlsConfig is set, otherwise cleartext with prior
// knowledge (h2c, RFC 9113 §3.3). HTTP/1.1 is refused: the SBI is HTTP/2
// (TS 29.500 §5).
func (s *Server) HTTPServer(tlsConfig *tls.Config) *http.Server {
	p := new(http.Protocols)
	if tlsConfig != nil {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	return &http.Server{
		Handler:           s,
		Protocols:         p,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 1000},
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, cause := s.serve(w, r)
	s.m.answered(code, cause, time.Since(start).Seconds())
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) (int, string) {
	path, ok := strings.CutPrefix(r.URL.Path, s.o.APIPrefix)
	if !ok || path == "" {
		path = "/"
	}
	switch {
	case len(r.RequestURI) > s.o.MaxURILength:
		return s.problem(w, http.StatusRequestURITooLong, "", "the request URI is longer than "+strconv.Itoa(s.o.MaxURILength)+" characters")
	case path == resource:
	case strings.HasPrefix(path, "/"+APIName+"/"+APIVersion+"/"):
		return s.problem(w, http.StatusNotFound, "RESOURCE_URI_STRUCTURE_NOT_FOUND", "no such resource: the API has "+resource)
	default:
		return s.problem(w, http.StatusBadRequest, "INVALID_API", "API not supported: this is "+APIName+" "+APIVersion)
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return s.problem(w, http.StatusMethodNotAllowed, "", r.Method+" is not allowed on equipment-status: use GET")
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		return s.problem(w, http.StatusNotAcceptable, "", "the response is application/json (application/problem+json for errors)")
	}
	var consumer string
	if s.o.Authorize != nil {
		var fail *AuthFailure
		if consumer, fail = s.o.Authorize(r.Header.Get("Authorization")); fail != nil {
			if fail.WWWAuthenticate != "" {
				w.Header().Set("WWW-Authenticate", fail.WWWAuthenticate)
			}
			return s.problem(w, fail.Status, fail.Cause, fail.Detail)
		}
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		return s.problem(w, http.StatusServiceUnavailable, "NF_CONGESTION", "too many requests in flight")
	}
	req, invalid := parseQuery(r.URL.RawQuery)
	if invalid != nil {
		return s.problem(w, http.StatusBadRequest, invalid.cause, invalid.detail, invalid.params...)
	}
	return s.answer(w, r, &req, consumer)
}

// answer decides and answers a valid request, then tells the observer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req *request, consumer string) (int, string) {
	q := req.q
	d, ok, err := s.chk.TryCheck(q)
	if !ok {
		ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
		d, err = s.chk.Check(ctx, q)
		cancel()
	}
	var code int
	var cause string
	if err == nil {
		code, cause = s.status(w, d.Status)
	} else {
		p := problemFor(err)
		if p.retry {
			w.Header().Set("Retry-After", "1")
		}
		code, cause = s.problem(w, p.status, p.cause, p.detail)
	}
	if s.o.Observer != nil {
		s.o.Observer.Answered(observe.Answer{Interface: observe.N5g, Peer: consumer, PeerAddr: r.RemoteAddr, Query: q, Decision: d, Err: err,
			SVN: req.svn, MSISDN: req.msisdn})
	}
	return code, cause
}

var statusBodies = map[eir.Status][]byte{
	eir.Whitelisted: []byte(`{"status":"WHITELISTED"}`),
	eir.Blacklisted: []byte(`{"status":"BLACKLISTED"}`),
	eir.Greylisted:  []byte(`{"status":"GREYLISTED"}`),
}

// status answers 200 EirResponseData.
func (s *Server) status(w http.ResponseWriter, st eir.Status) (int, string) {
	body, ok := statusBodies[st]
	if !ok {
		return s.problem(w, http.StatusInternalServerError, "SYSTEM_FAILURE", "no equipment status for "+st.String())
	}
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return http.StatusOK, ""
}

var jsonType = []string{"application/json"}

// acceptsJSON reports whether the Accept header values allow
// application/json (no header allows anything).
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, r := range strings.Split(v, ",") {
			mt, params, _ := strings.Cut(strings.TrimSpace(r), ";")
			if q := qValue(params); q == 0 {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/json", "application/problem+json", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

// qValue returns the q parameter of a media range (1 when absent).
func qValue(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			q, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 1
			}
			return q
		}
	}
	return 1
}
