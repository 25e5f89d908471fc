package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestMain runs the tests without the caller's eirctl settings: no EIRCTL_*
// variable and an empty home, so that no config file is found unless a
// test writes one.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "EIRCTL_") {
			os.Unsetenv(k)
		}
	}
	home, err := os.MkdirTemp("", "eirctl-test-home")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	os.Setenv("XDG_CONFIG_HOME", home+"/.config")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// recorded is a request the fake eird received.
type recorded struct {
	Method, Path      string
	Query             url.Values
	Body              []byte
	Auth, ContentType string
}

// fakeEIRD serves the admin API contract (notes/admin-api.md) with canned
// answers and records the requests.
type fakeEIRD struct {
	t      *testing.T
	URL    string
	srv    *httptest.Server
	mu     sync.Mutex
	token  string // when set, /v1/ requests need "Bearer <token>"
	reqs   []recorded
	routes map[string]http.HandlerFunc // by "METHOD /path"
}

func newFake(t *testing.T) *fakeEIRD {
	t.Helper()
	f := &fakeEIRD{t: t, routes: contractRoutes()}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL
	return f
}

func (f *fakeEIRD) handle(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = h
}

func (f *fakeEIRD) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("reading the request body: %v", err)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")})
	h, token := f.routes[r.Method+" "+r.URL.Path], f.token
	f.mu.Unlock()
	if token != "" && strings.HasPrefix(r.URL.Path, "/v1/") {
		switch got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); {
		case !ok || got == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="eird"`)
			writeAPIError(w, 401, "unauthenticated", "a bearer token is required")
			return
		case got != token:
			w.Header().Set("WWW-Authenticate", `Bearer realm="eird", error="invalid_token"`)
			writeAPIError(w, 401, "unauthenticated", "unknown token")
			return
		}
	}
	if h == nil {
		writeAPIError(w, 404, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h(w, r)
}

// requests returns the requests received so far.
func (f *fakeEIRD) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// only returns the one request received; the test fails otherwise.
func (f *fakeEIRD) only() recorded {
	f.t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		f.t.Fatalf("eird got %d requests, want 1: %+v", len(reqs), reqs)
	}
	return reqs[0]
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string, details ...string) {
	writeJSONBody(w, status, map[string]any{"error": map[string]any{"status": status, "code": code, "message": msg, "details": details}})
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// reply answers with a fixed JSON body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func apiErrorReply(status int, code, msg string, details ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeAPIError(w, status, code, msg, details...) }
}

// contractEntry is the request body of POST and DELETE /v1/entries.
type contractEntry struct {
	IMEI      string `json:"imei,omitempty"`
	TAC       string `json:"tac,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	IMSI      string `json:"imsi,omitempty"`
	List      string `json:"list,omitempty"`
	Source    string `json:"source,omitempty"`
	Reason    string `json:"reason"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// decodeEntry decodes an entry request as eird does: strictly, with a reason.
func decodeEntry(w http.ResponseWriter, r *http.Request) (contractEntry, bool) {
	var e contractEntry
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if r.Header.Get("Content-Type") != "application/json" {
		writeAPIError(w, 415, "unsupported_media_type", "want application/json")
		return e, false
	}
	if err := dec.Decode(&e); err != nil {
		writeAPIError(w, 400, "invalid_json", err.Error())
		return e, false
	}
	if strings.TrimSpace(e.Reason) == "" {
		writeAPIError(w, 400, "missing_reason", "reason is required")
		return e, false
	}
	return e, true
}

func (e contractEntry) target() string {
	switch {
	case e.IMSI != "":
		return "pair"
	case e.From != "":
		return "range"
	case e.TAC != "":
		return "tac"
	}
	return "imei"
}

// stored is e as eird returns it.
func (e contractEntry) stored(list string) map[string]any {
	source := e.Source
	if source == "" {
		source = "manual"
	}
	m := map[string]any{"dataset": source + "/" + e.target() + "/" + list, "source": source, "list": list, "target": e.target(),
		"reason": e.Reason, "actor": "noc", "time": "2025-05-01T10:00:00Z"}
	for k, v := range map[string]string{"imei": e.IMEI, "tac": e.TAC, "from": e.From, "to": e.To, "imsi": e.IMSI, "expires_at": e.ExpiresAt} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// contractRoutes are canned answers for every endpoint of the contract.
func contractRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /readyz":  func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") },
		"GET /healthz": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") },
		"GET /v1/check": reply(200, `{"imei": "35209900176148", "status": "BLACKLISTED", "equipment_status": 1, "rule": "imei", "source": "national",
			"s13": {"result_code": 2001, "equipment_status": 1}}`),
		"GET /v1/datasets": reply(200, `{"datasets": [{"dataset": "national/imei/black", "source": "national", "target": "imei", "list": "black",
			"expiring": false, "version": 3, "count": 120, "updated_at": "2025-05-01T10:00:00Z"}]}`),
		"POST /v1/entries": func(w http.ResponseWriter, r *http.Request) {
			e, ok := decodeEntry(w, r)
			if !ok {
				return
			}
			writeJSONBody(w, 200, map[string]any{"entry": e.stored(e.List), "action": "added", "before": []any{}})
		},
		"DELETE /v1/entries": func(w http.ResponseWriter, r *http.Request) {
			e, ok := decodeEntry(w, r)
			if !ok {
				return
			}
			list := e.List
			if list == "" {
				list = "black"
			}
			writeJSONBody(w, 200, map[string]any{"removed": []any{e.stored(list)}})
		},
		"GET /v1/entries": reply(200, `{"entries": [{"dataset": "manual/imei/black", "source": "manual", "list": "black", "target": "imei",
			"imei": "35209900176148", "reason": "stolen", "actor": "noc", "time": "2025-05-01T10:00:00Z"}], "next_cursor": ""}`),
		"POST /v1/import": reply(200, `{"rows": 2, "sources": ["manual"], "replace": false, "dry_run": false, "skipped_rows": 0,
			"datasets": [{"dataset": "manual/imei/black", "version": 4, "added": 2, "removed": 0, "count": 12}]}`),
		"GET /v1/audit": reply(200, `{"records": [{"id": "1746093600000-0", "time": "2025-05-01T10:00:00Z", "actor": "noc", "action": "entry.add",
			"dataset": "manual/imei/black", "target": "35209900176148", "imei": "35209900176148", "source": "manual", "reason": "stolen",
			"before": null, "after": {"list": "black"}}], "truncated": false}`),
		"GET /v1/events": reply(200, `{"events": [{"id": "1-0", "time": "2025-05-01T10:00:00Z", "interface": "s13", "imei": "35209900176148",
			"imsi": "001010000000001", "status": "BLACKLISTED", "answer": "BLACKLISTED", "rule": "imei", "source": "national",
			"peer": "mme1.epc", "peer_address": "10.0.0.1"}], "last_id": "1-0"}`),
		"POST /v1/reload": reply(200, `{"reloaded": ["diameter.peers", "admin.tokens", "policy"], "restart_needed": ["redis.addresses"], "time": "2025-05-01T10:00:00Z"}`),
		"GET /v1/status": reply(200, `{"version": "1.4.0", "commit": "abc1234", "ready": true, "datasets": 7, "entries": 123456,
			"peers": {"open": 2}, "shadow": {"all": false, "sources": ["trial"], "passive": ["detected"]},
			"sync": [{"source": "gsma", "last_success": "2025-05-01T09:00:00Z", "held": 0}, {"source": "national", "last_success": "", "held": 1}]}`),
		"GET /v1/sync/status":   reply(200, `{"sources": [], "rejects": []}`),
		"POST /v1/sync/run":     reply(200, `{"passes": []}`),
		"POST /v1/sync/approve": reply(200, `{"source": "national", "files": []}`),
	}
}

// runCLI runs eirctl with args and stdin.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIContext(context.Background(), t, stdin, args...)
}

func runCLIContext(ctx context.Context, t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runContext(ctx, args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// ctl runs eirctl against f.
func (f *fakeEIRD) ctl(stdin string, args ...string) (stdout, stderr string, code int) {
	f.t.Helper()
	return runCLI(f.t, stdin, append([]string{"-server", f.URL}, args...)...)
}

func wantCode(t *testing.T, got, want int, stdout, stderr string) {
	t.Helper()
	if got != want {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, want, stdout, stderr)
	}
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

// closedServer returns the URL of a server that is no longer listening.
func closedServer(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestHelpEverywhere(t *testing.T) {
	// A broken config file and an unreachable server: -h needs neither.
	t.Setenv("EIRCTL_CONFIG", writeFile(t, "config.yaml", "servre: http://x\n"))
	t.Setenv("EIRCTL_SERVER", closedServer(t))
	cases := []struct {
		args []string
		want string // the usage line
	}{
		{[]string{"-h"}, "usage: eirctl [global flags] <command>"},
		{[]string{"--help"}, "usage: eirctl [global flags] <command>"},
		{[]string{"help"}, "usage: eirctl [global flags] <command>"},
		{[]string{"-o", "json", "-h"}, "usage: eirctl [global flags] <command>"},
		{[]string{"check", "-h"}, "usage: eirctl check IMEI [IMSI]"},
		{[]string{"add", "-h"}, "usage: eirctl add ["},
		{[]string{"add", "--help"}, "usage: eirctl add ["},
		{[]string{"add", "35209900176148", "-h"}, "usage: eirctl add ["},
		{[]string{"remove", "-h"}, "usage: eirctl remove ["},
		{[]string{"list", "-h"}, "usage: eirctl list ["},
		{[]string{"import", "-h"}, "usage: eirctl import ["},
		{[]string{"datasets", "-h"}, "usage: eirctl datasets"},
		{[]string{"audit", "-h"}, "usage: eirctl audit ["},
		{[]string{"events", "-h"}, "usage: eirctl events ["},
		{[]string{"status", "-h"}, "usage: eirctl status"},
		{[]string{"reload", "-h"}, "usage: eirctl reload"},
		{[]string{"sync", "-h"}, "usage: eirctl sync status|now|approve"},
		{[]string{"sync", "status", "-h"}, "usage: eirctl sync status"},
		{[]string{"sync", "now", "-h"}, "usage: eirctl sync now [-source NAME]"},
		{[]string{"sync", "approve", "-h"}, "usage: eirctl sync approve SOURCE FILE"},
		{[]string{"help", "add"}, "usage: eirctl add ["},
		{[]string{"help", "sync", "now"}, "usage: eirctl sync now"},
		{[]string{"version", "-h"}, "usage: eirctl version"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, "", tc.args...)
			wantCode(t, code, exitOK, out, errOut)
			if !strings.HasPrefix(out, tc.want) || errOut != "" {
				t.Errorf("want %q on stdout and nothing on stderr\nstdout:\n%s\nstderr:\n%s", tc.want, out, errOut)
			}
			wantContains(t, "usage", out, "exit codes")
		})
	}
}

// TestVersion keeps eirctl's version line in eird's format (name, version,
// commit, Go version); it needs no configuration and sends no request.
func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v0.1.0", "1bc3fea"
	f := newFake(t)
	t.Setenv("EIRCTL_CONFIG", writeFile(t, "config.yaml", "servre: http://x\n"))
	want := "eirctl v0.1.0 (commit 1bc3fea, " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"-version"}, {"--version"}, {"version"}, {"-o", "json", "-version"}, {"-version", "status"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := f.ctl("", args...)
			wantCode(t, code, exitOK, out, errOut)
			if out != want || errOut != "" {
				t.Errorf("stdout %q, stderr %q; want %q and nothing", out, errOut, want)
			}
		})
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("version sent requests: %+v", reqs)
	}
	version, commit = "dev", "unknown"
	out, _, _ := runCLI(t, "", "version")
	if !regexp.MustCompile(`^eirctl dev \(commit unknown, go[^)]+\)\n$`).MatchString(out) {
		t.Errorf("stdout %q, want eirctl dev (commit unknown, go...)", out)
	}
}

func TestUsageErrors(t *testing.T) {
	f := newFake(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage: eirctl"},
		{"unknown global flag", []string{"-bogus", "status"}, "flag provided but not defined: -bogus"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown command flag", []string{"add", "-bogus", "-reason", "x", "35209900176148"}, "flag provided but not defined: -bogus"},
		{"global flag after the command", []string{"list", "-o", "json"}, "-o is a global flag: put it before the command (eirctl -o ... list)"},
		{"extra argument", []string{"datasets", "x"}, `unexpected argument "x"`},
		{"check without IMEI", []string{"check"}, "want at least 1 argument"},
		{"unknown sync command", []string{"sync", "later"}, `unknown sync command "later"`},
		{"sync without command", []string{"sync"}, "want status, now or approve"},
		{"sync approve one argument", []string{"sync", "approve", "national"}, "want 2 arguments, got 1"},
		{"bad output", []string{"-o", "xml", "datasets"}, `output (-o): "xml": want table or json`},
		{"bad timeout", []string{"-timeout", "0s", "datasets"}, "-timeout 0s: must be > 0"},
		{"bad list", []string{"add", "-list", "blue", "-reason", "x", "35209900176148"}, `-list "blue": want black, grey`},
		{"bad target", []string{"list", "-target", "msisdn"}, `-target "msisdn": want imei, tac, range, pair`},
		{"bad limit", []string{"list", "-limit", "5000"}, "-limit 5000: want 1 to 1000"},
		{"imsi without imei", []string{"list", "-imsi", "001010000000001"}, "-imsi goes with -imei"},
		{"imei with source", []string{"list", "-imei", "35209900176148", "-source", "gsma"}, "-imei takes no other flag"},
		{"all with cursor", []string{"list", "-all", "-cursor", "c1"}, "give -all or -cursor, not both"},
		{"bad since", []string{"audit", "-since", "yesterday"}, "-since \"yesterday\": want an RFC 3339 time"},
		{"bad interval", []string{"events", "-follow", "-interval", "0s"}, "-interval 0s: must be > 0"},
		{"import two files", []string{"import", "a.csv", "b.csv"}, "want 1 argument, got 2"},
		{"import missing file", []string{"import", "-reason", "x", "/nonexistent/x.csv"}, "no such file"},
		{"import without reason", []string{"import", "a.csv"}, "-reason is required"},
		{"version with an argument", []string{"version", "x"}, `unexpected argument "x"`},
		{"version after the command", []string{"status", "-version"}, "-version is a global flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := f.ctl("", tc.args...)
			wantCode(t, code, exitUsage, out, errOut)
			wantContains(t, "stderr", errOut, tc.want)
			if out != "" {
				t.Errorf("stdout is not empty:\n%s", out)
			}
			if n := strings.Count(errOut, "\n"); n > 4 && len(tc.args) > 0 {
				t.Errorf("want a short message, got %d lines:\n%s", n, errOut)
			}
		})
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("usage errors sent requests: %+v", reqs)
	}
}

func TestExitCodes(t *testing.T) {
	t.Run("401 is rejected, with the server's message", func(t *testing.T) {
		f := newFake(t)
		f.token = "right-token"
		out, errOut, code := f.ctl("", "-token", "wrong-token", "datasets")
		wantCode(t, code, exitRejected, out, errOut)
		wantContains(t, "stderr", errOut, "unknown token (unauthenticated)")
		if r := f.only(); r.Auth != "Bearer wrong-token" {
			t.Errorf("Authorization %q", r.Auth)
		}
		out, errOut, code = f.ctl("", "check", "35209900176148")
		wantCode(t, code, exitRejected, out, errOut)
		wantContains(t, "stderr", errOut, "a bearer token is required")
		if strings.Contains(out+errOut, "wrong-token") || strings.Contains(out+errOut, "right-token") {
			t.Errorf("a token is printed:\n%s%s", out, errOut)
		}
	})
	t.Run("401 without a token asks for one", func(t *testing.T) {
		f := newFake(t)
		f.token = "right-token"
		out, errOut, code := f.ctl("", "list")
		wantCode(t, code, exitRejected, out, errOut)
		want := "eirctl: a bearer token is required (unauthenticated)\n" +
			"eirctl: give a token with -token-file, EIRCTL_TOKEN_FILE, EIRCTL_TOKEN or the config file\n"
		if errOut != want {
			t.Errorf("stderr %q, want %q", errOut, want)
		}
	})
	t.Run("403 is rejected", func(t *testing.T) {
		f := newFake(t)
		f.handle("POST /v1/reload", apiErrorReply(403, "forbidden", "token grafana may only read"))
		out, errOut, code := f.ctl("", "reload")
		wantCode(t, code, exitRejected, out, errOut)
		wantContains(t, "stderr", errOut, "token grafana may only read (forbidden)")
	})
	t.Run("5xx is a failure", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v1/datasets", apiErrorReply(503, "store_unavailable", "redis: connection refused"))
		out, errOut, code := f.ctl("", "datasets")
		wantCode(t, code, exitFailure, out, errOut)
		wantContains(t, "stderr", errOut, "redis: connection refused (store_unavailable)")
	})
	t.Run("5xx without a JSON body", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v1/check", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusBadGateway) })
		out, errOut, code := f.ctl("", "check", "35209900176148")
		wantCode(t, code, exitFailure, out, errOut)
		wantContains(t, "stderr", errOut, "GET /v1/check: 502 Bad Gateway")
	})
	t.Run("unreachable", func(t *testing.T) {
		u := closedServer(t)
		for _, args := range [][]string{{"status"}, {"datasets"}, {"add", "-reason", "x", "35209900176148"}, {"events", "-follow"}} {
			out, errOut, code := runCLI(t, "", append([]string{"-server", u}, args...)...)
			wantCode(t, code, exitFailure, out, errOut)
			wantContains(t, "stderr", errOut, "cannot reach eird at "+u)
		}
	})
	t.Run("unexpected answer", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v1/datasets", reply(200, `<html>`))
		out, errOut, code := f.ctl("", "datasets")
		wantCode(t, code, exitFailure, out, errOut)
		wantContains(t, "stderr", errOut, "unexpected answer to GET /v1/datasets")
	})
}

// TestRefusedToken: a 401 to a request that carried a token says the token
// was refused and where it came from, never what it is, and never asks for
// a token; whatever the command, eirctl exits with 3.
func TestRefusedToken(t *testing.T) {
	f := newFake(t)
	f.token = "right-token"
	dir := t.TempDir()
	tokenFile := writeFile(t, "token", "old-token\n")
	config := dir + "/config.yaml"
	for _, tc := range []struct {
		name   string
		env    map[string]string
		config string // the config file's content, when there is one
		args   []string
		from   string
	}{
		{"flag", nil, "", []string{"-token", "old-token"}, "-token"},
		{"token file flag", nil, "", []string{"-token-file", tokenFile}, "-token-file " + tokenFile},
		{"environment", map[string]string{"EIRCTL_TOKEN": "old-token"}, "", nil, "EIRCTL_TOKEN"},
		{"token file environment", map[string]string{"EIRCTL_TOKEN_FILE": tokenFile}, "", nil, "EIRCTL_TOKEN_FILE (" + tokenFile + ")"},
		{"config file", nil, "# eirctl\ntoken: old-token\n", []string{"-config", config}, "token of the config file " + config + ":2"},
		{"token file of the config file", nil, "token_file: " + tokenFile + "\n", []string{"-config", config},
			"token_file " + tokenFile + " of the config file " + config + ":1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if tc.config != "" {
				if err := os.WriteFile(config, []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, cmd := range [][]string{{"datasets"}, {"status"}, {"add", "-reason", "x", "35209900176148"}, {"events", "-follow"}} {
				out, errOut, code := f.ctl("", append(append([]string(nil), tc.args...), cmd...)...)
				wantCode(t, code, exitRejected, out, errOut)
				wantContains(t, "stderr", errOut, "unknown token (unauthenticated)\n",
					"eirctl: eird refused the token from "+tc.from+": it is wrong or no longer one of eird's admin.tokens (rotated?)\n")
				if strings.Contains(errOut, "give a token") || strings.Contains(out+errOut, "old-token") {
					t.Errorf("%s: asks for a token or prints it:\n%s%s", cmd[0], out, errOut)
				}
			}
		})
	}
}

func TestCheckShadow(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/check", reply(200, `{"imei": "35209900176148", "imsi": "001010000000001", "status": "WHITELISTED", "equipment_status": 0,
		"rule": "shadow", "source": "trial", "s13": {"result_code": 2001, "equipment_status": 0},
		"shadow": {"status": "BLACKLISTED", "rule": "imei", "source": "trial"}}`))
	out, errOut, code := f.ctl("", "check", "35209900176148", "001010000000001")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "STATUS          WHITELISTED", "S13 ANSWER      Result-Code 2001, Equipment-Status 0",
		"SHADOW VERDICT  BLACKLISTED (imei, source trial) — not enforced")
	r := f.only()
	if r.Query.Get("imei") != "35209900176148" || r.Query.Get("imsi") != "001010000000001" {
		t.Errorf("query %v", r.Query)
	}

	// Without shadow, no verdict line; -o json prints eird's answer as is.
	f2 := newFake(t)
	out, _, _ = f2.ctl("", "check", "35209900176148")
	if strings.Contains(out, "SHADOW") || !strings.Contains(out, "BLACKLISTED") {
		t.Errorf("check:\n%s", out)
	}
	out, _, _ = f2.ctl("", "-o", "json", "check", "35209900176148")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || v["status"] != "BLACKLISTED" {
		t.Errorf("json check: %v\n%s", err, out)
	}
}

func TestReload(t *testing.T) {
	f := newFake(t)
	out, errOut, code := f.ctl("", "reload")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "reloaded diameter.peers, admin.tokens, policy at 2025-05-01T10:00:00Z")
	wantContains(t, "stdout", out, "changed, applied only after a restart: redis.addresses")
	if r := f.only(); r.Method != "POST" || r.Path != "/v1/reload" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	f.handle("POST /v1/reload", apiErrorReply(422, "invalid_config", "the configuration file is invalid; nothing changed",
		"diameter.peers[0].origin_host: required", "policy.on_store_error: \"maybe\": want reject|allow"))
	out, errOut, code = f.ctl("", "reload")
	wantCode(t, code, exitRejected, out, errOut)
	wantContains(t, "stderr", errOut, "nothing changed (invalid_config)", "  diameter.peers[0].origin_host: required", "  policy.on_store_error")

	// Only what changed is printed; nothing, when nothing did.
	f.handle("POST /v1/reload", reply(200, `{"reloaded": ["admin.tokens"], "time": "2025-05-01T10:00:00Z"}`))
	out, errOut, code = f.ctl("", "reload")
	wantCode(t, code, exitOK, out, errOut)
	if out != "reloaded admin.tokens at 2025-05-01T10:00:00Z\n" {
		t.Errorf("stdout %q", out)
	}
	f.handle("POST /v1/reload", reply(200, `{"reloaded": [], "time": "2025-05-01T10:00:00Z"}`))
	out, errOut, code = f.ctl("", "reload")
	wantCode(t, code, exitOK, out, errOut)
	if out != "nothing changed at 2025-05-01T10:00:00Z\n" {
		t.Errorf("stdout %q", out)
	}
	f.handle("POST /v1/reload", reply(200, `{"reloaded": [], "restart_needed": ["redis.addresses"], "time": "2025-05-01T10:00:00Z"}`))
	out, errOut, code = f.ctl("", "reload")
	wantCode(t, code, exitOK, out, errOut)
	if out != "nothing reloaded at 2025-05-01T10:00:00Z\nchanged, applied only after a restart: redis.addresses\n" {
		t.Errorf("stdout %q", out)
	}
}

func TestSync(t *testing.T) {
	f := newFake(t)
	if out, errOut, code := f.ctl("", "sync", "now", "-source", "national"); code != exitOK {
		wantCode(t, code, exitOK, out, errOut)
	}
	if out, errOut, code := f.ctl("", "sync", "approve", "national", "black-0042.csv"); code != exitOK {
		wantCode(t, code, exitOK, out, errOut)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Path != "/v1/sync/run" || reqs[0].Query.Get("source") != "national" ||
		reqs[1].Path != "/v1/sync/approve" || reqs[1].Query.Get("file") != "black-0042.csv" {
		t.Errorf("requests %+v", reqs)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSyncNowReport checks what sync now says of a pass that read no file
// (the settle time), of waiting files, and that a rejected file is exit 3
// (table and JSON output alike), naming the file on standard error.
func TestSyncNowReport(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/sync/run", reply(200, `{"passes": [{"source": "national", "started": "2025-05-01T10:00:00Z", "duration_ns": 2000000, "files": []}]}`))
	out, errOut, code := f.ctl("", "sync", "now")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "source national: 0 file(s) in 2ms\n", "  no file to read in the landing folder\n")
	if strings.Contains(out, "FILE") {
		t.Errorf("a table header over no file:\n%s", out)
	}

	// Files modified within the settle time are named, with when a pass
	// reads them (rounded up to the second).
	f.handle("POST /v1/sync/run", reply(200, `{"passes": [{"source": "national", "started": "2025-05-01T10:00:00Z", "duration_ns": 2000000, "files": [],
		"settling": [{"file": "a.csv", "modified": "2025-05-01T09:59:58.2Z", "ready_at": "2025-05-01T10:00:03.2Z"},
		{"file": "b.csv", "modified": "2025-05-01T09:59:59Z", "ready_at": "2025-05-01T10:00:04Z"}]}]}`))
	out, errOut, code = f.ctl("", "sync", "now")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "  2 files modified within the source's settle time (sync.sources[].settle), not read yet:\n"+
		"    a.csv (modified 2025-05-01T09:59:58Z): read by the first pass from 2025-05-01T10:00:04Z\n"+
		"    b.csv (modified 2025-05-01T09:59:59Z): read by the first pass from 2025-05-01T10:00:04Z\n")
	if strings.Contains(out, "no file to read") {
		t.Errorf("no file to read, with settling files:\n%s", out)
	}

	f.handle("POST /v1/sync/run", reply(200, `{"passes": [{"source": "national", "started": "2025-05-01T10:00:00Z", "duration_ns": 2000000, "files": [
		{"file": "a.csv", "result": "waiting", "message": "still being written: open for writing by another process"},
		{"file": "b.csv", "result": "rejected", "reason": "bad_header", "message": "the header is not imei"}]}]}`))
	out, errOut, code = f.ctl("", "sync", "now")
	wantCode(t, code, exitRejected, out, errOut)
	wantContains(t, "stdout", out, "  a.csv: still being written: open for writing by another process\n",
		"  b.csv: the header is not imei (bad_header)\n", "  1 file waiting, left in place: retried at the next pass (or eirctl sync now)\n")
	if strings.Contains(out, "no file to read") {
		t.Errorf("settle hint with files reported:\n%s", out)
	}
	const rejected = "eirctl: 1 file rejected: national/b.csv (moved to the source's rejected/ folder; eirctl sync status lists why)\n"
	if errOut != rejected {
		t.Errorf("stderr %q, want %q", errOut, rejected)
	}
	out, errOut, code = f.ctl("", "-o", "json", "sync", "now")
	wantCode(t, code, exitRejected, out, errOut)
	if errOut != rejected || !strings.HasPrefix(out, `{"passes": [`) {
		t.Errorf("-o json: stdout %q, stderr %q", out, errOut)
	}
}
