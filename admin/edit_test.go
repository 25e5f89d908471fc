package admin

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
)

// rivalStore is a store another eird edits too: before each of the next
// `conflicts` edits this eird makes, the rival edits the same source, so
// that the edit finds the source changed since it read it.
type rivalStore struct {
	*store
	conflicts atomic.Int32
}

func (s *rivalStore) ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error) {
	for f, v := range o.ExpectState {
		if !strings.HasPrefix(f, "edits:") || s.conflicts.Add(-1) < 0 {
			continue
		}
		n, _ := strconv.Atoi(v)
		source := strings.TrimPrefix(f, "edits:")
		rival := eir.Change{Dataset: eir.Dataset{Source: source, Target: eir.TargetIMEI, List: eir.ListGrey}, Add: []eir.Entry{{IMEI: 49015420323751}}}
		if _, err := s.store.ApplyWith(ctx, []eir.Change{rival}, eir.ApplyOptions{State: map[string]string{f: strconv.Itoa(n + 1)}}); err != nil {
			return eir.ApplyResult{}, err
		}
	}
	return s.store.ApplyWith(ctx, changes, o)
}

// newRivalAPI is an open API over a rivalStore; its waits between the
// attempts of an edit are recorded and return at once.
func newRivalAPI(t *testing.T) (*Server, *rivalStore, *httptest.Server, func() []time.Duration) {
	st := &rivalStore{store: &store{Store: memstore.New()}}
	api := New(Options{}, st, eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t))
	var mu sync.Mutex
	var waits []time.Duration
	api.wait = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return api, st, srv, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration{}, waits...)
	}
}

const blackEntry = `{"imei":"35209900176148","list":"black","reason":"stolen"}`

// An edit makes 10 attempts: it succeeds when another eird edits the same
// source 9 times in a row while it tries, with 9 waits between them.
const (
	wantAttempts = 10
	wantWaits    = wantAttempts - 1
)

func TestEditRetriesPastConflicts(t *testing.T) {
	_, st, srv, waits := newRivalAPI(t)
	st.conflicts.Store(wantAttempts - 1) // the rival gives up before the edit does
	status, body, _ := do(t, srv, "POST", "/v1/entries", "", blackEntry)
	if status != 200 || body["action"] != "added" {
		t.Fatalf("edit after %d conflicts: %d %v", wantAttempts-1, status, body)
	}
	got := waits()
	if len(got) != wantWaits {
		t.Fatalf("%d waits, want %d", len(got), wantWaits)
	}
	for i, d := range got {
		if lo := time.Duration(i+1) * 5 * time.Millisecond; d < lo || d >= lo+10*time.Millisecond {
			t.Errorf("wait %d: %v, want %v plus up to 10ms of jitter", i, d, lo)
		}
	}
	if _, body, _ := do(t, srv, "GET", "/v1/check?imei=35209900176148", "", ""); body["status"] != "BLACKLISTED" {
		t.Fatalf("the edit is not in force: %v", body)
	}
}

func TestEditGivesUpAfterItsAttempts(t *testing.T) {
	_, st, srv, waits := newRivalAPI(t)
	st.conflicts.Store(wantAttempts)
	status, body, _ := do(t, srv, "POST", "/v1/entries", "", blackEntry)
	if status != 409 || errCode(body) != "conflict" {
		t.Fatalf("edit after %d conflicts: %d %v, want 409 conflict", wantAttempts, status, body)
	}
	if n := len(waits()); n != wantWaits {
		t.Fatalf("%d waits, want %d (none after the last attempt)", n, wantWaits)
	}
	if _, body, _ := do(t, srv, "GET", "/v1/check?imei=35209900176148", "", ""); body["status"] != "UNKNOWN" {
		t.Fatalf("a refused edit changed the lists: %v", body)
	}
}

func TestEditBackoff(t *testing.T) {
	for attempt := range wantWaits {
		lo := time.Duration(attempt+1) * 5 * time.Millisecond
		for range 200 {
			if d := editBackoff(attempt); d < lo || d >= lo+10*time.Millisecond {
				t.Fatalf("editBackoff(%d) = %v, want %v to %v", attempt, d, lo, lo+10*time.Millisecond)
			}
		}
	}
}

// TestEditWaitsWithoutTheLock: while an edit waits to retry, the other
// edits of this eird go on.
func TestEditWaitsWithoutTheLock(t *testing.T) {
	api, st, srv, _ := newRivalAPI(t)
	waiting, release := make(chan struct{}), make(chan struct{})
	api.wait = func(ctx context.Context, d time.Duration) error {
		close(waiting)
		<-release
		return nil
	}
	st.conflicts.Store(1)
	first := make(chan int)
	go func() {
		status, _, _ := do(t, srv, "POST", "/v1/entries", "", blackEntry)
		first <- status
	}()
	<-waiting
	second := make(chan int)
	go func() {
		status, _, _ := do(t, srv, "POST", "/v1/entries", "", `{"tac":"35209900","list":"grey","source":"ceir","reason":"counterfeit"}`)
		second <- status
	}()
	select {
	case status := <-second:
		if status != 200 {
			t.Errorf("the second edit: %d", status)
		}
	case <-time.After(10 * time.Second):
		t.Error("an edit waited for another edit's back-off")
	}
	close(release)
	if status := <-first; status != 200 {
		t.Fatalf("the retried edit: %d", status)
	}
}
