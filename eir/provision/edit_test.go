package provision

import (
	"context"
	"errors"
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
	*memstore.Store
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
		if _, err := s.Store.ApplyWith(ctx, []eir.Change{rival}, eir.ApplyOptions{State: map[string]string{f: strconv.Itoa(n + 1)}}); err != nil {
			return eir.ApplyResult{}, err
		}
	}
	return s.Store.ApplyWith(ctx, changes, o)
}

// newRivalEditor is an Editor over a rivalStore; its waits between the
// attempts of an edit are recorded and return at once.
func newRivalEditor(t *testing.T) (*Editor, *rivalStore, func() []time.Duration) {
	st := &rivalStore{Store: memstore.New()}
	var mu sync.Mutex
	var waits []time.Duration
	ed := NewEditor(st, EditorOptions{Wait: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}}, zaptest.NewLogger(t))
	return ed, st, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration{}, waits...)
	}
}

// blackEntry is what the admin API's {"imei":"35209900176148","list":"black","reason":"stolen"} asks.
var blackEntry = Edit{Source: "manual", Target: eir.TargetIMEI, Key: eir.Entry{IMEI: 35209900176148}, List: eir.ListBlack, Reason: "stolen", Actor: "anonymous"}

// An edit makes 10 attempts: it succeeds when another eird edits the same
// source 9 times in a row while it tries, with 9 waits between them.
const (
	wantAttempts = 10
	wantWaits    = wantAttempts - 1
)

// checkStatus is the status checks answer for imei, or "UNKNOWN".
func checkStatus(t *testing.T, st eir.Lookup, imei eir.IMEI) string {
	t.Helper()
	d, err := eir.NewDecider(st, eir.Policy{}).Check(context.Background(), eir.Query{IMEI: imei})
	if errors.Is(err, eir.ErrUnknown) {
		return "UNKNOWN"
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.Status.String()
}

func TestEditRetriesPastConflicts(t *testing.T) {
	ed, st, waits := newRivalEditor(t)
	st.conflicts.Store(wantAttempts - 1) // the rival gives up before the edit does
	res, err := ed.Add(context.Background(), blackEntry)
	if err != nil || res.Action != "added" {
		t.Fatalf("edit after %d conflicts: %+v %v", wantAttempts-1, res, err)
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
	if s := checkStatus(t, st, 35209900176148); s != "BLACKLISTED" {
		t.Fatalf("the edit is not in force: %s", s)
	}
}

func TestEditGivesUpAfterItsAttempts(t *testing.T) {
	ed, st, waits := newRivalEditor(t)
	st.conflicts.Store(wantAttempts)
	if _, err := ed.Add(context.Background(), blackEntry); !errors.Is(err, eir.ErrConflict) {
		t.Fatalf("edit after %d conflicts: %v, want eir.ErrConflict (409 conflict)", wantAttempts, err)
	}
	if n := len(waits()); n != wantWaits {
		t.Fatalf("%d waits, want %d (none after the last attempt)", n, wantWaits)
	}
	if s := checkStatus(t, st, 35209900176148); s != "UNKNOWN" {
		t.Fatalf("a refused edit changed the lists: %s", s)
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
	ed, st, _ := newRivalEditor(t)
	waiting, release := make(chan struct{}), make(chan struct{})
	ed.o.Wait = func(ctx context.Context, d time.Duration) error {
		close(waiting)
		<-release
		return nil
	}
	st.conflicts.Store(1)
	first := make(chan error)
	go func() {
		_, err := ed.Add(context.Background(), blackEntry)
		first <- err
	}()
	<-waiting
	second := make(chan error)
	go func() {
		_, err := ed.Add(context.Background(), Edit{Source: "ceir", Target: eir.TargetTAC, Key: eir.Entry{TAC: 35209900}, List: eir.ListGrey, Reason: "counterfeit"})
		second <- err
	}()
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("the second edit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("an edit waited for another edit's back-off")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the retried edit: %v", err)
	}
}

// TestEditMovesAndRemoves: adding an entry to a list of a source takes it
// off the source's other exclusive lists in the same write; removing an
// entry on no list is ErrNotFound.
func TestEditMovesAndRemoves(t *testing.T) {
	ed, st, _ := newRivalEditor(t)
	ctx := context.Background()
	if _, err := ed.Add(ctx, blackEntry); err != nil {
		t.Fatal(err)
	}
	grey := blackEntry
	grey.List = eir.ListGrey
	res, err := ed.Add(ctx, grey)
	if err != nil || res.Action != "updated" || len(res.Before) != 1 || res.Before[0].Dataset != "manual/imei/black" {
		t.Fatalf("move to grey: %+v %v", res, err)
	}
	if s := checkStatus(t, st, 35209900176148); s != "GREYLISTED" {
		t.Fatalf("after the move: %s", s)
	}
	removed, err := ed.Remove(ctx, Edit{Source: "manual", Target: eir.TargetIMEI, Key: blackEntry.Key, AnyList: true, Reason: "found"})
	if err != nil || len(removed) != 1 || removed[0].Dataset != "manual/imei/grey" {
		t.Fatalf("remove: %+v %v", removed, err)
	}
	_, err = ed.Remove(ctx, Edit{Source: "manual", Target: eir.TargetIMEI, Key: blackEntry.Key, List: eir.ListBlack, Reason: "again"})
	if !errors.Is(err, ErrNotFound) || err.Error() != "35209900176148 is on no list of source manual, list black" {
		t.Fatalf("remove again: %v, want ErrNotFound", err)
	}
}
