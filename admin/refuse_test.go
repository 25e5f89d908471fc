package admin

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
)

// TestRefusalsLogged checks that 401, 403 (a read token writing, a write
// token writing a source it may not) and a rejected import are
// logged at warn with who, from where, what and why (never the secret),
// and that the lines are limited to refusalBurst per refusalWindow, the
// next line saying how many were suppressed.
func TestRefusalsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	var now atomic.Pointer[time.Time]
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now.Store(&start)
	st := &store{Store: memstore.New()}
	api := New(Options{Tokens: []Token{{Name: "ops", Secret: "w-secret", Write: true}, {Name: "ro", Secret: "r-secret"}},
		Now: func() time.Time { return *now.Load() }}, st, eir.NewDecider(st, eir.Policy{}), zap.New(core))
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)

	cases := []struct {
		method, path, token, body string
		status                    int
		actor, reason             string
	}{
		{"GET", "/v1/datasets", "", "", 401, "", "no bearer token or client certificate"},
		{"GET", "/v1/datasets", "guessed-secret", "", 401, "", "unknown token"},
		{"POST", "/v1/import", "r-secret", "imei,status\n35209900176148,black\n", 403, "ro", "token may only read"},
		{"POST", "/v1/import", "w-secret", "imei,status\n1234,black\n12,grey\n", 422, "ops", "import rejected: invalid file (2 error(s))"},
		{"POST", "/v1/import", "w-secret", "imei,status,source\n35209900176148,black,gsma\n", 403, "ops", "source not allowed: gsma"},
	}
	for _, tc := range cases {
		if status, body, _ := do(t, srv, tc.method, tc.path, tc.token, tc.body); status != tc.status {
			t.Fatalf("%s %s: %d %v, want %d", tc.method, tc.path, status, body, tc.status)
		}
		entries := logs.TakeAll()
		if len(entries) != 1 {
			t.Fatalf("%s %s: %d log lines, want 1: %v", tc.method, tc.path, len(entries), entries)
		}
		e := entries[0]
		f := e.ContextMap()
		if e.Level != zapcore.WarnLevel || e.Message != "request refused" || f["actor"] != tc.actor || f["reason"] != tc.reason ||
			f["method"] != tc.method || f["path"] != tc.path || !strings.HasPrefix(f["remote_addr"].(string), "127.0.0.1:") {
			t.Errorf("%s %s: logged %s %q %v", tc.method, tc.path, e.Level, e.Message, f)
		}
		for _, v := range f {
			if s, _ := v.(string); strings.Contains(s, "secret") {
				t.Errorf("%s %s: the token is logged: %v", tc.method, tc.path, f)
			}
		}
	}

	// A loop: refusalBurst lines per window (4 are logged already), then
	// none; the first line of the next window counts those suppressed.
	for range refusalBurst + 5 {
		do(t, srv, "GET", "/v1/datasets", "", "")
	}
	if n := logs.Len(); n != refusalBurst-len(cases) {
		t.Fatalf("%d lines logged in the window, want %d", n, refusalBurst-len(cases))
	}
	logs.TakeAll()
	next := start.Add(refusalWindow)
	now.Store(&next)
	do(t, srv, "GET", "/v1/datasets", "guessed-secret", "")
	entries := logs.TakeAll()
	if len(entries) != 1 || entries[0].ContextMap()["suppressed"] != int64(len(cases)+5) || entries[0].ContextMap()["reason"] != "unknown token" {
		t.Fatalf("first line of the next window: %v", entries)
	}
}
