package events

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type memStream struct {
	mu   sync.Mutex
	docs []string
	fail error
	gate chan struct{} // when set, AppendStream waits for it
}

func (m *memStream) AppendStream(ctx context.Context, name string, docs []string, maxLen int64, maxAge time.Duration) error {
	if m.gate != nil {
		<-m.gate
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.docs = append(m.docs, docs...)
	return nil
}

func (m *memStream) events(t *testing.T) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, d := range m.docs {
		var e Event
		if err := json.Unmarshal([]byte(d), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestDecisionsToEvents(t *testing.T) {
	st := &memStream{}
	p, err := New(Options{IncludeUnknown: true}, st, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	q := eir.Query{IMEI: 35209900176148, IMSI: "001010000000001"}
	black := eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "national"}
	p.Decision("s13", "mme1.epc", "10.0.0.1:3868", q, black, nil)
	p.Decision("s13", "mme1.epc", "", q, eir.Decision{Status: eir.Whitelisted, Rule: eir.RuleIMEI}, nil) // not an event
	p.Decision("s13", "mme1.epc", "", q, eir.Decision{}, eir.ErrUnknown)
	p.Decision("s13", "mme1.epc", "", q, eir.Decision{}, eir.ErrUnavailable) // not an event
	p.Decision("n5g", "amf1", "", q, eir.Decision{Status: eir.Whitelisted, Rule: eir.RuleShadow, Shadow: &black}, nil)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := st.events(t)
	if len(evs) != 3 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	if e := evs[0]; e.IMEI != "35209900176148" || e.IMSI != "001010000000001" || e.Status != "BLACKLISTED" || e.Source != "national" || e.Peer != "mme1.epc" || e.PeerAddr != "10.0.0.1:3868" || e.Time.IsZero() {
		t.Fatalf("event %+v", e)
	}
	if evs[1].Status != "UNKNOWN" {
		t.Fatalf("unknown %+v", evs[1])
	}
	if e := evs[2]; !e.Shadow || e.Status != "BLACKLISTED" || e.Answer != "WHITELISTED" || e.Interface != "n5g" {
		t.Fatalf("shadow %+v", e)
	}
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	st := &memStream{gate: make(chan struct{})}
	reg := prometheus.NewRegistry()
	p, _ := New(Options{QueueSize: 2}, st, zaptest.NewLogger(t), reg)
	p.Start()
	black := eir.Decision{Status: eir.Blacklisted}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			p.Decision("s13", "", "", eir.Query{IMEI: eir.IMEI(i)}, black, nil)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Decision blocked on a full queue")
	}
	close(st.gate)
	p.Close(context.Background())
	if got := testutil.ToFloat64(p.m.dropped.WithLabelValues("queue_full")); got < 90 {
		t.Fatalf("dropped %v, want most of 100", got)
	}
}

func TestWebhookRetries(t *testing.T) {
	var mu sync.Mutex
	calls, received := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Authorization") != "Bearer hook" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var evs []Event
		json.NewDecoder(r.Body).Decode(&evs)
		received += len(evs)
	}))
	defer srv.Close()
	st := &memStream{}
	p, _ := New(Options{Webhook: &Webhook{URL: srv.URL, BearerToken: "hook", Backoff: time.Millisecond}}, st, zaptest.NewLogger(t), prometheus.NewRegistry())
	p.Start()
	for i := 0; i < 5; i++ {
		p.Decision("s13", "", "", eir.Query{IMEI: eir.IMEI(i)}, eir.Decision{Status: eir.Greylisted}, nil)
	}
	p.Close(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if received != 5 || calls < 2 {
		t.Fatalf("webhook got %d events in %d calls", received, calls)
	}
}

func TestStreamErrorCounted(t *testing.T) {
	st := &memStream{fail: errors.New("redis down")}
	p, _ := New(Options{}, st, zaptest.NewLogger(t), prometheus.NewRegistry())
	p.Start()
	p.Decision("s13", "", "", eir.Query{IMEI: 1}, eir.Decision{Status: eir.Blacklisted}, nil)
	p.Close(context.Background())
	if got := testutil.ToFloat64(p.m.dropped.WithLabelValues("stream_error")); got != 1 {
		t.Fatalf("stream errors %v", got)
	}
}

// TestKinds: a hit's document has the fields it always had plus kind
// "hit"; Publish writes the other kinds with their fields, and drops
// without blocking when the queue is full.
func TestKinds(t *testing.T) {
	st := &memStream{}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	p, err := New(Options{Now: func() time.Time { return now }}, st, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	p.Decision("s13", "mme1", "", eir.Query{IMEI: 35209900176148}, eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "national"}, nil)
	p.Publish(Event{Kind: KindIMSINewDevice, Interface: "s13", IMEI: "35209900176148", IMSI: "001010000000001", PrevIMEI: "49015420323751",
		Status: "WHITELISTED", Answer: "WHITELISTED"})
	p.Publish(Event{Kind: KindDuplicateDetection, IMEI: "35209900176148", Rule: "duplicate_threshold", Count: 12,
		IMSIs: []string{"001010000000001"}, Dataset: "detected/imei/grey", Shadow: true})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	docs := append([]string(nil), st.docs...)
	st.mu.Unlock()
	want := []string{
		`{"kind":"hit","time":"2026-12-07T10:00:00Z","interface":"s13","imei":"35209900176148","status":"BLACKLISTED","answer":"BLACKLISTED","rule":"imei","source":"national","peer":"mme1"}`,
		`{"kind":"imsi_new_device","time":"2026-12-07T10:00:00Z","interface":"s13","imei":"35209900176148","imsi":"001010000000001","status":"WHITELISTED","answer":"WHITELISTED","prev_imei":"49015420323751"}`,
		`{"kind":"duplicate_imei","time":"2026-12-07T10:00:00Z","interface":"","imei":"35209900176148","status":"","answer":"","rule":"duplicate_threshold","shadow":true,"count":12,"imsis":["001010000000001"],"dataset":"detected/imei/grey"}`,
	}
	if len(docs) != len(want) {
		t.Fatalf("%d documents: %q", len(docs), docs)
	}
	for i := range want {
		if docs[i] != want[i] {
			t.Errorf("document %d:\n got %s\nwant %s", i, docs[i], want[i])
		}
	}
	p.Publish(Event{Kind: KindIMSINewDevice}) // after Close: dropped, not blocked
}
