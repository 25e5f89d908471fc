package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// body decodes a recorded JSON body.
func body(t *testing.T, r recorded) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

func TestParseEntryArg(t *testing.T) {
	cases := []struct {
		arg        string
		want       entryKey
		wantTarget string
	}{
		{"35209900176148", entryKey{IMEI: "35209900176148"}, "imei"},
		{"352099001761481", entryKey{IMEI: "352099001761481"}, "imei"},
		{"3520990017614823", entryKey{IMEI: "3520990017614823"}, "imei"},
		{" 35209900176148 ", entryKey{IMEI: "35209900176148"}, "imei"},
		{"35209900", entryKey{TAC: "35209900"}, "tac"},
		{"35209900000000-35209900999999", entryKey{From: "35209900000000", To: "35209900999999"}, "range"},
		{"35209900176148,001010000000001", entryKey{IMEI: "35209900176148", IMSI: "001010000000001"}, "pair"},
		{"352099001761481,00101", entryKey{IMEI: "352099001761481", IMSI: "00101"}, "pair"},
	}
	for _, tc := range cases {
		t.Run(tc.arg, func(t *testing.T) {
			got, target, err := parseEntryArg(tc.arg)
			if err != nil || got != tc.want || target != tc.wantTarget {
				t.Fatalf("parseEntryArg(%q) = %+v, %q, %v; want %+v, %q", tc.arg, got, target, err, tc.want, tc.wantTarget)
			}
			if back, _, _ := parseEntryArg(got.String()); back != got {
				t.Errorf("String() %q does not parse back", got.String())
			}
		})
	}
	for _, bad := range []string{"", "123", "1234567", "123456789", "3520990017614", "35209900176148231", "3520990017614X",
		"35209900-35209999", "35209900176148-", "-35209900176148", "35209900176148,", ",001010000000001", "35209900,001010000000001",
		"35209900176148,0010A", "imei-35209900176148"} {
		if k, target, err := parseEntryArg(bad); err == nil {
			t.Errorf("parseEntryArg(%q) = %+v, %q; want an error", bad, k, target)
		}
	}
}

func TestAddInference(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want map[string]any // the JSON body
	}{
		{"14-digit IMEI", []string{"-reason", "stolen", "35209900176148"},
			map[string]any{"imei": "35209900176148", "list": "black", "reason": "stolen"}},
		{"15-digit IMEI", []string{"-reason", "stolen", "352099001761481"},
			map[string]any{"imei": "352099001761481", "list": "black", "reason": "stolen"}},
		{"16-digit IMEISV", []string{"-reason", "stolen", "3520990017614823"},
			map[string]any{"imei": "3520990017614823", "list": "black", "reason": "stolen"}},
		{"TAC", []string{"-reason", "counterfeit model", "35209900"},
			map[string]any{"tac": "35209900", "list": "black", "reason": "counterfeit model"}},
		{"range", []string{"-list", "grey", "-reason", "batch", "35209900000000-35209900999999"},
			map[string]any{"from": "35209900000000", "to": "35209900999999", "list": "grey", "reason": "batch"}},
		{"pair defaults to exception", []string{"-reason", "VIP test phone", "35209900176148,001010000000001"},
			map[string]any{"imei": "35209900176148", "imsi": "001010000000001", "list": "exception", "reason": "VIP test phone"}},
		{"pair on grey", []string{"-list", "grey", "-reason", "watch", "35209900176148,001010000000001"},
			map[string]any{"imei": "35209900176148", "imsi": "001010000000001", "list": "grey", "reason": "watch"}},
		{"source and list", []string{"-list", "white", "-source", "national", "-reason", "cleared", "35209900176148"},
			map[string]any{"imei": "35209900176148", "list": "white", "source": "national", "reason": "cleared"}},
		{"flags after the argument", []string{"35209900176148", "-reason", "stolen", "-list", "override"},
			map[string]any{"imei": "35209900176148", "list": "override", "reason": "stolen"}},
		{"expires", []string{"-reason", "loan", "-expires", "2999-06-01T12:00:00+02:00", "35209900176148"},
			map[string]any{"imei": "35209900176148", "list": "black", "reason": "loan", "expires_at": "2999-06-01T10:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.token = "s3cret"
			out, errOut, code := f.ctl("", append([]string{"-token", "s3cret", "add"}, tc.args...)...)
			wantCode(t, code, exitOK, out, errOut)
			r := f.only()
			if r.Method != "POST" || r.Path != "/v1/entries" || r.ContentType != "application/json" || r.Auth != "Bearer s3cret" {
				t.Errorf("request %s %s, Content-Type %q, Authorization %q", r.Method, r.Path, r.ContentType, r.Auth)
			}
			if got := body(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("body %v, want %v", got, tc.want)
			}
			wantContains(t, "stdout", out, "ADDED", "DATASET")
			key, _, _ := parseEntryArg(firstEntryArg(tc.args))
			wantContains(t, "stdout", out, key.String())
		})
	}
}

// firstEntryArg is the argument that is not a flag or a flag's value.
func firstEntryArg(args []string) string {
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			i++
			continue
		}
		return args[i]
	}
	return ""
}

func TestAddOutput(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/entries", reply(200, `{"entry": {"dataset": "manual/imei/grey", "source": "manual", "list": "grey", "imei": "35209900176148",
		"expires_at": "2025-06-01T00:00:00Z", "reason": "lost"}, "action": "updated",
		"before": [{"dataset": "manual/imei/black", "source": "manual", "list": "black", "imei": "35209900176148", "reason": "stolen"}]}`))
	out, errOut, code := f.ctl("", "add", "-list", "grey", "-reason", "lost", "35209900176148")
	wantCode(t, code, exitOK, out, errOut)
	for _, line := range []string{"UPDATED  35209900176148", "DATASET  manual/imei/grey", "EXPIRES  2025-06-01T00:00:00Z",
		"REASON   lost", "WAS      manual/imei/black"} {
		wantContains(t, "stdout", out, line)
	}
	out, _, code = f.ctl("", "-o", "json", "add", "-list", "grey", "-reason", "lost", "35209900176148")
	var v struct{ Action string }
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil || v.Action != "updated" {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
}

func TestAddExpiry(t *testing.T) {
	f := newFake(t)
	before := time.Now()
	out, errOut, code := f.ctl("", "add", "-for", "720h", "-reason", "loan", "35209900176148")
	after := time.Now()
	wantCode(t, code, exitOK, out, errOut)
	got, err := time.Parse(time.RFC3339Nano, fmt.Sprint(body(t, f.only())["expires_at"]))
	if err != nil {
		t.Fatalf("expires_at: %v", err)
	}
	lo, hi := before.Add(720*time.Hour).Truncate(time.Millisecond), after.Add(720*time.Hour)
	if got.Before(lo) || got.After(hi) || got.Location() != time.UTC {
		t.Errorf("-for 720h: expires_at %s, want UTC within [%s, %s]", got, lo, hi)
	}

	out, errOut, code = f.ctl("", "add", "-for", "30d", "-reason", "loan", "35209900")
	wantCode(t, code, exitOK, out, errOut)
	got, _ = time.Parse(time.RFC3339Nano, fmt.Sprint(body(t, f.requests()[1])["expires_at"]))
	if d := time.Until(got); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour {
		t.Errorf("-for 30d: expires_at %s", got)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-for", "soon"}, "want a duration such as 720h, 90m or 30d"},
		{[]string{"-for", "1h", "-expires", "2999-01-01T00:00:00Z"}, "give -expires or -for, not both"},
		{[]string{"-for", "-1h"}, "-for -1h0m0s: must be > 0"},
		{[]string{"-for", "0s"}, "-for 0s: must be > 0"},
		{[]string{"-for", "0d"}, "-for 0s: must be > 0"},
		{[]string{"-for", "500us"}, "-for 500µs: must be at least 1ms"},
		{[]string{"-expires", "2001-01-01T00:00:00.999Z"}, "is not in the future"},
		{[]string{"-expires", "2001-01-01T00:00:00Z"}, "is not in the future"},
		{[]string{"-expires", "tomorrow"}, `-expires "tomorrow": want an RFC 3339 time`},
	} {
		out, errOut, code := f.ctl("", append(append([]string{"add", "-reason", "x"}, tc.args...), "35209900176148")...)
		wantCode(t, code, exitUsage, out, errOut)
		wantContains(t, "stderr", errOut, tc.want)
	}
	out, errOut, code = f.ctl("", "add", "-reason", "x", "-for", "24h", "35209900000000-35209900999999")
	wantCode(t, code, exitUsage, out, errOut)
	wantContains(t, "stderr", errOut, "ranges do not expire")
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (usage errors send none)", n)
	}
}

// TestAddExpiryMilliseconds: -for and -expires keep the millisecond, so
// -for 500ms is half a second from now (not refused, not truncated to the
// second), and the expiry shown keeps it.
func TestAddExpiryMilliseconds(t *testing.T) {
	f := newFake(t)
	before := time.Now()
	out, errOut, code := f.ctl("", "add", "-for", "500ms", "-reason", "loan", "35209900176148")
	after := time.Now()
	wantCode(t, code, exitOK, out, errOut)
	sent := fmt.Sprint(body(t, f.only())["expires_at"])
	got, err := time.Parse(time.RFC3339Nano, sent)
	if err != nil {
		t.Fatalf("expires_at %q: %v", sent, err)
	}
	lo, hi := before.Add(500*time.Millisecond).Truncate(time.Millisecond), after.Add(500*time.Millisecond)
	if got.Before(lo) || got.After(hi) || got.Location() != time.UTC || got.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("-for 500ms: expires_at %s, want UTC to the millisecond within [%s, %s]", sent, lo, hi)
	}
	// The fake answers the entry as sent: EXPIRES shows the milliseconds
	// (when the expiry does not fall on a whole second).
	if got.Nanosecond() != 0 {
		wantContains(t, "stdout", out, "EXPIRES  "+got.Format("2006-01-02T15:04:05.000Z"))
	}

	out, errOut, code = f.ctl("", "add", "-expires", "2999-06-01T12:00:00.25+02:00", "-reason", "loan", "35209900176148")
	wantCode(t, code, exitOK, out, errOut)
	if sent := body(t, f.requests()[1])["expires_at"]; sent != "2999-06-01T10:00:00.25Z" {
		t.Errorf("-expires with milliseconds: expires_at %v, want 2999-06-01T10:00:00.25Z", sent)
	}
	wantContains(t, "stdout", out, "EXPIRES  2999-06-01T10:00:00.250Z")
	out, errOut, code = f.ctl("", "add", "-expires", "2999-06-01T12:00:00.2509+02:00", "-reason", "loan", "35209900176148")
	wantCode(t, code, exitOK, out, errOut)
	if sent := body(t, f.requests()[2])["expires_at"]; sent != "2999-06-01T10:00:00.25Z" {
		t.Errorf("-expires finer than the millisecond: expires_at %v, want 2999-06-01T10:00:00.25Z", sent)
	}

	// Listed expiries keep the milliseconds; whole seconds are shown as before.
	f.handle("GET /v1/entries", reply(200, `{"source": "manual", "entries": [
		{"dataset": "manual/imei/black/exp", "source": "manual", "list": "black", "imei": "35209900176148", "expires_at": "2999-06-01T10:00:00.25Z"},
		{"dataset": "manual/imei/black/exp", "source": "manual", "list": "black", "imei": "49015420323751", "expires_at": "2999-06-01T10:00:01Z"}],
		"next_cursor": ""}`))
	out, errOut, code = f.ctl("", "list")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "35209900176148  2999-06-01T10:00:00.250Z", "49015420323751  2999-06-01T10:00:01Z ")
}

func TestListEmptyNamesTheSource(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/entries", func(w http.ResponseWriter, r *http.Request) {
		source := r.URL.Query().Get("source")
		if source == "" {
			source = "manual"
		}
		writeJSONBody(w, 200, map[string]any{"source": source, "entries": []any{}, "next_cursor": ""})
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default source", []string{"list"},
			"no entries in source manual (eird's default source; -source S lists another, eirctl datasets shows them all)\n"},
		{"default source, -all", []string{"list", "-all"},
			"no entries in source manual (eird's default source; -source S lists another, eirctl datasets shows them all)\n"},
		{"source and filters", []string{"list", "-source", "national", "-list", "grey", "-target", "tac"},
			"no entries in source national on list grey with target tac\n"},
		{"source, -all", []string{"list", "-all", "-source", "national", "-list", "black"},
			"no entries in source national on list black\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := f.ctl("", tc.args...)
			wantCode(t, code, exitOK, out, errOut)
			if !strings.HasSuffix(out, tc.want) {
				t.Errorf("stdout %q, want it to end with %q", out, tc.want)
			}
		})
	}
	// An eird that does not name the source it listed: the default is named.
	f.handle("GET /v1/entries", reply(200, `{"entries": [], "next_cursor": ""}`))
	out, errOut, code := f.ctl("", "list", "-list", "white")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "no entries in source manual on list white (eird's default source")
}

func TestReasonRequired(t *testing.T) {
	f := newFake(t)
	for _, args := range [][]string{
		{"add", "35209900176148"},
		{"add", "-reason", "  ", "35209900176148"},
		{"remove", "35209900176148"},
		{"remove", "-list", "exception", "35209900176148,001010000000001"},
	} {
		out, errOut, code := f.ctl("", args...)
		wantCode(t, code, exitUsage, out, errOut)
		wantContains(t, "stderr", errOut, "-reason is required", "usage: eirctl "+args[0])
	}
	for _, args := range [][]string{{"add", "-reason", "x", "123"}, {"remove", "-reason", "x", "3520990017614X"}, {"add", "-reason", "x"}} {
		out, errOut, code := f.ctl("", args...)
		wantCode(t, code, exitUsage, out, errOut)
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("usage errors sent requests: %+v", reqs)
	}
}

func TestRemove(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want map[string]any
	}{
		{"IMEI, every list", []string{"-reason", "found", "35209900176148"},
			map[string]any{"imei": "35209900176148", "reason": "found"}},
		{"16 digits", []string{"-reason", "found", "3520990017614823"},
			map[string]any{"imei": "3520990017614823", "reason": "found"}},
		{"TAC of a source", []string{"-source", "gsma", "-reason", "withdrawn", "35209900"},
			map[string]any{"tac": "35209900", "source": "gsma", "reason": "withdrawn"}},
		{"range on one list", []string{"-list", "grey", "-reason", "done", "35209900000000-35209900999999"},
			map[string]any{"from": "35209900000000", "to": "35209900999999", "list": "grey", "reason": "done"}},
		{"pair", []string{"-reason", "left", "35209900176148,001010000000001"},
			map[string]any{"imei": "35209900176148", "imsi": "001010000000001", "reason": "left"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			out, errOut, code := f.ctl("", append([]string{"remove"}, tc.args...)...)
			wantCode(t, code, exitOK, out, errOut)
			r := f.only()
			if r.Method != "DELETE" || r.Path != "/v1/entries" || r.ContentType != "application/json" {
				t.Errorf("request %s %s, Content-Type %q", r.Method, r.Path, r.ContentType)
			}
			if got := body(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("body %v, want %v", got, tc.want)
			}
			wantContains(t, "stdout", out, "removed 1 entry\n", "DATASET", "ENTRY", firstEntryArg(tc.args))
		})
	}
	t.Run("nothing matched", func(t *testing.T) {
		f := newFake(t)
		f.handle("DELETE /v1/entries", apiErrorReply(404, "not_found", "no entry of source manual matches 35209900176148"))
		out, errOut, code := f.ctl("", "remove", "-reason", "found", "35209900176148")
		wantCode(t, code, exitRejected, out, errOut)
		wantContains(t, "stderr", errOut, "no entry of source manual matches 35209900176148 (not_found)")
	})
	t.Run("invalid IMEI is rejected by eird", func(t *testing.T) {
		f := newFake(t)
		f.handle("DELETE /v1/entries", apiErrorReply(400, "invalid_imei", "imei: bad check digit"))
		out, errOut, code := f.ctl("", "remove", "-reason", "found", "352099001761489")
		wantCode(t, code, exitRejected, out, errOut)
		wantContains(t, "stderr", errOut, "imei: bad check digit (invalid_imei)")
	})
}

// pagedEntries serves GET /v1/entries in pages of two entries, following
// the cursors c1, c2.
func pagedEntries(t *testing.T) http.HandlerFunc {
	pages := map[string]string{"": "c1", "c1": "c2", "c2": ""}
	return func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("cursor")
		next, ok := pages[cur]
		if !ok {
			writeAPIError(w, 400, "invalid_cursor", "the list changed: restart")
			return
		}
		var es []map[string]any
		for i := range 2 {
			n := map[string]int{"": 0, "c1": 2, "c2": 4}[cur] + i
			es = append(es, map[string]any{"dataset": "national/imei/black", "source": "national", "list": "black", "target": "imei",
				"imei": fmt.Sprintf("3520990017614%d", n), "reason": fmt.Sprintf("reason %d", n), "actor": "sync", "time": "2025-05-01T10:00:00Z"})
		}
		writeJSONBody(w, 200, map[string]any{"entries": es, "next_cursor": next})
	}
}

func TestListAllFollowsCursors(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/entries", pagedEntries(t))
	out, errOut, code := f.ctl("", "list", "-source", "national", "-all")
	wantCode(t, code, exitOK, out, errOut)
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, cur := range []string{"", "c1", "c2"} {
		q := reqs[i].Query
		if q.Get("cursor") != cur || q.Get("source") != "national" || q.Get("limit") != "1000" {
			t.Errorf("request %d: query %v, want cursor %q, source national, limit 1000", i, q, cur)
		}
	}
	if strings.Count(out, "DATASET") != 1 {
		t.Errorf("want one header:\n%s", out)
	}
	for i := range 6 {
		wantContains(t, "stdout", out, fmt.Sprintf("3520990017614%d", i), fmt.Sprintf("reason %d", i))
	}
	wantContains(t, "stdout", out, "DATASET              ENTRY           EXPIRES  REASON    BY    WHEN")

	// -o json: one object holding every entry.
	out, errOut, code = f.ctl("", "-o", "json", "list", "-all", "-limit", "2")
	wantCode(t, code, exitOK, out, errOut)
	var all struct {
		Entries []struct{ IMEI string } `json:"entries"`
		Next    *string                 `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all.Entries) != 6 || all.Next == nil || *all.Next != "" {
		t.Errorf("json -all: %v\n%s", err, out)
	}
	if q := f.requests()[3].Query; q.Get("limit") != "2" || q.Has("source") {
		t.Errorf("json -all: query %v", q)
	}

	// A changed list stops -all with the server's message.
	f.handle("GET /v1/entries", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			writeJSONBody(w, 200, map[string]any{"entries": []any{}, "next_cursor": "stale"})
			return
		}
		writeAPIError(w, 400, "invalid_cursor", "the list changed under the cursor: restart")
	})
	out, errOut, code = f.ctl("", "list", "-all")
	wantCode(t, code, exitRejected, out, errOut)
	wantContains(t, "stderr", errOut, "restart (invalid_cursor)")
}

func TestListOnePage(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/entries", pagedEntries(t))
	out, errOut, code := f.ctl("", "list", "-list", "black", "-target", "imei")
	wantCode(t, code, exitOK, out, errOut)
	q := f.only().Query
	if q.Get("list") != "black" || q.Get("target") != "imei" || q.Has("limit") || q.Has("cursor") || q.Has("source") {
		t.Errorf("query %v", q)
	}
	wantContains(t, "stdout", out, "35209900176140", "35209900176141")
	if strings.Contains(out, "35209900176142") {
		t.Errorf("one page only:\n%s", out)
	}
	wantContains(t, "stderr", errOut, "-cursor c1")

	_, _, _ = f.ctl("", "list", "-limit", "2", "-cursor", "c1")
	if q := f.requests()[1].Query; q.Get("cursor") != "c1" || q.Get("limit") != "2" {
		t.Errorf("query %v", q)
	}
}

func TestListIMEI(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/entries", reply(200, `{"entries": [
		{"dataset": "gsma/tac/grey", "source": "gsma", "list": "grey", "target": "tac", "tac": "35209900"},
		{"dataset": "national/range/black", "source": "national", "list": "black", "target": "range", "from": "35209900000000", "to": "35209900999999", "reason": "batch"},
		{"dataset": "manual/pair/exception", "source": "manual", "list": "exception", "target": "pair", "imei": "35209900176148", "imsi": "001010000000001",
		 "expires_at": "2025-07-01T00:00:00Z", "reason": "test", "actor": "noc", "time": "2025-05-01T10:00:00Z"},
		{"dataset": "manual/imei/black/exp", "source": "manual", "list": "black", "target": "imei", "imei": "35209900176148",
		 "expires_at": "2025-06-01T00:00:00Z", "expired": true, "reason": "until confirmed", "actor": "noc", "time": "2025-05-01T10:00:00Z"}]}`))
	out, errOut, code := f.ctl("", "list", "-imei", "35209900176148", "-imsi", "001010000000001")
	wantCode(t, code, exitOK, out, errOut)
	q := f.only().Query
	if len(q) != 2 || q.Get("imei") != "35209900176148" || q.Get("imsi") != "001010000000001" {
		t.Errorf("query %v", q)
	}
	wantContains(t, "stdout", out, "gsma/tac/grey          35209900 ", "35209900000000-35209900999999", "35209900176148,001010000000001",
		"2025-07-01T00:00:00Z", "noc", "2025-06-01T00:00:00Z (expired)")
	if strings.Contains(out, "2025-07-01T00:00:00Z (expired)") {
		t.Errorf("an entry not expired marked expired:\n%s", out)
	}
}
