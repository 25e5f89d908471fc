package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const restoreAnswer = `{"action": "restore", "epoch": 42, "store_id": "5f1c", "repaired": "redis lost its data", "forced": true,
	"datasets": [{"dataset": "national/imei/black", "count": 200, "previous": 0, "added": 200, "removed": 0, "unblocked": 0}]}`

func TestStoreRestore(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/store/restore", reply(200, restoreAnswer))
	out, errOut, code := f.ctl("", "store", "restore", "-reason", "redis restarted empty", "-force")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "restored the lists in force into Redis: epoch 42, data set 5f1c", "repaired: redis lost its data",
		"DATASET              ENTRIES  BEFORE  ADDED  REMOVED  UNBLOCKED", "national/imei/black  200      0       200    0        0")
	r := f.only()
	if r.Method != "POST" || r.Query.Get("reason") != "redis restarted empty" || r.Query.Get("force") != "true" {
		t.Errorf("request %s %s %v", r.Method, r.Path, r.Query)
	}

	// -o json prints eird's answer as it is.
	out, errOut, code = f.ctl("", "-o", "json", "store", "restore", "-reason", "again")
	wantCode(t, code, exitOK, out, errOut)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || v["action"] != "restore" || v["epoch"] != 42.0 {
		t.Errorf("json restore: %v\n%s", err, out)
	}
	if r := f.requests()[1]; r.Query.Has("force") {
		t.Errorf("force sent without -force: %v", r.Query)
	}
}

func TestStoreAccept(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/store/accept", reply(200, strings.Replace(restoreAnswer, `"restore"`, `"accept"`, 1)))
	out, errOut, code := f.ctl("", "store", "accept", "-reason", "emptied on purpose")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "accepted Redis's state as the lists in force: epoch 42")
	if r := f.only(); r.Path != "/v1/store/accept" || r.Query.Get("reason") != "emptied on purpose" {
		t.Errorf("request %s %v", r.Path, r.Query)
	}
}

func TestStoreRecoverNeedsAReason(t *testing.T) {
	f := newFake(t)
	for _, action := range []string{"restore", "accept"} {
		for _, args := range [][]string{{"store", action}, {"store", action, "-reason", "  "}} {
			out, errOut, code := f.ctl("", args...)
			wantCode(t, code, exitUsage, out, errOut)
			wantContains(t, "stderr", errOut, "-reason is required", "usage: eirctl store "+action+" -reason TEXT [-force]")
		}
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("requests without a reason: %+v", reqs)
	}
}

func TestStoreRecoverRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
		exit   int
	}{
		{"held", 409, "held", exitRejected},
		{"nothing to restore", 409, "nothing_to_restore", exitRejected},
		{"no local copy", 404, "store_recovery_not_available", exitRejected},
		{"redis down", 503, "store_unavailable", exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("POST /v1/store/restore", apiErrorReply(tc.status, tc.code, "the restore was refused"))
			out, errOut, code := f.ctl("", "store", "restore", "-reason", "r")
			wantCode(t, code, tc.exit, out, errOut)
			wantContains(t, "stderr", errOut, "the restore was refused ("+tc.code+")")
		})
	}
}

func TestStoreStatus(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		exit       int
		want       []string
	}{
		{"ok", `{"state": "ok", "serving": true, "stale_seconds": 0, "replica": true, "datasets": 2, "entries": 250, "epoch": 42, "store_id": "5f1c"}`,
			exitOK, []string{"STATE       ok: Redis holds the lists in force (epoch 42, data set 5f1c)", "SERVING     yes", "LISTS HELD  complete (2 datasets with entries, 250 entries)"}},
		{"diverged", `{"state": "diverged", "serving": true, "reason": "redis lost its data", "since": "2026-11-26T08:00:00Z", "stale_seconds": 12, "replica": true, "datasets": 2, "entries": 250, "epoch": 42}`,
			exitFailure, []string{"DIVERGED since 2026-11-26T08:00:00Z: redis lost its data; answering from the lists held, writes refused: eirctl store restore -reason TEXT"}},
		{"unavailable", `{"state": "unavailable", "serving": false, "reason": "stale past store.max_stale", "stale_seconds": 3700, "replica": false, "datasets": 0, "entries": 0, "epoch": 0}`,
			exitFailure, []string{"UNAVAILABLE: stale past store.max_stale", "SERVING     NO", "LISTS HELD  incomplete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /v1/store", reply(200, tc.body))
			out, errOut, code := f.ctl("", "store", "status")
			wantCode(t, code, tc.exit, out, errOut)
			wantContains(t, "stdout", out, tc.want...)
			out, errOut, code = f.ctl("", "-o", "json", "store", "status")
			wantCode(t, code, tc.exit, out, errOut)
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil || v["state"] != tc.name {
				t.Errorf("json store status: %v\n%s", err, out)
			}
		})
	}
}

func TestStoreUsage(t *testing.T) {
	f := newFake(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"store"}, "want status, restore or accept"},
		{[]string{"store", "repair"}, `unknown store command "repair"`},
		{[]string{"store", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"store", "status", "x"}, `unexpected argument "x"`},
	} {
		out, errOut, code := f.ctl("", tc.args...)
		wantCode(t, code, exitUsage, out, errOut)
		wantContains(t, "stderr", errOut, tc.want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"store", "-h"}, "usage: eirctl store status|restore|accept ..."},
		{[]string{"store", "restore", "-h"}, "usage: eirctl store restore -reason TEXT [-force]"},
		{[]string{"help", "store", "accept"}, "usage: eirctl store accept -reason TEXT [-force]"},
	} {
		out, errOut, code := f.ctl("", tc.args...)
		wantCode(t, code, exitOK, out, errOut)
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("%v: want %q\n%s", tc.args, tc.want, out)
		}
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("usage errors sent requests: %+v", reqs)
	}
}

func TestStatusStore(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/status", reply(200, `{"version": "1.4.0", "ready": true, "datasets": 2, "entries": 250, "peers": {"open": 1},
		"shadow": {"all": false, "sources": []}, "store": {"state": "stale", "serving": true, "reason": "redis unreachable", "stale_seconds": 65}}`))
	out, errOut, code := f.ctl("", "status")
	wantCode(t, code, exitFailure, out, errOut)
	wantContains(t, "stdout", out, "READY     yes", "STORE     STALE: redis unreachable; unconfirmed for 1m5s")
	wantContains(t, "stderr", errOut, "the store is stale: redis unreachable")

	f.handle("GET /v1/status", reply(200, `{"version": "1.4.0", "ready": false, "ready_error": "no list version is loaded", "peers": {"open": 0}, "shadow": {}}`))
	out, errOut, code = f.ctl("", "status")
	wantCode(t, code, exitFailure, out, errOut)
	wantContains(t, "stdout", out, "READY     NO: no list version is loaded")
}

func TestHelpNamesTheStore(t *testing.T) {
	out, _, _ := runCLI(t, "", "-h")
	wantContains(t, "eirctl -h", out, "exit 1 when not ready or store not ok", "imports, sync passes, store restore and accept: 10× this")
	out, _, _ = runCLI(t, "", "audit", "-h")
	wantContains(t, "eirctl audit -h", out, "store.restore, store.accept", "auto_restore")
}
