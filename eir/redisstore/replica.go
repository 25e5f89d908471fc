package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// The replica is an in-process copy of the versions in force, kept so that
// a check needs no Redis round trip. Versions are immutable, so a copy of
// version v of a dataset is right for as long as v is in force; what may be
// stale is the knowledge of which versions are in force. RunReplica reads
// the epoch every Options.ReplicaRefresh and reloads the manifest when it
// moved; a dataset whose new version is not loaded yet is read from Redis,
// at that version, by the checks meanwhile. Hence the staleness bound: a
// switch made by another process reaches the checks of this one within
// ReplicaRefresh plus one Redis round trip. Switches made through this
// Store are seen by the next check. When the epoch has not been read for
// 3 × ReplicaRefresh (Redis unreachable), checks fall back to the exact
// path: one pipeline with the epoch, which fails while Redis is down.

// localSet is the copy of one version of one dataset.
type localSet struct {
	version uint64
	count   int
	// keys are the sorted members of an IMEI or TAC dataset; exps, for an
	// expiring one, the expiry of each (Unix ms, 0: never).
	keys []uint64
	exps []int64
	// A pair dataset keeps, for each IMEI in keys, its value in Redis (the
	// IMSIs, with their expiries in an expiring dataset) as
	// values[offs[i]:offs[i+1]]: no pointer per entry for the GC to scan.
	values string
	offs   []uint32
	// ranges are the disjoint ranges of the union, sorted.
	ranges [][2]uint64
}

// match mirrors queue and matched on the copy.
func (l *localSet) match(e planEntry, q eir.Query, now int64) bool {
	switch e.ds.Target {
	case eir.TargetIMEI, eir.TargetTAC:
		x := uint64(q.IMEI)
		if e.ds.Target == eir.TargetTAC {
			x = uint64(q.IMEI.TAC())
		}
		i, ok := slices.BinarySearch(l.keys, x)
		if !ok {
			return false
		}
		return !e.ds.Expiring || l.exps[i] == 0 || l.exps[i] > now
	case eir.TargetPair:
		i, ok := slices.BinarySearch(l.keys, uint64(q.IMEI))
		if !ok {
			return false
		}
		v := l.values[l.offs[i]:l.offs[i+1]]
		switch {
		case e.ds.Expiring:
			return (e.ds.List != eir.ListException || q.IMSI != "") && expiringMatch(v, e.ds, q.IMSI, now)
		case e.ds.List != eir.ListException:
			return true // notifications: grey while any pair is listed
		}
		return q.IMSI != "" && imsiListed(v, q.IMSI)
	case eir.TargetRange:
		x := uint64(q.IMEI)
		i, _ := slices.BinarySearchFunc(l.ranges, x, func(r [2]uint64, x uint64) int {
			switch {
			case r[0] > x:
				return 1
			case r[0] < x:
				return -1
			}
			return 0
		})
		// i is the first range starting after x, or the one starting at x.
		if i < len(l.ranges) && l.ranges[i][0] == x {
			return true
		}
		return i > 0 && l.ranges[i-1][1] >= x
	}
	return false
}

// MatchLocal implements eir.LocalLookup: it answers from the replica when
// the replica is fresh and holds the version in force of every dataset, and
// reports false otherwise (then Match reads what is missing from Redis).
func (s *Store) MatchLocal(q eir.Query, hits []eir.Hit) ([]eir.Hit, bool) {
	p := s.plan.Load()
	rs := s.replica.Load()
	if p == nil || rs == nil || !s.replicaFresh() {
		return hits, false
	}
	now, n := unixMilli(s.o.Now()), len(hits)
	for _, e := range p.entries {
		l := (*rs)[e.name]
		if l == nil || l.version != e.Version {
			return hits[:n], false
		}
		if l.match(e, q, now) {
			hits = append(hits, eir.Hit{Dataset: e.ds})
		}
	}
	return hits, true
}

// replicaSet is the copies in use, by dataset name; never modified once
// published.
type replicaSet map[string]*localSet

// local returns the copy of e's version, or nil.
func (s *Store) local(e planEntry) *localSet {
	rs := s.replica.Load()
	if rs == nil {
		return nil
	}
	if l := (*rs)[e.name]; l != nil && l.version == e.Version {
		return l
	}
	return nil
}

// replicaFresh reports whether the epoch was read recently enough for the
// cached plan to be trusted without reading it again.
func (s *Store) replicaFresh() bool {
	if !s.o.Replica {
		return false
	}
	at := s.confirmed.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < 3*s.o.ReplicaRefresh
}

// RunReplica keeps the replica until ctx is done: it reads the epoch every
// Options.ReplicaRefresh, reloads the manifest when it moved, and loads the
// versions the checks need. It returns at once when Options.Replica is off.
func (s *Store) RunReplica(ctx context.Context) {
	if !s.o.Replica {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runLoader(ctx)
	}()
	t := time.NewTicker(s.o.ReplicaRefresh)
	defer t.Stop()
	for {
		s.pollEpoch(ctx)
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
		}
	}
}

// pollEpoch reads the epoch and, when it moved, the manifest.
func (s *Store) pollEpoch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.o.ReplicaRefresh, time.Second))
	defer cancel()
	start := time.Now()
	seen, err := s.rdb.Get(ctx, s.k.epoch).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		if ctx.Err() == nil {
			s.unavailable("replica", err)
		}
		return
	}
	if p := s.plan.Load(); p == nil || p.epoch != seen {
		if _, err := s.refreshPlan(ctx, seen); err != nil {
			s.unavailable("replica", err)
			return
		}
	}
	s.confirmed.Store(start.UnixNano())
}

// nudge wakes the loader (a new plan was installed).
func (s *Store) nudge() {
	select {
	case s.loadReq <- struct{}{}:
	default:
	}
}

// runLoader loads the versions of the plan in force into the replica, the
// smallest datasets first, and drops the copies no longer in force.
func (s *Store) runLoader(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		if err := s.syncReplica(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("replica not loaded; checks read Redis meanwhile", zap.Error(err))
			retry.Reset(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.loadReq:
		case <-retry.C:
		}
	}
}

func (s *Store) syncReplica(ctx context.Context) error {
	p := s.plan.Load()
	if p == nil {
		return nil
	}
	cur := replicaSet{}
	if rs := s.replica.Load(); rs != nil {
		cur = *rs
	}
	next := replicaSet{}
	var total uint64
	var todo []planEntry
	for _, e := range p.entries {
		if l := cur[e.name]; l != nil && l.version == e.Version {
			next[e.name] = l
			total += e.Count
		} else {
			todo = append(todo, e)
		}
	}
	s.publishReplica(next, total)
	slices.SortFunc(todo, func(a, b planEntry) int { return cmpU(a.Count, b.Count) })
	for _, e := range todo {
		if total+e.Count > uint64(s.o.ReplicaMaxEntries) {
			s.log.Warn("dataset too large for the replica (store.replica_max_entries); checks read it from Redis",
				zap.String("dataset", e.name), zap.Uint64("entries", e.Count), zap.Uint64("replicated", total))
			continue
		}
		start := time.Now()
		l, err := s.loadLocal(ctx, e)
		if err != nil {
			return fmt.Errorf("redisstore: replica of %s version %d: %w", e.name, e.Version, err)
		}
		if np := s.plan.Load(); np != p {
			s.nudge() // a newer plan: start over with it
			return nil
		}
		next = maps(next)
		next[e.name] = l
		total += e.Count
		s.publishReplica(next, total)
		s.m.replicaLoads.Inc()
		s.log.Debug("dataset replicated", zap.String("dataset", e.name), zap.Uint64("version", e.Version),
			zap.Int("entries", l.count), zap.Duration("duration", time.Since(start)))
	}
	return nil
}

func maps(m replicaSet) replicaSet {
	out := make(replicaSet, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Store) publishReplica(rs replicaSet, entries uint64) {
	s.replica.Store(&rs)
	s.m.replicaEntries.Set(float64(entries))
}

// loadLocal reads one version of a dataset, bucket by bucket, pipelined.
func (s *Store) loadLocal(ctx context.Context, e planEntry) (*localSet, error) {
	l := &localSet{version: e.Version}
	if e.ds.Target == eir.TargetRange {
		members, err := s.rdb.ZRange(ctx, e.union, 0, -1).Result()
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			from, to, ok := parseRangeMember(m)
			if !ok {
				return nil, fmt.Errorf("range member %q", m)
			}
			l.ranges = append(l.ranges, [2]uint64{uint64(from), uint64(to)})
		}
		slices.SortFunc(l.ranges, func(a, b [2]uint64) int { return cmpU(a[0], b[0]) })
		l.count = len(l.ranges)
		return l, nil
	}
	pairs := e.ds.Target == eir.TargetPair
	hashes := pairs || e.ds.Expiring
	if !pairs {
		l.keys = make([]uint64, 0, e.Count)
	}
	exps := map[uint64]int64{}
	vals := map[uint64]string{}
	const chunk = 512
	for start := uint64(0); start < e.Buckets; start += chunk {
		end := min(start+chunk, e.Buckets)
		pipe := s.rdb.Pipeline()
		sets := make([]*redis.StringSliceCmd, 0, end-start)
		hs := make([]*redis.MapStringStringCmd, 0, end-start)
		for b := start; b < end; b++ {
			if hashes {
				hs = append(hs, pipe.HGetAll(ctx, s.k.bucketKey(e.name, b, e.Version)))
			} else {
				sets = append(sets, pipe.SMembers(ctx, s.k.bucketKey(e.name, b, e.Version)))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, c := range sets {
			b := start + uint64(i)
			for _, m := range c.Val() {
				q, err := strconv.ParseUint(m, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bucket %d: member %q", b, m)
				}
				l.keys = append(l.keys, q*e.Buckets+b)
			}
		}
		for i, c := range hs {
			b := start + uint64(i)
			for f, v := range c.Val() {
				q, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bucket %d: field %q", b, f)
				}
				x := q*e.Buckets + b
				if pairs {
					vals[x] = v
					continue
				}
				exp, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bucket %d: expiry %q", b, v)
				}
				l.keys = append(l.keys, x)
				exps[x] = exp
			}
		}
	}
	if pairs {
		l.keys = make([]uint64, 0, len(vals))
		size := 0
		for x, v := range vals {
			l.keys = append(l.keys, x)
			size += len(v)
		}
		slices.Sort(l.keys)
		var sb strings.Builder
		sb.Grow(size)
		l.offs = make([]uint32, 0, len(l.keys)+1)
		for _, x := range l.keys {
			l.offs = append(l.offs, uint32(sb.Len()))
			sb.WriteString(vals[x])
		}
		l.offs = append(l.offs, uint32(sb.Len()))
		l.values = sb.String()
		l.count = len(l.keys)
		return l, nil
	}
	slices.Sort(l.keys)
	l.count = len(l.keys)
	if uint64(l.count) != e.Count {
		// A version is immutable: a short read means it is being deleted
		// (retired long ago) and a newer plan is on its way.
		return nil, fmt.Errorf("read %d entries, the manifest says %d", l.count, e.Count)
	}
	if e.ds.Expiring {
		l.exps = make([]int64, len(l.keys))
		for i, k := range l.keys {
			l.exps[i] = exps[k]
		}
	}
	return l, nil
}
