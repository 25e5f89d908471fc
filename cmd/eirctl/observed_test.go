package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/admin"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/eir/sighting"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
	"github.com/eir-sidecar/eir/regsync/opdata"
	"github.com/eir-sidecar/eir/regsync/opexport"
)

// observedEIRD is eird's real admin API over a real sighting store and
// audit trail on a test Redis, with the operator data export.
type observedEIRD struct {
	url   string
	trail *audit.Log
	sg    *sighting.Store
}

var obsDay = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func newObservedEIRD(t *testing.T) *observedEIRD {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	now := obsDay.Add(30 * time.Hour)
	clock := func() time.Time { return now }
	sg, err := sighting.New(rdb, sighting.Options{Prefix: "c:", MinInterval: -1, Now: clock}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const a, b eir.IMEI = 35_209_900_176_148, 49_015_420_323_751
	obs := []sighting.Observation{
		{Time: obsDay.Add(time.Hour), IMEI: a, IMSI: "001010000000001", SVN: "07", MSISDN: "33600000001", Interface: sighting.S13, Peer: "mme1", Answer: sighting.AnswerWhitelisted},
		{Time: obsDay.Add(2 * time.Hour), IMEI: a, IMSI: "001010000000002", MSISDN: "33600000002", Interface: sighting.N5G, Peer: "amf1", Answer: sighting.AnswerWhitelisted},
		{Time: obsDay.Add(3 * time.Hour), IMEI: b, IMSI: "001010000000002", MSISDN: "33600000002", Interface: sighting.S13, Peer: "mme1", Answer: sighting.AnswerBlacklisted},
	}
	if _, err := sg.Write(context.Background(), obs); err != nil {
		t.Fatal(err)
	}
	st, err := redisstore.New(context.Background(), rdb, redisstore.Options{Prefix: "c:"}, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ex, err := opexport.New(sg, opexport.Options{Operator: "op1", Networks: []opdata.Network{{MCC: "001", MNC: "01"}}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	e := &observedEIRD{trail: audit.New(st, audit.Options{Now: clock}), sg: sg}
	api := admin.New(admin.Options{Audit: e.trail, Sightings: sg, OperatorData: ex, Now: clock,
		ObserveRules: &sighting.Rules{PeriodDays: 30, Threshold: 2},
		Tokens:       []admin.Token{{Name: "noc", Secret: "w", Write: true}, {Name: "dpo", Secret: "r"}}},
		st, eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t))
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *observedEIRD) ctl(t *testing.T, token string, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, "", append([]string{"-server", e.url, "-token", token}, args...)...)
}

func TestObservedCommands(t *testing.T) {
	e := newObservedEIRD(t)
	out, errOut, code := e.ctl(t, "r", "observed", "35209900176148")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "IMEI 35209900176148: 2 subscribers\n",
		"IMSI             FIRST SEEN            LAST SEEN             DAYS  SVN  PEER  INTERFACES  MSISDN\n",
		"001010000000002  2026-12-01T02:00:00Z  2026-12-01T02:00:00Z  1     -    amf1  n5g         33600000002\n",
		"001010000000001  2026-12-01T01:00:00Z  2026-12-01T01:00:00Z  1     07   mme1  s13         33600000001\n",
		"duplicate_threshold: 2 IMSIs; IMSIs 001010000000001 001010000000002\n")

	out, errOut, code = e.ctl(t, "r", "observed", "-imsi", "001010000000002")
	wantCode(t, code, exitUsage, out, errOut)
	wantContains(t, "stderr", errOut, "-reason is required")
	out, errOut, code = e.ctl(t, "r", "observed", "-imsi", "001010000000002", "-reason", "fraud case 12")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "IMSI 001010000000002: current IMEI 49015420323751 since 2026-12-01T03:00:00Z\n", "49015420323751  ", "35209900176148  ")
	out, errOut, code = e.ctl(t, "r", "-o", "json", "observed", "-imsi", "001010000000002", "-reason", "fraud case 12")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, `"current_imei": "49015420323751"`)
	recs, _, _ := e.trail.Find(context.Background(), audit.Query{Action: audit.ActionDevices})
	if len(recs) != 2 || recs[0].Actor != "dpo" || recs[0].Reason != "fraud case 12" {
		t.Errorf("audit: %+v", recs)
	}

	out, errOut, code = e.ctl(t, "r", "forget", "-imsi", "001010000000002", "-reason", "gdpr")
	wantCode(t, code, exitRejected, out, errOut) // a read token
	out, errOut, code = e.ctl(t, "w", "forget", "-imsi", "001010000000002", "-reason", "gdpr request 3")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "forgot IMSI 001010000000002: 2 pairs removed\n")
	out, errOut, code = e.ctl(t, "r", "observed", "49015420323751")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "nothing observed")
}

func TestExportOperatorDataCommand(t *testing.T) {
	e := newObservedEIRD(t)
	dir := t.TempDir()
	out, errOut, code := e.ctl(t, "r", "export", "operator-data", "-date", "20261201", "-o", dir)
	wantCode(t, code, exitOK, out, errOut)
	zip := filepath.Join(dir, "op1_20261201_20261201.zip")
	data, err := os.ReadFile(zip)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	line, _ := os.ReadFile(zip + ".sha256")
	if string(line) != hex.EncodeToString(sum[:])+"  op1_20261201_20261201.zip\n" {
		t.Errorf("checksum file %q", line)
	}
	var rows []string
	if _, rep, err := opdata.ParseFile(zip, opdata.Options{Operator: "op1"}, func(r opdata.Row) error {
		rows = append(rows, fmt.Sprintf("%s,%s,%s,%s,%s", r.Date, r.IMEI, r.IMSI, r.MSISDN, strings.Join(r.RAT, "|")))
		return nil
	}); err != nil || rep.Err() != nil {
		t.Fatal(err, rep.Err())
	}
	want := "20261201,35209900176148,001010000000001,33600000001,006 20261201,35209900176148,001010000000002,33600000002,006"
	if strings.Join(rows, " ") != want { // the blacklisted attempt on 49015420323751 is left out
		t.Errorf("rows %q", rows)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("files %v", ents)
	}
	out, errOut, code = e.ctl(t, "r", "export", "operator-data", "-date", "20261205", "-o", dir)
	wantCode(t, code, exitRejected, out, errOut) // after today
	out, errOut, code = e.ctl(t, "r", "export", "operator-data", "-date", "2026-12-01")
	wantCode(t, code, exitUsage, out, errOut)
}

func TestEventsKind(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/events", reply(200, `{"events": [
		{"id": "1-0", "time": "2025-05-01T10:00:00Z", "kind": "imsi_new_device", "imei": "35209900176148", "imsi": "001010000000001",
		 "previous_imei": "49015420323751"}], "last_id": "1-0"}`))
	out, errOut, code := f.ctl("", "events", "-kind", "imsi_new_device")
	wantCode(t, code, exitOK, out, errOut)
	if q := f.only().Query; q.Get("kind") != "imsi_new_device" {
		t.Errorf("query %v", q)
	}
	wantContains(t, "stdout", out, "TIME                  KIND             IMEI            IMSI             EVENT\n",
		`2025-05-01T10:00:00Z  imsi_new_device  35209900176148  001010000000001  {"previous_imei":"49015420323751"}`)
	out, errOut, code = f.ctl("", "events")
	wantCode(t, code, exitOK, out, errOut)
	wantContains(t, "stdout", out, "imsi_new_device")
}
