package nrf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// Log field keys.
const (
	keyNRF       = "nrf"
	keyInstance  = "nf_instance_id"
	keyOperation = "operation"
	keyCode      = "status_code"
	keyCause     = "cause"
	keyDetail    = "detail"
	keyHeartbeat = "heartbeat_interval"
	keyRetryIn   = "retry_in"
	keyFailures  = "failures"
)

const (
	typeJSON      = "application/json"
	typeJSONPatch = "application/json-patch+json"
	typeProblem   = "application/problem+json"
	maxAnswer     = 1 << 20 // bytes of an NRF answer read
)

// heartbeatPatch is the heartbeat (TS 29.510 §5.2.2.3.2): an
// UpdateNFInstance whose JSON Patch (RFC 6902, TS 29.571 PatchItem) sets
// the status the NF instance already has.
var heartbeatPatch = []byte(`[{"op":"replace","path":"/nfStatus","value":"REGISTERED"}]`)

// errNotRegistered is wrapped by a heartbeat's error when the NRF answers
// 404: it does not know the NF instance (any more).
var errNotRegistered = errors.New("nrf: nf instance not registered")

// Client registers the 5G-EIR with an NRF and keeps it registered. Create it
// with New, call Run once, and Deregister at shutdown after Run returned.
// Profile and Status may be called at any time.
type Client struct {
	s       settings
	profile NFProfile
	body    []byte // the registration's body (the profile as JSON)
	uri     string // the NF instance's resource at the NRF
	hc      *http.Client
	log     *zap.Logger
	m       *metrics

	// Test hooks: the channel after(d) delivers once d has passed (time.After);
	// jitter(d) is the delay actually waited for a backoff of d.
	after  func(time.Duration) <-chan time.Time
	jitter func(time.Duration) time.Duration

	stopOnce sync.Once
	stop     chan struct{} // closed by Deregister

	mu sync.Mutex
	st Status
}

// Status is the state of the registration.
type Status struct {
	InstanceID string
	// Registered is true while the NRF's last answer confirmed the
	// registration (a registration or a heartbeat answered 2xx).
	Registered bool
	// Since is when Registered last changed; zero until the first
	// registration succeeds or fails.
	Since time.Time
	// HeartbeatInterval is the interval the NRF granted (heartBeatTimer in
	// its answer, or the one proposed when it sent none); 0 before the
	// first registration.
	HeartbeatInterval time.Duration
	// LastContact is when the NRF last answered a registration or a
	// heartbeat with success.
	LastContact time.Time
	// LastError is the last failure (with the NRF's ProblemDetails cause
	// when it sent one) and LastErrorAt when it happened; they are kept after
	// a later success.
	LastError   string
	LastErrorAt time.Time
}

// MarshalJSON encodes s with snake_case keys, times in RFC 3339 (omitted
// when zero) and the interval in seconds.
func (s Status) MarshalJSON() ([]byte, error) {
	type status struct {
		InstanceID        string    `json:"nf_instance_id"`
		Registered        bool      `json:"registered"`
		Since             time.Time `json:"since,omitzero"`
		HeartbeatInterval float64   `json:"heartbeat_interval_seconds"`
		LastContact       time.Time `json:"last_contact,omitzero"`
		LastError         string    `json:"last_error,omitempty"`
		LastErrorAt       time.Time `json:"last_error_at,omitzero"`
	}
	return json.Marshal(status{s.InstanceID, s.Registered, s.Since, s.HeartbeatInterval.Seconds(), s.LastContact, s.LastError, s.LastErrorAt})
}

// New returns a client registering the profile o describes. It reports every
// problem of o at once, in an error wrapping ErrInvalidOptions. Metrics are
// registered on reg.
func New(o Options, log *zap.Logger, reg prometheus.Registerer) (*Client, error) {
	s, err := o.validate()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	p := newProfile(s).clone()
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("nrf: encode profile: %w", err)
	}
	c := &Client{
		s:       s,
		profile: p,
		body:    body,
		uri:     s.endpoint.String() + "/nnrf-nfm/v1/nf-instances/" + s.instance,
		hc:      newHTTPClient(s),
		log:     log,
		m:       m,
		after:   time.After,
		jitter:  equalJitter,
		stop:    make(chan struct{}),
		st:      Status{InstanceID: s.instance},
	}
	if s.generated {
		log.Warn("nf instance id generated: configure it to keep it across restarts", zap.String(keyInstance, s.instance))
	}
	if s.Scheme == "https" && s.FQDN == "" {
		log.Warn("https service registered without an fqdn: consumers cannot verify its certificate by name")
	}
	return c, nil
}

// newHTTPClient returns an HTTP/2-only client for the NRF's scheme.
func newHTTPClient(s settings) *http.Client {
	p := new(http.Protocols)
	t := &http.Transport{
		Proxy:                  nil, // the NRF is inside the core network
		DialContext:            (&net.Dialer{Timeout: s.RequestTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:    s.RequestTimeout,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// Ping a silent connection so a dead NRF is noticed before a
		// heartbeat is queued on it.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: s.RequestTimeout},
	}
	if s.endpoint.Scheme == "https" {
		p.SetHTTP2(true) // ALPN h2 only
		t.TLSClientConfig = tlsconf.AtLeastTLS12(s.TLS)
	} else {
		p.SetUnencryptedHTTP2(true) // h2c with prior knowledge
	}
	t.Protocols = p
	return &http.Client{Transport: t}
}

// Profile returns the profile registered.
func (c *Client) Profile() NFProfile { return c.profile.clone() }

// Status returns the state of the registration.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// Run registers the NF instance (PUT), then sends heartbeats (PATCH) at the
// interval the NRF grants. A heartbeat answered 404 or failing otherwise
// (the NRF unreachable, 5xx, …) loses the registration: Run registers again
// at once, then after each failure waits RetryMin doubled per failure up to
// RetryMax, with jitter. It returns when ctx is done or Deregister was
// called. Failures are logged here, with the NRF's cause when it sent one.
func (c *Client) Run(ctx context.Context) {
	log := c.log.With(zap.String(keyNRF, c.s.endpoint.String()), zap.String(keyInstance, c.s.instance))
	var (
		registered bool
		failures   int
		last       time.Time // start of the last successful exchange
	)
	for !c.done(ctx) {
		if !registered {
			start := time.Now()
			code, err := c.register(ctx)
			if err != nil {
				if c.done(ctx) {
					return // an error of the shutdown, not of the NRF
				}
				c.failed(err)
				failures++
				wait := max(c.backoff(failures), retryAfter(err))
				logFailure(log, "registration failed", err, zap.Int(keyFailures, failures), zap.Duration(keyRetryIn, wait))
				if !c.sleep(ctx, wait) {
					return
				}
				continue
			}
			registered, failures, last = true, 0, start
			st := c.Status()
			log.Info("registered", zap.Int(keyCode, code), zap.Duration(keyHeartbeat, st.HeartbeatInterval))
		}
		if !c.sleep(ctx, c.Status().HeartbeatInterval-time.Since(last)) {
			return
		}
		start := time.Now()
		before := c.Status().HeartbeatInterval
		if err := c.heartbeat(ctx); err != nil {
			if c.done(ctx) {
				return
			}
			c.failed(err)
			registered = false
			wait := retryAfter(err)
			switch {
			case errors.Is(err, errNotRegistered):
				logFailure(log, "registration lost: the nrf does not know the nf instance, registering again", err)
			case wait > 0:
				logFailure(log, "heartbeat failed, registering again after the nrf's retry-after", err, zap.Duration(keyRetryIn, wait))
			default:
				logFailure(log, "heartbeat failed, registering again", err)
			}
			if !c.sleep(ctx, wait) {
				return
			}
			continue
		}
		last = start
		if after := c.Status().HeartbeatInterval; after != before {
			log.Info("heartbeat interval changed by the nrf", zap.Duration(keyHeartbeat, after))
		} else {
			log.Debug("heartbeat")
		}
	}
}

// done reports whether Run must stop.
func (c *Client) done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-c.stop:
		return true
	default:
		return false
	}
}

// sleep waits d; it returns false when Run must stop instead.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return !c.done(ctx)
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.stop:
		return false
	case <-c.after(d):
		return true
	}
}

// backoff is the delay after the failures-th consecutive failed registration.
func (c *Client) backoff(failures int) time.Duration {
	d := c.s.RetryMin
	for i := 1; i < failures && d < c.s.RetryMax; i++ {
		d *= 2
	}
	return c.jitter(min(d, c.s.RetryMax))
}

// equalJitter returns a random delay in [d/2, d].
func equalJitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// register sends the profile (RegisterNFInstance) and returns the NRF's
// status code, 201 or 200. A success is recorded in the status; Run records
// failures.
func (c *Client) register(ctx context.Context) (int, error) {
	code, header, body, err := c.do(ctx, opRegister, http.MethodPut, c.body, typeJSON)
	if err != nil {
		return 0, err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return 0, newStatusError(opRegister, code, header, body)
	}
	c.confirmed(c.granted(body))
	return code, nil
}

// heartbeat sends one heartbeat (UpdateNFInstance). Its error wraps
// errNotRegistered when the NRF answers 404. A success is recorded in the
// status; Run records failures.
func (c *Client) heartbeat(ctx context.Context) error {
	code, header, body, err := c.do(ctx, opHeartbeat, http.MethodPatch, heartbeatPatch, typeJSONPatch)
	switch {
	case err != nil:
		return err
	case code == http.StatusNoContent:
		c.confirmed(0)
		return nil
	case code == http.StatusOK:
		c.confirmed(c.granted(body))
		return nil
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %w", errNotRegistered, newStatusError(opHeartbeat, code, header, body))
	default:
		return newStatusError(opHeartbeat, code, header, body)
	}
}

// Deregister removes the NF instance from the NRF (DeregisterNFInstance)
// and stops Run. Call it once, at shutdown, with a deadline in ctx. An NRF
// that does not know the instance (404) is not an error.
func (c *Client) Deregister(ctx context.Context) error {
	c.stopOnce.Do(func() { close(c.stop) })
	defer c.hc.CloseIdleConnections()
	code, header, body, err := c.do(ctx, opDeregister, http.MethodDelete, nil, "")
	if err == nil && code/100 != 2 && code != http.StatusNotFound {
		err = newStatusError(opDeregister, code, header, body)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Registered {
		c.st.Registered, c.st.Since = false, now
	}
	if err != nil {
		c.st.LastError, c.st.LastErrorAt = err.Error(), now
	}
	c.m.registered.Set(0)
	return err
}

// granted reads heartBeatTimer from a profile answered by the NRF; 0 when
// it has none (the interval in force is kept, or the one proposed).
func (c *Client) granted(body []byte) time.Duration {
	var p struct {
		HeartBeatTimer int `json:"heartBeatTimer"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.HeartBeatTimer <= 0 {
		return 0
	}
	return time.Duration(p.HeartBeatTimer) * time.Second
}

// confirmed records a successful answer; interval is the heartbeat interval
// granted, 0 to keep the one in force (or use the one proposed).
func (c *Client) confirmed(interval time.Duration) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if interval == 0 {
		interval = c.st.HeartbeatInterval
	}
	if interval == 0 {
		interval = time.Duration(c.s.heartbeat) * time.Second
	}
	if !c.st.Registered {
		c.st.Registered, c.st.Since = true, now
	}
	c.st.HeartbeatInterval, c.st.LastContact = interval, now
	c.m.registered.Set(1)
	c.m.interval.Set(interval.Seconds())
}

// failed records a failed registration or heartbeat: the registration is
// no longer confirmed.
func (c *Client) failed(err error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Registered || c.st.Since.IsZero() {
		c.st.Registered, c.st.Since = false, now
	}
	c.st.LastError, c.st.LastErrorAt = err.Error(), now
	c.m.registered.Set(0)
}

// do sends one request with the request deadline and returns the answer's
// status code, header and body (the first maxAnswer bytes). The error is
// that of a request that got no complete answer.
func (c *Client) do(ctx context.Context, op, method string, body []byte, contentType string) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.s.RequestTimeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.uri, r)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("nrf: %s: %w", op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", typeJSON+", "+typeProblem)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.m.answered(op, 0)
		return 0, nil, nil, fmt.Errorf("nrf: %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		c.m.answered(op, 0)
		return 0, nil, nil, fmt.Errorf("nrf: %s: read the answer (%d): %w", op, resp.StatusCode, err)
	}
	c.m.answered(op, resp.StatusCode)
	return resp.StatusCode, resp.Header, b, nil
}

// problemDetails is TS 29.571's ProblemDetails, the members logged.
type problemDetails struct {
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail"`
	Cause         string `json:"cause"`
	InvalidParams []struct {
		Param  string `json:"param"`
		Reason string `json:"reason"`
	} `json:"invalidParams"`
}

// statusError is an answer of the NRF other than those expected.
type statusError struct {
	op         string
	code       int
	problem    problemDetails // zero unless the answer was a ProblemDetails
	retryAfter time.Duration  // the answer's Retry-After; 0 when none
}

func newStatusError(op string, code int, header http.Header, body []byte) *statusError {
	e := &statusError{op: op, code: code, retryAfter: parseRetryAfter(header.Get("Retry-After"), time.Now())}
	if mt, _, err := mime.ParseMediaType(header.Get("Content-Type")); err == nil && (mt == typeProblem || mt == typeJSON) {
		_ = json.Unmarshal(body, &e.problem) // best effort: the status code stands alone
	}
	return e
}

func (e *statusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nrf: %s: %d %s", e.op, e.code, http.StatusText(e.code))
	if e.problem.Cause != "" {
		b.WriteString(": cause " + e.problem.Cause)
	}
	if e.problem.Detail != "" {
		b.WriteString(": " + e.problem.Detail)
	}
	for _, p := range e.problem.InvalidParams {
		b.WriteString("; invalid " + p.Param)
		if p.Reason != "" {
			b.WriteString(" (" + p.Reason + ")")
		}
	}
	return b.String()
}

// logFailure logs a failed request at Warn, with the status code, cause and
// detail of the NRF's answer when there was one.
func logFailure(log *zap.Logger, msg string, err error, fields ...zap.Field) {
	var se *statusError
	if errors.As(err, &se) {
		fields = append(fields, zap.String(keyOperation, se.op), zap.Int(keyCode, se.code))
		if se.problem.Cause != "" {
			fields = append(fields, zap.String(keyCause, se.problem.Cause))
		}
		if se.problem.Detail != "" {
			fields = append(fields, zap.String(keyDetail, se.problem.Detail))
		}
	}
	log.Warn(msg, append(fields, zap.Error(err))...)
}

// maxRetryAfter bounds the wait an NRF's Retry-After can impose.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): delay
// seconds or an HTTP-date, as a wait from now, at most maxRetryAfter. It
// returns 0 for none, a past date or a value it cannot read.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// retryAfter returns the wait the NRF asked for in the answer that made
// err, or 0.
func retryAfter(err error) time.Duration {
	var se *statusError
	if errors.As(err, &se) {
		return se.retryAfter
	}
	return 0
}
