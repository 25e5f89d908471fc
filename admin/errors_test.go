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
		{"request problem", badRequest("invalid_imei", "imei: %v", eir.ErrInvalidIMEI), 400, "invalid_imei", "imei: eir: invalid imei"},
		{"body too large", fail(http.StatusRequestEntityTooLarge, "body_too_large", "too big"), 413, "body_too_large", "too big"},
		{"store unavailable", storeFailed("entry not saved", fmt.Errorf("redisstore: %w: %w", eir.ErrUnavailable, store)), 503, "store_unavailable",
			"entry not saved: redisstore: eir: list store unavailable: redis: connection refused"},
		{"store diverged", storeFailed("entry not saved", eir.ErrDiverged), 503, "store_unavailable", "entry not saved: " + eir.ErrDiverged.Error()},
		{"unwrapped error", store, 503, "store_unavailable", store.Error()},
		{"invalid entry", storeFailed("entry not saved", eir.ErrInvalidEntry), 400, "invalid_entry", "entry not saved: eir: invalid entry"},
		{"invalid imsi", storeFailed("entry not saved", eir.ErrInvalidIMSI), 400, "invalid_entry", "entry not saved: eir: invalid imsi"},
		{"invalid imei", storeFailed("entry not saved", eir.ErrInvalidIMEI), 400, "invalid_entry", "entry not saved: eir: invalid imei"},
		{"conflict", storeFailed("entry not saved", eir.ErrConflict), 409, "conflict", "entry not saved: eir: concurrent update"},
		{"not found", failed(opStore, "", fmt.Errorf("x: %w", provision.ErrNotFound)), 404, "not_found", "x: provision: no such entry"},
		{"cursor stale", failed(opStore, "list again", eir.ErrCursorStale), 400, "invalid_cursor", "list again"},
		{"import invalid", importFailed(eir.ErrInvalidEntry), 422, "invalid_file", "eir: invalid entry"},
		{"import held", importFailed(guard), 409, "held", guard.Message + "; nothing was changed; check the file, then import it again with force (eirctl import -force)"},
		{"import unavailable", importFailed(store), 503, "store_unavailable", "the import was not applied: " + store.Error()},
		{"sync unknown source", failed(opSync, "", fmt.Errorf("%w %q", regsync.ErrUnknownSource, "x")), 404, "unknown_source", `regsync: unknown source "x"`},
		{"sync failed", failed(opSync, "", store), 503, "sync_failed", store.Error()},
		{"approve unknown source", failed(opApprove, "", regsync.ErrUnknownSource), 404, "not_found", regsync.ErrUnknownSource.Error()},
		{"approve not held", failed(opApprove, "", regsync.ErrNotHeld), 404, "not_found", regsync.ErrNotHeld.Error()},
		{"approve failed", failed(opApprove, "", store), 503, "sync_failed", store.Error()},
		{"restore held", recoverFailed("restore", guard), 409, "held",
			"the restore was refused by a guard: " + guard.Message + "; nothing was changed; check the lists, then run it again with force"},
		{"restore nothing", recoverFailed("restore", eir.ErrNothingToRecover), 409, "nothing_to_restore", eir.ErrNothingToRecover.Error()},
		{"accept nothing", recoverFailed("accept", eir.ErrNothingToRecover), 409, "nothing_to_accept", eir.ErrNothingToRecover.Error()},
		{"accept conflict", recoverFailed("accept", eir.ErrConflict), 409, "conflict", eir.ErrConflict.Error()},
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
