package nrf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eir-sidecar/eir/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// timeScale shrinks the client's waits in tests: a granted heartbeat of 2s
// lasts 20ms.
const timeScale = 100

// testClient is a client of a fake NRF with its registry, logs and the
// waits it asked for (unscaled).
type testClient struct {
	*Client
	reg  *prometheus.Registry
	logs *observer.ObservedLogs

	mu    sync.Mutex
	waits []time.Duration

	cancel context.CancelFunc
	done   chan struct{}
}

// newTestClient returns a client of f (Options in o completed with the
// NRF's URL and an address when unset). Its backoff has no jitter.
func newTestClient(t *testing.T, f *fakeNRF, o Options) *testClient {
	t.Helper()
	if o.NRF == "" {
		o.NRF = f.srv.URL
	}
	if o.FQDN == "" && o.IPv4 == nil && o.IPv6 == nil {
		o.IPv4 = []string{"192.0.2.21"}
	}
	if o.Scheme == "" {
		o.Scheme = "http"
	}
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.RetryMax == 0 {
		o.RetryMax = 4 * time.Second
	}
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	reg := prometheus.NewRegistry()
	c, err := New(o, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testClient{Client: c, reg: reg, logs: logs}
	c.jitter = func(d time.Duration) time.Duration { return d }
	c.after = func(d time.Duration) <-chan time.Time {
		tc.mu.Lock()
		tc.waits = append(tc.waits, d)
		tc.mu.Unlock()
		return time.After(d / timeScale)
	}
	t.Cleanup(func() { c.hc.CloseIdleConnections() })
	return tc
}

// run starts Run; it is stopped (and waited for) at the test's end.
func (tc *testClient) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	tc.cancel, tc.done = cancel, make(chan struct{})
	go func() {
		defer close(tc.done)
		tc.Run(ctx)
	}()
	t.Cleanup(func() { tc.stop(t) })
}

// stop cancels Run and waits for it to return.
func (tc *testClient) stop(t *testing.T) {
	t.Helper()
	tc.cancel()
	select {
	case <-tc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func (tc *testClient) recordedWaits() []time.Duration {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]time.Duration(nil), tc.waits...)
}

func (tc *testClient) counter(op, code string) float64 {
	return testutil.ToFloat64(tc.m.requests.WithLabelValues(op, code))
}

func TestRegisterHeartbeatDeregister(t *testing.T) {
	f := newFakeNRF(t, false)
	f.set(func(f *fakeNRF) { f.grant = 2 }) // the client proposes 10s
	c := newTestClient(t, f, Options{Heartbeat: 10 * time.Second, PLMNs: []PLMN{{"001", "01"}}, AllowedNFTypes: []string{"AMF"}})
	c.run(t)
	testenv.Eventually(t, "3 heartbeats", 10*time.Second, func() bool { return f.count(http.MethodPatch, http.StatusNoContent) >= 3 })

	reqs := f.requests()
	if reqs[0].method != http.MethodPut || reqs[0].code != http.StatusCreated {
		t.Fatalf("first request %s answered %d, want PUT answered 201", reqs[0].method, reqs[0].code)
	}
	if reqs[0].path != instancesPath+c.Status().InstanceID {
		t.Errorf("PUT %s, want the instance %s", reqs[0].path, c.Status().InstanceID)
	}
	var sent map[string]any
	json.Unmarshal(reqs[0].body, &sent)
	if sent["heartBeatTimer"] != float64(10) {
		t.Errorf("proposed heartBeatTimer %v, want 10", sent["heartBeatTimer"])
	}
	st := c.Status()
	if !st.Registered || st.HeartbeatInterval != 2*time.Second || st.Since.IsZero() || st.LastContact.IsZero() || st.LastError != "" {
		t.Errorf("status %+v, want registered with the 2s granted", st)
	}
	// Every wait is the granted interval less the time the previous
	// exchange took: never the 10s proposed.
	for _, w := range c.recordedWaits() {
		if w <= time.Second || w > 2*time.Second {
			t.Errorf("waited %s between heartbeats, want the 2s granted", w)
		}
	}
	if got := testutil.ToFloat64(c.m.registered); got != 1 {
		t.Errorf("eir_nrf_registered %v, want 1", got)
	}
	if got := testutil.ToFloat64(c.m.interval); got != 2 {
		t.Errorf("eir_nrf_heartbeat_interval_seconds %v, want 2", got)
	}
	if got := c.counter(opRegister, "201"); got != 1 {
		t.Errorf("register 201 counted %v times, want 1", got)
	}

	c.stop(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	last := f.requests()[len(f.requests())-1]
	if last.method != http.MethodDelete || last.code != http.StatusNoContent || last.path != reqs[0].path {
		t.Errorf("last request %s %s answered %d, want DELETE of the instance answered 204", last.method, last.path, last.code)
	}
	if st := c.Status(); st.Registered {
		t.Errorf("registered after deregistration: %+v", st)
	}
	if got := testutil.ToFloat64(c.m.registered); got != 0 {
		t.Errorf("eir_nrf_registered %v after deregistration, want 0", got)
	}
	if got := c.counter(opDeregister, "204"); got != 1 {
		t.Errorf("deregister 204 counted %v times, want 1", got)
	}
	problems, err := testutil.GatherAndLint(c.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func TestHeartbeatNotFoundRegistersAgain(t *testing.T) {
	f := newFakeNRF(t, false)
	f.set(func(f *fakeNRF) { f.grant = 1 })
	c := newTestClient(t, f, Options{})
	c.run(t)
	testenv.Eventually(t, "a heartbeat", 10*time.Second, func() bool { return f.count(http.MethodPatch, http.StatusNoContent) >= 1 })
	f.set(func(f *fakeNRF) { f.loseNext = true })
	testenv.Eventually(t, "a second registration", 10*time.Second, func() bool { return f.count(http.MethodPut, http.StatusCreated) >= 2 })
	testenv.Eventually(t, "registered", 10*time.Second, func() bool { return c.Status().Registered })

	reqs := f.requests()
	i := 0
	for reqs[i].code != http.StatusNotFound {
		i++
	}
	if reqs[i].method != http.MethodPatch || reqs[i+1].method != http.MethodPut || reqs[i+1].code != http.StatusCreated {
		t.Errorf("after the heartbeat answered 404: %s answered %d, want a registration answered 201", reqs[i+1].method, reqs[i+1].code)
	}
	if got := c.counter(opHeartbeat, "404"); got != 1 {
		t.Errorf("heartbeat 404 counted %v times, want 1", got)
	}
	lost := c.logs.FilterMessageSnippet("registration lost").AllUntimed()
	if len(lost) != 1 || lost[0].ContextMap()[keyCode] != int64(404) {
		t.Errorf("logged %v, want one registration lost with status code 404", lost)
	}
	if st := c.Status(); !strings.Contains(st.LastError, "404") {
		t.Errorf("last error %q, want the 404", st.LastError)
	}
}

func TestHeartbeatAnswerChangesInterval(t *testing.T) {
	f := newFakeNRF(t, false)
	f.set(func(f *fakeNRF) { f.grant, f.patchGrant = 2, 3 })
	c := newTestClient(t, f, Options{})
	c.run(t)
	testenv.Eventually(t, "3 heartbeats answered 200", 10*time.Second, func() bool { return f.count(http.MethodPatch, http.StatusOK) >= 3 })
	if st := c.Status(); st.HeartbeatInterval != 3*time.Second {
		t.Errorf("interval %s, want the 3s of the heartbeat's answer", st.HeartbeatInterval)
	}
	w := c.recordedWaits()
	if w[0] > 2*time.Second || w[len(w)-1] <= 2*time.Second || w[len(w)-1] > 3*time.Second {
		t.Errorf("waits %v: want 2s first, then 3s", w)
	}
}

func TestNRFDownAndBack(t *testing.T) {
	for _, mode := range []string{"503", "reset", "unreachable"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeNRF(t, false)
			f.set(func(f *fakeNRF) { f.grant = 1 })
			c := newTestClient(t, f, Options{})
			c.run(t)
			testenv.Eventually(t, "registered", 10*time.Second, func() bool { return c.Status().Registered })

			if mode == "unreachable" {
				f.stop()
			} else {
				f.set(func(f *fakeNRF) { f.down = mode })
			}
			// The heartbeat fails, then the registration twice at least.
			testenv.Eventually(t, "3 failed registrations", 10*time.Second, func() bool {
				return len(c.logs.FilterMessage("registration failed").AllUntimed()) >= 3
			})
			st := c.Status()
			if st.Registered || st.LastError == "" {
				t.Errorf("status %+v while the NRF is down, want unregistered with the error", st)
			}
			if got := testutil.ToFloat64(c.m.registered); got != 0 {
				t.Errorf("eir_nrf_registered %v while the NRF is down, want 0", got)
			}
			if mode == "503" {
				e := c.logs.FilterMessage("registration failed").AllUntimed()[0].ContextMap()
				if e[keyCause] != "NF_CONGESTION" || e[keyCode] != int64(503) {
					t.Errorf("logged %v, want the NRF's cause NF_CONGESTION and 503", e)
				}
				if !strings.Contains(st.LastError, "NF_CONGESTION") {
					t.Errorf("last error %q, want the NRF's cause", st.LastError)
				}
			} else if got := c.counter(opRegister, codeError); got < 2 {
				t.Errorf("registrations without an answer counted %v times, want 2 at least", got)
			}

			puts := f.count(http.MethodPut, 0)
			if mode == "unreachable" {
				f.restart()
			} else {
				f.set(func(f *fakeNRF) { f.down = "" })
			}
			testenv.Eventually(t, "registered again", 10*time.Second, func() bool { return c.Status().Registered })
			testenv.Eventually(t, "a heartbeat after the registration", 10*time.Second, func() bool {
				r := f.requests()
				return f.count(http.MethodPut, http.StatusOK) >= 1 && r[len(r)-1].method == http.MethodPatch
			})
			if n := f.count(http.MethodPut, 0); n <= puts {
				t.Errorf("%d registrations, want a new one after the NRF came back", n)
			}
			// Backoff: the first retry waits RetryMin (1s), doubled after
			// each failure up to RetryMax (4s).
			var backoff []time.Duration
			for _, w := range c.recordedWaits() {
				if w == time.Second || w == 2*time.Second || w == 4*time.Second {
					backoff = append(backoff, w) // heartbeat waits are below 1s
				}
			}
			if len(backoff) < 2 || backoff[0] != time.Second || backoff[1] != 2*time.Second {
				t.Errorf("waits %v: want a backoff of 1s, 2s, 4s, 4s…", c.recordedWaits())
			}
		})
	}
}

func TestTLS(t *testing.T) {
	f := newFakeNRF(t, true)
	f.set(func(f *fakeNRF) { f.grant = 1 })
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	c := newTestClient(t, f, Options{TLS: &tls.Config{RootCAs: pool}, Scheme: "https", FQDN: "eir.5gc.mnc001.mcc001.3gppnetwork.org", Port: 443})
	if !strings.HasPrefix(f.srv.URL, "https://") {
		t.Fatalf("the NRF is at %s", f.srv.URL)
	}
	c.run(t)
	testenv.Eventually(t, "a heartbeat", 10*time.Second, func() bool { return f.count(http.MethodPatch, http.StatusNoContent) >= 1 })
	c.stop(t)
	if err := c.Deregister(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := f.count(http.MethodDelete, http.StatusNoContent); n != 1 {
		t.Errorf("%d deregistrations, want 1", n)
	}
}

func TestTLSUnknownAuthority(t *testing.T) {
	f := newFakeNRF(t, true)
	c := newTestClient(t, f, Options{}) // system roots: the test CA is unknown
	c.run(t)
	testenv.Eventually(t, "a failed registration", 10*time.Second, func() bool { return c.Status().LastError != "" })
	if st := c.Status(); st.Registered || !strings.Contains(st.LastError, "certificate") {
		t.Errorf("status %+v, want a certificate error", st)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("the NRF received %d requests", n)
	}
}

func TestDeregister(t *testing.T) {
	t.Run("unknown instance", func(t *testing.T) {
		f := newFakeNRF(t, false)
		c := newTestClient(t, f, Options{})
		if err := c.Deregister(t.Context()); err != nil {
			t.Errorf("deregistering an instance the NRF does not know: %v", err)
		}
		if got := c.counter(opDeregister, "404"); got != 1 {
			t.Errorf("deregister 404 counted %v times", got)
		}
	})
	t.Run("NRF failing", func(t *testing.T) {
		f := newFakeNRF(t, false)
		f.set(func(f *fakeNRF) { f.down = "503" })
		c := newTestClient(t, f, Options{})
		err := c.Deregister(t.Context())
		if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "NF_CONGESTION") {
			t.Errorf("error %v, want the 503 and its cause", err)
		}
		if st := c.Status(); st.LastError != err.Error() {
			t.Errorf("last error %q, want %v", st.LastError, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		f := newFakeNRF(t, false)
		c := newTestClient(t, f, Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := c.Deregister(ctx); err == nil {
			t.Error("deregistered with a cancelled context")
		}
		if got := c.counter(opDeregister, codeError); got != 1 {
			t.Errorf("deregister without an answer counted %v times", got)
		}
	})
	t.Run("stops Run", func(t *testing.T) {
		f := newFakeNRF(t, false)
		f.set(func(f *fakeNRF) { f.grant = 1 })
		c := newTestClient(t, f, Options{})
		c.run(t)
		testenv.Eventually(t, "registered", 10*time.Second, func() bool { return c.Status().Registered })
		if err := c.Deregister(t.Context()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run still running after Deregister")
		}
		if n := f.count(http.MethodDelete, http.StatusNoContent); n != 1 {
			t.Errorf("%d deregistrations, want 1", n)
		}
	})
}

func TestBackoff(t *testing.T) {
	c := &Client{s: settings{Options: Options{RetryMin: time.Second, RetryMax: 30 * time.Second}}, jitter: func(d time.Duration) time.Duration { return d }}
	tests := []struct {
		failures int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {5, 16 * time.Second}, {6, 30 * time.Second}, {1000, 30 * time.Second}}
	for _, tc := range tests {
		if got := c.backoff(tc.failures); got != tc.want {
			t.Errorf("backoff after %d failures: %s, want %s", tc.failures, got, tc.want)
		}
	}
	for range 1000 {
		if d := equalJitter(10 * time.Second); d < 5*time.Second || d > 10*time.Second {
			t.Fatalf("jitter of 10s: %s, want 5s..10s", d)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(Status{InstanceID: "4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10", Registered: true, Since: at, HeartbeatInterval: 10 * time.Second, LastContact: at})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"nf_instance_id":"4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10","registered":true,"since":"2026-01-02T03:04:05Z","heartbeat_interval_seconds":10,"last_contact":"2026-01-02T03:04:05Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// TestRetryAfter: an NRF answering 503 with Retry-After is not asked again
// before the time it gave, in seconds or as an HTTP date, after a failed
// registration or a failed heartbeat; a shorter Retry-After does not cut
// the backoff.
func TestRetryAfter(t *testing.T) {
	f := newFakeNRF(t, false)
	f.set(func(f *fakeNRF) { f.grant, f.down, f.retryAfter = 1, "503", "7" })
	c := newTestClient(t, f, Options{})
	c.run(t)
	testenv.Eventually(t, "2 failed registrations", 10*time.Second, func() bool {
		return len(c.logs.FilterMessage("registration failed").AllUntimed()) >= 2
	})
	if w := c.recordedWaits(); w[0] != 7*time.Second {
		t.Fatalf("waits %v: want 7s (Retry-After) first, not the 1s backoff", w)
	}
	// An HTTP date, 30 s ahead (1 s resolution).
	n := len(c.recordedWaits())
	f.set(func(f *fakeNRF) { f.retryAfter = time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat) })
	testenv.Eventually(t, "a wait after the date", 10*time.Second, func() bool {
		for _, w := range c.recordedWaits()[n:] {
			if w > 28*time.Second && w <= 30*time.Second {
				return true
			}
		}
		return false
	})
	// Up again; then a heartbeat answered 503 with Retry-After: 5.
	f.set(func(f *fakeNRF) { f.down, f.retryAfter = "", "" })
	testenv.Eventually(t, "registered", 10*time.Second, func() bool { return c.Status().Registered })
	n = len(c.recordedWaits())
	f.set(func(f *fakeNRF) { f.down, f.retryAfter = "503", "5" })
	testenv.Eventually(t, "the heartbeat's failure", 10*time.Second, func() bool {
		return len(c.logs.FilterMessage("heartbeat failed, registering again after the nrf's retry-after").AllUntimed()) >= 1
	})
	testenv.Eventually(t, "a 5s wait", 10*time.Second, func() bool {
		for _, w := range c.recordedWaits()[n:] {
			if w == 5*time.Second {
				return true
			}
		}
		return false
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"86400", time.Hour}, // bounded
		{"Thu, 26 Nov 2026 08:00:30 GMT", 30 * time.Second},
		{"Thu, 26 Nov 2026 07:59:00 GMT", 0}, // past
		{"-5", 0},
		{"soon", 0},
	} {
		if got := parseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("Retry-After %q: %v, want %v", tc.v, got, tc.want)
		}
	}
}
