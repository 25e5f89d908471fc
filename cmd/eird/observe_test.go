package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/events"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/eir/sighting"
	"github.com/eir-sidecar/eir/internal/testenv"
)

type memStream struct {
	mu   sync.Mutex
	docs []string
}

func (m *memStream) AppendStream(_ context.Context, _ string, docs []string, _ int64, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.docs = append(m.docs, docs...)
	return nil
}

type editLog struct {
	mu    sync.Mutex
	edits []provision.Edit
}

func (l *editLog) Add(_ context.Context, e provision.Edit) (provision.Added, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.edits = append(l.edits, e)
	return provision.Added{Action: "added"}, nil
}

// claims is a claimer in memory: keys already claimed (by "another
// eird") are refused.
type claims struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (c *claims) ClaimDetection(_ context.Context, imei eir.IMEI, rule string, d sighting.Day) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := fmt.Sprint(imei, rule, d)
	if c.seen[k] {
		return false, nil
	}
	c.seen[k] = true
	return true, nil
}

// testObservation is an observation without a writer: onResult is called
// directly with crafted results.
func testObservation(t *testing.T, cfg config.Observe, now time.Time) (*observation, *memStream, *editLog) {
	t.Helper()
	st, err := sighting.New(nil, sighting.Options{Now: func() time.Time { return now }}, nil) // no Redis call is made
	if err != nil {
		t.Fatal(err)
	}
	stream := &memStream{}
	pub, err := events.New(events.Options{}, stream, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	pub.Start()
	edits := &editLog{}
	r := cfg.Rules
	ob := &observation{cfg: cfg, store: st, claims: &claims{seen: map[string]bool{}}, pub: pub, edits: edits, log: zap.NewNop(), now: func() time.Time { return now },
		rules: sighting.Rules{PeriodDays: r.DuplicatePeriodDays, Threshold: r.DuplicateThreshold, AvgThreshold: r.DailyAvgThreshold,
			MinSeenDays: r.MinSeenDays, ConcurrentWindow: r.ConcurrentWindow},
		limits: newRecent[limitKey, int64](8), detected: newRecent[detectKey, sighting.Day](8),
		adds: make(chan provision.Edit, 4), addDone: make(chan struct{}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s"}, []string{"kind"}),
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"rule"}),
	}
	go ob.runAdds()
	t.Cleanup(func() {
		ob.addMu.Lock()
		if !ob.closed {
			ob.closed = true
			close(ob.adds)
		}
		ob.addMu.Unlock()
		<-ob.addDone
	})
	return ob, stream, edits
}

func TestObservationEvents(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cfg := config.Default().Observe
	cfg.Rules.DuplicateThreshold = 3
	ob, stream, edits := testObservation(t, cfg, now)
	const imei, other = eir.IMEI(35209900176148), eir.IMEI(49015420323751)
	o := sighting.Observation{Time: now, IMEI: imei, IMSI: "001010000000001", Interface: sighting.S13, Peer: "mme1", Answer: sighting.AnswerWhitelisted, SVN: "07"}
	changed := sighting.Result{Written: true, DeviceChanged: true, PrevIMEI: other}
	ob.onResult(o, changed)
	ob.onResult(o, changed)                                              // within per_imsi_interval: suppressed
	ob.onResult(o, sighting.Result{Written: false, DeviceChanged: true}) // deduplicated: nothing
	o2 := o
	o2.IMSI = "001010000000002"
	ob.onResult(o2, changed)
	// A blacklisted IMEI with a new IMSI, and 3 IMSIs on it: detection.
	day := sighting.DayOf(now, 0)
	var pairs []sighting.Pair
	for _, imsi := range []eir.IMSI{"001010000000001", "001010000000002", "001010000000003"} {
		pairs = append(pairs, sighting.Pair{IMEI: imei, IMSI: imsi, LastSeen: now, LastDay: day, Days: 1, DaysSeen: 1})
	}
	o3 := o
	o3.IMSI, o3.Answer = "001010000000003", sighting.AnswerBlacklisted
	ob.onResult(o3, sighting.Result{Written: true, NewPair: true, Pairs: pairs})
	ob.onResult(o3, sighting.Result{Written: true, NewDay: true, Pairs: pairs}) // detected today already
	if err := ob.pub.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var detection, listed events.Event
	for _, d := range stream.docs {
		var ev events.Event
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, ev.Kind+" "+ev.IMSI)
		switch ev.Kind {
		case events.KindDuplicateDetection:
			detection = ev
		case events.KindListedIMEINewIMSI:
			listed = ev
		}
	}
	want := "imsi_new_device 001010000000001,imsi_new_device 001010000000002,listed_imei_new_imsi 001010000000003,duplicate_imei 001010000000003"
	if got := strings.Join(kinds, ","); got != want {
		t.Fatalf("events %s\nwant   %s", got, want)
	}
	if len(listed.PrevIMSIs) != 2 || listed.Status != "BLACKLISTED" || listed.SVN != "07" {
		t.Errorf("listed_imei_new_imsi %+v", listed)
	}
	if detection.Rule != sighting.RuleDuplicateThreshold || detection.Count != 3 || !detection.Shadow ||
		detection.Dataset != "detected/imei/grey" || len(detection.IMSIs) != 3 || detection.Status != "GREYLISTED" {
		t.Errorf("detection %+v", detection)
	}
	if n := testutil.ToFloat64(ob.suppressed.WithLabelValues(events.KindIMSINewDevice)); n != 1 {
		t.Errorf("%v suppressed", n)
	}
	var got []provision.Edit
	testenv.Eventually(t, "the detected imei added", 5*time.Second, func() bool {
		edits.mu.Lock()
		defer edits.mu.Unlock()
		got = append([]provision.Edit(nil), edits.edits...)
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("edits %+v", got)
	}
	if e := got[0]; e.Source != "detected" || e.List != eir.ListGrey || e.Target != eir.TargetIMEI || e.Key.IMEI != imei || e.Actor != "observe" ||
		e.Reason != "duplicate_threshold: 3 IMSIs within 30 days (threshold 3)" {
		t.Errorf("edit %+v", e)
	}
}

// TestDetectionClaimed: a detection another eird claimed today is neither
// published nor put on the dataset by this one; the next day it is.
func TestDetectionClaimed(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cfg := config.Default().Observe
	cfg.Rules.DuplicateThreshold = 2
	ob, stream, edits := testObservation(t, cfg, now)
	const imei = eir.IMEI(35209900176148)
	today := sighting.DayOf(now, 0)
	if ok, _ := ob.claims.ClaimDetection(context.Background(), imei, sighting.RuleDuplicateThreshold, today); !ok {
		t.Fatal("first claim refused")
	}
	var pairs []sighting.Pair
	for _, imsi := range []eir.IMSI{"001010000000001", "001010000000002"} {
		pairs = append(pairs, sighting.Pair{IMEI: imei, IMSI: imsi, LastSeen: now, LastDay: today, Days: 1, DaysSeen: 1})
	}
	o := sighting.Observation{Time: now, IMEI: imei, IMSI: "001010000000002", Interface: sighting.S13, Peer: "mme1", Answer: sighting.AnswerWhitelisted}
	ob.onResult(o, sighting.Result{Written: true, NewPair: true, Pairs: pairs})
	if n := testutil.ToFloat64(ob.detections.WithLabelValues(sighting.RuleDuplicateThreshold)); n != 0 {
		t.Fatalf("%v detections counted, claimed by another eird", n)
	}
	tomorrow := now.Add(24 * time.Hour)
	ob.now = func() time.Time { return tomorrow }
	ob.store, _ = sighting.New(nil, sighting.Options{Now: ob.now}, nil)
	for i := range pairs {
		pairs[i].LastSeen, pairs[i].LastDay = tomorrow, today+1
	}
	o.Time = tomorrow
	ob.onResult(o, sighting.Result{Written: true, NewDay: true, Pairs: pairs})
	if err := ob.pub.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(stream.docs) != 1 || !strings.Contains(stream.docs[0], `"duplicate_imei"`) {
		t.Fatalf("events %v, want the next day's detection only", stream.docs)
	}
	testenv.Eventually(t, "the detected imei added", 5*time.Second, func() bool {
		edits.mu.Lock()
		defer edits.mu.Unlock()
		return len(edits.edits) == 1
	})
}

func TestShadowDetected(t *testing.T) {
	cfg := config.Default().Observe
	p := shadowDetected(eir.Policy{Shadow: eir.Shadow{Sources: []string{"trial"}}}, cfg)
	if strings.Join(p.Shadow.Sources, ",") != "trial" || strings.Join(p.Shadow.Passive, ",") != "detected" {
		t.Errorf("shadow sources %v, passive %v; want trial, detected", p.Shadow.Sources, p.Shadow.Passive)
	}
	if p = shadowDetected(p, cfg); len(p.Shadow.Passive) != 1 {
		t.Errorf("added twice: %v", p.Shadow.Passive)
	}
	cfg.Detect.Enforce = true
	if p := shadowDetected(eir.Policy{}, cfg); len(p.Shadow.Sources)+len(p.Shadow.Passive) != 0 {
		t.Errorf("enforced: %v %v", p.Shadow.Sources, p.Shadow.Passive)
	}
}

// TestRecentBounded: the map holds at most max entries, the latest kept.
func TestRecentBounded(t *testing.T) {
	r := newRecent[int, int](10)
	for i := range 1000 {
		r.put(i, i)
		if n := len(r.cur) + len(r.prev); n > 10 {
			t.Fatalf("%d entries", n)
		}
	}
	if _, ok := r.get(999); !ok {
		t.Fatal("the latest entry is gone")
	}
	if _, ok := r.get(0); ok {
		t.Fatal("the first entry is kept")
	}
}

type obsLog struct{ got []sighting.Observation }

func (l *obsLog) Record(o sighting.Observation) bool { l.got = append(l.got, o); return true }

// TestSighted: an answer becomes the observation the store records; an
// AMF without a name is its address; Sighted allocates nothing.
func TestSighted(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	ob, _, _ := testObservation(t, config.Default().Observe, now)
	l := &obsLog{}
	ob.rec = l
	q := eir.Query{IMEI: 35209900176148, IMSI: "001010000000001"}
	ob.Sighted(observe.Answer{Interface: observe.S13, Peer: "mme1", Query: q, SVN: "07", Decision: eir.Decision{Status: eir.Blacklisted}})
	ob.Sighted(observe.Answer{Interface: observe.N5g, PeerAddr: "10.0.0.7:41234", Query: q, MSISDN: "491701234567", Err: eir.ErrUnknown})
	ob.Sighted(observe.Answer{Interface: observe.Admin, Query: q})
	want := []sighting.Observation{
		{Time: now, IMEI: q.IMEI, IMSI: q.IMSI, SVN: "07", Interface: sighting.S13, Peer: "mme1", Answer: sighting.AnswerBlacklisted},
		{Time: now, IMEI: q.IMEI, IMSI: q.IMSI, MSISDN: "491701234567", Interface: sighting.N5G, Peer: "10.0.0.7", Answer: sighting.AnswerUnknown},
	}
	if len(l.got) != len(want) {
		t.Fatalf("observations %+v", l.got)
	}
	for i := range want {
		if l.got[i] != want[i] {
			t.Errorf("observation %d: %+v, want %+v", i, l.got[i], want[i])
		}
	}
	ob.rec = nopRecorder{}
	a := observe.Answer{Interface: observe.N5g, PeerAddr: "[2001:db8::1]:443", Query: q, SVN: "07"}
	if n := testing.AllocsPerRun(100, func() { ob.Sighted(a) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

type nopRecorder struct{}

func (nopRecorder) Record(sighting.Observation) bool { return true }
