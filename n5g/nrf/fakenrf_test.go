package nrf

import (
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/sbispec"
)

// fakeNRF is an NRF serving Nnrf_NFManagement's nf-instance resource over
// HTTP/2. It records every request, and checks each against TS 29.510's
// OpenAPI (method, path, content type, body), each registered profile
// against the NFProfile schema and what the 5G-EIR must register, and each
// of its own answers against the operation's responses.
type fakeNRF struct {
	t   *testing.T
	v   *sbispec.Validator
	srv *httptest.Server
	tls bool

	mu         sync.Mutex
	grant      int    // heartBeatTimer answered to registrations; 0: the one proposed
	patchGrant int    // > 0: heartbeats answered 200 with the profile carrying this heartBeatTimer
	loseNext   bool   // answer the next heartbeat 404 and forget the instance
	down       string // "": up; "503": answer 503 ProblemDetails; "reset": reset every stream
	retryAfter string // with down "503": the Retry-After header sent
	profiles   map[string]map[string]any
	reqs       []recorded
}

// recorded is one request and the status code answered (0: reset).
type recorded struct {
	method, path, contentType string
	body                      []byte
	code                      int
}

const instancesPath = "/nnrf-nfm/v1/nf-instances/"

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// newFakeNRF starts an NRF over h2c (prior knowledge only), or over TLS with
// ALPN h2 when tls is set. It is closed at the test's end.
func newFakeNRF(t *testing.T, tls bool) *fakeNRF {
	t.Helper()
	v, err := sbispec.NewValidator(sbispec.NFManagement)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNRF{t: t, v: v, tls: tls, profiles: map[string]map[string]any{}}
	f.start(nil)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

// start serves on l, or on a new loopback listener when l is nil.
func (f *fakeNRF) start(l net.Listener) {
	srv := httptest.NewUnstartedServer(f)
	if l != nil {
		srv.Listener.Close()
		srv.Listener = l
	}
	if f.tls {
		srv.EnableHTTP2 = true
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP2(true)
		srv.StartTLS()
	} else {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
	}
	f.srv = srv
}

// stop closes the NRF's listener and connections: it is unreachable.
func (f *fakeNRF) stop() { f.srv.Close() }

// restart serves again on the address of the stopped NRF.
func (f *fakeNRF) restart() {
	f.t.Helper()
	addr := f.srv.Listener.Addr().String()
	var l net.Listener
	testenv.Eventually(f.t, "listening again on "+addr, 5*time.Second, func() bool {
		var err error
		l, err = net.Listen("tcp", addr)
		return err == nil
	})
	f.start(l)
}

func (f *fakeNRF) set(fn func(f *fakeNRF)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// requests returns the requests received so far.
func (f *fakeNRF) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// count returns how many method requests were answered code (0: any).
func (f *fakeNRF) count(method string, code int) int {
	n := 0
	for _, r := range f.requests() {
		if r.method == method && (code == 0 || r.code == code) {
			n++
		}
	}
	return n
}

func (f *fakeNRF) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read the request body: %v", err)
	}
	if r.ProtoMajor != 2 {
		t.Errorf("%s %s over %s, want HTTP/2", r.Method, r.URL.Path, r.Proto)
	}
	if (r.TLS != nil) != f.tls {
		t.Errorf("%s %s: TLS %v, want %v", r.Method, r.URL.Path, r.TLS != nil, f.tls)
	}
	var reqBody []byte
	if len(body) > 0 {
		reqBody = body
	}
	if err := f.v.Request(r, reqBody); err != nil {
		t.Errorf("%s %s does not conform to TS 29.510: %v", r.Method, r.URL.Path, err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	rec := recorded{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body}
	if f.down == "reset" {
		f.reqs = append(f.reqs, rec)
		panic(http.ErrAbortHandler) // RST_STREAM: no answer
	}
	code, header, answer := f.answer(r, body)
	if err := f.v.Response(r, code, header, answer); err != nil {
		t.Errorf("the fake NRF's answer %d to %s does not conform to TS 29.510: %v", code, r.Method, err)
	}
	maps.Copy(w.Header(), header)
	w.WriteHeader(code)
	w.Write(answer)
	rec.code = code
	f.reqs = append(f.reqs, rec)
}

// answer answers one request; f.mu is held.
func (f *fakeNRF) answer(r *http.Request, body []byte) (int, http.Header, []byte) {
	if f.down == "503" {
		code, header, body := problem(http.StatusServiceUnavailable, "NF_CONGESTION", "the NRF is overloaded")
		if f.retryAfter != "" {
			header.Set("Retry-After", f.retryAfter)
		}
		return code, header, body
	}
	id, ok := strings.CutPrefix(r.URL.Path, instancesPath)
	if !ok || strings.Contains(id, "/") {
		return problem(http.StatusNotFound, "RESOURCE_URI_STRUCTURE_NOT_FOUND", r.URL.Path)
	}
	switch r.Method {
	case http.MethodPut:
		if ct := r.Header.Get("Content-Type"); ct != typeJSON {
			f.t.Errorf("PUT Content-Type %q, want %s", ct, typeJSON)
		}
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			f.t.Errorf("PUT body: %v", err)
			return problem(http.StatusBadRequest, "INVALID_MSG_FORMAT", err.Error())
		}
		if err := sbispec.Schema(sbispec.NFManagement, "NFProfile", p); err != nil {
			f.t.Errorf("the registered profile does not match TS 29.510 NFProfile: %v", err)
		}
		checkProfile(f.t, id, p)
		_, known := f.profiles[id]
		if f.grant > 0 {
			p["heartBeatTimer"] = f.grant
		}
		f.profiles[id] = p
		h, b := profileAnswer(p)
		if known {
			return http.StatusOK, h, b
		}
		h.Set("Location", "http://"+r.Host+r.URL.Path)
		return http.StatusCreated, h, b
	case http.MethodPatch:
		if ct := r.Header.Get("Content-Type"); ct != typeJSONPatch {
			f.t.Errorf("PATCH Content-Type %q, want %s", ct, typeJSONPatch)
		}
		var patch []map[string]any
		if err := json.Unmarshal(body, &patch); err != nil {
			f.t.Errorf("PATCH body: %v", err)
		}
		want := []map[string]any{{"op": "replace", "path": "/nfStatus", "value": "REGISTERED"}}
		if !reflect.DeepEqual(patch, want) {
			f.t.Errorf("heartbeat patch %s, want %v", body, want)
		}
		p, known := f.profiles[id]
		if f.loseNext {
			f.loseNext = false
			delete(f.profiles, id)
			known = false
		}
		if !known {
			return problem(http.StatusNotFound, "", "no NF instance "+id)
		}
		if f.patchGrant > 0 {
			p["heartBeatTimer"] = f.patchGrant
			h, b := profileAnswer(p)
			return http.StatusOK, h, b
		}
		return http.StatusNoContent, http.Header{}, nil
	case http.MethodDelete:
		if _, known := f.profiles[id]; !known {
			return problem(http.StatusNotFound, "", "no NF instance "+id)
		}
		delete(f.profiles, id)
		return http.StatusNoContent, http.Header{}, nil
	}
	f.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
	return problem(http.StatusMethodNotAllowed, "", r.Method)
}

func profileAnswer(p map[string]any) (http.Header, []byte) {
	b, _ := json.Marshal(p)
	return http.Header{"Content-Type": {typeJSON}, "Content-Length": {strconv.Itoa(len(b))}}, b
}

func problem(code int, cause, detail string) (int, http.Header, []byte) {
	b, _ := json.Marshal(map[string]any{"status": code, "cause": cause, "detail": detail})
	return code, http.Header{"Content-Type": {typeProblem}, "Content-Length": {strconv.Itoa(len(b))}}, b
}

// checkProfile checks what a 5G-EIR registers, beyond the schema: NF type,
// status and service (the schema accepts any string for the enumerations),
// nfServiceList and not the deprecated nfServices.
func checkProfile(t *testing.T, id string, p map[string]any) {
	t.Helper()
	if !uuidV4.MatchString(id) {
		t.Errorf("nfInstanceID %q in the path is not a lower-case UUID v4", id)
	}
	if p["nfInstanceId"] != id {
		t.Errorf("nfInstanceId %v, the path has %s", p["nfInstanceId"], id)
	}
	if p["nfType"] != "5G_EIR" || p["nfStatus"] != "REGISTERED" {
		t.Errorf("nfType %v nfStatus %v, want 5G_EIR REGISTERED", p["nfType"], p["nfStatus"])
	}
	if _, ok := p["nfServices"]; ok {
		t.Error("the deprecated nfServices is sent")
	}
	list, _ := p["nfServiceList"].(map[string]any)
	if len(list) != 1 {
		t.Errorf("nfServiceList %v, want one service", p["nfServiceList"])
		return
	}
	for key, v := range list {
		s, _ := v.(map[string]any)
		if s["serviceInstanceId"] != key {
			t.Errorf("nfServiceList key %q, serviceInstanceId %v", key, s["serviceInstanceId"])
		}
		if s["serviceName"] != "n5g-eir-eic" || s["nfServiceStatus"] != "REGISTERED" {
			t.Errorf("serviceName %v nfServiceStatus %v, want n5g-eir-eic REGISTERED", s["serviceName"], s["nfServiceStatus"])
		}
		want := []any{map[string]any{"apiVersionInUri": "v1", "apiFullVersion": "1.4.0"}}
		if !reflect.DeepEqual(s["versions"], want) {
			t.Errorf("versions %v, want %v", s["versions"], want)
		}
		if s["scheme"] != "http" && s["scheme"] != "https" {
			t.Errorf("scheme %v", s["scheme"])
		}
	}
}
