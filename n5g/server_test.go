package n5g

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
	"github.com/eir-sidecar/eir/internal/testenv/sbispec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lists holds one IMEI per list, an exception and a TAC.
func lists(t testing.TB) *memstore.Store {
	t.Helper()
	st := memstore.New()
	ds := func(l eir.List, tg eir.Target) eir.Dataset {
		return eir.Dataset{Source: "national", Target: tg, List: l}
	}
	_, err := st.Apply(context.Background(), []eir.Change{
		{Dataset: ds(eir.ListBlack, eir.TargetIMEI), Add: []eir.Entry{{IMEI: 35209900176148}}},
		{Dataset: ds(eir.ListGrey, eir.TargetIMEI), Add: []eir.Entry{{IMEI: 49015420323751}}},
		{Dataset: ds(eir.ListWhite, eir.TargetIMEI), Add: []eir.Entry{{IMEI: 26053179311383}}},
		{Dataset: ds(eir.ListException, eir.TargetPair), Add: []eir.Entry{{IMEI: 35209900176148, IMSI: "001010000000001"}}},
		{Dataset: ds(eir.ListBlack, eir.TargetTAC), Add: []eir.Entry{{TAC: 1001001}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type testServer struct {
	srv    *Server
	url    string
	client *http.Client
	reg    *prometheus.Registry
}

// start serves s over h2c (tlsConf nil) or h2 and returns a client that
// speaks HTTP/2 only.
func start(t *testing.T, chk eir.Checker, o Options, tlsConf *tls.Config, clientTLS *tls.Config) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(o, chk, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(tlsConf)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if tlsConf != nil {
			hs.ServeTLS(l, "", "")
		} else {
			hs.Serve(l)
		}
	}()
	p := new(http.Protocols)
	scheme := "http"
	if tlsConf != nil {
		p.SetHTTP2(true)
		scheme = "https"
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	tr := &http.Transport{Protocols: p, TLSClientConfig: clientTLS}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-done
	})
	return &testServer{srv: s, url: scheme + "://" + l.Addr().String(), client: &http.Client{Transport: tr}, reg: reg}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	proto  int
}

func (ts *testServer) do(t *testing.T, method, target string, header http.Header) (answer, *http.Request) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, body, resp.ProtoMajor}, req
}

var validator = func() *sbispec.Validator {
	v, err := sbispec.NewValidator(sbispec.N5gEIR)
	if err != nil {
		panic(err)
	}
	return v
}()

// check validates an answer against TS 29.511 (or, for a path the API does
// not define, its body against ProblemDetails of TS 29.571).
func check(t *testing.T, req *http.Request, a answer) {
	t.Helper()
	if a.proto != 2 {
		t.Fatalf("answered over HTTP/%d", a.proto)
	}
	if strings.HasSuffix(req.URL.Path, resource) && req.Method == http.MethodGet {
		if err := validator.Response(req, a.status, a.header, a.body); err != nil {
			t.Fatalf("%s %s → %d %s: not valid against TS 29.511: %v", req.Method, req.URL, a.status, a.body, err)
		}
		return
	}
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("error with Content-Type %q", ct)
	}
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatal(err)
	}
	if err := sbispec.Schema(sbispec.CommonData, "ProblemDetails", v); err != nil {
		t.Fatalf("%s: not a ProblemDetails of TS 29.571: %v", a.body, err)
	}
}

func problemOf(t *testing.T, a answer) ProblemDetails {
	t.Helper()
	var p ProblemDetails
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("%s: %v", a.body, err)
	}
	return p
}

func TestEquipmentStatus(t *testing.T) {
	st := lists(t)
	ts := start(t, eir.NewDecider(st, eir.Policy{}), Options{}, nil, nil)
	const path = "/n5g-eir-eic/v1/equipment-status"
	tests := []struct {
		name   string
		query  string
		status int
		want   string // the status of a 200, the cause of an error
		params []string
	}{
		{"black imei", "pei=imei-352099001761481", 200, "BLACKLISTED", nil},
		{"failing luhn is the same device", "pei=imei-352099001761489", 200, "BLACKLISTED", nil},
		{"imeisv never misses an imei entry", "pei=imeisv-3520990017614812", 200, "BLACKLISTED", nil},
		{"grey", "pei=imei-490154203237518", 200, "GREYLISTED", nil},
		{"white", "pei=imei-260531793113837", 200, "WHITELISTED", nil},
		{"tac rule", "pei=imei-010010011234560", 200, "BLACKLISTED", nil},
		{"exception by supi", "pei=imei-352099001761481&supi=imsi-001010000000001", 200, "WHITELISTED", nil},
		{"another supi keeps the pei entry", "pei=imei-352099001761481&supi=imsi-001010000000002", 200, "BLACKLISTED", nil},
		{"nai supi keeps the pei entry", "pei=imei-352099001761481&supi=nai-user@example.org", 200, "BLACKLISTED", nil},
		{"gpsi and features accepted", "pei=imei-490154203237518&gpsi=msisdn-4915123456789&supported-features=0a1F", 200, "GREYLISTED", nil},
		{"unknown", "pei=imei-123456789012347", 404, "ERROR_EQUIPMENT_UNKNOWN", nil},
		{"mac pei is unknown", "pei=mac-00-1a-2b-3c-4d-5e", 404, "ERROR_EQUIPMENT_UNKNOWN", nil},
		{"eui pei is unknown", "pei=eui-00-1a-2b-3c-4d-5e-6f-70", 404, "ERROR_EQUIPMENT_UNKNOWN", nil},
		{"pei missing", "", 400, "MANDATORY_QUERY_PARAM_MISSING", []string{"query pei"}},
		{"pei missing, supi given", "supi=imsi-001010000000001", 400, "MANDATORY_QUERY_PARAM_MISSING", []string{"query pei"}},
		{"pei too short", "pei=imei-123", 400, "MANDATORY_QUERY_PARAM_INCORRECT", []string{"query pei"}},
		{"pei letters", "pei=imei-35209900176148x", 400, "MANDATORY_QUERY_PARAM_INCORRECT", []string{"query pei"}},
		{"pei upper case", "pei=IMEI-352099001761481", 400, "MANDATORY_QUERY_PARAM_INCORRECT", []string{"query pei"}},
		{"pei bare digits", "pei=352099001761481", 400, "MANDATORY_QUERY_PARAM_INCORRECT", []string{"query pei"}},
		{"pei empty", "pei=", 400, "MANDATORY_QUERY_PARAM_INCORRECT", []string{"query pei"}},
		{"pei twice", "pei=imei-352099001761481&pei=imei-490154203237518", 400, "MANDATORY_QUERY_PARAM_INCORRECT", []string{"query pei"}},
		{"bad supi", "pei=imei-352099001761481&supi=imsi-12", 400, "OPTIONAL_QUERY_PARAM_INCORRECT", []string{"query supi"}},
		{"bad gpsi", "pei=imei-352099001761481&gpsi=4915123456789", 400, "OPTIONAL_QUERY_PARAM_INCORRECT", []string{"query gpsi"}},
		{"bad features", "pei=imei-352099001761481&supported-features=xyz", 400, "OPTIONAL_QUERY_PARAM_INCORRECT", []string{"query supported-features"}},
		{"unknown parameter", "pei=imei-352099001761481&colour=red", 400, "INVALID_QUERY_PARAM", []string{"query colour"}},
		{"bad pei and supi", "pei=imei-1&supi=x", 400, "MANDATORY_QUERY_PARAM_INCORRECT", []string{"query pei", "query supi"}},
		{"undecodable query", "pei=%zz", 400, "INVALID_QUERY_PARAM", []string{"query"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := path
			if tc.query != "" {
				target += "?" + tc.query
			}
			a, req := ts.do(t, "GET", target, nil)
			if a.status != tc.status {
				t.Fatalf("%d %s, want %d", a.status, a.body, tc.status)
			}
			check(t, req, a)
			if tc.status == 200 {
				var body struct{ Status string }
				json.Unmarshal(a.body, &body)
				if body.Status != tc.want || a.header.Get("Content-Type") != "application/json" {
					t.Fatalf("%s %s, want %s", a.header.Get("Content-Type"), a.body, tc.want)
				}
				return
			}
			p := problemOf(t, a)
			if p.Cause != tc.want || p.Status != tc.status {
				t.Fatalf("%s: cause %q status %d, want %s", a.body, p.Cause, p.Status, tc.want)
			}
			var params []string
			for _, ip := range p.InvalidParams {
				params = append(params, ip.Param)
				if strings.Contains(ip.Reason, "eir: ") {
					t.Errorf("%s: reason %q has a Go package prefix", ip.Param, ip.Reason)
				}
			}
			if fmt.Sprint(params) != fmt.Sprint(tc.params) {
				t.Fatalf("invalidParams %v, want %v", params, tc.params)
			}
		})
	}
	if v := testutil.ToFloat64(ts.srv.m.requests.WithLabelValues("404", "ERROR_EQUIPMENT_UNKNOWN")); v != 3 {
		t.Fatalf("404 counted %v times, want 3", v)
	}
}

func TestProtocolErrors(t *testing.T) {
	st := lists(t)
	ts := start(t, eir.NewDecider(st, eir.Policy{}), Options{APIPrefix: "/eir", MaxURILength: 200}, nil, nil)
	ok := "/eir/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481"
	tests := []struct {
		name, method, target string
		header               http.Header
		status               int
		cause                string
	}{
		{"with the prefix", "GET", ok, nil, 200, ""},
		{"without the prefix", "GET", "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481", nil, 400, "INVALID_API"},
		{"version 2", "GET", "/eir/n5g-eir-eic/v2/equipment-status?pei=imei-352099001761481", nil, 400, "INVALID_API"},
		{"other api", "GET", "/eir/nudm-sdm/v1/equipment-status", nil, 400, "INVALID_API"},
		{"root", "GET", "/", nil, 400, "INVALID_API"},
		{"other resource", "GET", "/eir/n5g-eir-eic/v1/equipment", nil, 404, "RESOURCE_URI_STRUCTURE_NOT_FOUND"},
		{"post", "POST", ok, nil, 405, ""},
		{"put", "PUT", ok, nil, 405, ""},
		{"delete", "DELETE", ok, nil, 405, ""},
		{"accept xml", "GET", ok, http.Header{"Accept": {"application/xml"}}, 406, ""},
		{"accept json refused by q=0", "GET", ok, http.Header{"Accept": {"application/json;q=0, text/html"}}, 406, ""},
		{"accept problem+json and json", "GET", ok, http.Header{"Accept": {"application/json, application/problem+json"}}, 200, ""},
		{"accept anything", "GET", ok, http.Header{"Accept": {"*/*"}}, 200, ""},
		{"uri too long", "GET", ok + "&supi=imsi-" + strings.Repeat("1", 300), nil, 414, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := ts.do(t, tc.method, tc.target, tc.header)
			if a.status != tc.status {
				t.Fatalf("%d %s, want %d", a.status, a.body, tc.status)
			}
			if a.proto != 2 {
				t.Fatalf("HTTP/%d", a.proto)
			}
			if tc.status == 200 {
				return
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var v any
			json.Unmarshal(a.body, &v)
			if err := sbispec.Schema(sbispec.CommonData, "ProblemDetails", v); err != nil {
				t.Fatalf("%s: %v", a.body, err)
			}
			if p := problemOf(t, a); p.Cause != tc.cause {
				t.Fatalf("cause %q, want %q", p.Cause, tc.cause)
			}
			if tc.status == 405 && a.header.Get("Allow") != "GET" {
				t.Fatalf("405 with Allow %q", a.header.Get("Allow"))
			}
		})
	}
}

// failing is a checker whose store is down, answering in its own time.
type failing struct {
	policy  eir.Policy
	hold    chan struct{}
	entered atomic.Int32
}

func (f *failing) Check(ctx context.Context, q eir.Query) (eir.Decision, error) {
	f.entered.Add(1)
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
		}
	}
	if f.policy.OnStoreError.Set {
		return eir.Decision{Status: f.policy.OnStoreError.Status, Rule: eir.RuleStoreFallback}, nil
	}
	return eir.Decision{}, fmt.Errorf("test: %w", eir.ErrUnavailable)
}

func (f *failing) TryCheck(eir.Query) (eir.Decision, bool, error) {
	return eir.Decision{}, false, nil
}

func TestStoreFailureAndPolicies(t *testing.T) {
	const target = "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481"
	ts := start(t, &failing{}, Options{}, nil, nil)
	a, req := ts.do(t, "GET", target, nil)
	if a.status != 503 || a.header.Get("Retry-After") == "" {
		t.Fatalf("store down: %d %s", a.status, a.body)
	}
	check(t, req, a)
	// The store-failure policy answers a status instead.
	ts = start(t, &failing{policy: eir.Policy{OnStoreError: eir.Fallback{Set: true, Status: eir.Whitelisted}}}, Options{}, nil, nil)
	if a, _ := ts.do(t, "GET", target, nil); a.status != 200 || string(a.body) != `{"status":"WHITELISTED"}` {
		t.Fatalf("store-failure policy: %d %s", a.status, a.body)
	}
	// The unknown-equipment policy answers unknown and MAC PEIs alike.
	st := lists(t)
	ts = start(t, eir.NewDecider(st, eir.Policy{Unknown: eir.Fallback{Set: true, Status: eir.Greylisted}}), Options{}, nil, nil)
	for _, pei := range []string{"imei-123456789012347", "mac-00-1a-2b-3c-4d-5e"} {
		a, req := ts.do(t, "GET", "/n5g-eir-eic/v1/equipment-status?pei="+pei, nil)
		if a.status != 200 || string(a.body) != `{"status":"GREYLISTED"}` {
			t.Fatalf("%s with the unknown policy: %d %s", pei, a.status, a.body)
		}
		check(t, req, a)
	}
}

func TestOverload(t *testing.T) {
	f := &failing{hold: make(chan struct{}), policy: eir.Policy{OnStoreError: eir.Fallback{Set: true, Status: eir.Whitelisted}}}
	ts := start(t, f, Options{MaxInflight: 1, RequestTimeout: 10 * time.Second}, nil, nil)
	const target = "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481"
	first := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", ts.url+target, nil)
		resp, err := ts.client.Do(req)
		if err != nil {
			first <- answer{}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		first <- answer{status: resp.StatusCode, body: body}
	}()
	testenv.Eventually(t, "the first request reaching the checker", 5*time.Second, func() bool { return f.entered.Load() > 0 })
	a, req := ts.do(t, "GET", target, nil)
	if a.status != 503 || problemOf(t, a).Cause != "NF_CONGESTION" || a.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s", a.status, a.body)
	}
	check(t, req, a)
	close(f.hold)
	if a := <-first; a.status != 200 {
		t.Fatalf("the held request: %d %s", a.status, a.body)
	}
}

func TestAuthorization(t *testing.T) {
	st := lists(t)
	o := Options{Authorize: func(h string) (string, *AuthFailure) {
		switch h {
		case "Bearer good":
			return "amf-1", nil
		case "Bearer narrow":
			return "", &AuthFailure{Status: 403, WWWAuthenticate: `Bearer error="insufficient_scope", scope="n5g-eir-eic"`, Detail: "no n5g-eir-eic scope"}
		case "":
			return "", &AuthFailure{Status: 401, WWWAuthenticate: `Bearer realm="5G-EIR"`, Detail: "a bearer token is required"}
		}
		return "", &AuthFailure{Status: 401, WWWAuthenticate: `Bearer realm="5G-EIR", error="invalid_token"`, Detail: "bad token"}
	}}
	ts := start(t, eir.NewDecider(st, eir.Policy{}), o, nil, nil)
	const target = "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481"
	for _, tc := range []struct {
		token  string
		status int
	}{{"good", 200}, {"narrow", 403}, {"", 401}, {"forged", 401}} {
		h := http.Header{}
		if tc.token != "" {
			h.Set("Authorization", "Bearer "+tc.token)
		}
		a, req := ts.do(t, "GET", target, h)
		if a.status != tc.status {
			t.Fatalf("token %q: %d %s", tc.token, a.status, a.body)
		}
		check(t, req, a)
		if tc.status != 200 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("token %q: %d without WWW-Authenticate", tc.token, a.status)
		}
	}
}

func TestHTTP2OverTLSOnly(t *testing.T) {
	ca := certtest.NewCA(t, "sbi")
	cert, key := ca.Server(t, "eir")
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := certPool(t, ca)
	st := lists(t)
	ts := start(t, eir.NewDecider(st, eir.Policy{}), Options{}, &tls.Config{Certificates: []tls.Certificate{pair}}, &tls.Config{RootCAs: pool})
	a, req := ts.do(t, "GET", "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481", nil)
	if a.status != 200 || a.proto != 2 {
		t.Fatalf("h2 over TLS: %d HTTP/%d %s", a.status, a.proto, a.body)
	}
	check(t, req, a)
	// An HTTP/1.1 client gets nothing: the SBI is HTTP/2.
	p := new(http.Protocols)
	p.SetHTTP1(true)
	h1 := &http.Client{Transport: &http.Transport{Protocols: p, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer h1.CloseIdleConnections()
	if resp, err := h1.Get(ts.url + "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481"); err == nil {
		resp.Body.Close()
		t.Fatalf("HTTP/1.1 over TLS answered %d", resp.StatusCode)
	}
}

func TestHTTP1Refused(t *testing.T) {
	st := lists(t)
	ts := start(t, eir.NewDecider(st, eir.Policy{}), Options{}, nil, nil)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	h1 := &http.Client{Transport: &http.Transport{Protocols: p}}
	defer h1.CloseIdleConnections()
	resp, err := h1.Get(ts.url + "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("HTTP/1.1 cleartext was answered 200")
		}
	}
}

func certPool(t *testing.T, ca *certtest.CA) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

func TestProblemFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want checkProblem
	}{
		{"unknown", eir.ErrUnknown, checkProblem{status: 404, cause: "ERROR_EQUIPMENT_UNKNOWN", detail: "the equipment is on no list"}},
		{"unknown wrapped", fmt.Errorf("x: %w", eir.ErrUnknown), checkProblem{status: 404, cause: "ERROR_EQUIPMENT_UNKNOWN", detail: "the equipment is on no list"}},
		{"store down", fmt.Errorf("x: %w", eir.ErrUnavailable), checkProblem{status: 503, detail: "the lists cannot be read now", retry: true}},
		{"other", errors.New("boom"), checkProblem{status: 503, detail: "the lists cannot be read now", retry: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemFor(tc.err); got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

// recorder is an Observer keeping copies of the answers.
type recorder struct {
	mu  sync.Mutex
	got []observe.Answer
}

func (r *recorder) Answered(a observe.Answer) {
	r.mu.Lock()
	r.got = append(r.got, a)
	r.mu.Unlock()
}

// TestObserver: every check answered is told to the observer, with the
// consumer, its address, the query and the decision or error; requests
// refused before a check are not.
func TestObserver(t *testing.T) {
	obs := &recorder{}
	o := Options{Observer: obs, Authorize: func(string) (string, *AuthFailure) { return "amf-1", nil }}
	ts := start(t, eir.NewDecider(lists(t), eir.Policy{}), o, nil, nil)
	for _, q := range []string{"pei=imei-352099001761481&supi=imsi-001010000000002", "pei=imei-123456789012347", "pei=imei-123", "pei=mac-00-1a-2b-3c-4d-5e"} {
		ts.do(t, "GET", "/n5g-eir-eic/v1/equipment-status?"+q, nil)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.got) != 3 {
		t.Fatalf("%d answers observed: %+v", len(obs.got), obs.got)
	}
	black, unknown, mac := obs.got[0], obs.got[1], obs.got[2]
	if black.Interface != "n5g" || black.Peer != "amf-1" || !strings.HasPrefix(black.PeerAddr, "127.0.0.1:") || black.Err != nil ||
		black.Query != (eir.Query{IMEI: 35209900176148, IMSI: "001010000000002", Kind: eir.PEIIMEI}) ||
		black.Decision.Status != eir.Blacklisted || black.Decision.Rule != eir.RuleIMEI {
		t.Errorf("black: %+v", black)
	}
	if !errors.Is(unknown.Err, eir.ErrUnknown) || unknown.Query.IMEI != 12345678901234 {
		t.Errorf("unknown: %+v", unknown)
	}
	if !errors.Is(mac.Err, eir.ErrUnknown) || mac.Query.Kind != eir.PEIMAC {
		t.Errorf("mac: %+v", mac)
	}
}

// TestObserverSVNAndGPSI: the observer gets an imeisv- PEI's SVN and an
// msisdn- gpsi's digits; an imei- PEI and an extid- gpsi give none.
func TestObserverSVNAndGPSI(t *testing.T) {
	obs := &recorder{}
	ts := start(t, eir.NewDecider(lists(t), eir.Policy{}), Options{Observer: obs}, nil, nil)
	for _, q := range []string{
		"pei=imeisv-3520990017614807&supi=imsi-001010000000002&gpsi=msisdn-491701234567",
		"pei=imei-352099001761481&gpsi=extid-user@example.org",
	} {
		ts.do(t, "GET", "/n5g-eir-eic/v1/equipment-status?"+q, nil)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.got) != 2 {
		t.Fatalf("%d answers observed: %+v", len(obs.got), obs.got)
	}
	if a := obs.got[0]; a.SVN != "07" || a.MSISDN != "491701234567" || a.Query.IMSI != "001010000000002" {
		t.Errorf("imeisv and msisdn: %+v", a)
	}
	if a := obs.got[1]; a.SVN != "" || a.MSISDN != "" {
		t.Errorf("imei and extid: %+v", a)
	}
}

type nopObserver struct{}

func (nopObserver) Answered(observe.Answer) {}

// TestObserverAllocs: telling the observer costs no allocation.
func TestObserverAllocs(t *testing.T) {
	with, err := New(Options{Observer: nopObserver{}}, eir.NewDecider(lists(t), eir.Policy{}), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	without, err := New(Options{}, eir.NewDecider(lists(t), eir.Policy{}), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481", nil)
	allocs := func(s *Server) float64 {
		w := &discardWriter{h: http.Header{}}
		s.ServeHTTP(w, req)
		return testing.AllocsPerRun(100, func() {
			clear(w.h)
			s.ServeHTTP(w, req)
		})
	}
	if a, b := allocs(with), allocs(without); a > b {
		t.Fatalf("%v allocations with an observer, %v without", a, b)
	}
}
