package test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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
	"github.com/eir-sidecar/eir/internal/redistest"
	"github.com/eir-sidecar/eir/internal/sbispec"
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
	e := startEIRD(t, n5gConfig(rds.Addr()))
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
	if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("curl", "-s", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version} %{content_type}",
			base+"?pei=imei-352099001761481").Output()
		if err != nil || !strings.HasSuffix(string(out), "200 2 application/json") || !strings.HasPrefix(string(out), `{"status":"BLACKLISTED"}`) {
			t.Fatalf("curl --http2-prior-knowledge: %v\n%s", err, out)
		}
		out, _ = exec.Command("curl", "-s", "--http1.1", "-w", "\n%{http_code}", base+"?pei=imei-352099001761481").Output()
		if strings.HasSuffix(string(out), "200") {
			t.Fatalf("HTTP/1.1 was answered 200:\n%s", out)
		}
		out, _ = exec.Command("curl", "-s", "--http2-prior-knowledge", "-X", "POST", "-w", "\n%{http_code}", base+"?pei=imei-352099001761481").Output()
		if !strings.HasSuffix(string(out), "405") {
			t.Fatalf("curl POST:\n%s", out)
		}
	} else {
		t.Log("curl not installed: its checks skipped")
	}
	// h2load: 2,000 requests, 2 connections, 16 streams each.
	if _, err := exec.LookPath("h2load"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "h2load", "-n", "2000", "-c", "2", "-m", "16", base+"?pei=imei-490154203237518").CombinedOutput()
		if err != nil {
			t.Fatalf("h2load: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`2000 succeeded, 0 failed, 0 errored`).Match(out) || !regexp.MustCompile(`status codes: 2000 2xx`).Match(out) {
			t.Fatalf("h2load:\n%s", out)
		}
	} else {
		t.Log("h2load not installed: its check skipped")
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
	// The store fails: 503 ProblemDetails once the replica may no longer
	// answer (3 × store.replica_refresh).
	rds.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"?pei=imei-490154203237518", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 {
			if err := v.Response(req, resp.StatusCode, resp.Header, body); err != nil || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("503 %s: %v", body, err)
			}
			break
		}
		if resp.StatusCode != 200 || time.Now().After(deadline) {
			t.Fatalf("with redis down: %d %s", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	poll(t, "a registration and a heartbeat", 10*time.Second, func() bool {
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
