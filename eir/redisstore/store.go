package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// Options configures a Store.
type Options struct {
	// Prefix starts every key; default "eir:". It must not contain braces.
	Prefix string
	// Grace is how long a replaced version stays readable; it must exceed
	// the longest check. Default 60s.
	Grace time.Duration
	// BuildLease is how long a version being built may go without progress
	// before the janitor deletes it. Default 10m.
	BuildLease time.Duration
	// BucketFill is the average number of entries per bucket of a new
	// version. Default: a quarter of the server's set-max-intset-entries,
	// at most 128.
	BucketFill int
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Replica keeps an in-process copy of the versions in force and
	// answers checks from it (see Run, which must run): no Redis
	// round trip per check, and a switch made by another process is seen
	// within ReplicaRefresh plus one round trip.
	Replica bool
	// ReplicaRefresh is how often the epoch is read; default 100ms.
	ReplicaRefresh time.Duration
	// ReplicaMaxEntries bounds the entries copied; larger datasets are
	// read from Redis. Default 200,000,000 (about 8 bytes per IMEI: a
	// 100-million-IMEI list and its companions fit).
	ReplicaMaxEntries int64
	// ReplicaFilter holds each dataset beyond ReplicaMaxEntries as a Bloom
	// filter (about 1.2 bytes a key; see filter.go): its checks read Redis
	// only for the keys the filter may hold.
	ReplicaFilter bool
	// MaxStale is how long the replica keeps answering checks while Redis
	// is unreachable (since the lists were last confirmed); beyond it, and
	// for datasets not copied, checks fail at once (the circuit breaker is
	// open). 0 answers from the replica only while Redis confirms it.
	MaxStale time.Duration
	// SnapshotDir keeps a checksummed copy of the lists in force on local
	// disk (see persist.go): written after each switch the replica loads,
	// read at start so that checks are answered from the first request even
	// when Redis is down, empty or older. Empty: no copy.
	SnapshotDir string
	// OverlayMax is the number of changed entries an overlay may hold on
	// top of a large version before it is folded into a new version (by the
	// janitor, or by a write that would exceed 4× it). Default 10,000.
	OverlayMax int
	// WriteReplicas is how many replicas must have a write (a switch, a
	// restore) before it is acknowledged: Redis replicates asynchronously,
	// and a failover right after a write the master alone had loses it.
	// Fewer within WriteReplicasTimeout fail the write with an error
	// wrapping eir.ErrUnavailable (it may still be in force). 0: no wait.
	WriteReplicas int
	// WriteReplicasTimeout bounds the wait for WriteReplicas; default 1s.
	WriteReplicasTimeout time.Duration
}

// Store is a Redis-backed list store. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	o   Options
	k   keys
	log *zap.Logger
	m   *metrics

	plan     atomic.Pointer[plan] // the lists in force: the plan this process trusts
	reloadMu sync.Mutex

	replica     atomic.Pointer[replicaSet]
	filters     atomic.Pointer[filterSet] // the datasets beyond ReplicaMaxEntries, with ReplicaFilter
	batch       atomic.Pointer[batcher]   // while Run runs: the reads of checks in flight, sent together
	lookups     sync.Pool                 // of *lookup
	confirmed   atomic.Int64              // Unix ns of the start of the last epoch read that confirmed the plan
	down        atomic.Int64              // Unix ns since Redis stopped answering; 0 while it answers (the breaker is closed)
	upAt        atomic.Int64              // Unix ns of the last close of the breaker: older failures do not reopen it
	staleLogged atomic.Bool               // the end of MaxStale was logged in this outage
	// unconfirmable: the last poll found Redis answering but its manifest
	// unreadable: the lists held are not served beyond 3 refreshes.
	unconfirmable atomic.Bool
	// unverifiedCopy: the lists in force come from the local copy and
	// Redis has not answered yet.
	unverifiedCopy atomic.Bool
	pollErrLogged  atomic.Int64 // Unix ns of the last logPollError
	div            atomic.Pointer[divergence]
	lastHeld       atomic.Pointer[heldView] // the last plan the replica held completely
	loadReq        chan struct{}
	snap           *snapshotter // nil without Options.SnapshotDir
	limitsOnce     sync.Once    // readLimits
	evictChecked   atomic.Bool  // checkEviction got an answer
	// maxBucket is the largest bucket before a version is rebuilt with
	// more buckets: three quarters of the encoding limits.
	maxBucket int
	owned     bool // Close closes rdb
}

// New returns a store on rdb. It makes no Redis call (Redis may be down):
// it reads the local copy (Options.SnapshotDir) if there is one; the
// encoding limits are read before the first write, the eviction policy
// when Redis first answers (Run).
func New(ctx context.Context, rdb redis.UniversalClient, o Options, log *zap.Logger, reg prometheus.Registerer) (*Store, error) {
	if o.Prefix == "" {
		o.Prefix = "eir:"
	}
	if strings.ContainsAny(o.Prefix, "{} \t\n") {
		return nil, fmt.Errorf("redisstore: prefix %q: no braces or spaces", o.Prefix)
	}
	if o.Grace <= 0 {
		o.Grace = 60 * time.Second
	}
	if o.BuildLease <= 0 {
		o.BuildLease = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReplicaRefresh <= 0 {
		o.ReplicaRefresh = 100 * time.Millisecond
	}
	if o.ReplicaMaxEntries <= 0 {
		o.ReplicaMaxEntries = 200_000_000
	}
	if o.MaxStale < 0 {
		o.MaxStale = 0
	}
	if o.OverlayMax <= 0 {
		o.OverlayMax = 10_000
	}
	if o.WriteReplicas < 0 {
		return nil, fmt.Errorf("redisstore: write replicas %d: must not be negative", o.WriteReplicas)
	}
	if o.WriteReplicasTimeout <= 0 {
		o.WriteReplicasTimeout = time.Second
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("redisstore: register metrics: %w", err)
	}
	s := &Store{rdb: rdb, o: o, k: newKeys(o.Prefix), log: log, m: m, loadReq: make(chan struct{}, 1)}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "eir", Subsystem: "store", Name: "replica_epoch_age_seconds",
		Help: "Time since the replica last confirmed the versions in force (its staleness); 0 without a replica.",
	}, func() float64 {
		if at := s.confirmed.Load(); at != 0 {
			return time.Since(time.Unix(0, at)).Seconds()
		}
		return 0
	})
	stale := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "eir", Subsystem: "store", Name: "stale_seconds",
		Help: "How long the lists in force have been answered without confirmation from Redis (unreachable or diverged); 0 while Redis confirms them.",
	}, func() float64 { return s.staleness().Seconds() })
	for _, c := range []prometheus.Collector{datasetCollector{s}, age, stale} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("redisstore: register metrics: %w", err)
		}
	}
	if o.SnapshotDir != "" {
		if err := usableDir(o.SnapshotDir); err != nil {
			s.log.Error("store.snapshot_dir is not usable: no local copy of the lists is kept, so a restart while redis is down, empty or older cannot answer from them",
				zap.String("dir", o.SnapshotDir), zap.Error(err))
		} else {
			s.snap = newSnapshotter(s, o.SnapshotDir)
			s.loadSnapshot()
		}
	}
	return s, nil
}

// checkEviction warns when Redis may evict keys under memory pressure: an
// evicted bucket would silently drop list entries.
func (s *Store) checkEviction(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := s.rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	var rerr redis.Error
	if err == nil || errors.As(err, &rerr) {
		s.evictChecked.Store(true) // an answer, even a refusal (CONFIG not allowed), is final
	}
	if err != nil {
		return
	}
	if p := v["maxmemory-policy"]; p != "" && p != "noeviction" {
		s.log.Error("redis may evict keys (maxmemory-policy is not noeviction): list entries could be lost under memory pressure; set maxmemory-policy noeviction",
			zap.String("maxmemory_policy", p))
	}
}

// readLimits sets the bucket sizes from the server's encoding limits, once,
// before the first write.
func (s *Store) readLimits(ctx context.Context) {
	s.limitsOnce.Do(func() {
		limit := s.encodingLimit(ctx)
		if s.o.BucketFill <= 0 {
			s.o.BucketFill = min(128, max(8, limit/4))
		}
		s.maxBucket = max(s.o.BucketFill*2, limit*3/4)
	})
}

// encodingLimit returns the smaller of set-max-intset-entries and
// hash-max-listpack-entries, or 512 (Redis's default) when CONFIG GET is
// not allowed.
func (s *Store) encodingLimit(ctx context.Context) int {
	limit := 512
	for _, name := range []string{"set-max-intset-entries", "hash-max-listpack-entries"} {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := s.rdb.ConfigGet(ctx, name).Result()
		cancel()
		if err != nil {
			s.log.Info("cannot read redis encoding limit; assuming 512", zap.String("parameter", name), zap.Error(err))
			continue
		}
		for _, val := range v {
			if n, err := strconv.Atoi(val); err == nil && n < limit {
				if n < 64 {
					s.log.Warn("redis encoding limit is small; lists will use more memory",
						zap.String("parameter", name), zap.Int("value", n))
				}
				limit = max(n, 16)
			}
		}
	}
	return limit
}

// errBadManifest reports a manifest Redis holds that this process cannot
// read (not a failure to reach Redis).
var errBadManifest = errors.New("redisstore: unreadable manifest")

// plan is the manifest as cached by this process, with the state read in
// the same transaction: the epoch, the data set's identity and the
// sync-state record.
type plan struct {
	epoch   string
	ep      uint64
	ident   identity
	sync    map[string]string
	entries []planEntry // datasets with entries, in a stable order
	all     []planEntry
	fields  int // fields of the manifest (datasets this version of eird does not know included)
}

type planEntry struct {
	ds   eir.Dataset
	name string
	manifestEntry
	union   string // range datasets: the union sorted set
	overlay string // the overlay hash, when the entry has one
	rkey    string // the replica's key of this content: name, version and overlay
	// keyHead and keyTail surround the bucket number in the keys of the
	// version's buckets (see bucket).
	keyHead, keyTail string
}

// loadPlan reads the manifest, the epoch, the identity and the sync state
// atomically.
func (s *Store) loadPlan(ctx context.Context) (*plan, error) {
	var hm, id, st *redis.MapStringStringCmd
	var ep *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		hm = p.HGetAll(ctx, s.k.manifest)
		ep = p.Get(ctx, s.k.epoch)
		id = p.HGetAll(ctx, s.k.identity)
		st = p.HGetAll(ctx, s.k.syncState)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	p := &plan{epoch: ep.Val(), ident: identityOf(id.Val()), sync: st.Val(), fields: len(hm.Val())}
	p.ep, _ = strconv.ParseUint(p.epoch, 10, 64)
	for name, v := range hm.Val() {
		ds, err := eir.ParseDataset(name)
		if err != nil {
			s.log.Warn("ignoring unknown dataset in manifest", zap.String("dataset", name), zap.Error(err))
			continue
		}
		me, err := parseManifestEntry(v)
		if err != nil {
			return nil, fmt.Errorf("%w: dataset %s: %w", errBadManifest, name, err)
		}
		p.all = append(p.all, s.planEntry(ds, name, me))
	}
	p.index()
	return p, nil
}

// planEntry completes a manifest entry with its key names.
func (s *Store) planEntry(ds eir.Dataset, name string, me manifestEntry) planEntry {
	e := planEntry{ds: ds, name: name, manifestEntry: me, rkey: name + "|" + me.tag()}
	e.keyHead, e.keyTail = s.k.bucketKeyParts(name, me.Version)
	if ds.Target == eir.TargetRange {
		e.union, _ = s.k.rangeKeys(name, me.Version)
	}
	if me.Overlay != 0 {
		e.overlay = s.k.overlayKey(name, me.Overlay)
	}
	return e
}

// index sorts the datasets and lists those with entries.
func (p *plan) index() {
	slices.SortFunc(p.all, func(a, b planEntry) int { return strings.Compare(a.name, b.name) })
	p.entries = p.entries[:0]
	for _, e := range p.all {
		if e.Count > 0 {
			p.entries = append(p.entries, e)
		}
	}
}

// bucket is k.bucketKey(e.name, b, e.Version), made with one allocation
// (this is on the path of every check read from Redis).
func (e *planEntry) bucket(k *keys, b uint64) string {
	if e.keyHead == "" {
		return k.bucketKey(e.name, b, e.Version)
	}
	var buf [80]byte
	key := append(strconv.AppendUint(append(buf[:0], e.keyHead...), b, 10), e.keyTail...)
	return string(key)
}

// find returns the entry of a dataset, or false.
func (p *plan) find(name string) (planEntry, bool) {
	i, ok := slices.BinarySearchFunc(p.all, name, func(e planEntry, name string) int { return strings.Compare(e.name, name) })
	if !ok {
		return planEntry{}, false
	}
	return p.all[i], true
}

// currentPlan returns the cached plan, loading it the first time.
func (s *Store) currentPlan(ctx context.Context) (*plan, error) {
	if p := s.plan.Load(); p != nil {
		return p, nil
	}
	return s.refreshPlan(ctx, "")
}

// refreshPlan reloads the manifest unless another goroutine already loaded
// the epoch seen (seen == "" forces a load), and installs it when this
// process can trust it (see judge). When it cannot, the plan in force is
// kept and returned with an error wrapping eir.ErrDiverged. A store with
// no identity gets one when this process trusts no other.
func (s *Store) refreshPlan(ctx context.Context, seen string) (*plan, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cur := s.plan.Load()
	if cur != nil && seen != "" && cur.epoch == seen && s.div.Load() == nil {
		return cur, nil
	}
	next, err := s.loadPlan(ctx)
	if err != nil {
		return nil, err
	}
	if next.ident.ID == "" && (cur == nil || cur.ident.ID == "") {
		if err := s.newIdentity(ctx); err != nil {
			s.log.Warn("cannot create the data set identity; a lost data set will be detected by its epoch only", zap.Error(err))
		} else if next, err = s.loadPlan(ctx); err != nil {
			return nil, err
		}
	}
	if why := judgePlan(cur, next); why != "" {
		s.diverge(why, observed{ident: next.ident, epoch: next.ep, datasets: int64(next.fields)}, nil)
		return cur, s.errDiverged()
	}
	if lostStillInForce(s.div.Load(), next) {
		return cur, s.errDiverged()
	}
	s.converge("redis state matches")
	s.plan.Store(next)
	s.m.manifestReloads.Inc()
	if s.o.Replica {
		s.nudge()
	}
	return next, nil
}

func (s *Store) unavailable(op string, err error) error {
	s.m.errors.WithLabelValues(op).Inc()
	return fmt.Errorf("redisstore: %s: %w: %w", op, eir.ErrUnavailable, err)
}

// Match implements eir.Lookup. With the replica fresh, it answers from the
// copies of the versions in force, reading from Redis (one pipeline) only
// the datasets not copied yet. Otherwise it sends one pipeline: the epoch,
// then one command per dataset with entries; when the epoch moved, the
// manifest is reloaded and the check repeated.
func (s *Store) Match(ctx context.Context, q eir.Query, hits []eir.Hit) ([]eir.Hit, error) {
	start := time.Now()
	defer func() { s.m.matchDuration.Observe(time.Since(start).Seconds()) }()
	if s.replicaServes() {
		if p := s.plan.Load(); p != nil {
			return s.matchReplica(ctx, p, q, hits)
		}
	}
	if err := s.errDown("match"); err != nil {
		return hits, err
	}
	if err := s.errDiverged(); err != nil {
		s.m.errors.WithLabelValues("match").Inc()
		return hits, fmt.Errorf("%w: %w", eir.ErrUnavailable, err)
	}
	p, err := s.currentPlan(ctx)
	if err != nil {
		return hits, s.unavailable("match", err)
	}
	return s.matchExact(ctx, p, q, hits)
}

// matchExact reads every dataset from Redis in one pipeline with the epoch,
// and repeats the check when the epoch moved (see lookUp; the pipeline
// carries the other checks in flight while Run runs).
func (s *Store) matchExact(ctx context.Context, p *plan, q eir.Query, hits []eir.Hit) ([]eir.Hit, error) {
	return s.readRedis(ctx, q, p, s.getLookup(), true, hits)
}

// matchReplica answers from the replica; the datasets whose version in force
// is not copied yet are read from Redis at that version (unless Redis is
// unreachable or diverged: then the check fails at once).
func (s *Store) matchReplica(ctx context.Context, p *plan, q eir.Query, hits []eir.Hit) ([]eir.Hit, error) {
	now := unixMilli(s.o.Now())
	var rs replicaSet
	if r := s.replica.Load(); r != nil {
		rs = *r
	}
	var l *lookup
	for i := range p.entries {
		e := &p.entries[i]
		if c, ok := s.heldCopy(e, rs); ok {
			if c.matches(e, &q, now) {
				hits = append(hits, eir.Hit{Dataset: e.ds})
			}
			continue
		}
		if hit, decided := s.ruledOut(e, &q, true); decided {
			if hit {
				hits = append(hits, eir.Hit{Dataset: e.ds})
			}
			continue
		}
		err := s.errDown("match")
		if err == nil {
			if err = s.errDiverged(); err != nil {
				s.m.errors.WithLabelValues("match").Inc()
				err = fmt.Errorf("%w: %s is not held: %w", eir.ErrUnavailable, e.name, err)
			}
		}
		if err != nil {
			if l != nil {
				s.putLookup(l)
			}
			return hits, err
		}
		if readsNothing(e, &q) {
			continue
		}
		if l == nil {
			l = s.getLookup()
		}
		l.own = append(l.own, *e)
	}
	if l == nil {
		return hits, nil
	}
	// Redis gets half of what the deadline leaves: when it fails before
	// the breaker opens, these datasets are answered from the last lists
	// held completely, as they are once it has, rather than not at all.
	rctx, cancel := remoteShare(ctx)
	held := len(hits)
	hits, err := s.readRedis(rctx, q, p, l, false, hits)
	cancel()
	if err != nil {
		if last, ok := s.matchLastHeld(p, rs, &q, now, hits[:held]); ok {
			s.m.errors.WithLabelValues("match_fallback").Inc()
			return last, nil
		}
	}
	return hits, err
}

// remoteShare bounds the Redis read of a check answered from the replica to
// half the time its deadline leaves, so that when Redis fails the check
// still has the other half to answer from the lists held.
func remoteShare(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
}

// matchLastHeld appends to hits the datasets of p that the replica rs does
// not hold at their version in force and that match q in the last lists
// held completely; false when one of them is not held there either.
func (s *Store) matchLastHeld(p *plan, rs replicaSet, q *eir.Query, now int64, hits []eir.Hit) ([]eir.Hit, bool) {
	for i := range p.entries {
		e := &p.entries[i]
		if rs[e.rkey].holds(e) || readsNothing(e, q) || hitFor(hits, e.ds) {
			continue // answered already (from the replica or these lists), or nothing to read
		}
		if _, decided := s.ruledOut(e, q, false); decided {
			continue // answered by its filter
		}
		d, ok := s.lastHeldCopy(e)
		if !ok {
			return hits, false
		}
		if d.matches(e, q, now) {
			hits = append(hits, eir.Hit{Dataset: e.ds})
		}
	}
	return hits, true
}

// hitFor reports whether hits holds one for ds.
func hitFor(hits []eir.Hit, ds eir.Dataset) bool {
	for _, h := range hits {
		if h.Dataset == ds {
			return true
		}
	}
	return false
}

// lookupCmds are the commands that look a query up in one dataset: one on
// the version, and one on its overlay when it has one.
type lookupCmds struct {
	base redis.Cmder
	ov   *redis.StringCmd
}

// queue adds the lookup of q in dataset e to pipe; base is nil when the
// dataset cannot match (readsNothing).
func (s *Store) queue(ctx context.Context, pipe redis.Pipeliner, e *planEntry, q *eir.Query) lookupCmds {
	var c lookupCmds
	switch e.ds.Target {
	case eir.TargetIMEI, eir.TargetTAC:
		x := queryKey(e.ds.Target, q.IMEI)
		key := e.bucket(&s.k, x%e.Buckets)
		if e.ds.Expiring {
			c.base = pipe.HGet(ctx, key, strconv.FormatUint(x/e.Buckets, 10))
			return c
		}
		c.base = pipe.SIsMember(ctx, key, x/e.Buckets)
		if e.overlay != "" {
			c.ov = pipe.HGet(ctx, e.overlay, strconv.FormatUint(x, 10))
		}
	case eir.TargetPair:
		if readsNothing(e, q) {
			return c
		}
		x := uint64(q.IMEI)
		key, field := e.bucket(&s.k, x%e.Buckets), strconv.FormatUint(x/e.Buckets, 10)
		switch {
		case e.ds.Expiring:
			c.base = pipe.HGet(ctx, key, field)
			return c
		case e.ds.List != eir.ListException:
			// Notifications: the IMEI is grey while any pair is listed.
			c.base = pipe.HExists(ctx, key, field)
		default:
			c.base = pipe.HGet(ctx, key, field)
		}
		if e.overlay != "" {
			c.ov = pipe.HGet(ctx, e.overlay, strconv.FormatUint(x, 10))
		}
	case eir.TargetRange:
		c.base = pipe.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: e.union, Start: strconv.FormatUint(uint64(q.IMEI), 10), Stop: "-inf",
			ByScore: true, Rev: true, Count: 1,
		})
	}
	return c
}

// readsNothing reports that no entry of e can apply to q, so queue sends
// nothing: an exception pair without an IMSI.
func readsNothing(e *planEntry, q *eir.Query) bool {
	return e.ds.Target == eir.TargetPair && e.ds.List == eir.ListException && q.IMSI == ""
}

// matched reads the answers of queue: the overlay's value, when it has
// one for the entry, decides; otherwise the version's.
func (c lookupCmds) matched(e *planEntry, q *eir.Query, now int64) bool {
	if c.base == nil {
		return false
	}
	if c.ov != nil && c.ov.Err() == nil {
		return overlayMatch(c.ov.Val(), e.ds, q.IMSI)
	}
	switch cmd := c.base.(type) {
	case *redis.BoolCmd:
		return cmd.Val()
	case *redis.StringCmd:
		if e.ds.Expiring {
			return expiringMatch(cmd.Val(), e.ds, q.IMSI, now)
		}
		return imsiListed(cmd.Val(), q.IMSI)
	case *redis.StringSliceCmd:
		v := cmd.Val()
		if len(v) == 0 {
			return false
		}
		from, to, ok := parseRangeMember(v[0])
		return ok && from <= q.IMEI && q.IMEI <= to
	}
	return false
}

// imsiListed reports whether imsi is one of the comma-separated IMSIs of v.
func imsiListed(v string, imsi eir.IMSI) bool {
	for v != "" {
		i := strings.IndexByte(v, ',')
		if i < 0 {
			return v == string(imsi)
		}
		if v[:i] == string(imsi) {
			return true
		}
		v = v[i+1:]
	}
	return false
}

// Datasets lists the datasets in force, read from Redis; while Redis does
// not hold the lists in force (diverged), those this process holds.
func (s *Store) Datasets(ctx context.Context) ([]eir.DatasetInfo, error) {
	if err := s.errDown("datasets"); err != nil {
		return nil, err
	}
	p, err := s.refreshPlan(ctx, "")
	if errors.Is(err, eir.ErrDiverged) && p != nil {
		err = nil
	}
	if err != nil {
		return nil, s.unavailable("datasets", err)
	}
	out := make([]eir.DatasetInfo, 0, len(p.all))
	for _, e := range p.all {
		out = append(out, eir.DatasetInfo{Dataset: e.ds, Version: e.current(), Count: e.Count, Hash: uint64(e.Hash), UpdatedAt: time.UnixMilli(e.At)})
	}
	return out, nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.unavailable("ping", err)
	}
	return nil
}

// SyncState returns the sync-state record written atomically by ApplyWith.
// While Redis does not hold the lists in force it fails with
// eir.ErrDiverged: its record is not the one of the lists in force.
func (s *Store) SyncState(ctx context.Context) (map[string]string, error) {
	if err := s.errDown("sync_state"); err != nil {
		return nil, err
	}
	if err := s.errDiverged(); err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.k.syncState).Result()
	if err != nil {
		return nil, s.unavailable("sync_state", err)
	}
	return m, nil
}
