package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAuditSince(t *testing.T) {
	f := newFake(t)
	before := time.Now()
	out, errOut, code := f.ctl("", "audit", "-since", "24h", "-until", "2025-05-02T12:00:00+02:00", "-imei", "35209900176148",
		"-actor", "noc", "-action", "entry.add", "-limit", "50")
	after := time.Now()
	wantCode(t, code, exitOK, out, errOut)
	r := f.only()
	if r.Method != "GET" || r.Path != "/v1/audit" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	q := r.Query
	since, err := time.Parse(time.RFC3339, q.Get("since"))
	if err != nil || !strings.HasSuffix(q.Get("since"), "Z") {
		t.Fatalf("since %q: want RFC 3339 in UTC (%v)", q.Get("since"), err)
	}
	if lo, hi := before.Add(-24*time.Hour).Truncate(time.Second), after.Add(-24*time.Hour); since.Before(lo) || since.After(hi) {
		t.Errorf("-since 24h sent %s, want within [%s, %s]", since, lo, hi)
	}
	if q.Get("until") != "2025-05-02T10:00:00Z" || q.Get("imei") != "35209900176148" || q.Get("actor") != "noc" ||
		q.Get("action") != "entry.add" || q.Get("limit") != "50" {
		t.Errorf("query %v", q)
	}
	wantContains(t, "stdout", out, "TIME                  ACTOR  ACTION     TARGET          SOURCE  REASON\n",
		"2025-05-01T10:00:00Z  noc    entry.add  35209900176148  manual  stolen\n")

	// Days, and a note when the answer is truncated.
	f.handle("GET /v1/audit", reply(200, `{"records": [{"id": 7, "time": "2025-05-01T10:00:00.123456Z", "actor": "sync", "action": "sync.apply",
		"dataset": "gsma/tac/grey", "target": {"file": "grey-0042.csv"}, "source": "gsma"}], "truncated": true}`))
	out, errOut, code = f.ctl("", "audit", "-since", "7d")
	wantCode(t, code, exitOK, out, errOut)
	since, _ = time.Parse(time.RFC3339, f.requests()[1].Query.Get("since"))
	if d := time.Since(since); d < 7*24*time.Hour || d > 7*24*time.Hour+time.Minute {
		t.Errorf("-since 7d sent %s", since)
	}
	wantContains(t, "stdout", out, `{"file":"grey-0042.csv"}`, "2025-05-01T10:00:00Z  sync")
	wantContains(t, "stderr", errOut, "more records")

	out, _, code = f.ctl("", "-o", "json", "audit")
	if code != exitOK || !json.Valid([]byte(out)) || !strings.Contains(out, `"truncated": true`) {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2025, 5, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                       now.Add(-24 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"1d12h":                     now.Add(-36 * time.Hour),
		"2025-05-01T00:00:00Z":      time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC),
		"2025-05-01T02:00:00+02:00": time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseWhen(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-24h", "0s", "xd", "1.5d", "2025-05-01"} {
		if got, err := parseWhen(bad, now); err == nil {
			t.Errorf("parseWhen(%q) = %s, want an error", bad, got)
		}
	}
}

func TestEvents(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/events", reply(200, `{"events": [
		{"id": "1-0", "time": "2025-05-01T10:00:00Z", "interface": "s13", "imei": "35209900176148", "imsi": "001010000000001",
		 "status": "BLACKLISTED", "answer": "BLACKLISTED", "rule": "imei", "source": "national", "peer": "mme1.epc", "peer_address": "10.0.0.1"},
		{"id": "2-0", "time": "2025-05-01T10:00:01Z", "interface": "n5g", "imei": "49015420323751",
		 "status": "BLACKLISTED", "answer": "WHITELISTED", "rule": "tac", "source": "trial", "shadow": true, "peer_address": "10.0.0.9"}],
		"last_id": "2-0"}`))
	out, errOut, code := f.ctl("", "events", "-limit", "10")
	wantCode(t, code, exitOK, out, errOut)
	if q := f.only().Query; q.Get("limit") != "10" || q.Has("after") {
		t.Errorf("query %v", q)
	}
	want := "TIME                  STATUS       ANSWER       IMEI            IMSI             SOURCE    PEER      SHADOW\n" +
		"2025-05-01T10:00:00Z  BLACKLISTED  BLACKLISTED  35209900176148  001010000000001  national  mme1.epc\n" +
		"2025-05-01T10:00:01Z  BLACKLISTED  WHITELISTED  49015420323751  -                trial     10.0.0.9  SHADOW\n"
	if out != want {
		t.Errorf("events:\n%s\nwant:\n%s", out, want)
	}
}

// eventsFollower serves GET /v1/events for -follow: each poll gets one new
// event; poll number stopAt cancels the client's context, and poll number
// failAt (if any) answers 503.
type eventsFollower struct {
	t              *testing.T
	polls          atomic.Int32
	stopAt, failAt int32
	cancel         context.CancelFunc
	afters         chan string
}

func (e *eventsFollower) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := e.polls.Add(1)
	e.afters <- r.URL.Query().Get("after")
	switch n {
	case e.stopAt:
		e.cancel()
		<-r.Context().Done() // the client gives up the request it was waiting for
		return
	case e.failAt:
		writeAPIError(w, 503, "store_unavailable", "redis: connection refused")
		return
	}
	id := string(rune('0'+n)) + "-0"
	writeJSONBody(w, 200, map[string]any{"events": []any{map[string]any{"id": id, "time": "2025-05-01T10:00:00Z", "imei": "3520990017614" + string(rune('0'+n)),
		"status": "GREYLISTED", "answer": "GREYLISTED", "source": "gsma", "peer": "mme1.epc"}}, "last_id": id})
}

func TestEventsFollowStopsOnCancel(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev := &eventsFollower{t: t, stopAt: 4, failAt: 2, cancel: cancel, afters: make(chan string, 10)}
	f.handle("GET /v1/events", ev.ServeHTTP)
	out, errOut, code := runCLIContext(ctx, t, "", "-server", f.URL, "events", "-follow", "-interval", "1ms", "-limit", "50")
	wantCode(t, code, exitOK, out, errOut)
	if n := ev.polls.Load(); n != 4 {
		t.Errorf("%d polls, want 4 (stopped by the context)", n)
	}
	close(ev.afters)
	var afters []string
	for a := range ev.afters {
		afters = append(afters, a)
	}
	if strings.Join(afters, " ") != " 1-0 1-0 3-0" {
		t.Errorf("after= %q; want none, then the last id seen", afters)
	}
	for _, r := range f.requests() {
		if r.Query.Get("limit") != "50" {
			t.Errorf("query %v", r.Query)
		}
	}
	if strings.Count(out, "TIME") != 1 || !strings.Contains(out, "35209900176141") || !strings.Contains(out, "35209900176143") {
		t.Errorf("stdout:\n%s", out)
	}
	// The failure in between is reported, and polling goes on.
	wantContains(t, "stderr", errOut, "redis: connection refused (store_unavailable) (retrying every 1ms)", "eird answers again")
}

func TestEventsFollowJSONLines(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev := &eventsFollower{t: t, stopAt: 3, cancel: cancel, afters: make(chan string, 10)}
	f.handle("GET /v1/events", ev.ServeHTTP)
	out, errOut, code := runCLIContext(ctx, t, "", "-server", f.URL, "-o", "json", "events", "-follow", "-interval", "1ms")
	wantCode(t, code, exitOK, out, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one JSON event per line:\n%s", out)
	}
	for _, l := range lines {
		var e struct{ ID string }
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.ID == "" {
			t.Errorf("line %q: %v", l, err)
		}
	}
}

func TestEventsFollowRejected(t *testing.T) {
	f := newFake(t)
	f.token = "t0ken"
	out, errOut, code := f.ctl("", "events", "-follow", "-interval", "1ms")
	wantCode(t, code, exitRejected, out, errOut)
	wantContains(t, "stderr", errOut, "a bearer token is required")
}

func TestStatus(t *testing.T) {
	t.Run("full", func(t *testing.T) {
		f := newFake(t)
		out, errOut, code := f.ctl("", "status")
		wantCode(t, code, exitOK, out, errOut)
		for _, line := range []string{"VERSION   1.4.0 (commit abc1234)\n", "READY     yes\n", "DATASETS  7 with entries\n", "ENTRIES   123456\n",
			"PEERS     2 open\n", "SHADOW    sources trial (observed, not enforced)\n",
			"PASSIVE   sources detected (observed, never change an answer)\n", "SYNC      gsma: last success 2025-05-01T09:00:00Z\n",
			"          national: last success never, 1 held file (eirctl sync status)\n"} {
			wantContains(t, "stdout", out, line)
		}
		if r := f.only(); r.Path != "/v1/status" {
			t.Errorf("request %s", r.Path)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v1/status", reply(200, `{"version": "1.4.0", "ready": false, "ready_error": "no list version is loaded",
			"datasets": 0, "entries": 0, "peers": {"open": 0}, "shadow": {"all": true}, "sync": []}`))
		out, errOut, code := f.ctl("", "status")
		wantCode(t, code, exitFailure, out, errOut)
		wantContains(t, "stdout", out, "READY     NO: no list version is loaded", "SHADOW    all verdicts observed")
		wantContains(t, "stderr", errOut, "eird is not ready: no list version is loaded")
		out, _, code = f.ctl("", "-o", "json", "status")
		if code != exitFailure || !json.Valid([]byte(out)) {
			t.Errorf("-o json not ready: exit %d\n%s", code, out)
		}
	})
	t.Run("older eird: /readyz", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v1/status", nil) // 404
		out, errOut, code := f.ctl("", "status")
		wantCode(t, code, exitOK, out, errOut)
		if out != "eird is ready\n" || errOut != "" {
			t.Errorf("stdout %q, stderr %q", out, errOut)
		}
		reqs := f.requests()
		if len(reqs) != 2 || reqs[1].Path != "/readyz" {
			t.Errorf("requests %+v", reqs)
		}
		f.handle("GET /readyz", apiErrorReply(503, "no_lists", "no list version is loaded"))
		out, errOut, code = f.ctl("", "status")
		wantCode(t, code, exitFailure, out, errOut)
		wantContains(t, "stderr", errOut, "no list version is loaded (no_lists)")
	})
	t.Run("no token: readiness only", func(t *testing.T) {
		f := newFake(t)
		f.token = "t0ken"
		out, errOut, code := f.ctl("", "status")
		wantCode(t, code, exitOK, out, errOut)
		wantContains(t, "stderr", errOut, "showing readiness only")
		wantContains(t, "stdout", out, "eird is ready")
	})
	t.Run("refused token: an error", func(t *testing.T) {
		f := newFake(t)
		f.token = "t0ken"
		out, errOut, code := f.ctl("", "-token", "rotated", "status")
		wantCode(t, code, exitRejected, out, errOut)
		if out != "" {
			t.Errorf("stdout %q, want nothing", out)
		}
		want := "eirctl: unknown token (unauthenticated)\n" +
			"eirctl: eird refused the token from -token: it is wrong or no longer one of eird's admin.tokens (rotated?)\n"
		if errOut != want {
			t.Errorf("stderr %q, want %q", errOut, want)
		}
		if r := f.only(); r.Path != "/v1/status" {
			t.Errorf("request %s, want only GET /v1/status (no fallback to /readyz)", r.Path)
		}
	})
	t.Run("forbidden with a token: an error", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v1/status", apiErrorReply(403, "forbidden", "token grafana may not read"))
		out, errOut, code := f.ctl("", "-token", "t0ken", "status")
		wantCode(t, code, exitRejected, out, errOut)
		wantContains(t, "stderr", errOut, "token grafana may not read (forbidden)")
		if strings.Contains(errOut, "readiness") || len(f.requests()) != 1 {
			t.Errorf("fell back to readiness: %q, %d requests", errOut, len(f.requests()))
		}
	})
	t.Run("5xx", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v1/status", apiErrorReply(500, "internal", "boom"))
		out, errOut, code := f.ctl("", "status")
		wantCode(t, code, exitFailure, out, errOut)
	})
}
