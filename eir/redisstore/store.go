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
	// answers checks from it (see RunReplica, which must run): no Redis
	// round trip per check, and a switch made by another process is seen
	// within ReplicaRefresh plus one round trip.
	Replica bool
	// ReplicaRefresh is how often the epoch is read; default 100ms.
	ReplicaRefresh time.Duration
	// ReplicaMaxEntries bounds the entries copied; larger datasets are
	// read from Redis. Default 50,000,000 (about 8 bytes each).
	ReplicaMaxEntries int64
}

// Store is a Redis-backed list store. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	o   Options
	k   keys
	log *zap.Logger
	m   *metrics

	plan     atomic.Pointer[plan]
	reloadMu sync.Mutex

	replica   atomic.Pointer[replicaSet]
	confirmed atomic.Int64 // Unix ns of the start of the last epoch read that confirmed the plan
	loadReq   chan struct{}
	// maxBucket is the largest bucket before a version is rebuilt with
	// more buckets: three quarters of the encoding limits.
	maxBucket int
	owned     bool // Close closes rdb
}

// New returns a store on rdb. It reads the server's encoding limits when
// CONFIG GET is allowed; it does not fail when Redis is down (checks then
// fail until it is back).
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
		o.ReplicaMaxEntries = 50_000_000
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
	for _, c := range []prometheus.Collector{datasetCollector{s}, age} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("redisstore: register metrics: %w", err)
		}
	}
	limit := s.encodingLimit(ctx)
	if s.o.BucketFill <= 0 {
		s.o.BucketFill = min(128, max(8, limit/4))
	}
	s.maxBucket = max(s.o.BucketFill*2, limit*3/4)
	return s, nil
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

// plan is the manifest as cached by this process.
type plan struct {
	epoch   string
	entries []planEntry // datasets with entries, in a stable order
	all     []planEntry
}

type planEntry struct {
	ds   eir.Dataset
	name string
	manifestEntry
	union string // range datasets: the union sorted set
}

// loadPlan reads the manifest and the epoch atomically.
func (s *Store) loadPlan(ctx context.Context) (*plan, error) {
	var hm *redis.MapStringStringCmd
	var ep *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		hm = p.HGetAll(ctx, s.k.manifest)
		ep = p.Get(ctx, s.k.epoch)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	p := &plan{epoch: ep.Val()}
	for name, v := range hm.Val() {
		ds, err := eir.ParseDataset(name)
		if err != nil {
			s.log.Warn("ignoring unknown dataset in manifest", zap.String("dataset", name), zap.Error(err))
			continue
		}
		me, err := parseManifestEntry(v)
		if err != nil {
			return nil, err
		}
		e := planEntry{ds: ds, name: name, manifestEntry: me}
		if ds.Target == eir.TargetRange {
			e.union, _ = s.k.rangeKeys(name, me.Version)
		}
		p.all = append(p.all, e)
	}
	slices.SortFunc(p.all, func(a, b planEntry) int { return strings.Compare(a.name, b.name) })
	for _, e := range p.all {
		if e.Count > 0 {
			p.entries = append(p.entries, e)
		}
	}
	return p, nil
}

// currentPlan returns the cached plan, loading it the first time.
func (s *Store) currentPlan(ctx context.Context) (*plan, error) {
	if p := s.plan.Load(); p != nil {
		return p, nil
	}
	return s.refreshPlan(ctx, "")
}

// refreshPlan reloads the manifest unless another goroutine already loaded
// the epoch seen (seen == "" forces a load).
func (s *Store) refreshPlan(ctx context.Context, seen string) (*plan, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if p := s.plan.Load(); p != nil && seen != "" && p.epoch == seen {
		return p, nil
	}
	p, err := s.loadPlan(ctx)
	if err != nil {
		return nil, err
	}
	s.plan.Store(p)
	s.m.manifestReloads.Inc()
	if s.o.Replica {
		s.nudge()
	}
	return p, nil
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
	p, err := s.currentPlan(ctx)
	if err != nil {
		return hits, s.unavailable("match", err)
	}
	if s.replicaFresh() {
		return s.matchLocal(ctx, p, q, hits)
	}
	return s.matchExact(ctx, p, q, hits)
}

// matchExact reads every dataset from Redis in one pipeline with the epoch,
// and repeats the check when the epoch moved.
func (s *Store) matchExact(ctx context.Context, p *plan, q eir.Query, hits []eir.Hit) ([]eir.Hit, error) {
	for attempt := 0; ; attempt++ {
		cmds := make([]redis.Cmder, len(p.entries))
		pipe := s.rdb.Pipeline()
		ep := pipe.Get(ctx, s.k.epoch)
		for i, e := range p.entries {
			cmds[i] = s.queue(ctx, pipe, e, q)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && !errors.Is(err, redis.Nil) {
			return hits, s.unavailable("match", err)
		}
		if seen := ep.Val(); seen != p.epoch && attempt < 2 {
			// A switch happened since the manifest was cached.
			if p, err = s.refreshPlan(ctx, seen); err != nil {
				return hits, s.unavailable("match", err)
			}
			continue
		}
		now := unixMilli(s.o.Now())
		for i, e := range p.entries {
			if cmds[i] != nil && matched(cmds[i], e, q, now) {
				hits = append(hits, eir.Hit{Dataset: e.ds})
			}
		}
		return hits, nil
	}
}

// matchLocal answers from the replica; the datasets whose version in force
// is not copied yet are read from Redis at that version.
func (s *Store) matchLocal(ctx context.Context, p *plan, q eir.Query, hits []eir.Hit) ([]eir.Hit, error) {
	now := unixMilli(s.o.Now())
	var pipe redis.Pipeliner
	var cmds []redis.Cmder
	var remote []planEntry
	for _, e := range p.entries {
		if l := s.local(e); l != nil {
			if l.match(e, q, now) {
				hits = append(hits, eir.Hit{Dataset: e.ds})
			}
			continue
		}
		if pipe == nil {
			pipe = s.rdb.Pipeline()
		}
		if c := s.queue(ctx, pipe, e, q); c != nil {
			cmds, remote = append(cmds, c), append(remote, e)
		}
	}
	if len(cmds) == 0 {
		return hits, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return hits, s.unavailable("match", err)
	}
	for i, e := range remote {
		if matched(cmds[i], e, q, now) {
			hits = append(hits, eir.Hit{Dataset: e.ds})
		}
	}
	return hits, nil
}

// queue adds the lookup of q in dataset e to pipe; it returns nil when the
// dataset cannot match (a pair dataset and no IMSI).
func (s *Store) queue(ctx context.Context, pipe redis.Pipeliner, e planEntry, q eir.Query) redis.Cmder {
	switch e.ds.Target {
	case eir.TargetIMEI, eir.TargetTAC:
		x := uint64(q.IMEI)
		if e.ds.Target == eir.TargetTAC {
			x = uint64(q.IMEI.TAC())
		}
		key := s.k.bucketKey(e.name, x%e.Buckets, e.Version)
		if e.ds.Expiring {
			return pipe.HGet(ctx, key, strconv.FormatUint(x/e.Buckets, 10))
		}
		return pipe.SIsMember(ctx, key, x/e.Buckets)
	case eir.TargetPair:
		x := uint64(q.IMEI)
		key, field := s.k.bucketKey(e.name, x%e.Buckets, e.Version), strconv.FormatUint(x/e.Buckets, 10)
		if e.ds.Expiring {
			if e.ds.List == eir.ListException && q.IMSI == "" {
				return nil
			}
			return pipe.HGet(ctx, key, field)
		}
		if e.ds.List != eir.ListException {
			// Notifications: the IMEI is grey while any pair is listed.
			return pipe.HExists(ctx, key, field)
		}
		if q.IMSI == "" {
			return nil
		}
		return pipe.HGet(ctx, key, field)
	case eir.TargetRange:
		return pipe.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: e.union, Start: strconv.FormatUint(uint64(q.IMEI), 10), Stop: "-inf",
			ByScore: true, Rev: true, Count: 1,
		})
	}
	return nil
}

func matched(c redis.Cmder, e planEntry, q eir.Query, now int64) bool {
	switch cmd := c.(type) {
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

// Datasets lists the datasets in force, read from Redis.
func (s *Store) Datasets(ctx context.Context) ([]eir.DatasetInfo, error) {
	p, err := s.refreshPlan(ctx, "")
	if err != nil {
		return nil, s.unavailable("datasets", err)
	}
	out := make([]eir.DatasetInfo, 0, len(p.all))
	for _, e := range p.all {
		out = append(out, eir.DatasetInfo{Dataset: e.ds, Version: e.Version, Count: e.Count, Hash: uint64(e.Hash), UpdatedAt: time.UnixMilli(e.At)})
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
func (s *Store) SyncState(ctx context.Context) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.syncState).Result()
	if err != nil {
		return nil, s.unavailable("sync_state", err)
	}
	return m, nil
}
