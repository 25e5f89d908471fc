package opexport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/eir/sighting"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
	"github.com/eir-sidecar/eir/regsync"
	"github.com/eir-sidecar/eir/regsync/opdata"
)

// clock is a clock the test moves by hand.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

var prefixSeq atomic.Int64

type env struct {
	store *sighting.Store
	clk   *clock
	coord regsync.Coordinator
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	e := &env{clk: &clock{}}
	e.clk.Set(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	prefix := fmt.Sprintf("x%d:", prefixSeq.Add(1))
	st, err := sighting.New(rdb, sighting.Options{Prefix: prefix, MinInterval: -1, Now: e.clk.Now}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	rs, err := redisstore.New(context.Background(), rdb, redisstore.Options{Prefix: prefix, Now: e.clk.Now}, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e.coord = regsync.CoordinatorFor(rs)
	return e
}

// obs is one observation of the scenario.
type obs struct {
	at     time.Duration // after 2026-12-01T00:00Z
	imei   eir.IMEI
	imsi   string
	msisdn string
	ifc    sighting.Interface
	answer sighting.Answer
}

var day0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// scenario: S13 and N5g-eir, admitted and blocked, with and without an
// MSISDN, on the day exported (2026-12-01) and the day before.
var scenario = []obs{
	{-2 * time.Hour, 35_209_900_176_148, "001010000000001", "33600000001", sighting.S13, sighting.AnswerWhitelisted}, // the day before
	{1 * time.Hour, 35_209_900_176_148, "001010000000001", "33600000001", sighting.S13, sighting.AnswerWhitelisted},
	{2 * time.Hour, 35_209_900_176_148, "001010000000002", "", sighting.N5G, sighting.AnswerWhitelisted},            // MSISDN from the file
	{3 * time.Hour, 49_015_420_323_751, "001010000000003", "33600000003", sighting.S13, sighting.AnswerBlacklisted}, // blocked all day: out
	{4 * time.Hour, 49_015_420_323_751, "001010000000004", "33600000004", sighting.S13, sighting.AnswerBlacklisted}, // blocked, then
	{5 * time.Hour, 49_015_420_323_751, "001010000000004", "33600000004", sighting.S13, sighting.AnswerGreylisted},  // admitted: in
	{6 * time.Hour, 1_234_567_890_123, "001010000000005", "33600000005", sighting.S13, sighting.AnswerWhitelisted},  // leading zeros
	{7 * time.Hour, 1_234_567_890_123, "001010000000005", "33600000005", sighting.N5G, sighting.AnswerWhitelisted},
	{8 * time.Hour, 35_209_900_176_148, "001010000000006", "33600000006", sighting.S13, sighting.AnswerUnknown},      // unknown: in (the MME decides)
	{25 * time.Hour, 35_209_900_176_148, "001010000000007", "33600000007", sighting.S13, sighting.AnswerWhitelisted}, // the day after
}

const msisdnFile = "imsi,msisdn\n001010000000002,+33600000002\n# a comment\n001010000000009,33600000009\n"

func (e *env) record(t *testing.T, list []obs) {
	t.Helper()
	for _, o := range list {
		e.clk.Set(day0.Add(o.at))
		_, err := e.store.Write(context.Background(), []sighting.Observation{{IMEI: o.imei, IMSI: eir.IMSI(o.imsi),
			MSISDN: o.msisdn, Interface: o.ifc, Peer: "peer-" + o.ifc.String(), Answer: o.answer}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// dirbsRows is what DIRBS's rules give for the scenario on date: one row
// per distinct date, IMEI, IMSI and MSISDN of the checks admitted that day.
func dirbsRows(list []obs, date time.Time, msisdns map[string]string) []string {
	var out []string
	for _, o := range list {
		at := day0.Add(o.at)
		if at.Before(date) || !at.Before(date.AddDate(0, 0, 1)) || !o.answer.Admitted() {
			continue
		}
		m := o.msisdn
		if m == "" {
			m = msisdns[o.imsi]
		}
		r := fmt.Sprintf("%s,%s,%s,%s", date.Format("20060102"), o.imei, o.imsi, m)
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

func parseBack(t *testing.T, path string) (keys []string, rats map[string][]string) {
	t.Helper()
	rats = map[string][]string{}
	_, rep, err := opdata.ParseFile(path, opdata.Options{Operator: "op1", Networks: []opdata.Network{{MCC: "001", MNC: "01"}}}, func(r opdata.Row) error {
		k := fmt.Sprintf("%s,%s,%s,%s", r.Date, r.IMEI, r.IMSI, r.MSISDN)
		keys = append(keys, k)
		rats[k] = r.RAT
		return nil
	})
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("checks: %v", err)
	}
	slices.Sort(keys)
	return keys, rats
}

func TestExportMatchesDIRBSRules(t *testing.T) {
	e := newEnv(t)
	e.record(t, scenario)
	e.clk.Set(day0.Add(30 * time.Hour))
	mf := filepath.Join(t.TempDir(), "msisdn.csv")
	if err := os.WriteFile(mf, []byte(msisdnFile), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		n5g     string
		omitted []string // IMSIs left out by the RAT choice
	}{
		{"n5g as e-utran", "", nil},
		{"n5g omitted", OmitN5G, []string{"001010000000002"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := New(e.store, Options{Operator: "op1", Networks: []opdata.Network{{MCC: "001", MNC: "01"}},
				MSISDNFile: mf, N5GRAT: tc.n5g, Now: e.clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			res, err := ex.Export(context.Background(), dir, opdata.DateOf(day0))
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(res.Path) != "op1_20261201_20261201.zip" {
				t.Errorf("path %s", res.Path)
			}
			if _, err := os.Stat(res.Path + ".sha256"); err != nil {
				t.Error(err)
			}
			got, rats := parseBack(t, res.Path)
			want := dirbsRows(scenario, day0, map[string]string{"001010000000002": "33600000002"})
			want = slices.DeleteFunc(want, func(r string) bool {
				return slices.ContainsFunc(tc.omitted, func(imsi string) bool { return slices.Contains(splitComma(r), imsi) })
			})
			if !slices.Equal(got, want) {
				t.Fatalf("rows:\n got %q\nwant %q", got, want)
			}
			for k, r := range rats {
				if !slices.Equal(r, []string{"006"}) {
					t.Errorf("%s: rat %v, want [006]", k, r)
				}
			}
		})
	}
}

func splitComma(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}

func TestExportRefusesWhatDIRBSWould(t *testing.T) {
	e := newEnv(t)
	// Two rows of three without an MSISDN: over the 5 % NULL ratio.
	e.record(t, []obs{
		{time.Hour, 35_209_900_176_148, "001010000000001", "", sighting.S13, sighting.AnswerWhitelisted},
		{time.Hour, 35_209_900_176_148, "001010000000002", "", sighting.S13, sighting.AnswerWhitelisted},
		{time.Hour, 35_209_900_176_148, "001010000000003", "33600000003", sighting.S13, sighting.AnswerWhitelisted},
	})
	e.clk.Set(day0.Add(30 * time.Hour))
	ex, err := New(e.store, Options{Operator: "op1", Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := ex.Export(context.Background(), dir, opdata.DateOf(day0)); err == nil {
		t.Fatal("exported a file DIRBS would refuse")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
	// The future is refused too.
	if _, err := ex.Export(context.Background(), dir, opdata.DateOf(day0.AddDate(0, 0, 5))); err == nil {
		t.Error("exported a future date")
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{}, {Operator: "a b"}, {Operator: "op", N5GRAT: "008"}, {Operator: "op", DayOffset: 15 * time.Hour}} {
		if _, err := New(nil, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if _, err := ParseNetworks([]string{"001-01", "310-260"}); err != nil {
		t.Error(err)
	}
	if _, err := ParseNetworks([]string{"00101"}); err == nil {
		t.Error("00101 accepted")
	}
}

func TestMSISDNFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"short imsi": "0010100,336\n", "letters": "001010000000001,33a\n", "fields": "001010000000001\n"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := readMSISDNs(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSchedulerOncePerDate: two schedulers (two eird) sharing the Redis
// write the previous day's file once, after At, and not again.
func TestSchedulerOncePerDate(t *testing.T) {
	e := newEnv(t)
	e.record(t, scenario[:3])
	dirs := []string{t.TempDir(), t.TempDir()}
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	var scheds []*Scheduler
	for i := range dirs {
		ex, err := New(e.store, Options{Operator: "op1", MSISDNFile: writeFile(t, msisdnFile), Now: e.clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewScheduler(ex, e.coord, ScheduleOptions{Dir: dirs[i], At: 2 * time.Hour}, zaptest.NewLogger(t), regs[i])
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, s)
	}
	e.clk.Set(day0.Add(25 * time.Hour)) // 01:00 the next day, before At
	for _, s := range scheds {
		if s.RunOnce(context.Background()) {
			t.Fatal("exported before At")
		}
	}
	e.clk.Set(day0.Add(26*time.Hour + time.Minute))
	var wrote atomic.Int32
	var wg sync.WaitGroup
	for _, s := range scheds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.RunOnce(context.Background()) {
				wrote.Add(1)
			}
		}()
	}
	wg.Wait()
	for range 3 { // later ticks, and the one that lost the race looking again
		for _, s := range scheds {
			if s.RunOnce(context.Background()) {
				wrote.Add(1)
			}
		}
	}
	if wrote.Load() != 1 {
		t.Fatalf("%d exports, want 1", wrote.Load())
	}
	files := 0
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		files += len(ents)
	}
	if files != 2 { // the zip and its checksum, in one of the directories
		t.Errorf("%d files written", files)
	}
	var ok, skipped float64
	for _, s := range scheds {
		ok += testutil.ToFloat64(s.m.exports.WithLabelValues("ok"))
		skipped += testutil.ToFloat64(s.m.exports.WithLabelValues("skipped"))
	}
	if ok != 1 || skipped != 1 {
		t.Errorf("metrics ok=%v skipped=%v", ok, skipped)
	}
}

func TestSchedulerRetriesAfterFailure(t *testing.T) {
	e := newEnv(t)
	e.record(t, scenario[:3])
	ex, err := New(e.store, Options{Operator: "op1", Now: e.clk.Now}) // no MSISDN file: a NULL MSISDN in 1 row of 2
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := NewScheduler(ex, e.coord, ScheduleOptions{Dir: dir, At: time.Hour, RetryInterval: 10 * time.Minute}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Set(day0.Add(26 * time.Hour))
	if s.RunOnce(context.Background()) {
		t.Fatal("a file DIRBS refuses was written")
	}
	if got := testutil.ToFloat64(s.m.exports.WithLabelValues("failed")); got != 1 {
		t.Errorf("failed = %v", got)
	}
	ex.o.MSISDNFile = writeFile(t, msisdnFile) // the operator fixes it
	if s.RunOnce(context.Background()) {
		t.Fatal("retried before RetryInterval")
	}
	e.clk.Add(11 * time.Minute)
	if !s.RunOnce(context.Background()) {
		t.Fatal("not retried")
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.csv")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
