package admin

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/regsync"
)

// TestErrorFor is the table of errorFor, the one mapping of errors to
// answers.
func TestErrorFor(t *testing.T) {
	store := errors.New("redis: connection refused")
	guard := &guard.Error{Message: "the import unblocks 5 entries"}
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"request problem", badRequest("invalid_imei", "imei: %v", eir.ErrInvalidIMEI), 400, "invalid_imei", "imei: invalid imei"},
		{"body too large", fail(http.StatusRequestEntityTooLarge, "body_too_large", "too big"), 413, "body_too_large", "too big"},
		{"store unavailable", storeFailed("entry not saved", fmt.Errorf("redisstore: %w: %w", eir.ErrUnavailable, store)), 503, "store_unavailable",
			"entry not saved: list store unavailable: redis: connection refused"},
		{"store diverged", storeFailed("entry not saved", eir.ErrDiverged), 503, "store_unavailable", "entry not saved: the list store does not hold the lists in force"},
		{"unwrapped error", store, 503, "store_unavailable", store.Error()},
		{"invalid entry", storeFailed("entry not saved", eir.ErrInvalidEntry), 400, "invalid_entry", "entry not saved: invalid entry"},
		{"invalid imsi", storeFailed("entry not saved", eir.ErrInvalidIMSI), 400, "invalid_entry", "entry not saved: invalid imsi"},
		{"invalid imei", storeFailed("entry not saved", eir.ErrInvalidIMEI), 400, "invalid_entry", "entry not saved: invalid imei"},
		{"conflict", storeFailed("entry not saved", eir.ErrConflict), 409, "conflict", "entry not saved: concurrent update"},
		{"not found", failed(opStore, "", fmt.Errorf("x: %w", provision.ErrNotFound)), 404, "not_found", "x: no such entry"},
		{"cursor stale", failed(opStore, "list again", eir.ErrCursorStale), 400, "invalid_cursor", "list again"},
		{"import invalid", importFailed(eir.ErrInvalidEntry), 422, "invalid_file", "invalid entry"},
		{"import held", importFailed(guard), 409, "held", guard.Message + "; nothing was changed; check the file, then import it again with force (eirctl import -force)"},
		{"import unavailable", importFailed(store), 503, "store_unavailable", "the import was not applied: " + store.Error()},
		{"sync unknown source", failed(opSync, "", fmt.Errorf("%w %q", regsync.ErrUnknownSource, "x")), 404, "unknown_source", `unknown source "x"`},
		{"sync failed", failed(opSync, "", store), 503, "sync_failed", store.Error()},
		{"approve unknown source", failed(opApprove, "", regsync.ErrUnknownSource), 404, "not_found", "unknown source"},
		{"approve not held", failed(opApprove, "", regsync.ErrNotHeld), 404, "not_found", "no such held file"},
		{"approve failed", failed(opApprove, "", store), 503, "sync_failed", store.Error()},
		{"restore held", recoverFailed("restore", guard), 409, "held",
			"the restore was refused by a guard: " + guard.Message + "; nothing was changed; check the lists, then run it again with force"},
		{"restore nothing", recoverFailed("restore", eir.ErrNothingToRecover), 409, "nothing_to_restore", "the list store holds the lists in force: nothing to repair"},
		{"accept nothing", recoverFailed("accept", eir.ErrNothingToRecover), 409, "nothing_to_accept", "the list store holds the lists in force: nothing to repair"},
		{"accept conflict", recoverFailed("accept", eir.ErrConflict), 409, "conflict", "concurrent update"},
		{"accept failed", recoverFailed("accept", store), 503, "store_unavailable", "the accept failed: " + store.Error()},
		{"reload", failed(opReload, "the configuration was not reloaded; nothing changed", errors.Join(errors.New("a: bad"), errors.New("b: bad"))),
			422, "invalid_config", "the configuration was not reloaded; nothing changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := errorFor(tc.err)
			if e.Status != tc.wantStatus || e.Code != tc.wantCode || e.Message != tc.wantMsg {
				t.Errorf("errorFor = %d %s %q, want %d %s %q", e.Status, e.Code, e.Message, tc.wantStatus, tc.wantCode, tc.wantMsg)
			}
		})
	}
	if e := errorFor(failed(opReload, "not reloaded", errors.Join(errors.New("a: bad"), errors.New("b: bad")))); len(e.Details) != 2 || e.Details[1] != "b: bad" {
		t.Errorf("reload details: %q", e.Details)
	}
}

// TestPlain is the table of plain: Go package prefixes leave the texts
// answered, other labels stay.
func TestPlain(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"sentinel", "eir: invalid imei", "invalid imei"},
		{"wrapped sentinel", "eir: invalid imei: 35209900176149: bad check digit", "invalid imei: 35209900176149: bad check digit"},
		{"after a label", "imei: eir: invalid imei", "imei: invalid imei"},
		{"a chain", "entry not saved: redisstore: eir: list store unavailable: redis: connection refused",
			"entry not saved: list store unavailable: redis: connection refused"},
		{"provision", "x: provision: no such entry", "x: no such entry"},
		{"regsync and fetch", `regsync: gsma: fetch: GET https://example.net/a.csv: 503`, `gsma: GET https://example.net/a.csv: 503`},
		{"after a semicolon", "nothing was changed; eir: held by a guard", "nothing was changed; held by a guard"},
		{"line label kept", "line 3: eir: invalid entry: imei has 4 characters", "line 3: invalid entry: imei has 4 characters"},
		{"not at a part's start", "the eir: prefix is named", "the eir: prefix is named"},
		{"a longer word", "eirctl: x", "eirctl: x"},
		{"a prefix with nothing after", "eir: ", "eir: "},
		{"no prefix", "a bearer token or a client certificate is required", "a bearer token or a client certificate is required"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plain(tc.in); got != tc.want {
				t.Errorf("plain(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// The details of an answer are plain too.
	e := errorFor(fail(http.StatusUnprocessableEntity, "invalid_file", "the file was rejected", "line 3: eir: invalid imei", "line 4: eir: invalid entry"))
	if e.Details[0] != "line 3: invalid imei" || e.Details[1] != "line 4: invalid entry" {
		t.Errorf("details %q", e.Details)
	}
}
