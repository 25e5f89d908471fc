package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/diameter"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/n5g/nrf"
	"github.com/eir-sidecar/eir/regsync"
)

// sameJSON checks that from, read into the API type T, encodes to the
// same JSON (up to the order of object keys): the API type has every field
// of the server's, with the same names and shapes.
func sameJSON[T any](t *testing.T, name string, from any) {
	t.Helper()
	want, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	var to T
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&to); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, _ := json.Marshal(to)
	if normal(t, got) != normal(t, want) {
		t.Errorf("%s: the API type encodes\n%s\nthe server sends\n%s", name, got, want)
	}
}

// TestAPITypesMatchTheServer: the types of admin/api that eird fills from
// other packages' values (regsync's reports, provision's entries) read them
// back unchanged.
func TestAPITypesMatchTheServer(t *testing.T) {
	at := time.Date(2026, 11, 26, 8, 0, 0, 123, time.UTC)
	pass := regsync.PassReport{Source: "national", Started: at, Duration: 1500 * time.Millisecond, Skipped: "locked", Fetched: []string{"a.csv"},
		Files: []regsync.FileReport{{File: "a.csv", Result: "applied", Reason: "r", Message: "m", Details: []string{"d"},
			Lists: []regsync.ListReport{{List: "black", Mode: "delta", Base: 1, Run: 2, Rows: 3, BadRows: 4, Duplicates: 5, Added: 6, Removed: 7,
				Changed: 8, Noops: 9, Count: 10, Note: "n", Quarantined: []string{"q"}}}}}}
	sameJSON[api.SyncPass](t, "regsync.PassReport", pass)
	sameJSON[api.SyncPasses](t, "sync run", map[string]any{"passes": []regsync.PassReport{pass}})
	src := regsync.SourceStatus{Source: "national", Format: "csv",
		Lists: []regsync.ListState{{Source: "national", List: "black", Run: 1, Base: 2, Timestamp: "20261126_080000", Mode: "full", File: "f",
			SHA256: "s", Rows: 3, BadRows: 4, Added: 5, Removed: 6, Changed: 7, Count: 8, Hash: "h", AppliedAt: at}},
		LastPass: &regsync.PassSummary{Time: at, Duration: "1s", Error: "e", Files: 1, Applied: 2, Rejected: 3, Held: 4, LastOK: at},
		Held:     []regsync.HeldFile{{File: "f", Reason: "r", Message: "m", Since: at}}, ResyncLists: []string{"grey"}}
	sameJSON[api.SyncStatusPage](t, "sync status", map[string]any{"sources": []regsync.SourceStatus{src},
		"rejects": []json.RawMessage{json.RawMessage(`{"code":"c","details":["d"],"file":"f","message":"m","source":"s","time":"2026-11-26T08:00:00Z"}`)}})
	sameJSON[api.SyncReject](t, "sync reject", map[string]any{"time": at, "source": "s", "file": "f", "code": "c", "message": "m", "details": []string{"d"}})

	st := uint8(1)
	sameJSON[api.S13Answer](t, "diameter.Outcome", diameter.Outcome{ResultCode: 2001, ExperimentalResultCode: 5422, EquipmentStatus: &st})
	sameJSON[api.NRFStatus](t, "nrf.Status", nrf.Status{InstanceID: "i", Registered: true, Since: at, HeartbeatInterval: 30 * time.Second,
		LastContact: at, LastError: "e", LastErrorAt: at})
	sameJSON[api.NRFStatus](t, "nrf.Status (zero)", nrf.Status{})

	exp := at.Add(time.Hour)
	entry := provision.Entry{Dataset: "manual/pair/exception", Source: "manual", List: "exception", Target: "pair", IMEI: "35209900176148",
		TAC: "35209900", From: "35209900000000", To: "35209900999999", IMSI: "001010000000001", ExpiresAt: &exp, Expired: true,
		Reason: "r", Actor: "a", Time: &at}
	sameJSON[api.Entry](t, "provision.Entry", entry)
	if a, p := mustJSON(t, api.Entry(entry)), mustJSON(t, entry); a != p {
		t.Errorf("api.Entry(provision.Entry) encodes %s, want %s", a, p)
	}
}

// normal is the JSON b with its object keys sorted.
func normal(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// answers records the checks an Observer is told of.
type answers struct {
	mu  sync.Mutex
	got []observe.Answer
}

func (a *answers) Answered(x observe.Answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, x)
}

// TestCheckObserved: each check answered by GET /v1/check is reported
// once to the Observer, with the actor and the client's address; a
// request refused before the check is not.
func TestCheckObserved(t *testing.T) {
	st := &store{Store: memstore.New()}
	obs := &answers{}
	srv := httptest.NewServer(New(Options{Observer: obs, Tokens: []Token{{Name: "ops", Secret: "s"}}}, st,
		eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t)).Handler())
	t.Cleanup(srv.Close)
	if status, body, _ := do(t, srv, "GET", "/v1/check?imei=35209900176148&imsi=001010000000001", "s", ""); status != 200 || body["status"] != "UNKNOWN" {
		t.Fatalf("check: %d %v", status, body)
	}
	do(t, srv, "GET", "/v1/check?imei=1234", "s", "")
	do(t, srv, "GET", "/v1/check?imei=35209900176148", "", "")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.got) != 1 {
		t.Fatalf("%d answers observed, want 1: %+v", len(obs.got), obs.got)
	}
	a := obs.got[0]
	if a.Interface != "admin" || a.Peer != "ops" || a.PeerAddr != "127.0.0.1" || a.Query.IMEI != 35209900176148 || a.Query.IMSI != "001010000000001" ||
		!errorsIs(a.Err, eir.ErrUnknown) {
		t.Errorf("answer observed: %+v", a)
	}
}

// TestCheckAnswerShape: the body of GET /v1/check, byte for byte (the S13
// answer is encoded by Options.Describe, then indented with the rest).
func TestCheckAnswerShape(t *testing.T) {
	st := &store{Store: memstore.New()}
	st.Apply(t.Context(), []eir.Change{{Dataset: eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListBlack}, Add: []eir.Entry{{IMEI: 35209900176148}}}})
	describe := func(d eir.Decision, err error) any {
		st := uint8(d.Status)
		return struct {
			ResultCode      uint32 `json:"result_code,omitempty"`
			EquipmentStatus *uint8 `json:"equipment_status,omitempty"`
		}{2001, &st}
	}
	srv := httptest.NewServer(New(Options{Describe: describe}, st, eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t)).Handler())
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/v1/check?imei=35209900176148")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	want := `{
  "imei": "35209900176148",
  "status": "BLACKLISTED",
  "equipment_status": 1,
  "rule": "imei",
  "source": "manual",
  "s13": {
    "result_code": 2001,
    "equipment_status": 1
  }
}
`
	if buf.String() != want {
		t.Errorf("check answer:\n%s\nwant\n%s", buf.String(), want)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
