package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
	"github.com/eir-sidecar/eir/regsync/opdata"
)

// observeConfig is baseConfig with the N5g-eir listener and the
// observation keys given.
func observeConfig(redisAddr, observe string) string {
	return n5gConfig(redisAddr) + "observe:\n" + observe
}

// streamEvents reads the events stream, decoded.
func streamEvents(t *testing.T, rds *redistest.Server) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(streamDocs(t, rds)), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// waitEvent polls the stream until an event has every field of want (a
// string, or a []string its list equals) and returns it.
func waitEvent(t *testing.T, rds *redistest.Server, want map[string]any) map[string]any {
	t.Helper()
	var found map[string]any
	testenv.EventuallyShow(t, 10*time.Second, func() bool {
		for _, ev := range streamEvents(t, rds) {
			if matches(ev, want) {
				found = ev
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("an event %v in the stream:\n%s", want, streamDocs(t, rds)) })
	return found
}

func matches(ev, want map[string]any) bool {
	for k, w := range want {
		switch w := w.(type) {
		case []string:
			got, _ := ev[k].([]any)
			var s []string
			for _, g := range got {
				s = append(s, fmt.Sprint(g))
			}
			if !slices.Equal(s, w) {
				return false
			}
		default:
			if fmt.Sprint(ev[k]) != fmt.Sprint(w) {
				return false
			}
		}
	}
	return true
}

// TestObservations walks an MME simulator through the scenario of issue
// 14 against a real eird and Redis, and reads the events stream: a
// subscriber changes handset; a blacklisted IMEI turns up with a new SIM;
// one IMEI is used by 12 IMSIs in a day (DIRBS duplicate_threshold 10: a
// detection, the IMEI on detected/imei/grey, shadowed: the answer does not
// change); the same IMEI at two MMEs within a minute (concurrent use). An
// AMF's imeisv- PEI and msisdn- gpsi are recorded too.
func TestObservations(t *testing.T) {
	rds := redistest.Start(t)
	// S13 carries no MSISDN: the export takes it from a file (DIRBS
	// refuses a dump with more than 5 % of them empty).
	msisdns := filepath.Join(t.TempDir(), "msisdn.csv")
	var b strings.Builder
	for _, imsi := range observedIMSIs() {
		fmt.Fprintf(&b, "%s,4917%s\n", imsi, imsi[7:])
	}
	if err := os.WriteFile(msisdns, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startEIRD(t, observeConfig(rds.Addr(), "  events:\n    per_imsi_interval: 10m\n")+
		"export:\n  operator_data:\n    operator_id: e2e_op\n    msisdn_file: "+msisdns+"\n")
	loadLists(t, e)
	e.waitHeld(t)
	mme := func(host string) *s13client.Client {
		c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: host, OriginRealm: "e2e.test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	mme1, mme2 := mme("mme1.e2e.test"), mme("mme2.e2e.test")
	check := func(c *s13client.Client, imei, sv, imsi string) string {
		t.Helper()
		a, err := c.Send(ctxT(t), c.ECRWithSV(imei, sv, imsi))
		if err != nil {
			t.Fatalf("ECR %s %s: %v", imei, imsi, err)
		}
		return answer(t, a)
	}

	// A subscriber changes handset: the IMSI is seen on a second IMEI.
	const sub, oldPhone, newPhone = "001019000000001", "35693803564380", "35693803564398"
	check(mme1, oldPhone, "01", sub)
	check(mme1, newPhone, "02", sub)
	ev := waitEvent(t, rds, map[string]any{"kind": "imsi_new_device", "imsi": sub, "imei": newPhone, "prev_imei": oldPhone})
	if ev["svn"] != "02" || ev["peer"] != "mme1.e2e.test" || ev["interface"] != "s13" {
		t.Errorf("imsi_new_device %v", ev)
	}

	// A blacklisted IMEI (national) turns up with a new SIM.
	const stolen, owner, thief = "35209900176148", "001010000000002", "001010000000003"
	if got := check(mme1, stolen, "", owner); got != "2001 es=1" {
		t.Fatalf("stolen: %s", got)
	}
	check(mme1, stolen, "", thief)
	waitEvent(t, rds, map[string]any{"kind": "listed_imei_new_imsi", "imei": stolen, "imsi": thief, "prev_imsis": []string{owner},
		"status": "BLACKLISTED"})

	// One IMEI, 12 IMSIs in a day: duplicate_threshold (10) fires once;
	// the IMEI goes on detected/imei/grey in shadow mode: the answer stays
	// the one of gsma's grey range (an entry of its own, enforced, would
	// decide by rule imei).
	const clone = "86000000000017"
	for i := range 12 {
		if got := check(mme1, clone, "", fmt.Sprintf("0010170000000%02d", i)); got != "2001 es=2" {
			t.Fatalf("clone, IMSI %d: %s", i, got)
		}
	}
	ev = waitEvent(t, rds, map[string]any{"kind": "duplicate_imei", "imei": clone, "rule": "duplicate_threshold"})
	if ev["count"] != float64(10) || ev["dataset"] != "detected/imei/grey" || ev["shadow"] != true || ev["status"] != "GREYLISTED" {
		t.Errorf("detection %v", ev)
	}
	testenv.Eventually(t, "the clone on detected/imei/grey", 10*time.Second, func() bool {
		out, _, _ := e.eirctl(t, "", "list", "-imei", clone)
		return strings.Contains(out, "detected/imei/grey")
	})
	if got := check(mme1, clone, "", "001017000000099"); got != "2001 es=2" {
		t.Fatalf("a shadowed detection changed the answer: %s", got)
	}
	e.waitLog(t, `"source":"detected","answered":"GREYLISTED"`, 5*time.Second) // the shadow verdict, computed
	out, _, _ := e.eirctl(t, "", "audit", "-imei", clone)
	if !strings.Contains(out, "observe") || !strings.Contains(out, "duplicate_threshold") {
		t.Errorf("the detection's audit record:\n%s", out)
	}

	// The same IMEI with two IMSIs at two MMEs within a minute.
	const twin = "35000000000025"
	check(mme1, twin, "", "001018000000001")
	check(mme2, twin, "", "001018000000002")
	ev = waitEvent(t, rds, map[string]any{"kind": "duplicate_imei", "imei": twin, "rule": "concurrent_use"})
	if fmt.Sprint(ev["peers"]) != "[mme1.e2e.test mme2.e2e.test]" || ev["count"] != float64(2) {
		t.Errorf("concurrent use %v", ev)
	}
	// The twin is on no other list: once on detected/imei/grey (passive),
	// it is still answered by the unknown-equipment policy, not
	// WHITELISTED as a shadowed source's entry would be.
	testenv.Eventually(t, "the twin on detected/imei/grey", 10*time.Second, func() bool {
		out, _, _ := e.eirctl(t, "", "list", "-imei", twin)
		return strings.Contains(out, "detected/imei/grey")
	})
	if got := check(mme1, twin, "", "001018000000001"); got != "exp 5422" {
		t.Fatalf("a detected IMEI on no other list: %s, want exp 5422 (unknown, as before the detection)", got)
	}

	// An AMF: imeisv- PEI and msisdn- gpsi, on a subscriber seen on S13:
	// a device change with the SVN.
	const sub2, amfPhone = "001019000000002", "35000000000033"
	check(mme1, newPhone, "", sub2)
	hc := h2c()
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + e.n5g + "/n5g-eir-eic/v1/equipment-status?pei=imeisv-" + amfPhone + "07&supi=imsi-" + sub2 + "&gpsi=msisdn-491701234567")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ev = waitEvent(t, rds, map[string]any{"kind": "imsi_new_device", "imsi": sub2, "imei": amfPhone, "prev_imei": newPhone, "interface": "n5g"})
	if ev["svn"] != "07" {
		t.Errorf("n5g device change %v", ev)
	}
	// The first subscriber moves back within observe.events.per_imsi_interval:
	// no second event for it.
	check(mme1, oldPhone, "", sub)
	e.waitMetric(t, `eir_sighting_events_suppressed_total{kind="imsi_new_device"}`, 1, 10*time.Second)

	// Every hit still has its fields, and kind "hit".
	for _, ev := range streamEvents(t, rds) {
		if ev["kind"] == "hit" && (ev["status"] == "" || ev["imei"] == "" || ev["answer"] == "") {
			t.Errorf("hit %v", ev)
		}
	}
	if n := e.metric(t, `eir_sighting_observations_total{result="written"}`); n < 20 {
		t.Errorf("%v observations written", n)
	}
	if n := e.metric(t, `eir_sighting_detections_total{rule="concurrent_use"}`); n != 1 {
		t.Errorf("%v concurrent_use detections", n)
	}
	observedByEirctl(t, e, clone, sub, oldPhone, stolen, thief)
}

// observedIMSIs are the IMSIs TestObservations uses.
func observedIMSIs() []string {
	out := []string{"001010000000002", "001010000000003", "001017000000099", "001018000000001", "001018000000002",
		"001019000000001", "001019000000002"}
	for i := range 12 {
		out = append(out, fmt.Sprintf("0010170000000%02d", i))
	}
	return out
}

// observedByEirctl reads the observations of TestObservations through
// eirctl and eird's admin API: an IMEI's pairs and the rules it trips, a
// subscriber's devices (a reason required), and the day's operator data
// export, parsed back by the DIRBS parser: the blocked attempt is not in it.
func observedByEirctl(t *testing.T, e *eird, clone, sub, phone, stolen, thief string) {
	t.Helper()
	out, errOut, code := e.eirctl(t, "", "observed", clone)
	if code != 0 || !strings.Contains(out, "duplicate_threshold") || !strings.Contains(out, "001017000000011") {
		t.Fatalf("eirctl observed %s (exit %d):\n%s%s", clone, code, out, errOut)
	}
	if _, _, code := e.eirctl(t, "", "observed", "-imsi", sub); code == 0 {
		t.Fatal("eirctl observed -imsi without -reason succeeded")
	}
	out, errOut, code = e.eirctl(t, "", "observed", "-imsi", sub, "-reason", "ticket 42")
	if code != 0 || !strings.Contains(out, phone) {
		t.Fatalf("eirctl observed -imsi (exit %d):\n%s%s", code, out, errOut)
	}
	out, _, _ = e.eirctl(t, "", "audit", "-action", "observed.devices")
	if !strings.Contains(out, "ticket 42") {
		t.Errorf("the lookup of a subscriber's devices is not audited with its reason:\n%s", out)
	}
	if out, _, _ := e.eirctl(t, "", "status"); !strings.Contains(out, "sources detected (observed, never change an answer)") {
		t.Errorf("eirctl status does not show source detected as passive:\n%s", out)
	}
	dir := t.TempDir()
	day := time.Now().UTC().Format("20060102")
	out, errOut, code = e.eirctl(t, "", "export", "operator-data", "-date", day, "-o", dir)
	if code != 0 {
		t.Fatalf("eirctl export operator-data (exit %d):\n%s%s", code, out, errOut)
	}
	rows := map[string]bool{}
	file := filepath.Join(dir, "e2e_op_"+day+"_"+day+".zip")
	if _, _, err := opdata.ParseFile(file, opdata.Options{}, func(r opdata.Row) error {
		rows[r.IMEI+","+r.IMSI] = true
		return nil
	}); err != nil {
		t.Fatalf("the export does not parse back: %v", err)
	}
	if !rows[phone+","+sub] || !rows[clone+",001017000000011"] {
		t.Errorf("admitted pairs missing from the export: %v", rows)
	}
	if rows[stolen+","+thief] {
		t.Error("the export holds an attempt the EIR blocked")
	}
}

// TestObservationOverload: with the sighting writes stalled (Redis
// refuses writes for a while: CLIENT PAUSE WRITE; the lists are read from
// the replica) and a queue of 64, checks are answered as fast as while the
// writes flow, and the observations that do not fit are dropped and
// counted. (A Redis read timeout of 3s keeps each stalled batch write
// waiting, whatever the pace of the checks.)
func TestObservationOverload(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, observeConfig(rds.Addr(), "  queue_size: 64\n"), "EIR_REDIS_READ_TIMEOUT=3s")
	loadLists(t, e)
	e.waitHeld(t)
	c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme1.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 300
	// p99 of n checks by 4 concurrent MMEs' worth of requests on one
	// connection; every one must be answered.
	run := func(base, n int) time.Duration {
		t.Helper()
		lat := make([]time.Duration, n)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 4 {
					start := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					// A new subscriber on a new device each time (gsma's grey range).
					a, err := c.Check(ctx, fmt.Sprintf("860000001%05d", base+i), fmt.Sprintf("00102%010d", base+i))
					cancel()
					if err != nil {
						t.Errorf("check %d: %v", i, err)
						return
					}
					if got := answer(t, a); got != "2001 es=2" {
						t.Errorf("check %d: %s", i, got)
					}
					lat[i] = time.Since(start)
				}
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		return lat[n*99/100]
	}
	run(0, n) // warm up
	flowing := run(n, n)
	// The writes flowed: the queue drains (the first batch, loading the
	// scripts, is the slow one).
	e.waitMetric(t, "eir_sighting_batch_size_count", 1, 20*time.Second)
	testenv.Eventually(t, "the observation queue to drain", 20*time.Second, func() bool {
		return e.metric(t, "eir_sighting_queue_length") == 0
	})
	before := e.metric(t, "eir_sighting_dropped_total")
	rdb := rds.Client(t)
	if err := rdb.Do(ctxT(t), "CLIENT", "PAUSE", "20000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	defer rdb.Do(context.Background(), "CLIENT", "UNPAUSE")
	// A blocked batch write holds the writer for its timeout (1s): beyond
	// a batch (up to 512) and the queue (64), what comes meanwhile is
	// dropped, at any pace above 64 checks a second.
	stalled := run(2*n, 1000)
	dropped := e.metric(t, "eir_sighting_dropped_total") - before
	if err := rdb.Do(ctxT(t), "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("p99: %v of %d checks while the observations are written, %v of 1000 with the writes stalled; dropped: %v before the stall, %v during it",
		flowing, n, stalled, before, dropped)
	if dropped < 1 {
		t.Errorf("no observation dropped with the writes stalled and a queue of 64")
	}
	// Generous: the answer path does not wait for the queue, so only
	// noise (a shared CPU, the race detector) separates the two.
	if limit := 5*flowing + 100*time.Millisecond; stalled > limit {
		t.Errorf("p99 %v with the writes stalled, over %v (5× %v + 100ms)", stalled, limit, flowing)
	}
}
