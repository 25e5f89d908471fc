package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/sighting"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

var obsT0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// newObservedAPI is an API over a real sighting.Store holding: IMEI A
// with 3 IMSIs (one of them also on IMEI B, its current one), as two
// MMEs and an AMF saw them.
func newObservedAPI(t *testing.T, rules *sighting.Rules) (*redisAPI, *sighting.Store) {
	t.Helper()
	rs := redistest.Start(t)
	now := obsT0.Add(5 * time.Minute)
	sg, err := sighting.New(rs.Client(t), sighting.Options{Prefix: fmt.Sprintf("o%d:", prefixSeq.Add(1)), MinInterval: -1,
		Now: func() time.Time { return now }}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const a, b eir.IMEI = 35_209_900_176_148, 49_015_420_323_751
	obs := []sighting.Observation{
		{Time: obsT0, IMEI: a, IMSI: "001010000000001", SVN: "07", Interface: sighting.S13, Peer: "mme1", Answer: sighting.AnswerWhitelisted},
		{Time: obsT0.Add(time.Minute), IMEI: a, IMSI: "001010000000002", Interface: sighting.S13, Peer: "mme2", Answer: sighting.AnswerWhitelisted},
		{Time: obsT0.Add(2 * time.Minute), IMEI: a, IMSI: "001010000000003", MSISDN: "33600000003", Interface: sighting.N5G, Peer: "amf1", Answer: sighting.AnswerWhitelisted},
		{Time: obsT0.Add(3 * time.Minute), IMEI: b, IMSI: "001010000000003", Interface: sighting.N5G, Peer: "amf1", Answer: sighting.AnswerWhitelisted},
	}
	if _, err := sg.Write(context.Background(), obs); err != nil {
		t.Fatal(err)
	}
	a2 := newRedisAPI(t, rs, func(o *Options) {
		o.Sightings, o.ObserveRules = sg, rules
		o.Now = func() time.Time { return now }
	})
	return a2, sg
}

func TestObservedByIMEI(t *testing.T) {
	a, _ := newObservedAPI(t, &sighting.Rules{PeriodDays: 30, Threshold: 3, ConcurrentWindow: 10 * time.Minute})
	status, body := a.call(t, "GET", "/v1/observed?imei=352099001761481", "bob", nil) // 15 digits: the check digit is dropped
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	pairs := body["pairs"].([]any)
	if len(pairs) != 3 || body["imei"] != "35209900176148" {
		t.Fatalf("pairs: %v", body)
	}
	p := pairs[2].(map[string]any) // most recently seen first
	if p["imsi"] != "001010000000001" || p["svn"] != "07" || p["peer"] != "mme1" || p["days_seen"] != 1.0 ||
		fmt.Sprint(p["interfaces"]) != "[s13]" || p["first_seen"] != "2026-12-01T10:00:00Z" {
		t.Errorf("pair: %v", p)
	}
	if p := pairs[0].(map[string]any); p["msisdn"] != "33600000003" || fmt.Sprint(p["interfaces"]) != "[n5g]" {
		t.Errorf("pair: %v", p)
	}
	rules := map[string]bool{}
	for _, d := range body["detections"].([]any) {
		rules[d.(map[string]any)["rule"].(string)] = true
	}
	if !rules[sighting.RuleDuplicateThreshold] || !rules[sighting.RuleConcurrentUse] {
		t.Errorf("detections: %v", body["detections"])
	}
	for _, bad := range []string{"/v1/observed?imei=12", "/v1/observed", "/v1/observed?imei=35209900176148&imsi=001010000000001"} {
		if status, body := a.call(t, "GET", bad, "bob", nil); status != 400 {
			t.Errorf("%s: %d %v", bad, status, body)
		}
	}
	if status, _ := a.call(t, "GET", "/v1/observed?imei=35209900176148", "", nil); status != 401 {
		t.Errorf("no token: %d", status)
	}
}

func TestObservedByIMSIIsAudited(t *testing.T) {
	a, _ := newObservedAPI(t, nil)
	if status, body := a.call(t, "GET", "/v1/observed?imsi=001010000000003", "bob", nil); status != 400 || errCode(body) != "missing_reason" {
		t.Fatalf("no reason: %d %v", status, body)
	}
	if status, body := a.call(t, "GET", "/v1/observed?imsi=001010000000003&reason=%20", "bob", nil); status != 400 || errCode(body) != "missing_reason" {
		t.Fatalf("blank reason: %d %v", status, body)
	}
	status, body := a.call(t, "GET", "/v1/observed?imsi=001010000000003&reason=police+request+42", "bob", nil)
	if status != 200 || body["current_imei"] != "49015420323751" || len(body["pairs"].([]any)) != 2 {
		t.Fatalf("%d %v", status, body)
	}
	recs, _, err := a.api.o.Audit.Find(context.Background(), audit.Query{Action: audit.ActionDevices})
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit: %v %v", recs, err)
	}
	if r := recs[0]; r.Actor != "bob" || r.Reason != "police request 42" || r.Target != "001010000000003" || !r.Time.Equal(obsT0.Add(5*time.Minute)) {
		t.Errorf("audit record: %+v", r)
	}
}

// failingAudit refuses every record.
type failingAudit struct{ Auditor }

func (failingAudit) Record(context.Context, ...audit.Record) error { return errors.New("down") }

func TestObservedByIMSIRefusedWithoutAudit(t *testing.T) {
	a, _ := newObservedAPI(t, nil)
	a.api.o.Audit = failingAudit{a.api.o.Audit}
	if status, body := a.call(t, "GET", "/v1/observed?imsi=001010000000003&reason=x", "bob", nil); status != 503 || body["pairs"] != nil {
		t.Fatalf("%d %v", status, body)
	}
	a.api.o.Audit = nil
	if status, body := a.call(t, "GET", "/v1/observed?imsi=001010000000003&reason=x", "bob", nil); status != 503 || errCode(body) != "audit_not_configured" {
		t.Fatalf("%d %v", status, body)
	}
}

func TestForget(t *testing.T) {
	a, sg := newObservedAPI(t, nil)
	req := api.ForgetRequest{IMSI: "001010000000003", Reason: "subscriber asked (ticket 7)"}
	if status, body := a.call(t, "POST", "/v1/observed/forget", "bob", req); status != 403 {
		t.Fatalf("read token forgets: %d %v", status, body)
	}
	if status, body := a.call(t, "POST", "/v1/observed/forget", "alice", api.ForgetRequest{IMSI: req.IMSI}); status != 400 || errCode(body) != "missing_reason" {
		t.Fatalf("no reason: %d %v", status, body)
	}
	status, body := a.call(t, "POST", "/v1/observed/forget", "alice", req)
	if status != 200 || body["pairs"] != 2.0 {
		t.Fatalf("%d %v", status, body)
	}
	d, err := sg.Devices(context.Background(), "001010000000003")
	if err != nil || len(d.Pairs) != 0 || d.HasCurrent {
		t.Fatalf("left: %+v %v", d, err)
	}
	if ps, _ := sg.Pairs(context.Background(), 35_209_900_176_148); len(ps) != 2 {
		t.Errorf("the other subscribers' pairs: %+v", ps)
	}
	recs, _, _ := a.api.o.Audit.Find(context.Background(), audit.Query{Action: audit.ActionForget})
	if len(recs) != 1 || recs[0].Actor != "alice" || recs[0].Reason != req.Reason || recs[0].Target != req.IMSI {
		t.Errorf("audit: %+v", recs)
	}
}

func TestObservedDisabled(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	for _, c := range []struct{ method, path, who string }{
		{"GET", "/v1/observed?imei=35209900176148", "bob"},
		{"POST", "/v1/observed/forget", "alice"},
	} {
		if status, body := a.call(t, c.method, c.path, c.who, `{"imsi":"001010000000001","reason":"x"}`); status != 404 || errCode(body) != "observe_disabled" {
			t.Errorf("%s %s: %d %v", c.method, c.path, status, body)
		}
	}
	if status, body := a.call(t, "GET", "/v1/export/operator-data?date=20261201", "bob", nil); status != 404 || errCode(body) != "export_not_configured" {
		t.Errorf("export: %d %v", status, body)
	}
}

func TestEventsByKind(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	var docs []string
	for i := range 30 {
		kind := ""
		switch i % 3 {
		case 1:
			kind = `"kind":"imsi_new_device",`
		case 2:
			kind = `"kind":"hit",`
		}
		docs = append(docs, fmt.Sprintf(`{%s"imei":"%014d"}`, kind, i))
	}
	if err := a.st.AppendStream(context.Background(), EventsStream, docs, 0, 0); err != nil {
		t.Fatal(err)
	}
	_, body := a.call(t, "GET", "/v1/events?kind=hit&limit=5", "bob", nil)
	evs := body["events"].([]any)
	if len(evs) != 5 || evs[0].(map[string]any)["imei"] != "00000000000023" || evs[4].(map[string]any)["imei"] != "00000000000029" {
		t.Fatalf("newest hits, oldest first: %v", evs)
	}
	_, body = a.call(t, "GET", "/v1/events?kind=imsi_new_device&after=0&limit=3", "bob", nil)
	evs = body["events"].([]any)
	if len(evs) != 3 || evs[2].(map[string]any)["imei"] != "00000000000007" || body["last_id"] != evs[2].(map[string]any)["id"] {
		t.Fatalf("from the start: %v", body)
	}
	_, body = a.call(t, "GET", "/v1/events?kind=imsi_new_device&after="+body["last_id"].(string), "bob", nil)
	if evs = body["events"].([]any); len(evs) != 7 {
		t.Fatalf("the rest: %d", len(evs))
	}
	if _, body = a.call(t, "GET", "/v1/events?kind=duplicate_imei", "bob", nil); len(body["events"].([]any)) != 0 {
		t.Fatalf("none: %v", body)
	}
}

// fakeExport writes a small file, or refuses.
type fakeExport struct{ refuse bool }

type refusal struct{}

func (refusal) Error() string {
	return "export op1_20261201_20261201.zip refused: null msisdn ratio 0.5"
}
func (refusal) Refused() bool { return true }

func (f fakeExport) ExportFile(_ context.Context, dir, date string) (string, string, error) {
	if f.refuse {
		return "", "", refusal{}
	}
	p := filepath.Join(dir, "op1_"+date+"_"+date+".zip")
	return p, "abc123", os.WriteFile(p, []byte("PK zip"), 0o600)
}

func TestExportOperatorData(t *testing.T) {
	a := newRedisAPI(t, nil, func(o *Options) { o.OperatorData = fakeExport{} })
	req, _ := http.NewRequest("GET", a.srv.URL+"/v1/export/operator-data?date=20261201", nil)
	req.Header.Set("Authorization", "Bearer bob-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(data) != "PK zip" || resp.Header.Get(api.OperatorDataHeaderSHA256) != "abc123" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "op1_20261201_20261201.zip") {
		t.Fatalf("%d %q %v", resp.StatusCode, data, resp.Header)
	}
	recs, _, _ := a.api.o.Audit.Find(context.Background(), audit.Query{Action: audit.ActionExport})
	if len(recs) != 1 || recs[0].Actor != "bob" || recs[0].Target != "op1_20261201_20261201.zip" {
		t.Errorf("audit: %+v", recs)
	}
	if status, body := a.call(t, "GET", "/v1/export/operator-data?date=2026-12-01", "bob", nil); status != 400 {
		t.Errorf("bad date: %d %v", status, body)
	}
	a.api.o.OperatorData = fakeExport{refuse: true}
	if status, body := a.call(t, "GET", "/v1/export/operator-data?date=20261201", "bob", nil); status != 422 || errCode(body) != "export_refused" {
		t.Errorf("refused: %d %v", status, body)
	}
}
