package redisstore

import (
	"cmp"
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
// stale is the knowledge of which versions are in force. Run reads the
// epoch every Options.ReplicaRefresh and reloads the manifest when it
// moved; a dataset whose new version is not loaded yet is read from Redis,
// at that version, by the checks meanwhile. Hence the staleness bound:
// while Redis answers, a switch made by another process reaches the checks
// of this one within ReplicaRefresh plus one Redis round trip. Switches
// made through this Store are seen by the next check. When the epoch
// cannot be read (Redis unreachable), the replica keeps answering for up
// to Options.MaxStale; when Redis diverged (see trust.go), for as long as
// it lasts. An overlay (see overlay.go) is copied apart from its version,
// so a small change reloads only the overlay.

// localSet is the copy of one version of one dataset, or of one overlay.
type localSet struct {
	version uint64
	count   int
	// keys are the sorted members of an IMEI or TAC dataset; exps, for an
	// expiring one, the expiry of each (Unix ms, 0: never).
	keys []uint64
	exps []int64
	// ki indexes keys (see keyindex.go): built by indexKeys once keys are
	// final, before the set answers lookups.
	ki keyIndex
	// A pair dataset (and an overlay) keeps, for each key in keys, its
	// value in Redis (the IMSIs, with their expiries in an expiring
	// dataset; an overlay's value for the entry) as
	// values[offs[i]:offs[i+1]]: no pointer per entry for the GC to scan.
	values string
	offs   []uint32
	// ranges are the disjoint ranges of the union, sorted; rows the ranges
	// as loaded (what a restore writes back).
	ranges [][2]uint64
	rows   [][2]uint64
}

// value returns the value of the i-th key of a pair dataset or overlay.
func (l *localSet) value(i int) string { return l.values[l.offs[i]:l.offs[i+1]] }

// localDS is the copy of a dataset in force: its version and its overlay.
type localDS struct {
	name string
	base *localSet
	ov   *localSet // nil when the dataset has no overlay
}

// holds reports whether d is the copy of e.
func (d localDS) holds(e *planEntry) bool {
	if d.base == nil || d.base.version != e.Version {
		return false
	}
	if e.Overlay == 0 {
		return d.ov == nil
	}
	return d.ov != nil && d.ov.version == e.Overlay
}

// matches mirrors queue and matched on the copy.
func (d localDS) matches(e *planEntry, q *eir.Query, now int64) bool {
	if d.base == nil {
		return false // an empty dataset
	}
	if d.ov != nil {
		if i, ok := d.ov.find(queryKey(e.ds.Target, q.IMEI)); ok {
			return overlayMatch(d.ov.value(i), e.ds, q.IMSI)
		}
	}
	return d.base.matches(e, q, now)
}

// matches reports whether one version answers q from one version.
func (l *localSet) matches(e *planEntry, q *eir.Query, now int64) bool {
	switch e.ds.Target {
	case eir.TargetIMEI, eir.TargetTAC:
		i, ok := l.find(queryKey(e.ds.Target, q.IMEI))
		if !ok {
			return false
		}
		return !e.ds.Expiring || l.exps[i] == 0 || l.exps[i] > now
	case eir.TargetPair:
		i, ok := l.find(uint64(q.IMEI))
		if !ok {
			return false
		}
		v := l.value(i)
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
// the replica may serve (see replicaServes) and holds every dataset in
// force (see heldCopy), and reports false otherwise (then Match reads what
// is missing from Redis, or fails).
func (s *Store) MatchLocal(q eir.Query, hits []eir.Hit) ([]eir.Hit, bool) {
	p, rs := s.plan.Load(), s.replica.Load()
	if p == nil || rs == nil || !s.replicaServes() {
		return hits, false
	}
	now, n := unixMilli(s.o.Now()), len(hits)
	for i := range p.entries {
		e := &p.entries[i]
		d, ok := s.heldCopy(e, *rs)
		if !ok {
			hit, decided := s.ruledOut(e, &q, true)
			if !decided {
				return hits[:n], false
			}
			if hit {
				hits = append(hits, eir.Hit{Dataset: e.ds})
			}
			continue
		}
		if d.matches(e, &q, now) {
			hits = append(hits, eir.Hit{Dataset: e.ds})
		}
	}
	return hits, true
}

// heldView is a plan and the copies of all its datasets: the last lists
// this process held completely.
type heldView struct {
	plan *plan
	rs   replicaSet
}

// heldCopy returns the copy of e. When the replica does not hold e's
// version yet and Redis cannot give it (unreachable or diverged), it
// returns the copy of e's dataset in the last lists held completely: the
// version in force until the last switch, rather than no answer. A dataset
// the last lists did not have is not held.
func (s *Store) heldCopy(e *planEntry, rs replicaSet) (localDS, bool) {
	if d := rs[e.rkey]; d.holds(e) {
		return d, true
	}
	if s.down.Load() == 0 && s.div.Load() == nil {
		return localDS{}, false
	}
	return s.lastHeldCopy(e)
}

// lastHeldCopy returns the copy of e's dataset in the last lists held
// completely, or false.
func (s *Store) lastHeldCopy(e *planEntry) (localDS, bool) {
	v := s.lastHeld.Load()
	if v == nil {
		return localDS{}, false
	}
	le, ok := v.plan.find(e.name)
	if !ok {
		return localDS{}, false
	}
	if le.Count == 0 && le.Overlay == 0 {
		return localDS{name: e.name}, true // empty then: matches nothing
	}
	d := v.rs[le.rkey]
	return d, d.holds(&le)
}

// replicaSet is the copies in use, by planEntry.rkey (dataset, version and
// overlay: the copies of two plans can be published together while one
// replaces the other); never modified once published.
type replicaSet map[string]localDS

// local returns the copy of e, or false.
func (s *Store) local(e planEntry) (localDS, bool) {
	rs := s.replica.Load()
	if rs == nil {
		return localDS{}, false
	}
	d := (*rs)[e.rkey]
	return d, d.holds(&e)
}

// replicaComplete reports whether the replica holds every dataset of p.
func (s *Store) replicaComplete(p *plan) bool {
	if p == nil || !s.o.Replica {
		return false
	}
	rs := s.replica.Load()
	if rs == nil {
		return len(p.entries) == 0
	}
	for i := range p.entries {
		if _, ok := s.heldCopy(&p.entries[i], *rs); !ok {
			return false
		}
	}
	return true
}

// Run keeps the store's view of Redis until ctx is done: it reads Redis's
// state every Options.ReplicaRefresh (the circuit breaker and the
// divergence checks of trust.go), reloads the manifest when it moved and,
// with Options.Replica, loads the versions the checks need and keeps the
// local copy (Options.SnapshotDir). While it runs, the Redis reads of the
// checks in flight are sent together (see batch.go).
func (s *Store) Run(ctx context.Context) {
	batched := make(chan struct{})
	go func() {
		defer close(batched)
		s.runBatcher(ctx)
	}()
	defer func() { <-batched }()
	if s.o.Replica {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.runLoader(ctx)
		}()
		defer func() { <-done }()
	}
	t := time.NewTicker(s.o.ReplicaRefresh)
	defer t.Stop()
	for {
		s.pollState(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
	byName := map[string]localDS{} // the copies held, for reuse of a version under a new overlay
	for _, d := range cur {
		if prev, ok := byName[d.name]; !ok || d.base.version > prev.base.version {
			byName[d.name] = d
		}
	}
	next := replicaSet{}
	var total uint64
	var todo []planEntry
	for _, e := range p.entries {
		if d := cur[e.rkey]; d.holds(&e) {
			next[e.rkey] = d
			total += e.Count
		} else {
			todo = append(todo, e)
		}
	}
	s.publishReplica(next, total)
	slices.SortFunc(todo, func(a, b planEntry) int { return cmp.Compare(a.Count, b.Count) })
	complete := true
	var tooLarge []string
	for _, e := range todo {
		if total+e.Count > uint64(s.o.ReplicaMaxEntries) {
			s.log.Warn("dataset too large for the replica (store.replica_max_entries); checks read it from Redis",
				zap.String("dataset", e.name), zap.Uint64("entries", e.Count), zap.Uint64("replicated", total))
			complete = false
			tooLarge = append(tooLarge, e.name)
			continue
		}
		if s.div.Load().lostVersion(e) {
			// Redis lost keys of this version: reading it again gives
			// the same partial list; the lists held answer for it.
			complete = false
			continue
		}
		start := time.Now()
		d, err := s.loadDS(ctx, e, byName[e.name])
		var inc *incompleteError
		if errors.As(err, &inc) && s.checkIncomplete(ctx, p, e, inc) {
			complete = false
			continue
		}
		if err != nil {
			return fmt.Errorf("redisstore: replica of %s version %d: %w", e.name, e.Version, err)
		}
		// Published even when a newer plan came meanwhile: its version
		// is reused under the newer plan's overlay (an edit storm must
		// not make a large copy start over and over).
		next = maps(next)
		next[e.rkey] = d
		total += e.Count
		s.publishReplica(next, total)
		if np := s.plan.Load(); np != p {
			s.nudge() // a newer plan: start over with it
			return nil
		}
		s.m.replicaLoads.Inc()
		s.log.Debug("dataset replicated", zap.String("dataset", e.name), zap.Uint64("version", e.Version),
			zap.Uint64("overlay", e.Overlay), zap.Int("entries", d.base.count), zap.Duration("duration", time.Since(start)))
	}
	if complete {
		s.lastHeld.Store(&heldView{plan: p, rs: next})
		if s.snap != nil && s.div.Load() == nil {
			s.snap.save(p, next)
		}
	} else if len(tooLarge) > 0 {
		s.forgetHeld(tooLarge)
	}
	if s.o.ReplicaFilter {
		return s.syncFilters(ctx, p, tooLarge)
	}
	return nil
}

// forgetHeld drops the datasets named from the last lists held: the plan
// in force cannot hold them (store.replica_max_entries), so an outage must
// not answer for them from an older copy.
func (s *Store) forgetHeld(names []string) {
	v := s.lastHeld.Load()
	if v == nil {
		return
	}
	rs := maps(v.rs)
	for _, name := range names {
		if e, ok := v.plan.find(name); ok {
			delete(rs, e.rkey)
		}
	}
	s.lastHeld.Store(&heldView{plan: v.plan, rs: rs})
}

// loadDS loads the copy of e, reusing the copy of its version when only
// the overlay changed.
func (s *Store) loadDS(ctx context.Context, e planEntry, have localDS) (localDS, error) {
	d := localDS{name: e.name, base: have.base}
	if d.base == nil || d.base.version != e.Version {
		if derived, ok := have.compacted(e); ok {
			d.base = derived
		} else {
			base, err := s.loadLocal(ctx, e)
			if err != nil {
				return localDS{}, err
			}
			d.base = base
		}
	}
	if e.Overlay != 0 {
		ov, err := s.loadOverlay(ctx, e)
		if err != nil {
			return localDS{}, err
		}
		d.ov = ov
	}
	// Versions are immutable: a short read means the version is being
	// deleted (retired long ago: a newer plan is on its way) or Redis lost
	// its keys (see incomplete).
	if n := d.count(e); n != e.Count {
		return localDS{}, &incompleteError{ds: e.name, version: e.Version, read: n, want: e.Count}
	}
	return d, nil
}

// incompleteError is a version whose content does not match the manifest.
type incompleteError struct {
	ds         string
	version    uint64
	read, want uint64
}

func (e *incompleteError) Error() string {
	return fmt.Sprintf("%s version %d: read %d entries, the manifest says %d", e.ds, e.version, e.read, e.want)
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
		_, rowsKey := s.k.rangeKeys(e.name, e.Version)
		rows, err := s.rdb.HKeys(ctx, rowsKey).Result()
		if err != nil {
			return nil, err
		}
		for _, m := range rows {
			from, to, ok := parseRangeMember(m)
			if !ok {
				return nil, fmt.Errorf("range %q", m)
			}
			l.rows = append(l.rows, [2]uint64{uint64(from), uint64(to)})
		}
		l.setRows(l.rows)
		return l, nil
	}
	pairs := e.ds.Target == eir.TargetPair
	if !pairs {
		l.keys = make([]uint64, 0, e.Count)
	}
	exps := map[uint64]int64{}
	vals := map[uint64]string{}
	_, err := s.scanVersion(ctx, e, func(x uint64, v string) error {
		switch {
		case pairs:
			vals[x] = v
		case e.ds.Expiring:
			exp, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("key %d: expiry %q", x, v)
			}
			l.keys = append(l.keys, x)
			exps[x] = exp
		default:
			l.keys = append(l.keys, x)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if pairs {
		l.setValues(vals, true)
		return l, nil
	}
	sortKeys(l.keys)
	l.indexKeys()
	l.count = len(l.keys)
	if e.ds.Expiring {
		l.exps = make([]int64, len(l.keys))
		for i, k := range l.keys {
			l.exps[i] = exps[k]
		}
	}
	return l, nil
}

// scanVersion reads one version of an IMEI, TAC or pair dataset, bucket by
// bucket, pipelined, and calls fn with each key and its value (a hash's
// field value; "" for a set member). It returns the entries read: keys, or
// for a pair dataset the IMSIs its values list.
func (s *Store) scanVersion(ctx context.Context, e planEntry, fn func(x uint64, v string) error) (uint64, error) {
	pairs := e.ds.Target == eir.TargetPair
	hashes := pairs || e.ds.Expiring
	var n uint64
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
			return n, err
		}
		for i, c := range sets {
			b := start + uint64(i)
			for _, m := range c.Val() {
				q, err := strconv.ParseUint(m, 10, 64)
				if err != nil {
					return n, fmt.Errorf("bucket %d: member %q", b, m)
				}
				if err := fn(q*e.Buckets+b, ""); err != nil {
					return n, fmt.Errorf("bucket %d: %w", b, err)
				}
				n++
			}
		}
		for i, c := range hs {
			b := start + uint64(i)
			for f, v := range c.Val() {
				q, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					return n, fmt.Errorf("bucket %d: field %q", b, f)
				}
				if err := fn(q*e.Buckets+b, v); err != nil {
					return n, fmt.Errorf("bucket %d: %w", b, err)
				}
				if pairs {
					n += uint64(itemCount(v))
				} else {
					n++
				}
			}
		}
	}
	return n, nil
}

// setValues fills keys, values and offs from a map of values by key; count
// is the number of keys, or with items the number of entries the values
// list (pairs: one per IMSI).
func (l *localSet) setValues(vals map[uint64]string, items bool) {
	l.keys = make([]uint64, 0, len(vals))
	size := 0
	for x, v := range vals {
		l.keys = append(l.keys, x)
		size += len(v)
	}
	sortKeys(l.keys)
	l.indexKeys()
	var sb strings.Builder
	sb.Grow(size)
	l.offs = make([]uint32, 0, len(l.keys)+1)
	for _, x := range l.keys {
		l.offs = append(l.offs, uint32(sb.Len()))
		sb.WriteString(vals[x])
	}
	l.offs = append(l.offs, uint32(sb.Len()))
	l.values = sb.String()
	l.countValues(items)
}

// countValues sets the count of a set of values: its keys, or with items
// the items of its values (pairs: one per IMSI).
func (l *localSet) countValues(items bool) {
	l.count = len(l.keys)
	if items {
		l.count = 0
		for i := range l.keys {
			l.count += itemCount(l.value(i))
		}
	}
}

// setRows sets the ranges as loaded and computes their union.
func (l *localSet) setRows(rows [][2]uint64) {
	l.rows = rows
	slices.SortFunc(l.rows, func(a, b [2]uint64) int {
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		return cmp.Compare(a[1], b[1])
	})
	l.ranges = nil
	for _, r := range l.rows {
		if n := len(l.ranges); n > 0 && r[0] <= l.ranges[n-1][1]+1 {
			l.ranges[n-1][1] = max(l.ranges[n-1][1], r[1])
			continue
		}
		l.ranges = append(l.ranges, r)
	}
	l.count = len(l.rows)
}

// checkIncomplete decides what a version that does not match the manifest
// means: when it is still in force after a fresh read of the manifest,
// Redis lost keys of the lists in force (an eviction, a manual deletion):
// the store diverges rather than answer from a partial list, until that
// dataset is switched (a restore) or Redis's state accepted. It reports
// whether it diverged.
func (s *Store) checkIncomplete(ctx context.Context, p *plan, e planEntry, inc *incompleteError) bool {
	fresh, err := s.loadPlan(ctx)
	if err != nil {
		return false
	}
	if now, ok := fresh.find(e.name); ok && now.Version == e.Version && now.Overlay == e.Overlay && fresh.ident == p.ident {
		s.diverge("redis lost entries of the lists in force ("+inc.Error()+"): keys were evicted or deleted",
			observed{ident: fresh.ident, epoch: fresh.ep, datasets: int64(fresh.fields)}, &e)
		return true
	}
	return false
}
