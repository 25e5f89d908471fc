package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
)

type store struct {
	*memstore.Store
	pingErr error
}

func (s *store) Ping(context.Context) error { return s.pingErr }

func newAPI(t *testing.T, tokens ...Token) (*Server, *store, *httptest.Server) {
	st := &store{Store: memstore.New()}
	chk := eir.NewDecider(st, eir.Policy{})
	api := New(Options{Tokens: tokens, MaxBodyBytes: 2048}, st, chk, zaptest.NewLogger(t))
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return api, st, srv
}

func do(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(data, &m)
	return resp.StatusCode, m, resp.Header
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestAuth(t *testing.T) {
	_, _, srv := newAPI(t, Token{Name: "ops", Secret: "w-secret", Write: true}, Token{Name: "ro", Secret: "r-secret"})
	csv := "imei,status\n35209900176148,black\n"
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", "GET", "/v1/check?imei=35209900176148", "", "", 401, "unauthenticated"},
		{"wrong token", "GET", "/v1/check?imei=35209900176148", "nope", "", 401, "unauthenticated"},
		{"read token reads", "GET", "/v1/check?imei=35209900176148", "r-secret", "", 200, ""},
		{"read token cannot import", "POST", "/v1/import", "r-secret", csv, 403, "forbidden"},
		{"write token imports", "POST", "/v1/import", "w-secret", csv, 200, ""},
		{"health needs no token", "GET", "/healthz", "", "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := do(t, srv, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || (tc.code != "" && errCode(body) != tc.code) {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

func TestAuthorizationHeader(t *testing.T) {
	_, _, srv := newAPI(t, Token{Name: "ops", Secret: "w-secret", Write: true})
	// The auth-scheme is case-insensitive and 1*SP separates it from the
	// token (RFC 7235 §2.1).
	tests := []struct {
		name, header string
		status       int
	}{
		{"canonical", "Bearer w-secret", 200},
		{"lowercase scheme", "bearer w-secret", 200},
		{"uppercase scheme", "BEARER w-secret", 200},
		{"mixed case scheme", "bEaReR w-secret", 200},
		{"several spaces", "Bearer    w-secret", 200},
		{"surrounding spaces", "  Bearer w-secret  ", 200},
		{"no header", "", 401},
		{"scheme only", "Bearer", 401},
		{"scheme and spaces", "Bearer    ", 401},
		{"no separator", "Bearerw-secret", 401},
		{"tab separator", "Bearer\tw-secret", 401},
		{"other scheme", "Basic dzpzZWNyZXQ=", 401},
		{"scheme as prefix", "Bearers w-secret", 401},
		{"wrong token", "bearer r-secret", 401},
		{"token with a suffix", "Bearer w-secret extra", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/v1/datasets", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("Authorization %q: %d, want %d", tc.header, resp.StatusCode, tc.status)
			}
			if resp.StatusCode == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	_, _, srv := newAPI(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"invalid imei", "GET", "/v1/check?imei=123", "", 400, "invalid_imei"},
		{"invalid imsi", "GET", "/v1/check?imei=35209900176148&imsi=abc", "", 400, "invalid_imsi"},
		{"invalid file", "POST", "/v1/import", "imei,status\n1,black\n", 422, "invalid_file"},
		{"bad replace flag", "POST", "/v1/import?replace=maybe", "imei,status\n", 400, "invalid_parameter"},
		{"body too large", "POST", "/v1/import", "imei,status\n" + strings.Repeat("35209900176148,black\n", 200), 413, "body_too_large"},
		{"unknown endpoint", "GET", "/v2/nothing", "", 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, srv, tc.method, tc.path, "", tc.body)
			if status != tc.status || errCode(body) != tc.code {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	// Nothing was stored by the rejected imports.
	status, body, _ := do(t, srv, "GET", "/v1/check?imei=35209900176148", "", "")
	if status != 200 || body["status"] != "UNKNOWN" {
		t.Fatalf("after rejected imports: %d %v", status, body)
	}
}

func TestCheckAndImport(t *testing.T) {
	_, _, srv := newAPI(t)
	if status, body, _ := do(t, srv, "POST", "/v1/import?dry_run=true", "", "imei,status\n35209900176148,grey\n"); status != 200 || body["dry_run"] != true {
		t.Fatalf("dry run: %d %v", status, body)
	}
	if _, body, _ := do(t, srv, "GET", "/v1/check?imei=35209900176148", "", ""); body["status"] != "UNKNOWN" {
		t.Fatalf("a dry run changed the lists: %v", body)
	}
	if status, _, _ := do(t, srv, "POST", "/v1/import", "", "imei,status\n35209900176148,grey\n"); status != 200 {
		t.Fatal(status)
	}
	_, body, _ := do(t, srv, "GET", "/v1/check?imei=352099001761489", "", "")
	if body["status"] != "GREYLISTED" || body["rule"] != "imei" || body["source"] != "manual" {
		t.Fatalf("check: %v", body)
	}
	_, body, _ = do(t, srv, "GET", "/v1/datasets", "", "")
	if ds, _ := body["datasets"].([]any); len(ds) != 1 {
		t.Fatalf("datasets: %v", body)
	}
}

func TestReadyz(t *testing.T) {
	api, st, srv := newAPI(t)
	if status, body, _ := do(t, srv, "GET", "/readyz", "", ""); status != 503 || errCode(body) != "no_lists" {
		t.Fatalf("no lists: %d %v", status, body)
	}
	do(t, srv, "POST", "/v1/import", "", "imei,status\n35209900176148,grey\n")
	if status, _, _ := do(t, srv, "GET", "/readyz", "", ""); status != 200 {
		t.Fatalf("ready: %d", status)
	}
	st.pingErr = errors.New("down")
	if status, body, _ := do(t, srv, "GET", "/readyz", "", ""); status != 503 || errCode(body) != "store_unavailable" {
		t.Fatalf("store down: %d %v", status, body)
	}
	st.pingErr = nil
	api.SetReady(false)
	if status, body, _ := do(t, srv, "GET", "/readyz", "", ""); status != 503 || errCode(body) != "shutting_down" {
		t.Fatalf("shutting down: %d %v", status, body)
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	st := &store{Store: memstore.New()}
	for _, on := range []bool{false, true} {
		api := New(Options{Pprof: on, Tokens: []Token{{Name: "ro", Secret: "r"}}}, st, eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t))
		srv := httptest.NewServer(api.Handler())
		status, _, _ := do(t, srv, "GET", "/debug/pprof/", "r", "")
		anon, _, _ := do(t, srv, "GET", "/debug/pprof/", "", "")
		srv.Close()
		switch {
		case on && (status != 200 || anon != 401):
			t.Fatalf("pprof on: %d with a token, %d without", status, anon)
		case !on && status != 404:
			t.Fatalf("pprof off: %d", status)
		}
	}
}
