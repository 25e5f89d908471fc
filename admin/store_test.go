package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/memstore"
	"github.com/eir-sidecar/eir/internal/testenv"
)

// fakeRecoverer is a store's health and repairs, as the test sets them.
type fakeRecoverer struct {
	mu       sync.Mutex
	h        eir.StoreHealth
	err      error               // what Restore and Accept fail with, after the guards
	res      []eir.DatasetResult // what a repair does, as Before sees it
	restores int
	accepts  int
	healths  atomic.Int64
}

func (f *fakeRecoverer) Health() eir.StoreHealth {
	f.healths.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h
}

func (f *fakeRecoverer) set(h eir.StoreHealth, err error, res ...eir.DatasetResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.h, f.err, f.res = h, err, res
}

func (f *fakeRecoverer) counts() (restores, accepts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restores, f.accepts
}

func (f *fakeRecoverer) Restore(ctx context.Context, o eir.RecoverOptions) (eir.RecoverResult, error) {
	return f.repair(&f.restores, o)
}

func (f *fakeRecoverer) Accept(ctx context.Context, o eir.RecoverOptions) (eir.RecoverResult, error) {
	return f.repair(&f.accepts, o)
}

func (f *fakeRecoverer) repair(n *int, o eir.RecoverOptions) (eir.RecoverResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*n++
	if o.Before != nil {
		if err := o.Before(f.res); err != nil {
			return eir.RecoverResult{}, err
		}
	}
	if f.err != nil {
		return eir.RecoverResult{}, f.err
	}
	res := eir.RecoverResult{Epoch: 7, StoreID: "5f1c", Reason: f.h.Reason, Datasets: f.res}
	f.h.State, f.h.Reason = eir.StoreOK, "" // repaired
	return res, nil
}

// memAudit is an audit trail in memory.
type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (a *memAudit) Record(ctx context.Context, recs ...audit.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, recs...)
	return nil
}

func (a *memAudit) Find(ctx context.Context, q audit.Query) ([]audit.Record, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Record{}, a.recs...), false, nil
}

// countingStore counts the Redis calls /readyz and /v1/status could make.
type countingStore struct {
	*store
	datasets, pings atomic.Int64
}

func (s *countingStore) Datasets(ctx context.Context) ([]eir.DatasetInfo, error) {
	s.datasets.Add(1)
	return s.store.Datasets(ctx)
}

func (s *countingStore) Ping(ctx context.Context) error {
	s.pings.Add(1)
	return s.store.Ping(ctx)
}

type recoverAPI struct {
	api   *Server
	st    *countingStore
	rec   *fakeRecoverer
	audit *memAudit
	srv   *httptest.Server
}

// newRecoverAPI is an API over a memory store whose health and repairs
// rec fakes (nil: no Recoverer); alice writes, bob reads.
func newRecoverAPI(t *testing.T, rec *fakeRecoverer) *recoverAPI {
	t.Helper()
	a := &recoverAPI{st: &countingStore{store: &store{Store: memstore.New()}}, rec: rec, audit: &memAudit{}}
	o := Options{Audit: a.audit, Tokens: []Token{{Name: "alice", Secret: "alice-secret", Write: true}, {Name: "bob", Secret: "bob-secret"}}}
	if rec != nil {
		o.Recoverer = rec
	}
	a.api = New(o, a.st, eir.NewDecider(a.st, eir.Policy{}), zaptest.NewLogger(t))
	a.srv = httptest.NewServer(a.api.Handler())
	t.Cleanup(a.srv.Close)
	return a
}

var (
	blackDS  = eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack}
	diverged = eir.StoreHealth{Serving: true, State: eir.StoreDiverged, Reason: "redis lost its data", Replica: true, Datasets: 1, Entries: 20000}
	// unblocking removes 15,000 of 20,000 black entries: past the guards.
	unblocking = eir.DatasetResult{Dataset: blackDS, Previous: 20000, Count: 5000, Removed: 15000}
	harmless   = eir.DatasetResult{Dataset: blackDS, Previous: 0, Count: 20000, Added: 20000}
)

func TestStoreRecoverErrors(t *testing.T) {
	tests := []struct {
		name, path, who string
		err             error
		res             []eir.DatasetResult
		status          int
		code            string
	}{
		{"no reason", "/v1/store/restore", "alice", nil, nil, 400, "missing_reason"},
		{"blank reason", "/v1/store/accept?reason=++", "alice", nil, nil, 400, "missing_reason"},
		{"bad force", "/v1/store/restore?reason=r&force=maybe", "alice", nil, nil, 400, "invalid_parameter"},
		{"reader", "/v1/store/restore?reason=r", "bob", nil, nil, 403, "forbidden"},
		{"nothing to restore", "/v1/store/restore?reason=r", "alice", eir.ErrNothingToRecover, nil, 409, "nothing_to_restore"},
		{"nothing to accept", "/v1/store/accept?reason=r", "alice", eir.ErrNothingToRecover, nil, 409, "nothing_to_accept"},
		{"conflict", "/v1/store/restore?reason=r", "alice", fmt.Errorf("store: %w: another restore", eir.ErrConflict), nil, 409, "conflict"},
		{"store down", "/v1/store/accept?reason=r", "alice", errors.New("dial tcp: connection refused"), nil, 503, "store_unavailable"},
		{"held restore", "/v1/store/restore?reason=r", "alice", nil, []eir.DatasetResult{unblocking}, 409, "held"},
		{"held accept", "/v1/store/accept?reason=r", "alice", nil, []eir.DatasetResult{unblocking}, 409, "held"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecoverer{}
			rec.set(diverged, tc.err, tc.res...)
			a := newRecoverAPI(t, rec)
			status, body, _ := do(t, a.srv, "POST", tc.path, tc.who+"-secret", "")
			if status != tc.status || errCode(body) != tc.code {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if len(a.audit.recs) != 0 {
				t.Fatalf("a refused repair was audited: %+v", a.audit.recs)
			}
		})
	}
}

func TestStoreRecoveryNotAvailable(t *testing.T) {
	a := newRecoverAPI(t, nil)
	for _, r := range []struct{ method, path string }{{"GET", "/v1/store"}, {"POST", "/v1/store/restore?reason=r"}, {"POST", "/v1/store/accept?reason=r"}} {
		if status, body, _ := do(t, a.srv, r.method, r.path, "alice-secret", ""); status != 404 || errCode(body) != "store_recovery_not_available" {
			t.Errorf("%s %s: %d %v, want 404 store_recovery_not_available", r.method, r.path, status, body)
		}
	}
}

func TestStoreRestoreHeldThenForced(t *testing.T) {
	rec := &fakeRecoverer{}
	rec.set(diverged, nil, unblocking)
	a := newRecoverAPI(t, rec)
	status, body, _ := do(t, a.srv, "POST", "/v1/store/restore?reason=redis+restarted+empty", "alice-secret", "")
	msg, _ := body["error"].(map[string]any)["message"].(string)
	if status != 409 || errCode(body) != "held" || !strings.Contains(msg, "the restore would") || !strings.Contains(msg, "force") {
		t.Fatalf("restore past the guards: %d %v", status, body)
	}
	status, body, _ = do(t, a.srv, "POST", "/v1/store/restore?reason=redis+restarted+empty&force=true", "alice-secret", "")
	if status != 200 || body["action"] != "restore" || body["forced"] != true || body["repaired"] != "redis lost its data" {
		t.Fatalf("forced restore: %d %v", status, body)
	}
	ds := body["datasets"].([]any)[0].(map[string]any)
	if ds["dataset"] != "national/imei/black" || ds["unblocked"] != 15000.0 || ds["previous"] != 20000.0 {
		t.Fatalf("forced restore's dataset: %v", ds)
	}
	if len(a.audit.recs) != 1 || a.audit.recs[0].Action != audit.ActionRestore || a.audit.recs[0].Actor != "alice" ||
		a.audit.recs[0].Reason != "redis restarted empty (forced past the guards)" {
		t.Fatalf("audit of the forced restore: %+v", a.audit.recs)
	}
}

func TestStoreAccept(t *testing.T) {
	rec := &fakeRecoverer{}
	rec.set(diverged, nil, harmless)
	a := newRecoverAPI(t, rec)
	status, body, _ := do(t, a.srv, "POST", "/v1/store/accept?reason=emptied+on+purpose", "alice-secret", "")
	if status != 200 || body["action"] != "accept" || body["epoch"] != 7.0 || body["store_id"] != "5f1c" || body["forced"] != nil {
		t.Fatalf("accept: %d %v", status, body)
	}
	if restores, accepts := rec.counts(); restores != 0 || accepts != 1 {
		t.Fatalf("%d restores and %d accepts, want the accept only", restores, accepts)
	}
	if len(a.audit.recs) != 1 || a.audit.recs[0].Action != audit.ActionAccept || a.audit.recs[0].Reason != "emptied on purpose" {
		t.Fatalf("audit of the accept: %+v", a.audit.recs)
	}
}

// readyz returns the status and body of GET /readyz.
func readyz(t *testing.T, srv *httptest.Server) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadyzWithRecoverer(t *testing.T) {
	rec := &fakeRecoverer{}
	a := newRecoverAPI(t, rec)
	tests := []struct {
		name   string
		h      eir.StoreHealth
		status int
		body   string
	}{
		{"ok", eir.StoreHealth{Serving: true, State: eir.StoreOK, Datasets: 1}, 200, "ok\n"},
		{"stale", eir.StoreHealth{Serving: true, State: eir.StoreStale, Reason: "redis unreachable", Datasets: 1}, 200, "ok (degraded: stale: redis unreachable)\n"},
		{"diverged", diverged, 200, "ok (degraded: diverged: redis lost its data)\n"},
		{"not serving", eir.StoreHealth{State: eir.StoreUnavailable, Reason: "stale past store.max_stale", Datasets: 1}, 503, `"code": "store_unavailable"`},
		{"no lists", eir.StoreHealth{Serving: true, State: eir.StoreOK}, 503, `"code": "no_lists"`},
		{"no list version yet", eir.StoreHealth{State: eir.StoreOK}, 503, `"code": "no_lists"`},
		{"unreachable, no lists", eir.StoreHealth{State: eir.StoreUnavailable, Reason: "redis is unreachable"}, 503, `"code": "store_unavailable"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.set(tc.h, nil)
			status, body := readyz(t, a.srv)
			if status != tc.status || !strings.Contains(body, tc.body) || (tc.status == 200 && body != tc.body) {
				t.Fatalf("%d %q, want %d %q", status, body, tc.status, tc.body)
			}
		})
	}
	if n, m := a.st.pings.Load(), a.st.datasets.Load(); n != 0 || m != 0 {
		t.Fatalf("/readyz with a Recoverer called the store: %d pings, %d dataset reads", n, m)
	}
}

func TestStatusWithRecoverer(t *testing.T) {
	rec := &fakeRecoverer{}
	stale := eir.StoreHealth{Serving: true, State: eir.StoreStale, Reason: "redis unreachable", Since: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC),
		Stale: 90 * time.Second, Replica: true, Datasets: 3, Entries: 1234, Epoch: 42, StoreID: "5f1c"}
	rec.set(stale, nil)
	a := newRecoverAPI(t, rec)
	status, body, _ := do(t, a.srv, "GET", "/v1/status", "bob-secret", "")
	st, _ := body["store"].(map[string]any)
	if status != 200 || body["ready"] != true || body["datasets"] != 3.0 || body["entries"] != 1234.0 || st == nil ||
		st["state"] != "stale" || st["reason"] != "redis unreachable" || st["stale_seconds"] != 90.0 || st["epoch"] != 42.0 ||
		st["since"] != "2026-11-26T08:00:00Z" {
		t.Fatalf("status: %d %v", status, body)
	}
	rec.set(eir.StoreHealth{State: eir.StoreUnavailable, Reason: "stale past store.max_stale"}, nil)
	if _, body, _ := do(t, a.srv, "GET", "/v1/status", "bob-secret", ""); body["ready"] != false ||
		body["ready_error"] != "unavailable: stale past store.max_stale" {
		t.Fatalf("status when not serving: %v", body)
	}
	// The counts come from the lists held: no Redis call, so that an
	// outage does not make every status a failed store operation.
	if n := a.st.datasets.Load(); n != 0 {
		t.Fatalf("/v1/status with a Recoverer read the datasets from the store %d times", n)
	}
	if status, body, _ := do(t, a.srv, "GET", "/v1/store", "bob-secret", ""); status != 200 || body["state"] != "unavailable" || body["serving"] != false {
		t.Fatalf("GET /v1/store: %d %v", status, body)
	}
}

func TestStatusWithoutRecovererCountsDatasets(t *testing.T) {
	a := newRecoverAPI(t, nil)
	do(t, a.srv, "POST", "/v1/import", "alice-secret", "imei,status\n35209900176148,grey\n49015420323751,grey\n")
	_, body, _ := do(t, a.srv, "GET", "/v1/status", "bob-secret", "")
	if body["datasets"] != 1.0 || body["entries"] != 2.0 || body["store"] != nil {
		t.Fatalf("status: %v", body)
	}
}

func TestAutoRestoreBacksOffAfterARefusal(t *testing.T) {
	rec := &fakeRecoverer{}
	rec.set(diverged, nil, unblocking) // every restore is held by the guards
	a := newRecoverAPI(t, rec)
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC).UnixNano())
	a.api.o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.api.RunAutoRestore(ctx, time.Millisecond) }()
	defer func() { cancel(); <-done }()

	restores := func() int { n, _ := rec.counts(); return n }
	testenv.Eventually(t, "a first automatic restore", 10*time.Second, func() bool { return restores() == 1 })
	// Many checks later, within the back-off: no second attempt.
	seen := rec.healths.Load()
	testenv.Eventually(t, "50 health checks", 10*time.Second, func() bool { return rec.healths.Load() >= seen+50 })
	if n := restores(); n != 1 {
		t.Fatalf("%d restores within the back-off after a refusal, want 1", n)
	}
	clock.Add(int64(autoRestoreBackoff - time.Second))
	seen = rec.healths.Load()
	testenv.Eventually(t, "50 more health checks", 10*time.Second, func() bool { return rec.healths.Load() >= seen+50 })
	if n := restores(); n != 1 {
		t.Fatalf("%d restores a second before the back-off ends, want 1", n)
	}
	// Past the back-off it tries again; once the guards let it through,
	// the store is repaired, audited with the actor auto_restore.
	rec.set(diverged, nil, harmless)
	clock.Add(int64(2 * time.Second))
	testenv.Eventually(t, "a second automatic restore", 10*time.Second, func() bool { return restores() == 2 })
	testenv.Eventually(t, "the audit of the automatic restore", 10*time.Second, func() bool {
		a.audit.mu.Lock()
		defer a.audit.mu.Unlock()
		return len(a.audit.recs) == 1 && a.audit.recs[0].Actor == "auto_restore" && a.audit.recs[0].Action == audit.ActionRestore
	})
}
