package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

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
