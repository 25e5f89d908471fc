package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin"
	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/events"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/eir/sighting"
	"github.com/eir-sidecar/eir/regsync"
	"github.com/eir-sidecar/eir/regsync/opexport"
)

// detectedSource is the source of the entries a duplicate-IMEI detection
// adds (dataset detected/imei/<observe.detect.list>). Unless
// observe.detect.enforce, it is in shadow mode.
const detectedSource = "detected"

// recentEntries bounds each of the maps of observations: the per-IMSI event
// rate limit and the once-a-day detections, each in two generations of
// half of it (an entry dropped early only lets one more event through).
const recentEntries = 100_000

// adderQueue bounds the detections waiting to be put on the detected
// dataset; beyond, they are logged and dropped (the event is published).
const adderQueue = 256

// editor adds an entry with its note and audit record (provision.Editor).
type editor interface {
	Add(ctx context.Context, e provision.Edit) (provision.Added, error)
}

// observation is the observation side of eird (issue 14): the answered
// checks handed over by the observer are written by the sighting Writer;
// each write's Result becomes device-change events (rate-limited per IMSI)
// and, when the IMEI has more than one pair, is run through the duplicate
// rules: a detection is an event and, once a day per IMEI, an entry on
// dataset detected/imei/<list> added through the audited editor.
type observation struct {
	cfg    config.Observe
	store  *sighting.Store
	w      *sighting.Writer
	rec    recorder // w, or a fake in tests
	claims claimer  // store, or a fake in tests
	rules  sighting.Rules
	pub    *events.Publisher // nil: events off
	log    *zap.Logger
	now    func() time.Time

	mu       sync.Mutex              // limits and detected, from the writer's goroutine and tests
	limits   recent[limitKey, int64] // unix ns of the last event published per (kind, IMSI)
	detected recent[detectKey, sighting.Day]

	edits   editor // set before the writer starts
	addMu   sync.Mutex
	closed  bool
	adds    chan provision.Edit
	addDone chan struct{}

	suppressed *prometheus.CounterVec // kind
	detections *prometheus.CounterVec // rule
}

// claimer claims a detection once among the eirds sharing the store
// (sighting.Store).
type claimer interface {
	ClaimDetection(ctx context.Context, imei eir.IMEI, rule string, d sighting.Day) (bool, error)
}

// claimTimeout bounds a detection's claim, made on the writer's goroutine.
const claimTimeout = 2 * time.Second

// recorder queues an observation without blocking (sighting.Writer).
type recorder interface {
	Record(o sighting.Observation) bool
}

type limitKey struct {
	kind string
	imsi eir.IMSI
}

type detectKey struct {
	imei eir.IMEI
	rule string
}

// newObservation builds the sighting store on the list store's Redis
// client and key prefix, and its writer.
func newObservation(cfg config.Observe, lists *redisstore.Store, prefix string, pub *events.Publisher, edits editor,
	log *zap.Logger, reg prometheus.Registerer) (*observation, error) {
	st, err := sighting.New(lists.Client(), sighting.Options{Prefix: prefix, Retention: cfg.Retention, DayOffset: cfg.DayOffset,
		MinInterval: cfg.MinInterval, MaxPairs: cfg.MaxPairs, DedupeEntries: cfg.DedupeEntries, Buckets: cfg.Buckets}, reg)
	if err != nil {
		return nil, err
	}
	r := cfg.Rules
	ob := &observation{
		cfg: cfg, store: st, claims: st, pub: pub, edits: edits, log: log, now: time.Now,
		rules: sighting.Rules{PeriodDays: r.DuplicatePeriodDays, Threshold: r.DuplicateThreshold, AvgThreshold: r.DailyAvgThreshold,
			MinSeenDays: r.MinSeenDays, ConcurrentWindow: r.ConcurrentWindow},
		limits:   newRecent[limitKey, int64](recentEntries),
		detected: newRecent[detectKey, sighting.Day](recentEntries),
		adds:     make(chan provision.Edit, adderQueue),
		addDone:  make(chan struct{}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "sighting", Name: "events_suppressed_total",
			Help: "Device-change events not published because the IMSI had one of the kind within observe.events.per_imsi_interval, by kind."}, []string{"kind"}),
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "sighting", Name: "detections_total",
			Help: "Duplicate-IMEI detections published by this eird (at most one per IMEI, rule and day among the eirds sharing the Redis), by rule."}, []string{"rule"}),
	}
	if err := ob.rules.Validate(); err != nil {
		return nil, fmt.Errorf("observe.rules: %w", err)
	}
	for _, c := range []prometheus.Collector{ob.suppressed, ob.detections} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("observe metrics: %w", err)
		}
	}
	ob.w, err = sighting.NewWriter(st, sighting.WriterOptions{QueueSize: cfg.QueueSize, MaxRate: cfg.MaxWritesPerSecond, OnResult: ob.onResult}, log, reg)
	if err != nil {
		return nil, err
	}
	ob.rec = ob.w
	go ob.runAdds()
	return ob, nil
}

// Sighted hands an answer to the writer (observe.Sightings). It runs on the
// answer path: it does not block and allocates nothing.
func (ob *observation) Sighted(a observe.Answer) bool {
	o := sighting.Observation{Time: ob.now(), IMEI: a.Query.IMEI, IMSI: a.Query.IMSI, SVN: a.SVN, MSISDN: a.MSISDN, Peer: a.Peer}
	switch a.Interface {
	case observe.S13:
		o.Interface = sighting.S13
	case observe.N5g:
		o.Interface = sighting.N5G
	default:
		return false
	}
	if o.Peer == "" {
		// An AMF without OAuth2 names itself nowhere: its address stands
		// for it (concurrent use needs two peers told apart).
		if host, _, err := net.SplitHostPort(a.PeerAddr); err == nil {
			o.Peer = host
		} else {
			o.Peer = a.PeerAddr
		}
	}
	if a.Err != nil {
		o.Answer = sighting.AnswerUnknown
	} else {
		o.Answer = sighting.AnswerOf(a.Decision.Status)
	}
	return ob.rec.Record(o)
}

// onResult turns a write's result into events and detections. It runs on
// the writer's goroutine: it publishes (non-blocking) and queues the
// dataset additions for runAdds.
func (ob *observation) onResult(o sighting.Observation, r sighting.Result) {
	if r.Err != nil || !r.Written {
		return
	}
	for _, ev := range sighting.Classify(o, r) {
		if !ob.allow(ev.Kind, ev.IMSI, o.Time) {
			ob.suppressed.WithLabelValues(ev.Kind).Inc()
			continue
		}
		ob.publish(deviceEvent(ev, o))
	}
	if len(r.Pairs) < 2 {
		return
	}
	today := ob.store.Today()
	for _, d := range ob.rules.Evaluate(r.Pairs, today, ob.now()) {
		if !ob.firstToday(detectKey{imei: d.IMEI, rule: d.Rule}, today) || !ob.claim(d, today) {
			continue
		}
		ob.detections.WithLabelValues(d.Rule).Inc()
		ob.log.Info("duplicate imei detected", zap.String("rule", d.Rule), zap.Int("count", d.Count),
			zap.Float64("average", d.Average), zap.Strings("peers", d.Peers))
		ob.publish(ob.detectionEvent(d, o))
		if ob.firstToday(detectKey{imei: d.IMEI}, today) {
			ob.queueAdd(provision.Edit{Source: detectedSource, Target: eir.TargetIMEI, Key: eir.Entry{IMEI: d.IMEI},
				List: ob.list(), Reason: reason(d, ob.rules), Actor: "observe"})
		}
	}
}

func (ob *observation) publish(ev events.Event) {
	if ob.pub != nil {
		ob.pub.Publish(ev)
	}
}

// claim reports whether this eird is the first of those sharing the store
// to claim d today, and so publishes it. A claim that fails (Redis) lets
// it publish: a detection twice rather than none.
func (ob *observation) claim(d sighting.Detection, today sighting.Day) bool {
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	ok, err := ob.claims.ClaimDetection(ctx, d.IMEI, d.Rule, today)
	if err != nil {
		ob.log.Warn("duplicate imei detection not claimed, published anyway", zap.String("rule", d.Rule), zap.Error(err))
		return true
	}
	if !ok {
		ob.log.Debug("duplicate imei detection published by another eird today", zap.String("rule", d.Rule))
	}
	return ok
}

// allow reports whether an event of kind for imsi may be published at t:
// none of the kind for it within observe.events.per_imsi_interval. It
// records the event when it may.
func (ob *observation) allow(kind string, imsi eir.IMSI, t time.Time) bool {
	iv := ob.cfg.Events.PerIMSIInterval
	if iv <= 0 {
		return true
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	k := limitKey{kind: kind, imsi: imsi}
	if last, ok := ob.limits.get(k); ok && t.UnixNano()-last < int64(iv) && t.UnixNano() >= last {
		return false
	}
	ob.limits.put(k, t.UnixNano())
	return true
}

// firstToday reports whether k was not yet seen today, and records it.
func (ob *observation) firstToday(k detectKey, today sighting.Day) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if d, ok := ob.detected.get(k); ok && d == today {
		return false
	}
	ob.detected.put(k, today)
	return true
}

func (ob *observation) list() eir.List {
	if ob.cfg.Detect.List == "black" {
		return eir.ListBlack
	}
	return eir.ListGrey
}

// dataset is the dataset detections are put on.
func (ob *observation) dataset() string {
	return eir.Dataset{Source: detectedSource, Target: eir.TargetIMEI, List: ob.list()}.String()
}

// queueAdd queues an addition for runAdds; a full queue (the store slow)
// drops it, logged: the detection recurs on the next day's observations.
func (ob *observation) queueAdd(e provision.Edit) {
	ob.addMu.Lock()
	defer ob.addMu.Unlock()
	if ob.closed {
		return
	}
	select {
	case ob.adds <- e:
	default:
		ob.log.Warn("detected imei not put on its dataset: too many additions queued", zap.String("dataset", ob.dataset()))
	}
}

// runAdds puts the detected IMEIs on their dataset, one at a time, until
// close.
func (ob *observation) runAdds() {
	defer close(ob.addDone)
	for e := range ob.adds {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		added, err := ob.edits.Add(ctx, e)
		cancel()
		if err != nil {
			ob.log.Warn("detected imei not put on its dataset", zap.String("dataset", ob.dataset()), zap.Error(err))
			continue
		}
		ob.log.Info("detected imei put on its dataset", zap.String("dataset", ob.dataset()), zap.String("action", added.Action))
	}
}

// close writes the observations queued (their events and detections
// included) and the additions queued, until ctx is done.
func (ob *observation) close(ctx context.Context) error {
	err := ob.w.Close(ctx)
	ob.addMu.Lock()
	if !ob.closed {
		ob.closed = true
		close(ob.adds)
	}
	ob.addMu.Unlock()
	select {
	case <-ob.addDone:
	case <-ctx.Done():
		return fmt.Errorf("detections not all put on their dataset: %w", ctx.Err())
	}
	return err
}

// deviceEvent is the event of a device change.
func deviceEvent(ev sighting.Event, o sighting.Observation) events.Event {
	out := events.Event{Time: o.Time, Interface: o.Interface.String(), IMEI: ev.IMEI.String(), IMSI: string(ev.IMSI),
		Status: ev.Answer.String(), Answer: ev.Answer.String(), Peer: o.Peer, SVN: o.SVN}
	switch ev.Kind {
	case sighting.EventIMSINewDevice:
		out.Kind, out.PrevIMEI = events.KindIMSINewDevice, ev.PrevIMEI.String()
	case sighting.EventListedIMEINewIMSI:
		out.Kind = events.KindListedIMEINewIMSI
		for _, s := range ev.PrevIMSIs {
			out.PrevIMSIs = append(out.PrevIMSIs, string(s))
		}
	default:
		out.Kind = ev.Kind
	}
	return out
}

// detectionEvent is the event of a detection: the verdict is the detect
// list's status, in shadow mode unless observe.detect.enforce.
func (ob *observation) detectionEvent(d sighting.Detection, o sighting.Observation) events.Event {
	status := eir.Greylisted
	if ob.list() == eir.ListBlack {
		status = eir.Blacklisted
	}
	ev := events.Event{Kind: events.KindDuplicateDetection, Time: o.Time, Interface: o.Interface.String(), IMEI: d.IMEI.String(),
		IMSI: string(o.IMSI), Status: status.String(), Answer: o.Answer.String(), Rule: d.Rule, Source: detectedSource,
		Shadow: !ob.cfg.Detect.Enforce, Peer: o.Peer, Count: d.Count, SeenDays: d.SeenDays, Average: d.Average,
		Peers: d.Peers, Dataset: ob.dataset()}
	for _, s := range d.IMSIs {
		ev.IMSIs = append(ev.IMSIs, string(s))
	}
	return ev
}

// reason is the audit reason of a detection: the rule and its figures.
func reason(d sighting.Detection, r sighting.Rules) string {
	switch d.Rule {
	case sighting.RuleDuplicateThreshold:
		return fmt.Sprintf("duplicate_threshold: %d IMSIs within %d days (threshold %d)", d.Count, r.PeriodDays, r.Threshold)
	case sighting.RuleDuplicateDailyAvg:
		return fmt.Sprintf("duplicate_daily_avg: %.2f IMSIs per day over %d days seen within %d days (threshold %g, min_seen_days %d)",
			d.Average, d.SeenDays, r.PeriodDays, r.AvgThreshold, r.MinSeenDays)
	case sighting.RuleConcurrentUse:
		return fmt.Sprintf("concurrent_use: %d IMSIs at %d peers within %s", d.Count, len(d.Peers), r.ConcurrentWindow)
	}
	return d.Rule
}

// shadowDetected returns the policy with source detected passive (see
// eir.Shadow) when observations are on and detections not enforced.
func shadowDetected(p eir.Policy, o config.Observe) eir.Policy {
	if !o.Enabled || o.Detect.Enforce {
		return p
	}
	if slices.Contains(p.Shadow.Passive, detectedSource) {
		return p
	}
	// Passive: a detected IMEI on no other list is still answered by the
	// unknown-equipment policy, not WHITELISTED as a shadowed source's.
	p.Shadow.Passive = append(slices.Clip(p.Shadow.Passive), detectedSource)
	return p
}

// recent is a map bounded to about max entries in two generations: when
// the current one holds max/2, it becomes the previous one and the older
// is dropped (an approximation of LRU that never grows without bound).
// Not safe for concurrent use.
type recent[K comparable, V any] struct {
	max       int
	cur, prev map[K]V
}

func newRecent[K comparable, V any](max int) recent[K, V] {
	return recent[K, V]{max: max, cur: make(map[K]V)}
}

func (r *recent[K, V]) get(k K) (V, bool) {
	v, ok := r.cur[k]
	if !ok {
		v, ok = r.prev[k]
	}
	return v, ok
}

func (r *recent[K, V]) put(k K, v V) {
	if _, ok := r.cur[k]; !ok && len(r.cur) >= r.max/2 {
		r.prev, r.cur = r.cur, make(map[K]V, len(r.cur))
	}
	r.cur[k] = v
}

// wireObserved gives the admin API the observations (GET /v1/observed,
// forget) and the operator data export, and builds the daily export's
// scheduler (export.operator_data).
func (d *daemon) wireObserved(aopts *admin.Options, lists *redisstore.Store, reg prometheus.Registerer) error {
	od := d.cfg.Export.OperatorData
	if d.obs == nil {
		if od.Enabled {
			return errors.New("export.operator_data.enabled needs observe.enabled: the export is made of the observations")
		}
		return nil
	}
	aopts.Sightings = d.sightings
	rules := d.obs.rules
	aopts.ObserveRules = &rules
	if od.OperatorID == "" {
		return nil
	}
	nets, err := opexport.ParseNetworks(od.HomeNetworks)
	if err != nil {
		return fmt.Errorf("export.operator_data.home_networks: %w", err)
	}
	ex, err := opexport.New(d.sightings, opexport.Options{Operator: od.OperatorID, Networks: nets, CountryCodes: od.CountryCodes,
		MSISDNFile: od.MSISDNFile, N5GRAT: od.N5gRAT, DayOffset: d.cfg.Observe.DayOffset})
	if err != nil {
		return err
	}
	aopts.OperatorData = ex
	if od.Enabled {
		d.opsched, err = opexport.NewScheduler(ex, regsync.CoordinatorFor(lists),
			opexport.ScheduleOptions{Dir: od.Dir, At: od.AtOffset()}, d.log.Named("export"), reg)
	}
	return err
}
