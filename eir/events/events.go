// Package events publishes hit events: every BLACKLISTED or GREYLISTED
// decision (optionally every unknown one, and the real verdicts of shadow
// mode) becomes an event — time, IMEI, IMSI, status, rule, source,
// requesting peer — written to a Redis stream of bounded length and,
// optionally, posted to a webhook. A reported-stolen phone seen on the
// network is what the registry and the police want to know. The same
// stream carries the events of observations (Publish): device changes and
// duplicate-IMEI detections, told apart by kind.
//
// Publishing is off the hot path: Decision only puts the event in a bounded
// queue (dropping it, and counting the drop, when the queue is full);
// background goroutines write the stream in batches and post the webhook
// with retries.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// Event kinds. Hits are the answers from the lists; the others come from
// observations (eir/sighting): device changes and duplicate-IMEI
// detections.
const (
	KindHit                = "hit"
	KindIMSINewDevice      = "imsi_new_device"      // an IMSI seen on another IMEI than its current one
	KindListedIMEINewIMSI  = "listed_imei_new_imsi" // a black- or grey-listed IMEI seen with an IMSI it had not been seen with
	KindDuplicateDetection = "duplicate_imei"       // a duplicate-IMEI rule fired (Rule names it)
)

// Event is one event. A hit has the fields it always had, and kind "hit";
// the other kinds add theirs (omitted when empty).
type Event struct {
	Kind      string    `json:"kind"` // hit, imsi_new_device, listed_imei_new_imsi or duplicate_imei
	Time      time.Time `json:"time"`
	Interface string    `json:"interface"`        // s13, n5g
	IMEI      string    `json:"imei"`             // 14 digits (TAC+SNR)
	IMSI      string    `json:"imsi,omitempty"`   // when the request carried one
	Status    string    `json:"status"`           // the verdict: BLACKLISTED, GREYLISTED or UNKNOWN
	Answer    string    `json:"answer"`           // what was answered (WHITELISTED for a shadow verdict)
	Rule      string    `json:"rule,omitempty"`   // hit: the deciding rule; duplicate_imei: the duplicate rule
	Source    string    `json:"source,omitempty"` // source of the deciding entry
	Shadow    bool      `json:"shadow,omitempty"` // the verdict of a source in shadow mode, not enforced
	Peer      string    `json:"peer,omitempty"`   // Origin-Host of the request (the MME or SGSN)
	PeerAddr  string    `json:"peer_address,omitempty"`

	PrevIMEI  string   `json:"prev_imei,omitempty"`  // imsi_new_device: the IMSI's previous IMEI
	PrevIMSIs []string `json:"prev_imsis,omitempty"` // listed_imei_new_imsi: the IMSIs the IMEI was seen with before
	SVN       string   `json:"svn,omitempty"`        // the IMEISV's software version, when sent
	// duplicate_imei: the figures of the rule (DIRBS duplicate_threshold,
	// duplicate_daily_avg; concurrent_use), the IMSIs that made it fire,
	// the peers (concurrent_use) and the dataset the IMEI was put on.
	Count    int      `json:"count,omitempty"`
	SeenDays int      `json:"seen_days,omitempty"`
	Average  float64  `json:"average,omitempty"`
	IMSIs    []string `json:"imsis,omitempty"`
	Peers    []string `json:"peers,omitempty"`
	Dataset  string   `json:"dataset,omitempty"`
}

// Store is where the stream lives (redisstore.Store).
type Store interface {
	AppendStream(ctx context.Context, name string, docs []string, maxLen int64, maxAge time.Duration) error
}

// Webhook posts batches of events as a JSON array.
type Webhook struct {
	URL         string
	Client      *http.Client
	BearerToken string
	Retries     int           // retries after a failed post; default 3; negative: none
	Backoff     time.Duration // first retry delay, doubled; default 1s
	BatchSize   int           // default 100
}

// Options configures a Publisher.
type Options struct {
	IncludeUnknown bool  // also publish unknown-equipment answers
	StreamMaxLen   int64 // about this many events are kept; default 100,000
	QueueSize      int   // events waiting to be written; default 10,000
	Webhook        *Webhook
	Now            func() time.Time
}

// StreamName is the stream holding the events, under the store's prefix.
const StreamName = "events"

// Publisher publishes events. Start it with Start; stop it with Close.
type Publisher struct {
	o      Options
	st     Store
	log    *zap.Logger
	queue  chan Event
	hookQ  chan []Event
	closed chan struct{}
	ran    chan struct{} // closed when the writer has flushed and stopped
	once   sync.Once
	done   sync.WaitGroup
	m      *metrics
}

// New returns a publisher writing to st.
func New(o Options, st Store, log *zap.Logger, reg prometheus.Registerer) (*Publisher, error) {
	if o.StreamMaxLen <= 0 {
		o.StreamMaxLen = 100_000
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if w := o.Webhook; w != nil {
		if w.Client == nil {
			w.Client = &http.Client{Timeout: 10 * time.Second}
		}
		switch {
		case w.Retries == 0:
			w.Retries = 3
		case w.Retries < 0:
			w.Retries = 0
		}
		if w.Backoff <= 0 {
			w.Backoff = time.Second
		}
		if w.BatchSize <= 0 {
			w.BatchSize = 100
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("events: register metrics: %w", err)
	}
	p := &Publisher{o: o, st: st, log: log, queue: make(chan Event, o.QueueSize), closed: make(chan struct{}), ran: make(chan struct{}), m: m}
	if o.Webhook != nil {
		p.hookQ = make(chan []Event, 64)
	}
	m.queue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "eir", Subsystem: "events", Name: "queue_length",
		Help: "Events waiting to be written to the stream."}, func() float64 { return float64(len(p.queue)) })
	if err := reg.Register(m.queue); err != nil {
		return nil, err
	}
	return p, nil
}

// Decision turns a decision into an event when it is one to publish. It
// never blocks: a full queue drops the event (eir_events_dropped_total).
func (p *Publisher) Decision(iface, peer, peerAddr string, q eir.Query, d eir.Decision, err error) {
	ev := Event{Kind: KindHit, Interface: iface, Peer: peer, PeerAddr: peerAddr}
	switch {
	case err != nil:
		if !p.o.IncludeUnknown || !errors.Is(err, eir.ErrUnknown) {
			return
		}
		ev.Status, ev.Answer = "UNKNOWN", "UNKNOWN"
	case d.Shadow != nil && d.Shadow.Status != eir.Whitelisted:
		ev.Status, ev.Answer, ev.Rule, ev.Source, ev.Shadow = d.Shadow.Status.String(), d.Status.String(), d.Shadow.Rule.String(), d.Shadow.Source, true
	case d.Status == eir.Blacklisted || d.Status == eir.Greylisted:
		ev.Status, ev.Answer, ev.Rule, ev.Source = d.Status.String(), d.Status.String(), d.Rule.String(), d.Source
	default:
		return
	}
	ev.Time = p.o.Now().UTC()
	ev.IMEI, ev.IMSI = q.IMEI.String(), string(q.IMSI)
	p.enqueue(ev)
}

// Publish publishes an event of another kind than a hit (a hit when
// ev.Kind is empty), timed now when ev.Time is zero. Like Decision it
// never blocks: a full queue drops the event (eir_events_dropped_total).
func (p *Publisher) Publish(ev Event) {
	if ev.Kind == "" {
		ev.Kind = KindHit
	}
	if ev.Time.IsZero() {
		ev.Time = p.o.Now()
	}
	ev.Time = ev.Time.UTC()
	p.enqueue(ev)
}

func (p *Publisher) enqueue(ev Event) {
	select {
	case <-p.closed:
		p.m.dropped.WithLabelValues("closed").Inc()
		return
	default:
	}
	select {
	case p.queue <- ev:
	default:
		p.m.dropped.WithLabelValues("queue_full").Inc()
	}
}

// Start starts the goroutines that write queued events.
func (p *Publisher) Start() { go p.run() }

// run writes queued events until Close, then what is still queued.
func (p *Publisher) run() {
	defer close(p.ran)
	if p.hookQ != nil {
		p.done.Add(1)
		go p.webhookLoop()
	}
	defer func() {
		if p.hookQ != nil {
			close(p.hookQ)
		}
		p.done.Wait()
	}()
	batch := make([]Event, 0, 512)
	for {
		select {
		case ev := <-p.queue:
			p.write(p.drain(append(batch[:0], ev)))
		case <-p.closed:
			for {
				if b := p.drain(batch[:0]); len(b) > 0 {
					p.write(b)
					continue
				}
				return
			}
		}
	}
}

// drain appends queued events to batch, up to its capacity, without
// waiting.
func (p *Publisher) drain(batch []Event) []Event {
	for len(batch) < cap(batch) {
		select {
		case ev := <-p.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// Close stops accepting events and waits (until ctx) for the queued ones to
// be written and posted. Start must have been called.
func (p *Publisher) Close(ctx context.Context) error {
	p.once.Do(func() { close(p.closed) })
	select {
	case <-p.ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Publisher) write(batch []Event) {
	docs := make([]string, len(batch))
	for i, ev := range batch {
		b, _ := json.Marshal(ev)
		docs[i] = string(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := p.st.AppendStream(ctx, StreamName, docs, p.o.StreamMaxLen, 0)
	cancel()
	if err != nil {
		p.m.dropped.WithLabelValues("stream_error").Add(float64(len(batch)))
		p.log.Warn("hit events not written", zap.Int("events", len(batch)), zap.Error(err))
	} else {
		p.m.published.WithLabelValues("stream").Add(float64(len(batch)))
	}
	if p.hookQ != nil {
		for start := 0; start < len(batch); start += p.o.Webhook.BatchSize {
			part := append([]Event(nil), batch[start:min(len(batch), start+p.o.Webhook.BatchSize)]...)
			select {
			case p.hookQ <- part:
			default:
				p.m.dropped.WithLabelValues("webhook_queue_full").Add(float64(len(part)))
			}
		}
	}
}

func (p *Publisher) webhookLoop() {
	defer p.done.Done()
	for batch := range p.hookQ {
		if err := p.post(batch); err != nil {
			p.m.dropped.WithLabelValues("webhook_error").Add(float64(len(batch)))
			p.log.Warn("hit events not posted to the webhook", zap.Int("events", len(batch)), zap.Error(err))
		} else {
			p.m.published.WithLabelValues("webhook").Add(float64(len(batch)))
		}
	}
}

// post sends one batch, retrying network errors, 5xx and 429 with backoff.
func (p *Publisher) post(batch []Event) error {
	w := p.o.Webhook
	body, _ := json.Marshal(batch)
	delay := w.Backoff
	var last error
	for attempt := 0; attempt <= w.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(delay + time.Duration(rand.Int64N(int64(delay)/5+1))):
			case <-p.closed:
				if attempt > 1 {
					return fmt.Errorf("events: shutting down after %d attempts: %w", attempt, last)
				}
			}
			delay = min(2*delay, time.Minute)
		}
		req, err := http.NewRequest(http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if w.BearerToken != "" {
			req.Header.Set("Authorization", "Bearer "+w.BearerToken)
		}
		resp, err := w.Client.Do(req)
		if err != nil {
			last = err
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("webhook answered %s", resp.Status)
		default:
			return fmt.Errorf("events: webhook answered %s", resp.Status)
		}
	}
	return fmt.Errorf("events: %d attempts: %w", w.Retries+1, last)
}

type metrics struct {
	published *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	queue     prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "events", Name: "published_total",
			Help: "Hit events written, by sink (stream, webhook)."}, []string{"sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "events", Name: "dropped_total",
			Help: "Hit events dropped, by reason (queue_full, stream_error, webhook_queue_full, webhook_error, closed)."}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.published, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{"queue_full", "stream_error"} {
		m.dropped.WithLabelValues(r)
	}
	return m, nil
}
