package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		// A queued dial of the pool may end after Close (see eir/redisstore).
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).queuedNewConn.func2"))
	os.Exit(0)
}

var prefixSeq atomic.Int64

// redisAPI is an API over a Redis store with notes, audit and events.
type redisAPI struct {
	api *Server
	st  *redisstore.Store
	srv *httptest.Server
	now atomic.Pointer[time.Time]
}

func newRedisAPI(t *testing.T, rs *redistest.Server, mod func(*Options)) *redisAPI {
	t.Helper()
	if rs == nil {
		rs = redistest.Start(t)
	}
	st, err := redisstore.New(context.Background(), rs.Client(t), redisstore.Options{Prefix: fmt.Sprintf("a%d:", prefixSeq.Add(1))},
		zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := &redisAPI{st: st}
	o := Options{Notes: st, Audit: audit.New(st, audit.Options{}), Events: st,
		// alice writes manual and ceir, the other source of these tests.
		Tokens: []Token{{Name: "alice", Secret: "alice-secret", Write: true, Sources: []string{"manual", "ceir"}}, {Name: "bob", Secret: "bob-secret"}},
		Now: func() time.Time {
			if t := a.now.Load(); t != nil {
				return *t
			}
			return time.Now()
		}}
	if mod != nil {
		mod(&o)
	}
	a.api = New(o, st, eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t))
	a.srv = httptest.NewServer(a.api.Handler())
	t.Cleanup(a.srv.Close)
	return a
}

// call sends a request as alice (write), bob (read) or nobody ("").
func (a *redisAPI) call(t *testing.T, method, path, who string, body any) (int, map[string]any) {
	t.Helper()
	var s string
	switch b := body.(type) {
	case nil:
	case string:
		s = b
	default:
		data, _ := json.Marshal(b)
		s = string(data)
	}
	token := ""
	if who != "" {
		token = who + "-secret"
	}
	status, m, _ := do(t, a.srv, method, path, token, s)
	return status, m
}

func entriesOfBody(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	raw, ok := m["entries"].([]any)
	if !ok {
		t.Fatalf("no entries in %v", m)
	}
	var out []map[string]any
	for _, e := range raw {
		out = append(out, e.(map[string]any))
	}
	return out
}

func TestEntryLifecycle(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	const imei = "35209900176148"
	add := map[string]any{"imei": "352099001761481", "list": "black", "reason": "stolen, police report 2026/1234"}
	status, body := a.call(t, "POST", "/v1/entries", "alice", add)
	if status != 200 || body["action"] != "added" {
		t.Fatalf("add: %d %v", status, body)
	}
	if e := body["entry"].(map[string]any); e["imei"] != imei || e["dataset"] != "manual/imei/black" || e["actor"] != "alice" {
		t.Fatalf("added entry: %v", e)
	}
	if _, body := a.call(t, "GET", "/v1/check?imei="+imei, "bob", nil); body["status"] != "BLACKLISTED" {
		t.Fatalf("check after add: %v", body)
	}
	// The same request again changes nothing in the lists.
	if status, body := a.call(t, "POST", "/v1/entries", "alice", add); status != 200 || body["action"] != "unchanged" {
		t.Fatalf("add again: %d %v", status, body)
	}
	// Moving to grey takes it off black.
	status, body = a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": imei, "list": "grey", "reason": "found by owner, watching"})
	if status != 200 || body["action"] != "updated" {
		t.Fatalf("move: %d %v", status, body)
	}
	before := body["before"].([]any)
	if len(before) != 1 || before[0].(map[string]any)["list"] != "black" || before[0].(map[string]any)["reason"] != "stolen, police report 2026/1234" {
		t.Fatalf("before of the move: %v", before)
	}
	if _, body := a.call(t, "GET", "/v1/check?imei="+imei, "bob", nil); body["status"] != "GREYLISTED" {
		t.Fatalf("check after move: %v", body)
	}
	_, body = a.call(t, "GET", "/v1/entries?imei="+imei, "bob", nil)
	got := entriesOfBody(t, body)
	if len(got) != 1 || got[0]["list"] != "grey" || got[0]["reason"] != "found by owner, watching" || got[0]["actor"] != "alice" || got[0]["time"] == nil {
		t.Fatalf("entries of the IMEI: %v", got)
	}
	// bob may read, not write.
	if status, body := a.call(t, "DELETE", "/v1/entries", "bob", map[string]any{"imei": imei, "reason": "x"}); status != 403 || errCode(body) != "forbidden" {
		t.Fatalf("remove by a reader: %d %v", status, body)
	}
	status, body = a.call(t, "DELETE", "/v1/entries", "alice", map[string]any{"imei": imei, "reason": "returned to owner"})
	if status != 200 || len(body["removed"].([]any)) != 1 {
		t.Fatalf("remove: %d %v", status, body)
	}
	if _, body := a.call(t, "GET", "/v1/check?imei="+imei, "bob", nil); body["status"] != "UNKNOWN" {
		t.Fatalf("check after remove: %v", body)
	}
	if status, body := a.call(t, "DELETE", "/v1/entries", "alice", map[string]any{"imei": imei, "reason": "again"}); status != 404 || errCode(body) != "not_found" {
		t.Fatalf("remove again: %d %v", status, body)
	}
	// The trail, newest first.
	_, body = a.call(t, "GET", "/v1/audit?imei="+imei, "bob", nil)
	recs := body["records"].([]any)
	var actions []string
	for _, r := range recs {
		m := r.(map[string]any)
		actions = append(actions, m["action"].(string)+" "+m["actor"].(string)+" "+m["reason"].(string))
	}
	want := []string{
		"entry.remove alice returned to owner",
		"entry.update alice found by owner, watching",
		"entry.update alice stolen, police report 2026/1234",
		"entry.add alice stolen, police report 2026/1234",
	}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Fatalf("audit:\n got %q\nwant %q", actions, want)
	}
	if _, body := a.call(t, "GET", "/v1/audit?actor=bob", "bob", nil); len(body["records"].([]any)) != 0 {
		t.Fatalf("bob changed nothing: %v", body)
	}
}

func TestEntryKinds(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	for _, req := range []map[string]any{
		{"tac": "35209900", "list": "grey", "reason": "counterfeit model"},
		{"from": "35209900000000", "to": "35209900099999", "list": "white", "source": "ceir", "reason": "type approved"},
		{"imei": "35209900176148", "imsi": "001010000000001", "list": "exception", "reason": "owner's SIM"},
		{"imei": "35209900176148", "list": "black", "reason": "stolen"},
	} {
		if status, body := a.call(t, "POST", "/v1/entries", "alice", req); status != 200 || body["action"] != "added" {
			t.Fatalf("%v: %d %v", req, status, body)
		}
	}
	_, body := a.call(t, "GET", "/v1/entries?imei=35209900076148", "bob", nil)
	var got []string
	for _, e := range entriesOfBody(t, body) {
		got = append(got, e["dataset"].(string))
	}
	if strings.Join(got, " ") != "ceir/range/white manual/tac/grey" {
		t.Fatalf("entries of another IMEI of the TAC: %v", got)
	}
	_, body = a.call(t, "GET", "/v1/check?imei=35209900176148&imsi=001010000000001", "bob", nil)
	if body["status"] != "WHITELISTED" || body["rule"] != "exception" {
		t.Fatalf("exception: %v", body)
	}
	// A white pair is an exception, as in imports.
	status, body := a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "35209900176148", "imsi": "001010000000002", "list": "white", "reason": "second SIM"})
	if status != 200 || body["entry"].(map[string]any)["list"] != "exception" {
		t.Fatalf("white pair: %d %v", status, body)
	}
	// Removing a range names it whole.
	if status, body := a.call(t, "DELETE", "/v1/entries", "alice", map[string]any{"from": "35209900000000", "to": "35209900099998", "source": "ceir", "reason": "x"}); status != 404 {
		t.Fatalf("part of a range removed: %d %v", status, body)
	}
	if status, body := a.call(t, "DELETE", "/v1/entries", "alice", map[string]any{"from": "35209900000000", "to": "35209900099999", "source": "ceir", "reason": "withdrawn"}); status != 200 {
		t.Fatalf("remove range: %d %v", status, body)
	}
}

func TestEntryExpiry(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	status, body := a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "35209900176148", "list": "black", "reason": "blocked until the report is confirmed", "expires_at": exp})
	if status != 200 {
		t.Fatalf("add expiring: %d %v", status, body)
	}
	e := body["entry"].(map[string]any)
	if e["dataset"] != "manual/imei/black/exp" || e["expires_at"] != exp.Format(time.RFC3339) {
		t.Fatalf("expiring entry: %v", e)
	}
	// Made permanent: it leaves the expiring variant.
	status, body = a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "35209900176148", "list": "black", "reason": "confirmed"})
	if status != 200 || body["action"] != "updated" || body["before"].([]any)[0].(map[string]any)["dataset"] != "manual/imei/black/exp" {
		t.Fatalf("made permanent: %d %v", status, body)
	}
	_, body = a.call(t, "GET", "/v1/entries?imei=35209900176148", "bob", nil)
	if got := entriesOfBody(t, body); len(got) != 1 || got[0]["dataset"] != "manual/imei/black" || got[0]["expires_at"] != nil {
		t.Fatalf("after making it permanent: %v", got)
	}
	// An expired entry not yet swept is shown as expired, and no longer
	// applies.
	a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "49015420323751", "list": "grey", "reason": "r", "expires_at": time.Now().Add(time.Hour)})
	later := time.Now().Add(2 * time.Hour)
	a.now.Store(&later)
	_, body = a.call(t, "GET", "/v1/entries?imei=49015420323751", "bob", nil)
	if got := entriesOfBody(t, body); len(got) != 1 || got[0]["expired"] != true {
		t.Fatalf("expired entry: %v", got)
	}
	if status, body := a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "49015420323751", "list": "grey", "reason": "r", "expires_at": time.Now().Add(time.Hour)}); status != 400 || errCode(body) != "invalid_entry" {
		t.Fatalf("expiry in the past accepted: %d %v", status, body)
	}
}

// TestEntryExpiryMilliseconds: an expiry is kept to the millisecond, so
// that one half a second away is in the future and nothing expires up to
// a second early; finer than that is truncated before it is checked.
func TestEntryExpiryMilliseconds(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	now := time.Date(2031, 5, 1, 10, 0, 0, 0, time.UTC)
	a.now.Store(&now)
	exp := now.Add(500*time.Millisecond + 700*time.Microsecond) // stored as .500
	status, body := a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "35209900176148", "list": "black", "reason": "r", "expires_at": exp})
	if status != 200 {
		t.Fatalf("expiry 500ms away: %d %v", status, body)
	}
	want := "2031-05-01T10:00:00.5Z"
	if got := body["entry"].(map[string]any)["expires_at"]; got != want {
		t.Errorf("added: expires_at %v, want %s", got, want)
	}
	_, body = a.call(t, "GET", "/v1/entries?source=manual", "bob", nil)
	if got := entriesOfBody(t, body); len(got) != 1 || got[0]["expires_at"] != want {
		t.Errorf("listed: %v, want expires_at %s", got, want)
	}
	if body["source"] != "manual" {
		t.Errorf("listed: source %v, want manual", body["source"])
	}
	// 0.9 ms away is now once truncated: not in the future, and said so
	// to the millisecond.
	status, body = a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "49015420323751", "list": "black", "reason": "r", "expires_at": now.Add(900 * time.Microsecond)})
	if status != 400 || errCode(body) != "invalid_entry" {
		t.Fatalf("expiry within the millisecond: %d %v", status, body)
	}
	if msg := body["error"].(map[string]any)["message"]; msg != "expires_at 2031-05-01T10:00:00.000Z is not in the future" {
		t.Errorf("message %q", msg)
	}
}

func TestEntryBadInput(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	future := time.Now().Add(time.Hour).Format(time.RFC3339)
	tests := []struct {
		name, method, body string
		status             int
		code               string
	}{
		{"bad imei", "POST", `{"imei":"1234","list":"black","reason":"r"}`, 400, "invalid_imei"},
		{"letters in imei", "POST", `{"imei":"3520990017614x","list":"black","reason":"r"}`, 400, "invalid_imei"},
		{"no reason", "POST", `{"imei":"35209900176148","list":"black"}`, 400, "missing_reason"},
		{"blank reason", "POST", `{"imei":"35209900176148","list":"black","reason":"  "}`, 400, "missing_reason"},
		{"no list", "POST", `{"imei":"35209900176148","reason":"r"}`, 400, "invalid_entry"},
		{"unknown list", "POST", `{"imei":"35209900176148","list":"purple","reason":"r"}`, 400, "invalid_entry"},
		{"exception without imsi", "POST", `{"imei":"35209900176148","list":"exception","reason":"r"}`, 400, "invalid_entry"},
		{"black pair", "POST", `{"imei":"35209900176148","imsi":"00101","list":"black","reason":"r"}`, 400, "invalid_entry"},
		{"bad imsi", "POST", `{"imei":"35209900176148","imsi":"12","list":"exception","reason":"r"}`, 400, "invalid_imsi"},
		{"imei and tac", "POST", `{"imei":"35209900176148","tac":"35209900","list":"black","reason":"r"}`, 400, "invalid_entry"},
		{"nothing named", "POST", `{"list":"black","reason":"r"}`, 400, "invalid_entry"},
		{"short tac", "POST", `{"tac":"5209900","list":"black","reason":"r"}`, 400, "invalid_entry"},
		{"range backwards", "POST", `{"from":"35209900999999","to":"35209900000000","list":"black","reason":"r"}`, 400, "invalid_entry"},
		{"range with from only", "POST", `{"from":"35209900000000","list":"black","reason":"r"}`, 400, "invalid_entry"},
		{"expiring range", "POST", `{"from":"35209900000000","to":"35209900000009","list":"black","reason":"r","expires_at":"` + future + `"}`, 400, "invalid_entry"},
		{"bad time", "POST", `{"imei":"35209900176148","list":"black","reason":"r","expires_at":"tomorrow"}`, 400, "invalid_json"},
		{"bad source", "POST", `{"imei":"35209900176148","list":"black","reason":"r","source":"Bad Source!"}`, 400, "invalid_entry"},
		{"unknown field", "POST", `{"imei":"35209900176148","list":"black","reason":"r","status":"black"}`, 400, "invalid_json"},
		{"not json", "POST", `imei=35209900176148`, 400, "invalid_json"},
		{"empty body", "POST", ``, 400, "invalid_json"},
		{"two objects", "POST", `{"imei":"35209900176148","list":"black","reason":"r"}{}`, 400, "invalid_json"},
		{"too large", "POST", `{"imei":"35209900176148","list":"black","reason":"` + strings.Repeat("x", 70000) + `"}`, 413, "body_too_large"},
		{"long reason", "POST", `{"imei":"35209900176148","list":"black","reason":"` + strings.Repeat("x", 2000) + `"}`, 400, "invalid_entry"},
		{"remove without reason", "DELETE", `{"imei":"35209900176148"}`, 400, "missing_reason"},
		{"remove with expiry", "DELETE", `{"imei":"35209900176148","reason":"r","expires_at":"` + future + `"}`, 400, "invalid_entry"},
		{"remove unknown", "DELETE", `{"imei":"35209900176148","reason":"r"}`, 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.call(t, tc.method, "/v1/entries", "alice", tc.body)
			if status != tc.status || errCode(body) != tc.code {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	if ds, _ := a.st.Datasets(context.Background()); len(ds) != 0 {
		t.Fatalf("rejected requests stored something: %v", ds)
	}
	for _, path := range []string{"/v1/entries?limit=0", "/v1/entries?limit=1001", "/v1/entries?list=purple", "/v1/entries?target=phone", "/v1/entries?source=National",
		"/v1/entries?cursor=garbage", "/v1/entries?imei=12", "/v1/audit?since=yesterday", "/v1/audit?limit=5000", "/v1/audit?imei=x",
		"/v1/events?after=abc", "/v1/events?limit=-1"} {
		if status, body := a.call(t, "GET", path, "bob", nil); status != 400 {
			t.Errorf("GET %s: %d %v, want 400", path, status, body)
		}
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/v1/entries", "GET, POST, DELETE, HEAD"},
		{"GET", "/v1/import", "POST"},
		{"POST", "/v1/check", "GET, HEAD"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		rec := httptest.NewRecorder()
		a.api.Handler().ServeHTTP(rec, req)
		if rec.Code != 405 || rec.Header().Get("Allow") != tc.allow || !strings.Contains(rec.Body.String(), "method_not_allowed") {
			t.Errorf("%s %s: %d Allow %q %s", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), rec.Body)
		}
	}
}

func TestListEntriesPages(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	var csv strings.Builder
	csv.WriteString("imei,status\n")
	want := map[string]bool{}
	for i := range 25 {
		imei := fmt.Sprintf("%014d", 35209900000000+i*104729)
		list := []string{"black", "grey"}[i%2]
		fmt.Fprintf(&csv, "%s,%s\n", imei, list)
		want[list+" "+imei] = true
	}
	if status, body := a.call(t, "POST", "/v1/import", "alice", csv.String()); status != 200 {
		t.Fatalf("import: %d %v", status, body)
	}
	if status, body := a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "86000000000001", "list": "black", "source": "ceir", "reason": "other source"}); status != 200 {
		t.Fatalf("entry of another source: %d %v", status, body)
	}
	got := map[string]bool{}
	cursor, pages := "", 0
	for {
		_, body := a.call(t, "GET", "/v1/entries?source=manual&limit=7&cursor="+cursor, "bob", nil)
		page := entriesOfBody(t, body)
		if len(page) > 7 {
			t.Fatalf("page of %d", len(page))
		}
		for _, e := range page {
			k := e["list"].(string) + " " + e["imei"].(string)
			if got[k] {
				t.Fatalf("%s listed twice", k)
			}
			got[k] = true
		}
		pages++
		cursor = body["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("the cursor never ends")
		}
	}
	if len(got) != len(want) || pages != 4 {
		t.Fatalf("%d entries in %d pages, want %d in 4", len(got), pages, len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("%s not listed", k)
		}
	}
	_, body := a.call(t, "GET", "/v1/entries?source=manual&list=grey&limit=1000", "bob", nil)
	if n := len(entriesOfBody(t, body)); n != 12 || body["next_cursor"] != "" {
		t.Fatalf("grey: %d entries, next %q", n, body["next_cursor"])
	}
	// A cursor outlives no change of its list.
	_, body = a.call(t, "GET", "/v1/entries?source=manual&list=black&limit=5", "bob", nil)
	next := body["next_cursor"].(string)
	a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "49015420323751", "list": "black", "reason": "r"})
	if status, body := a.call(t, "GET", "/v1/entries?source=manual&list=black&limit=5&cursor="+next, "bob", nil); status != 400 || errCode(body) != "invalid_cursor" {
		t.Fatalf("stale cursor: %d %v", status, body)
	}
}

func TestConcurrentEditsStayExclusive(t *testing.T) {
	// Two eird processes over one Redis, moving the same IMEI between
	// lists at once: it must end on exactly one list.
	rs := redistest.Start(t)
	a := newRedisAPI(t, rs, nil)
	b := &redisAPI{st: a.st}
	b.api = New(Options{Notes: a.st}, a.st, eir.NewDecider(a.st, eir.Policy{}), zaptest.NewLogger(t))
	b.srv = httptest.NewServer(b.api.Handler())
	t.Cleanup(b.srv.Close)
	var wg sync.WaitGroup
	for i, api := range []*redisAPI{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 25 {
				list := []string{"black", "grey", "white"}[(i+j)%3]
				who := "alice"
				if api == b {
					who = ""
				}
				status, body := api.call(t, "POST", "/v1/entries", who, map[string]any{"imei": "35209900176148", "list": list, "reason": "race"})
				if status != 200 && status != 409 {
					t.Errorf("edit: %d %v", status, body)
				}
			}
		}()
	}
	wg.Wait()
	got, err := a.st.EntriesFor(context.Background(), eir.Query{IMEI: 35209900176148})
	if err != nil || len(got) != 1 {
		t.Fatalf("after concurrent moves the IMEI is on %d lists: %v %v", len(got), got, err)
	}
}

func TestEvents(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	ctx := context.Background()
	if _, body := a.call(t, "GET", "/v1/events", "bob", nil); len(body["events"].([]any)) != 0 || body["last_id"] != "" {
		t.Fatalf("no events yet: %v", body)
	}
	var docs []string
	for i := range 150 {
		docs = append(docs, fmt.Sprintf(`{"time":"2026-11-26T08:00:00Z","interface":"s13","imei":"%014d","status":"BLACKLISTED"}`, i))
	}
	if err := a.st.AppendStream(ctx, EventsStream, docs, 0, 0); err != nil {
		t.Fatal(err)
	}
	_, body := a.call(t, "GET", "/v1/events", "bob", nil)
	evs := body["events"].([]any)
	if len(evs) != 100 || evs[0].(map[string]any)["imei"] != "00000000000050" || evs[99].(map[string]any)["imei"] != "00000000000149" {
		t.Fatalf("last 100 events, oldest first: %d, first %v", len(evs), evs[0])
	}
	last := body["last_id"].(string)
	if last != evs[99].(map[string]any)["id"] {
		t.Fatalf("last_id %s is not the id of the last event", last)
	}
	if _, body := a.call(t, "GET", "/v1/events?after="+last, "bob", nil); len(body["events"].([]any)) != 0 || body["last_id"] != last {
		t.Fatalf("nothing new: %v", body)
	}
	a.st.AppendStream(ctx, EventsStream, []string{`{"imei":"49015420323751","status":"GREYLISTED"}`}, 0, 0)
	_, body = a.call(t, "GET", "/v1/events?after="+last, "bob", nil)
	if evs := body["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["imei"] != "49015420323751" {
		t.Fatalf("follow: %v", body)
	}
	_, body = a.call(t, "GET", "/v1/events?after=0&limit=3", "bob", nil)
	if evs := body["events"].([]any); len(evs) != 3 || evs[0].(map[string]any)["imei"] != "00000000000000" {
		t.Fatalf("from the start: %v", body)
	}
}

func TestImportSkipInvalidAndAudit(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	csv := "imei,status\n35209900176148,black\n1234,black\n49015420323751,grey\n"
	if status, body := a.call(t, "POST", "/v1/import", "alice", csv); status != 422 {
		t.Fatalf("invalid row accepted: %d %v", status, body)
	}
	status, body := a.call(t, "POST", "/v1/import?skip_invalid=true&file=batch-7.csv&reason=weekly+police+list", "alice", csv)
	if status != 200 || body["skipped_rows"] != 1.0 || !strings.HasPrefix(body["skipped"].([]any)[0].(string), "line 3:") {
		t.Fatalf("skip invalid: %d %v", status, body)
	}
	_, body = a.call(t, "GET", "/v1/audit?action=import", "bob", nil)
	recs := body["records"].([]any)
	if len(recs) != 3 {
		t.Fatalf("import audit: %d records %v", len(recs), recs)
	}
	// The summary record names the file, the sources and the reason.
	var summary map[string]any
	for _, r := range recs {
		if r := r.(map[string]any); r["dataset"] == nil {
			summary = r
		}
	}
	if summary["target"] != "batch-7.csv" || summary["source"] != "manual" || summary["reason"] != "weekly police list" || summary["actor"] != "alice" {
		t.Fatalf("import summary record: %v", summary)
	}
	// Without a file name and a reason (callers of the first API versions),
	// the import is applied and audited with neither.
	status, body = a.call(t, "POST", "/v1/import?source=ceir", "alice", "tac,status\n35209900,black\n")
	if status != 200 {
		t.Fatalf("import without file and reason: %d %v", status, body)
	}
	_, body = a.call(t, "GET", "/v1/audit?action=import", "bob", nil)
	summary = nil
	for _, r := range body["records"].([]any) {
		if r := r.(map[string]any); r["dataset"] == nil && r["source"] == "ceir" {
			summary = r
		}
	}
	if summary == nil || summary["target"] != nil || summary["reason"] != nil {
		t.Fatalf("summary of an import without file and reason: %v", body["records"])
	}
	// Both are bounded, as the reason of a manual edit.
	long := strings.Repeat("x", 1025)
	for _, p := range []string{"file", "reason"} {
		status, body := a.call(t, "POST", "/v1/import?"+p+"="+long, "alice", csv)
		if e, _ := body["error"].(map[string]any); status != 400 || e["code"] != "invalid_parameter" || e["message"] != p+": 1025 bytes, at most 1024" {
			t.Fatalf("%s of 1025 bytes: %d %v", p, status, body)
		}
	}
	_, body = a.call(t, "GET", "/v1/audit?imei=35209900176148", "bob", nil)
	if recs := body["records"].([]any); len(recs) != 1 || recs[0].(map[string]any)["reason"] != "weekly police list" ||
		recs[0].(map[string]any)["dataset"] != "manual/imei/black" {
		t.Fatalf("audit of an imported IMEI: %v", recs)
	}
}

func TestStatusAndReload(t *testing.T) {
	var reloads atomic.Int32
	fail := atomic.Bool{}
	a := newRedisAPI(t, nil, func(o *Options) {
		o.Version, o.OpenPeers = "1.2.3", func() int { return 2 }
		o.Reload = func(ctx context.Context, actor string) (ReloadResult, error) {
			if fail.Load() {
				return ReloadResult{}, fmt.Errorf("config: diameter.peers[0]: not a host name")
			}
			reloads.Add(1)
			return ReloadResult{Reloaded: []string{"diameter.peers", "admin.tokens"}, RestartNeeded: []string{"redis.addresses"}}, nil
		}
	})
	_, body := a.call(t, "GET", "/v1/status", "bob", nil)
	if body["version"] != "1.2.3" || body["ready"] != false || body["ready_error"] != "no list version is loaded" ||
		body["peers"].(map[string]any)["open"] != 2.0 || body["policy"].(map[string]any)["unknown_equipment"] != "unknown" || body["shadow"].(map[string]any)["all"] != false {
		t.Fatalf("status: %v", body)
	}
	a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "35209900176148", "list": "black", "reason": "r"})
	if _, body := a.call(t, "GET", "/v1/status", "bob", nil); body["ready"] != true || body["entries"] != 1.0 || body["datasets"] != 1.0 {
		t.Fatalf("status with a list: %v", body)
	}
	if status, _ := a.call(t, "POST", "/v1/reload", "bob", nil); status != 403 {
		t.Fatalf("reload by a reader: %d", status)
	}
	if status, body := a.call(t, "POST", "/v1/reload", "alice", nil); status != 200 || len(body["reloaded"].([]any)) != 2 || len(body["restart_needed"].([]any)) != 1 || reloads.Load() != 1 {
		t.Fatalf("reload: %d %v", status, body)
	}
	fail.Store(true)
	if status, body := a.call(t, "POST", "/v1/reload", "alice", nil); status != 422 || errCode(body) != "invalid_config" {
		t.Fatalf("bad reload: %d %v", status, body)
	}
	// New tokens apply to the next request.
	a.api.SetTokens([]Token{{Name: "carol", Secret: "carol-secret", Write: true}})
	if status, _ := a.call(t, "GET", "/v1/status", "bob", nil); status != 401 {
		t.Fatalf("an old token still works: %d", status)
	}
	if status, _ := a.call(t, "GET", "/v1/status", "carol", nil); status != 200 {
		t.Fatalf("the new token does not work: %d", status)
	}
}

func TestSweepExpiredAudits(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	exp := time.Now().Add(time.Hour)
	a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "35209900176148", "list": "black", "reason": "until confirmed", "expires_at": exp})
	a.call(t, "POST", "/v1/entries", "alice", map[string]any{"imei": "49015420323751", "list": "black", "reason": "permanent"})
	if n, err := a.api.Edits().SweepExpired(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep before the expiry: %d %v", n, err)
	}
	// The store's clock is real: wait for nothing, move the entry's expiry
	// into the past instead.
	past := time.Now().Add(-time.Minute).UnixMilli()
	d := eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListBlack, Expiring: true}
	if _, err := a.st.Apply(context.Background(), []eir.Change{{Dataset: d, Add: []eir.Entry{{IMEI: 35209900176148, Expires: past}}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.api.Edits().SweepExpired(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep after the expiry: %d %v", n, err)
	}
	_, body := a.call(t, "GET", "/v1/audit?action=entry.expire", "bob", nil)
	recs := body["records"].([]any)
	if len(recs) != 1 || recs[0].(map[string]any)["imei"] != "35209900176148" || recs[0].(map[string]any)["actor"] != "expiry" {
		t.Fatalf("expiry audit: %v", recs)
	}
	if _, body := a.call(t, "GET", "/v1/entries?imei=35209900176148", "bob", nil); len(entriesOfBody(t, body)) != 0 {
		t.Fatalf("swept entry still listed: %v", body)
	}
	notes, _ := a.st.MetaGet(context.Background(), "notes:manual", "imei:35209900176148", "imei:49015420323751")
	if notes[0] != "" || notes[1] == "" {
		t.Fatalf("notes after the sweep: %q", notes)
	}
}
