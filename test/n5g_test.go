package test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
	"github.com/eir-sidecar/eir/internal/testenv/sbispec"
	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// n5gConfig adds the N5g-eir listener (h2c) to baseConfig.
func n5gConfig(redisAddr string) string {
	return fmt.Sprintf(baseConfig, redisAddr) + "n5g:\n  listen: 127.0.0.1:0\n"
}

// h2c is an HTTP/2 client with prior knowledge (no HTTP/1.1).
func h2c() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}, Timeout: 10 * time.Second}
}

// TestN5gAndS13SideBySide asks both interfaces of a real eird about the
// same equipment and checks that they agree, that every N5g-eir answer is
// valid against TS 29.511 and TS 29.571, and that independent HTTP/2
// clients (curl with prior knowledge, h2load) are served.
func TestN5gAndS13SideBySide(t *testing.T) {
	rds := redistest.Start(t)
	// A short store.max_stale: the store-failure answer is reached
	// quickly once Redis is down.
	e := startEIRD(t, n5gConfig(rds.Addr()), "EIR_STORE_MAX_STALE=300ms")
	if e.n5g == "" {
		t.Fatal("no n5g address in the ready line")
	}
	loadLists(t, e)
	mme, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme1.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mme.Close()
	client := h2c()
	defer client.CloseIdleConnections()
	v, err := sbispec.NewValidator(sbispec.N5gEIR)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + e.n5g + "/n5g-eir-eic/v1/equipment-status"
	cases := []struct{ imei, imsi, want string }{
		{"35209900176148", "", "BLACKLISTED"},
		{"35209900176148", "001010000000001", "WHITELISTED"}, // the exception
		{"35209900176148", "001010000000002", "BLACKLISTED"},
		{"49015420323751", "", "GREYLISTED"},
		{"26053179311383", "", "WHITELISTED"},
		{"01001001123456", "", "BLACKLISTED"}, // TAC rule
		{"86000000123456", "", "GREYLISTED"},  // range
		{"12345678901234", "", "UNKNOWN"},
	}
	s13Names := map[int]string{0: "WHITELISTED", 1: "BLACKLISTED", 2: "GREYLISTED"}
	for _, c := range cases {
		// S13.
		a, err := mme.Check(ctxT(t), c.imei, c.imsi)
		if err != nil {
			t.Fatal(err)
		}
		s13 := "UNKNOWN"
		switch s13client.ResultCode(a.Msg) {
		case 2001:
			s13 = s13Names[s13client.EquipmentStatus(a.Msg)]
		case 5422:
		default:
			t.Fatalf("%s: S13 answer %v", c.imei, a.Msg)
		}
		// N5g-eir, as imei- (with a check digit) and imeisv-.
		for _, pei := range []string{"imei-" + c.imei + "0", "imeisv-" + c.imei + "07"} {
			url := base + "?pei=" + pei
			if c.imsi != "" {
				url += "&supi=imsi-" + c.imsi
			}
			req, _ := http.NewRequest("GET", url, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("HTTP/%d", resp.ProtoMajor)
			}
			if err := v.Response(req, resp.StatusCode, resp.Header, body); err != nil {
				t.Fatalf("%s: %d %s: not valid against TS 29.511: %v", url, resp.StatusCode, body, err)
			}
			n5g := "UNKNOWN"
			switch resp.StatusCode {
			case 200:
				var b struct{ Status string }
				json.Unmarshal(body, &b)
				n5g = b.Status
			case 404:
				var p struct{ Cause string }
				json.Unmarshal(body, &p)
				if p.Cause != "ERROR_EQUIPMENT_UNKNOWN" {
					t.Fatalf("%s: 404 %s", url, body)
				}
			default:
				t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
			}
			if n5g != s13 || n5g != c.want {
				t.Fatalf("%s %s: S13 says %s, N5g-eir (%s) says %s, want %s", c.imei, c.imsi, s13, pei, n5g, c.want)
			}
		}
	}

	// curl, with prior knowledge, and over HTTP/1.1 (refused).
	needTool(t, "curl")
	got, err := exec.Command("curl", "-s", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version} %{content_type}",
		base+"?pei=imei-352099001761481").Output()
	if err != nil || !strings.HasSuffix(string(got), "200 2 application/json") || !strings.HasPrefix(string(got), `{"status":"BLACKLISTED"}`) {
		t.Fatalf("curl --http2-prior-knowledge: %v\n%s", err, got)
	}
	curlRefused(t, "HTTP/1.1", "-s", "--http1.1", "-w", "\n%{http_code}", base+"?pei=imei-352099001761481")
	// The HTTP/1.1 Upgrade to h2c (RFC 7540 §3.2, deprecated by RFC
	// 9113) is not offered either.
	curlRefused(t, "an h2c Upgrade", "-s", "--http2", "-w", "\n%{http_code} %{http_version}", base+"?pei=imei-352099001761481")
	got, _ = exec.Command("curl", "-s", "--http2-prior-knowledge", "-X", "POST", "-w", "\n%{http_code}", base+"?pei=imei-352099001761481").Output()
	if !strings.HasSuffix(string(got), "405") {
		t.Fatalf("curl POST:\n%s", got)
	}
	// h2load: 2,000 requests, 2 connections, 16 streams each.
	needTool(t, "h2load")
	h2ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err = exec.CommandContext(h2ctx, "h2load", "-n", "2000", "-c", "2", "-m", "16", base+"?pei=imei-490154203237518").CombinedOutput()
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, got)
	}
	if !regexp.MustCompile(`2000 succeeded, 0 failed, 0 errored`).Match(got) || !regexp.MustCompile(`status codes: 2000 2xx`).Match(got) {
		t.Fatalf("h2load:\n%s", got)
	}
	// Counted as n5g decisions and requests.
	e.waitMetric(t, `eir_check_decisions_total{interface="n5g",list_source="national",rule="imei",status="greylisted"}`, 2002, 5*time.Second)
	if v := e.metric(t, `eir_n5g_requests_total{cause="ERROR_EQUIPMENT_UNKNOWN",code="404"}`); v != 2 {
		t.Fatalf("404s counted: %v", v)
	}
	// The N5g hit is an event like an S13 one.
	out := ctl(t, e, "", 0, "-o", "json", "events", "-limit", "1000")
	if !strings.Contains(out, `"interface": "n5g"`) {
		t.Fatalf("no n5g hit event:\n%.2000s", out)
	}
	// Every error answer of the operation, from the real listener, valid
	// against TS 29.511/TS 29.571 and with the cause and parameter named.
	n5gErrors(t, client, v, "http://"+e.n5g, "")

	// The store fails: the lists held answer for store.max_stale, then
	// 503 ProblemDetails.
	rds.Stop()
	testenv.Eventually(t, "503 once store.max_stale passed", 5*time.Second, func() bool {
		req, _ := http.NewRequest("GET", base+"?pei=imei-490154203237518", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 503:
			if err := v.Response(req, resp.StatusCode, resp.Header, body); err != nil || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("503 %s: %v", body, err)
			}
			return true
		case 200: // from the lists held
			return false
		}
		t.Fatalf("with redis down: %d %s", resp.StatusCode, body)
		return false
	})
}

// TestN5gOAuth2 runs N5g-eir with OAuth2 on: a token signed by the NRF's
// key with the n5g-eir-eic scope gets its answer, a missing or forged one
// 401 with WWW-Authenticate, one without the scope 403; every answer is
// valid against TS 29.511.
func TestN5gOAuth2(t *testing.T) {
	nrfKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&nrfKey.PublicKey)
	keyFile := filepath.Join(t.TempDir(), "nrf.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	rds := redistest.Start(t)
	e := startEIRD(t, n5gConfig(rds.Addr())+fmt.Sprintf("  oauth:\n    enabled: true\n    key_file: %s\n", keyFile))
	loadLists(t, e)
	sign := func(key *rsa.PrivateKey, scope string) string {
		tok, err := jwt.NewBuilder().Issuer("nrf").Subject("amf-1").Audience([]string{"5G_EIR"}).
			Expiration(time.Now().Add(time.Hour)).Claim("scope", scope).Build()
		if err != nil {
			t.Fatal(err)
		}
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), key))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	client := h2c()
	defer client.CloseIdleConnections()
	v, _ := sbispec.NewValidator(sbispec.N5gEIR)
	url := "http://" + e.n5g + "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481"
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"valid", sign(nrfKey, "nnrf-disc n5g-eir-eic"), 200},
		{"none", "", 401},
		{"forged", sign(forger, "n5g-eir-eic"), 401},
		{"other scope", sign(nrfKey, "nudm-sdm"), 403},
	} {
		req, _ := http.NewRequest("GET", url, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
		if err := v.Response(req, resp.StatusCode, resp.Header, body); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.status != 200 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: %d without WWW-Authenticate", tc.name, tc.status)
		}
	}
}

// fakeNRF records the NFManagement requests it gets over h2c.
type fakeNRF struct {
	mu   sync.Mutex
	reqs []string // "METHOD path"
	errs []error
	puts int
}

func (f *fakeNRF) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path)
	v, err := sbispec.NewValidator(sbispec.NFManagement)
	if err == nil {
		err = v.Request(r, body)
	}
	if r.ProtoMajor != 2 {
		err = fmt.Errorf("HTTP/%d", r.ProtoMajor)
	}
	switch r.Method {
	case "PUT":
		var profile any
		json.Unmarshal(body, &profile)
		if err == nil {
			err = sbispec.Schema(sbispec.NFManagement, "NFProfile", profile)
		}
		f.puts++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write(body)
	case "PATCH":
		w.WriteHeader(204)
	case "DELETE":
		w.WriteHeader(204)
	}
	if err != nil {
		f.errs = append(f.errs, err)
	}
}

func (f *fakeNRF) seen() ([]string, []error, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...), append([]error(nil), f.errs...), f.puts
}

// TestN5gRegistersWithNRF runs eird against a fake NRF: it registers its
// 5G_EIR profile (valid against TS 29.510), heartbeats, shows the
// registration in eirctl status, and deregisters at SIGTERM.
func TestN5gRegistersWithNRF(t *testing.T) {
	f := &fakeNRF{}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	rds := redistest.Start(t)
	const id = "4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10"
	e := startEIRD(t, n5gConfig(rds.Addr())+fmt.Sprintf("nrf:\n  api_root: %s\n  instance_id: %s\n  heartbeat: 1s\n", srv.URL, id))
	loadLists(t, e)
	testenv.Eventually(t, "a registration and a heartbeat", 10*time.Second, func() bool {
		reqs, _, _ := f.seen()
		return len(reqs) >= 2 && reqs[0] == "PUT /nnrf-nfm/v1/nf-instances/"+id && reqs[1] == "PATCH /nnrf-nfm/v1/nf-instances/"+id
	})
	if out := ctl(t, e, "", 0, "status"); !strings.Contains(out, "registered as "+id) {
		t.Fatalf("eirctl status:\n%s", out)
	}
	if err := e.stop(t); err != nil {
		t.Fatal(err)
	}
	reqs, errs, _ := f.seen()
	if len(errs) > 0 {
		t.Fatalf("requests not valid against TS 29.510: %v", errs)
	}
	if last := reqs[len(reqs)-1]; last != "DELETE /nnrf-nfm/v1/nf-instances/"+id {
		t.Fatalf("no deregistration at shutdown: %v", reqs)
	}
}

// n5gErrors sends every malformed request of the equipment-status
// operation to the listener at root and checks the ProblemDetails: status,
// cause, invalidParams, the problem+json content type and the schemas.
// It also asks about MAC and EUI-64 PEIs, which the lists cannot hold:
// unknown is the status policy.unknown_equipment configures, or "" for 404.
func n5gErrors(t *testing.T, client *http.Client, v *sbispec.Validator, root, unknown string) {
	t.Helper()
	path := "/n5g-eir-eic/v1/equipment-status"
	for _, pei := range []string{"mac-00-1A-2B-3C-4D-5E", "mac-00-1a-2b-3c-4d-5e-untrusted", "eui-01-23-45-67-89-ab-cd-ef"} {
		req, _ := http.NewRequest("GET", root+path+"?pei="+pei, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := v.Response(req, resp.StatusCode, resp.Header, body); err != nil {
			t.Fatalf("%s: %d %s: not valid against TS 29.511: %v", pei, resp.StatusCode, body, err)
		}
		want, code := `"cause":"ERROR_EQUIPMENT_UNKNOWN"`, 404
		if unknown != "" {
			want, code = `{"status":"`+unknown+`"}`, 200
		}
		if resp.StatusCode != code || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d %s, want %d %s", pei, resp.StatusCode, body, code, want)
		}
	}
	for _, c := range []struct {
		method, target string
		status         int
		cause, param   string
	}{
		{"GET", path, 400, "MANDATORY_QUERY_PARAM_MISSING", "query pei"},
		{"GET", path + "?supi=imsi-001010000000001", 400, "MANDATORY_QUERY_PARAM_MISSING", "query pei"},
		{"GET", path + "?pei=imei-12345", 400, "MANDATORY_QUERY_PARAM_INCORRECT", "query pei"},
		{"GET", path + "?pei=352099001761481", 400, "MANDATORY_QUERY_PARAM_INCORRECT", "query pei"},
		{"GET", path + "?pei=imeisv-35209900176148", 400, "MANDATORY_QUERY_PARAM_INCORRECT", "query pei"},
		{"GET", path + "?pei=imei-352099001761481&pei=imei-490154203237518", 400, "MANDATORY_QUERY_PARAM_INCORRECT", "query pei"},
		{"GET", path + "?pei=imei-352099001761481&supi=imsi-12", 400, "OPTIONAL_QUERY_PARAM_INCORRECT", "query supi"},
		{"GET", path + "?pei=imei-352099001761481&supi=001010000000001", 400, "OPTIONAL_QUERY_PARAM_INCORRECT", "query supi"},
		{"GET", path + "?pei=imei-352099001761481&gpsi=4915123456789", 400, "OPTIONAL_QUERY_PARAM_INCORRECT", "query gpsi"},
		{"GET", path + "?pei=imei-352099001761481&supported-features=xyz", 400, "OPTIONAL_QUERY_PARAM_INCORRECT", "query supported-features"},
		{"GET", path + "?pei=imei-352099001761481&colour=red", 400, "INVALID_QUERY_PARAM", "query colour"},
		{"GET", "/n5g-eir-eic/v2/equipment-status?pei=imei-352099001761481", 400, "INVALID_API", ""},
		{"GET", "/n5g-eir-xyz/v1/equipment-status?pei=imei-352099001761481", 400, "INVALID_API", ""},
		{"GET", "/n5g-eir-eic/v1/equipment-state?pei=imei-352099001761481", 404, "RESOURCE_URI_STRUCTURE_NOT_FOUND", ""},
		{"POST", path + "?pei=imei-352099001761481", 405, "", ""},
		{"DELETE", path + "?pei=imei-352099001761481", 405, "", ""},
		{"GET", path + "?pei=mac-00-1A-2B-3C-4D", 400, "MANDATORY_QUERY_PARAM_INCORRECT", "query pei"},
	} {
		req, _ := http.NewRequest(c.method, root+c.target, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := c.method + " " + c.target
		if resp.StatusCode != c.status {
			t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, body, c.status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("%s: Content-Type %q", what, ct)
		}
		var p struct {
			Status        int
			Cause         string
			InvalidParams []struct{ Param string }
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Status != c.status || p.Cause != c.cause {
			t.Fatalf("%s: %s: want status %d cause %q (%v)", what, body, c.status, c.cause, err)
		}
		if c.param != "" && (len(p.InvalidParams) != 1 || p.InvalidParams[0].Param != c.param) {
			t.Fatalf("%s: %s: want invalidParams [%s]", what, body, c.param)
		}
		if c.status == 405 {
			if allow := resp.Header.Get("Allow"); allow != "GET" {
				t.Fatalf("%s: Allow %q", what, allow)
			}
		}
		if c.status == 405 || c.cause == "INVALID_API" || c.cause == "RESOURCE_URI_STRUCTURE_NOT_FOUND" {
			// No operation of TS 29.511 matches the request: the body is
			// checked against TS 29.571's ProblemDetails alone.
			var doc any
			json.Unmarshal(body, &doc)
			if err := sbispec.Schema(sbispec.CommonData, "ProblemDetails", doc); err != nil {
				t.Fatalf("%s: %s: not a TS 29.571 ProblemDetails: %v", what, body, err)
			}
			continue
		}
		if err := v.Response(req, resp.StatusCode, resp.Header, body); err != nil {
			t.Fatalf("%s: %d %s: not valid against TS 29.511: %v", what, resp.StatusCode, body, err)
		}
	}
}

// TestN5gOverTLS serves N5g-eir over TLS with client certificates (TS
// 33.501 §13.1) and a configured unknown-equipment status: an AMF with a
// certificate gets h2 answers that agree with S13, one without is refused
// at the handshake, and HTTP/1.1 is not served.
func TestN5gOverTLS(t *testing.T) {
	rds := redistest.Start(t)
	ca := certtest.NewCA(t, "sbi")
	srvCert, srvKey := ca.Server(t, "eir.5gc.test")
	cliCert, cliKey := ca.Client(t, "amf-1.5gc.test")
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr())+fmt.Sprintf(`policy:
  unknown_equipment: greylisted
n5g:
  listen: 127.0.0.1:0
  tls:
    cert_file: %s
    key_file: %s
    client_ca_file: %s
`, srvCert, srvKey, ca.CertFile))
	loadLists(t, e)
	roots, err := tlsconf.CertPool(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	h2 := func(certs ...tls.Certificate) *http.Client {
		p := new(http.Protocols)
		p.SetHTTP2(true)
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: p,
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	amf := h2(pair)
	defer amf.CloseIdleConnections()
	mme, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme1.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mme.Close()
	v, err := sbispec.NewValidator(sbispec.N5gEIR)
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + e.n5g + "/n5g-eir-eic/v1/equipment-status?pei=imei-"
	for _, c := range []struct{ imei, want string }{
		{"35209900176148", "BLACKLISTED"},
		{"26053179311383", "WHITELISTED"},
		{"12345678901234", "GREYLISTED"}, // unknown: the configured status
	} {
		a, err := mme.Check(ctxT(t), c.imei, "")
		if err != nil {
			t.Fatal(err)
		}
		if s13client.ResultCode(a.Msg) != 2001 || s13client.EquipmentStatus(a.Msg) != map[string]int{"WHITELISTED": 0, "BLACKLISTED": 1, "GREYLISTED": 2}[c.want] {
			t.Fatalf("%s: S13 answer %v, want %s", c.imei, a.Msg, c.want)
		}
		req, _ := http.NewRequest("GET", base+c.imei+"0", nil)
		resp, err := amf.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
			t.Fatalf("%s: HTTP/%d over %+v", c.imei, resp.ProtoMajor, resp.TLS)
		}
		if err := v.Response(req, resp.StatusCode, resp.Header, body); err != nil {
			t.Fatalf("%s: %d %s: not valid against TS 29.511: %v", c.imei, resp.StatusCode, body, err)
		}
		if want := `{"status":"` + c.want + `"}`; resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("%s: %d %s, want 200 %s", c.imei, resp.StatusCode, body, want)
		}
	}
	n5gErrors(t, amf, v, "https://"+e.n5g, "GREYLISTED")

	// eirbench amf, as two AMFs with the client certificate, over the
	// generated lists: every answer as its category expects.
	bench := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(binDir, "eirbench"), args...)
		cmd.Env = append(os.Environ(), noRaceExitSleep)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	csv, err := bench("lists", "-entries", "300", "-seed", "3")
	if err != nil {
		t.Fatalf("eirbench lists: %v\n%s", err, csv)
	}
	if out, errOut, code := e.eirctl(t, csv, "import", "-reason", "n5g test lists", "-"); code != 0 {
		t.Fatalf("eirctl import: exit %d\n%s%s", code, out, errOut)
	}
	if out, err := bench("amf", "-api-root", "https://"+e.n5g, "-cacert", ca.CertFile, "-cert", cliCert, "-key", cliKey,
		"-entries", "300", "-seed", "3", "-mix", "black=1,grey=1,white=1,exception=1", "-duration", "500ms", "-warmup", "100ms",
		"-streams", "8", "-strict"); err != nil || !strings.Contains(out, "mismatches 0  timeouts 0  no answer 0") {
		t.Fatalf("eirbench amf over TLS: %v\n%s", err, out)
	}

	// No client certificate: refused at the handshake.
	anon := h2()
	defer anon.CloseIdleConnections()
	if resp, err := anon.Get(base + "352099001761481"); err == nil {
		resp.Body.Close()
		t.Fatalf("served without a client certificate: %d", resp.StatusCode)
	}
	needTool(t, "curl")
	common := []string{"-s", "--cacert", ca.CertFile, "--cert", cliCert, "--key", cliKey, "-w", "\n%{http_code} %{http_version}"}
	out, err := exec.Command("curl", append(common, "--http2", base+"352099001761481")...).Output()
	if err != nil || string(out) != "{\"status\":\"BLACKLISTED\"}\n200 2" {
		t.Fatalf("curl --http2 over TLS: %v\n%s", err, out)
	}
	curlRefused(t, "HTTP/1.1 over TLS", append(common, "--http1.1", base+"352099001761481")...)
}

// TestN5gOverload bounds the requests answered at once to one and holds
// that one in Redis (CLIENT PAUSE): of four requests sent together, three
// get 503 NF_CONGESTION with Retry-After at once, valid against TS 29.511,
// and the held one is answered 200 when Redis answers again.
func TestN5gOverload(t *testing.T) {
	rds := redistest.Start(t)
	// Without the replica every check reads Redis; Redis's read timeout is
	// longer than the pause, so the held request waits for it.
	cfg := fmt.Sprintf(baseConfig, rds.Addr())
	cfg = strings.Replace(cfg, "store:\n", "store:\n  replica: false\n", 1)
	cfg = strings.Replace(cfg, "  read_timeout: 300ms\n", "  read_timeout: 20s\n", 1)
	e := startEIRD(t, cfg+`n5g:
  listen: 127.0.0.1:0
  request_timeout: 30s
  max_inflight: 1
`)
	loadLists(t, e)
	client := h2c()
	client.Timeout = 60 * time.Second
	defer client.CloseIdleConnections()
	v, err := sbispec.NewValidator(sbispec.N5gEIR)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + e.n5g + "/n5g-eir-eic/v1/equipment-status?pei=imei-490154203237518"
	type answer struct {
		req  *http.Request
		resp *http.Response
		body []byte
		err  error
	}
	get := func() answer {
		req, _ := http.NewRequest("GET", url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return answer{req: req, err: err}
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return answer{req, resp, body, nil}
	}
	if a := get(); a.err != nil || a.resp.StatusCode != 200 {
		t.Fatalf("before the pause: %v %s", a.err, a.body)
	}
	rdb := rds.Client(t)
	// Three seconds: Redis takes no command meanwhile, not even CLIENT
	// UNPAUSE from another connection.
	if err := rdb.Do(ctxT(t), "CLIENT", "PAUSE", "3000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	answers := make(chan answer, 4)
	for range 4 {
		go func() { answers <- get() }()
	}
	// The first to arrive holds the slot until Redis answers; the others
	// are refused at once.
	deadline := time.After(20 * time.Second)
	for range 3 {
		select {
		case a := <-answers:
			if a.err != nil {
				t.Fatal(a.err)
			}
			var p struct{ Cause string }
			json.Unmarshal(a.body, &p)
			if a.resp.StatusCode != 503 || p.Cause != "NF_CONGESTION" || a.resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%d %s (Retry-After %q), want 503 NF_CONGESTION", a.resp.StatusCode, a.body, a.resp.Header.Get("Retry-After"))
			}
			if err := v.Response(a.req, a.resp.StatusCode, a.resp.Header, a.body); err != nil {
				t.Fatalf("503 %s: not valid against TS 29.511: %v", a.body, err)
			}
		case <-deadline:
			t.Fatal("no three NF_CONGESTION answers within 20s")
		}
	}
	if a := <-answers; a.err != nil || a.resp.StatusCode != 200 {
		t.Fatalf("the held request: %v %d %s, want 200 once Redis answers", a.err, a.resp.StatusCode, a.body)
	}
	if a := get(); a.err != nil || a.resp.StatusCode != 200 {
		t.Fatalf("after the pause: %v %s", a.err, a.body)
	}
	if v := e.metric(t, `eir_n5g_requests_total{cause="NF_CONGESTION",code="503"}`); v != 3 {
		t.Fatalf("NF_CONGESTION answers counted: %v, want 3", v)
	}
}

// needTool fails the test when a client tool it drives is not installed
// (make test installs them with scripts/deps.sh).
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not installed (scripts/deps.sh installs it): %v", name, err)
	}
}

// curlRefused runs curl with args and fails the test unless the request
// (what) was refused the way an HTTP/2-only server refuses it: the
// connection accepted, then closed without an answer (curl exit 52, empty
// reply, or 56, connection reset, and no status). An answer of any status
// fails, and so does a server that is not there (curl exit 7, cannot
// connect).
func curlRefused(t *testing.T, what string, args ...string) {
	t.Helper()
	out, err := exec.Command("curl", args...).Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%s was answered: curl: %v\n%s", what, err, out)
	}
	if code := ee.ExitCode(); code != 52 && code != 56 {
		t.Fatalf("%s: curl exit %d, want 52 (empty reply) or 56 (connection reset) from a server refusing it\n%s%s", what, code, out, ee.Stderr)
	}
	if !strings.HasPrefix(strings.TrimSpace(string(out)), "000") {
		t.Fatalf("%s: curl saw a status: %q", what, out)
	}
}
