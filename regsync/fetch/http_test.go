package fetch

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "s3cr3t-Bearer.Token_value"

// newServer starts an HTTPS test server on a free port and returns it with
// a client from NewClient that trusts its certificate.
func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(10*time.Second, &TLSOptions{CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return srv, c
}

// sleeper is an injected HTTP.Sleep that records the delays asked for and
// does not wait.
type sleeper struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// requests records what the server saw.
type requests struct {
	mu   sync.Mutex
	reqs []http.Header
}

func (r *requests) add(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req.Header.Clone())
	return len(r.reqs)
}

func (r *requests) get() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.reqs...)
}

func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("error contains the bearer token: %v", err)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	return listDir(t, dir)
}

func TestFetchConditional(t *testing.T) {
	t.Parallel()
	const v1 = "imei,status\n490154203237518,black\n"
	var (
		mu   sync.Mutex
		etag = `"v1"`
		body = v1
	)
	const lastMod = "Fri, 14 Mar 2025 15:00:00 GMT"
	var seen requests
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		mu.Lock()
		tag, b := etag, body
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", tag)
		w.Header().Set("Last-Modified", lastMod)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = io.WriteString(w, b)
	})
	spool := filepath.Join(t.TempDir(), "spool")
	h := &HTTP{URL: srv.URL + "/lists/20250314_full.csv?fmt=csv", Client: client, BearerToken: token, SpoolDir: spool}
	ctx := context.Background()

	res, err := h.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		Fetched: true, File: filepath.Join(spool, "20250314_full.csv"), Name: "20250314_full.csv",
		ETag: `"v1"`, LastModified: lastMod, Status: 200, Attempts: 1,
	}
	if res != want {
		t.Fatalf("first fetch = %+v\nwant %+v", res, want)
	}
	if got := readFile(t, res.File); got != body {
		t.Errorf("spooled %q", got)
	}
	var val map[string]any
	if err := json.Unmarshal([]byte(readFile(t, h.ValidatorsPath())), &val); err != nil {
		t.Fatal(err)
	}
	if val["etag"] != `"v1"` || val["last_modified"] != lastMod || val["name"] != "20250314_full.csv" {
		t.Errorf("validators = %v", val)
	}
	if !regexp.MustCompile(`^\.[0-9a-f]{32}\.validators\.json$`).MatchString(filepath.Base(h.ValidatorsPath())) {
		t.Errorf("validators file %s", h.ValidatorsPath())
	}
	r0 := seen.get()[0]
	if r0.Get("If-None-Match") != "" || r0.Get("If-Modified-Since") != "" || r0.Get("Accept-Encoding") != "identity" {
		t.Errorf("first request headers = %v", r0)
	}

	// Unchanged: the server sees the validators and answers 304.
	res, err = h.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Status: 304, Attempts: 1, ETag: `"v1"`, LastModified: lastMod}); res != want {
		t.Fatalf("second fetch = %+v, want %+v", res, want)
	}
	r1 := seen.get()[1]
	if r1.Get("If-None-Match") != `"v1"` || r1.Get("If-Modified-Since") != lastMod {
		t.Errorf("second request headers = %v", r1)
	}

	// A new version: downloaded again. The first is still unprocessed in the
	// spool folder, so the new one gets a timestamped name.
	mu.Lock()
	etag, body = `"v2"`, "imei,status\n"
	mu.Unlock()
	res, err = h.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Fetched || res.ETag != `"v2"` || !regexp.MustCompile(`^20250314_full\.[0-9]{8}T[0-9]{6}\.csv$`).MatchString(res.Name) {
		t.Fatalf("third fetch = %+v", res)
	}
	second := res.Name
	if readFile(t, res.File) != "imei,status\n" || readFile(t, filepath.Join(spool, "20250314_full.csv")) != v1 {
		t.Error("spooled files wrong")
	}
	if seen.get()[2].Get("If-None-Match") != `"v1"` {
		t.Errorf("third request headers = %v", seen.get()[2])
	}
	res, err = h.Fetch(ctx)
	if err != nil || res.Status != 304 || seen.get()[3].Get("If-None-Match") != `"v2"` {
		t.Fatalf("fourth fetch = %+v, %v (headers %v)", res, err, seen.get()[3])
	}

	// The spool folder is a drop directory: both files are ready, the
	// validators and nothing else are hidden.
	ready, err := (&Dir{Path: spool, Settle: -1}).Ready()
	if err != nil || !reflect.DeepEqual(names(ready), []string{second, "20250314_full.csv"}) {
		t.Fatalf("ready = %v, %v", names(ready), err)
	}
	if got := spoolFiles(t, spool); len(got) != 3 {
		t.Errorf("spool folder = %v", got)
	}
}

func TestFetchContentDisposition(t *testing.T) {
	t.Parallel()
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="../../etc/20250314T0000_blocklist.csv.gz"`)
		_, _ = io.WriteString(w, "gz")
	})
	h := &HTTP{URL: srv.URL + "/api/v1/export", Client: client, SpoolDir: t.TempDir()}
	res, err := h.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "20250314T0000_blocklist.csv.gz" || res.File != filepath.Join(h.SpoolDir, res.Name) {
		t.Fatalf("fetch = %+v", res)
	}
	// Again: the name is taken, the stamp goes before the .csv.gz.
	res, err = h.Fetch(context.Background())
	if err != nil || !regexp.MustCompile(`^20250314T0000_blocklist\.[0-9]{8}T[0-9]{6}\.csv\.gz$`).MatchString(res.Name) {
		t.Fatalf("second fetch = %+v, %v", res, err)
	}
}

func TestResponseName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 300) + ".csv.gz"
	tests := []struct{ cd, path, want string }{
		{`attachment; filename="20250314_full.csv"`, "/x", "20250314_full.csv"},
		{`attachment; filename=plain.csv`, "/x", "plain.csv"},
		{`attachment; filename="../../etc/passwd"`, "/x", "passwd"},
		{`attachment; filename="..\\..\\win.ini"`, "/x", "win.ini"},
		{`attachment; filename*=UTF-8''l%C3%A4nder.csv; filename="fallback.csv"`, "/x", "länder.csv"},
		{`attachment; filename=".hidden.csv"`, "/x", "hidden.csv"},
		{`attachment; filename="~lock.csv"`, "/x", "lock.csv"},
		{`attachment; filename="list.part"`, "/x", "list.part_"},
		{`attachment; filename="a` + "\x01" + `b.csv"`, "/x", "a_b.csv"},
		{`attachment; filename=".."`, "/export/list.zip", "list.zip"},
		{`attachment; filename=""`, "/export/list.zip", "list.zip"},
		{`attachment`, "/export/list.zip", "list.zip"},
		{`garbage; ;; filename=`, "/export/list.zip", "list.zip"},
		{"", "/export/20250314%20full.csv", "20250314 full.csv"},
		{"", "/", "download"},
		{"", "", "download"},
		{"", "/..", "download"},
		{"attachment; filename=" + long, "/", strings.Repeat("n", maxNameLen-len(".csv.gz")) + ".csv.gz"},
	}
	for _, tt := range tests {
		u, err := url.Parse("https://registry.example" + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got := responseName(tt.cd, u)
		if got != tt.want {
			t.Errorf("responseName(%q, %q) = %q, want %q", tt.cd, tt.path, got, tt.want)
		}
		if len(got) > 255 || strings.ContainsAny(got, `/\`) || strings.HasPrefix(got, ".") {
			t.Errorf("responseName(%q, %q) = %q: unsafe", tt.cd, tt.path, got)
		}
	}
}

func TestFetchBearerToken(t *testing.T) {
	t.Parallel()
	var seen requests
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			// A careless server echoes the credentials it got.
			http.Error(w, "invalid credentials: "+got, http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	sl := &sleeper{}
	h := &HTTP{URL: srv.URL + "/f.csv", Client: client, BearerToken: token, SpoolDir: t.TempDir(), Sleep: sl.Sleep}
	if res, err := h.Fetch(context.Background()); err != nil || !res.Fetched {
		t.Fatalf("fetch with the right token = %+v, %v", res, err)
	}

	// A wrong token (here: one with a suffix, so the echo contains the
	// real token) is refused at once and never shown.
	h2 := &HTTP{URL: srv.URL + "/f.csv", Client: client, BearerToken: token + "x", SpoolDir: t.TempDir(), Sleep: sl.Sleep}
	res, err := h2.Fetch(context.Background())
	if err == nil {
		t.Fatal("fetch with a wrong token: no error")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error contains the bearer token: %v", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 401 || !strings.Contains(err.Error(), "401") || !strings.Contains(se.Body, "[redacted]") {
		t.Errorf("error = %v (%#v)", err, se)
	}
	if res.Attempts != 1 || res.Status != 401 || len(sl.got()) != 0 {
		t.Errorf("401 retried: %+v, sleeps %v", res, sl.got())
	}
	if len(seen.get()) != 2 {
		t.Errorf("requests = %d", len(seen.get()))
	}
	if got := spoolFiles(t, h2.SpoolDir); len(got) != 0 {
		t.Errorf("spool after 401 = %v", got)
	}
}

func TestFetchRetriesServerErrors(t *testing.T) {
	t.Parallel()
	var n int
	var mu sync.Mutex
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		if i <= 2 {
			http.Error(w, "backend down", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	sl := &sleeper{}
	h := &HTTP{URL: srv.URL + "/f.csv", Client: client, BearerToken: token, SpoolDir: t.TempDir(), Sleep: sl.Sleep, Backoff: 100 * time.Millisecond}
	res, err := h.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Fetched || res.Attempts != 3 || res.Status != 200 {
		t.Fatalf("fetch = %+v", res)
	}
	d := sl.got()
	if len(d) != 2 || d[0] < 80*time.Millisecond || d[0] > 120*time.Millisecond || d[1] < 160*time.Millisecond || d[1] > 240*time.Millisecond {
		t.Errorf("delays = %v, want ~100ms then ~200ms (±20%%)", d)
	}
}

func TestFetchRetriesExhausted(t *testing.T) {
	t.Parallel()
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance "+strings.Repeat("x", 1000), http.StatusBadGateway)
	})
	sl := &sleeper{}
	h := &HTTP{URL: srv.URL + "/f.csv", Client: client, BearerToken: token, SpoolDir: t.TempDir(), Sleep: sl.Sleep}
	res, err := h.Fetch(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 502 || len(se.Body) > 200 || !strings.HasPrefix(se.Body, "maintenance xx") {
		t.Fatalf("error = %v", err)
	}
	noToken(t, err)
	if res.Attempts != 1+DefaultRetries || len(sl.got()) != DefaultRetries {
		t.Errorf("attempts %d, sleeps %v", res.Attempts, sl.got())
	}
	// Default backoff 1s doubling, ±20%.
	for i, d := range sl.got() {
		base := DefaultBackoff << i
		if d < base*8/10 || d > base*12/10 {
			t.Errorf("delay %d = %v, want %v ±20%%", i, d, base)
		}
	}

	// Retries < 0: a single attempt.
	h = &HTTP{URL: srv.URL + "/f.csv", Client: client, SpoolDir: t.TempDir(), Sleep: sl.Sleep, Retries: -1}
	if res, err := h.Fetch(context.Background()); err == nil || res.Attempts != 1 {
		t.Errorf("no retries = %+v, %v", res, err)
	}
}

func TestFetchRetryAfter(t *testing.T) {
	t.Parallel()
	var n int
	var mu sync.Mutex
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		switch i {
		case 1:
			w.Header().Set("Retry-After", "7")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", "3600") // capped
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case 3:
			w.Header().Set("Retry-After", "7") // ignored on a 500
			http.Error(w, "oops", http.StatusInternalServerError)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	})
	sl := &sleeper{}
	h := &HTTP{URL: srv.URL + "/f.csv", Client: client, SpoolDir: t.TempDir(), Sleep: sl.Sleep, Backoff: time.Millisecond}
	res, err := h.Fetch(context.Background())
	if err != nil || res.Attempts != 4 {
		t.Fatalf("fetch = %+v, %v", res, err)
	}
	d := sl.got()
	if len(d) != 3 || d[0] != 7*time.Second || d[1] != MaxBackoff || d[2] > 5*time.Millisecond {
		t.Errorf("delays = %v, want [7s 1m0s ~4ms]", d)
	}
}

func TestParseRetryAfterAndBackoff(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"0": 0, "1": time.Second, " 30 ": 30 * time.Second, "60": MaxBackoff, "99999999999999999": MaxBackoff} {
		if got, ok := parseRetryAfter(v); !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "soon"} {
		if got, ok := parseRetryAfter(v); ok {
			t.Errorf("parseRetryAfter(%q) = %v, want none", v, got)
		}
	}
	if got, ok := parseRetryAfter(time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)); !ok || got != 0 {
		t.Errorf("past date = %v, %v", got, ok)
	}
	if got, ok := parseRetryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); !ok || got != MaxBackoff {
		t.Errorf("future date = %v, %v", got, ok)
	}
	for n := 1; n < 70; n++ {
		d := backoffDelay(time.Second, n)
		if d > MaxBackoff || d < 800*time.Millisecond {
			t.Fatalf("backoffDelay(1s, %d) = %v", n, d)
		}
		if n >= 8 && d < MaxBackoff*8/10 {
			t.Fatalf("backoffDelay(1s, %d) = %v, want about the cap", n, d)
		}
	}
}

// hijackWith answers a request with raw bytes and closes the connection.
func hijackWith(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
	}
}

func TestFetchTruncatedBody(t *testing.T) {
	t.Parallel()
	srv, client := newServer(t, hijackWith("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"t\"\r\nConnection: close\r\n\r\n0123456789"))
	sl := &sleeper{}
	spool := filepath.Join(t.TempDir(), "spool")
	h := &HTTP{URL: srv.URL + "/f.csv", Client: client, BearerToken: token, SpoolDir: spool, Sleep: sl.Sleep, Retries: 1}
	res, err := h.Fetch(context.Background())
	if err == nil {
		t.Fatal("truncated body: no error")
	}
	noToken(t, err)
	if !strings.Contains(err.Error(), "unexpected EOF") && !strings.Contains(err.Error(), "truncated") {
		t.Errorf("error = %v", err)
	}
	if res.Fetched || res.Attempts != 2 || len(sl.got()) != 1 {
		t.Errorf("result = %+v, sleeps %v (a cut body is retried)", res, sl.got())
	}
	if got := spoolFiles(t, spool); len(got) != 0 {
		t.Errorf("spool after a truncated body = %v", got)
	}
}

func TestFetchMaxBytes(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("4901542032375181,black\n", 50)
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked.csv" {
			// No Content-Length: the limit is found while streaming.
			for i := 0; i < 10; i++ {
				_, _ = io.WriteString(w, big[:100])
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = io.WriteString(w, big)
	})
	for _, p := range []string{"/sized.csv", "/chunked.csv"} {
		sl := &sleeper{}
		spool := filepath.Join(t.TempDir(), "spool")
		h := &HTTP{URL: srv.URL + p, Client: client, SpoolDir: spool, Sleep: sl.Sleep, MaxBytes: 500}
		res, err := h.Fetch(context.Background())
		if err == nil || !strings.Contains(err.Error(), "exceeds the limit of 500 bytes") {
			t.Errorf("%s: error = %v", p, err)
		}
		if res.Fetched || res.Attempts != 1 || len(sl.got()) != 0 {
			t.Errorf("%s: result = %+v, sleeps %v (oversize is not retried)", p, res, sl.got())
		}
		if got := spoolFiles(t, spool); len(got) != 0 {
			t.Errorf("%s: spool = %v", p, got)
		}
	}
	// Exactly at the limit is fine.
	h := &HTTP{URL: srv.URL + "/sized.csv", Client: client, SpoolDir: t.TempDir(), MaxBytes: int64(len(big))}
	if res, err := h.Fetch(context.Background()); err != nil || !res.Fetched {
		t.Errorf("fetch at the limit = %+v, %v", res, err)
	}
}

func TestFetchNotRetried(t *testing.T) {
	t.Parallel()
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden":
			http.Error(w, "forbidden", http.StatusForbidden)
		case "/redirect":
			http.Redirect(w, r, "http://"+r.Host+"/plain", http.StatusFound)
		case "/created":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})
	for p, status := range map[string]int{"/forbidden": 403, "/missing": 404, "/created": 204, "/redirect": 302} {
		sl := &sleeper{}
		h := &HTTP{URL: srv.URL + p, Client: client, BearerToken: token, SpoolDir: t.TempDir(), Sleep: sl.Sleep}
		res, err := h.Fetch(context.Background())
		if err == nil || res.Attempts != 1 || len(sl.got()) != 0 {
			t.Errorf("%s: %+v, %v, sleeps %v; want one failed attempt", p, res, err, sl.got())
			continue
		}
		noToken(t, err)
		var se *StatusError
		switch {
		case p == "/redirect":
			if !errors.Is(err, errRedirect) {
				t.Errorf("%s: error = %v", p, err)
			}
		case !errors.As(err, &se) || se.Status != status || !strings.Contains(err.Error(), strconv.Itoa(status)):
			t.Errorf("%s: error = %v", p, err)
		}
	}
}

func TestFetchContextCancel(t *testing.T) {
	t.Parallel()
	var seen requests
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		http.Error(w, "down", http.StatusInternalServerError)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &HTTP{URL: srv.URL + "/f.csv", Client: client, SpoolDir: t.TempDir(), Retries: 100,
		Sleep: func(ctx context.Context, d time.Duration) error {
			cancel() // shutdown while waiting to retry
			return sleepCtx(ctx, time.Hour)
		}}
	res, err := h.Fetch(ctx)
	if !errors.Is(err, context.Canceled) || res.Attempts != 1 {
		t.Fatalf("fetch = %+v, %v", res, err)
	}
	// Already cancelled: no request at all.
	res, err = h.Fetch(ctx)
	if !errors.Is(err, context.Canceled) || res.Attempts != 0 || len(seen.get()) != 1 {
		t.Fatalf("fetch with a done ctx = %+v, %v, %d requests", res, err, len(seen.get()))
	}
	if err := sleepCtx(context.Background(), 0); err != nil {
		t.Errorf("sleepCtx(0) = %v", err)
	}
}

func TestFetchConfigErrors(t *testing.T) {
	t.Parallel()
	client, err := NewClient(time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	dir := t.TempDir()
	for _, h := range []*HTTP{
		{URL: "", Client: client, SpoolDir: dir},
		{URL: "http://registry.example/f.csv", Client: client, SpoolDir: dir},
		{URL: "ftp://registry.example/f.csv", Client: client, SpoolDir: dir},
		{URL: "https:///f.csv", Client: client, SpoolDir: dir},
		{URL: "https://registry.example/%zz?key=" + token, Client: client, SpoolDir: dir},
		{URL: "https://registry.example/f.csv", SpoolDir: dir},
		{URL: "https://registry.example/f.csv", Client: client},
		{URL: "https://registry.example/f.csv", Client: client, SpoolDir: dir, BearerToken: token + "\r\nX-Evil: 1"},
	} {
		res, err := h.Fetch(context.Background())
		if err == nil || res.Attempts != 0 {
			t.Errorf("%+v: %+v, %v; want a config error", h.URL, res, err)
		}
		noToken(t, err)
	}
}

func TestFetchValidatorsCorruptMeansUnconditional(t *testing.T) {
	t.Parallel()
	var seen requests
	srv, client := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		w.Header().Set("ETag", `"e"`)
		_, _ = io.WriteString(w, "x")
	})
	h := &HTTP{URL: srv.URL + "/", Client: client, SpoolDir: t.TempDir()}
	if err := os.WriteFile(h.ValidatorsPath(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := h.Fetch(context.Background())
	if err != nil || res.Name != fallbackName {
		t.Fatalf("fetch = %+v, %v", res, err)
	}
	if got := seen.get()[0].Get("If-None-Match"); got != "" {
		t.Errorf("If-None-Match = %q", got)
	}
	var v validators
	if err := json.Unmarshal([]byte(readFile(t, h.ValidatorsPath())), &v); err != nil || v.ETag != `"e"` {
		t.Errorf("validators = %+v, %v", v, err)
	}
	if !reflect.DeepEqual(spoolFiles(t, h.SpoolDir), []string{filepath.Base(h.ValidatorsPath()), fallbackName}) {
		t.Errorf("spool = %v", spoolFiles(t, h.SpoolDir))
	}
}

func TestStatusErrorText(t *testing.T) {
	t.Parallel()
	e := &StatusError{URL: "https://r.example/f", Status: 404, Body: "no such file"}
	if got, want := e.Error(), `fetch: GET https://r.example/f: status 404 Not Found: "no such file"`; got != want {
		t.Errorf("error = %s, want %s", got, want)
	}
	if got := fmt.Sprint(&StatusError{URL: "u", Status: 500}); got != "fetch: GET u: status 500 Internal Server Error" {
		t.Errorf("error = %s", got)
	}
}
