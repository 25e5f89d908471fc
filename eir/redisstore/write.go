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

// entryKey identifies an entry within a dataset.
type entryKey struct {
	a, b uint64 // IMEI or TAC in a; range start and end in a and b
	imsi eir.IMSI
}

func keyOf(t eir.Target, e eir.Entry) entryKey {
	switch t {
	case eir.TargetTAC:
		return entryKey{a: uint64(e.TAC)}
	case eir.TargetRange:
		return entryKey{a: uint64(e.From), b: uint64(e.To)}
	case eir.TargetPair:
		return entryKey{a: uint64(e.IMEI), imsi: e.IMSI}
	}
	return entryKey{a: uint64(e.IMEI)}
}

// hash returns eir.Entry.Hash of k.
func (k entryKey) hash(t eir.Target) uint64 {
	var e eir.Entry
	switch t {
	case eir.TargetTAC:
		e.TAC = eir.TAC(k.a)
	case eir.TargetRange:
		e.From, e.To = eir.IMEI(k.a), eir.IMEI(k.b)
	default:
		e.IMEI, e.IMSI = eir.IMEI(k.a), k.imsi
	}
	return e.Hash(t)
}

// work is the net effect of an Apply on one dataset: the removals are
// applied first, then the additions. The slices are the callers' (no copy;
// AddKeys may be reordered).
type work struct {
	ds         eir.Dataset
	name       string
	replace    bool
	removes    [][]eir.Entry
	removeKeys [][]uint64
	adds       []eir.Entry
	addKeys    []uint64
	// compact folds the dataset's overlay into a new version (no change).
	compact bool
}

func (w *work) numAdds() int { return len(w.adds) + len(w.addKeys) }

func (w *work) eachRemove(fn func(entryKey)) {
	for _, list := range w.removes {
		for _, e := range list {
			fn(keyOf(w.ds.Target, e))
		}
	}
	for _, list := range w.removeKeys {
		for _, k := range list {
			fn(entryKey{a: k})
		}
	}
}

func (w *work) eachAdd(fn func(entryKey)) {
	for _, e := range w.adds {
		fn(keyOf(w.ds.Target, e))
	}
	for _, k := range w.addKeys {
		fn(entryKey{a: k})
	}
}

// groupChanges gathers the changes of each dataset. When only the last
// change of a dataset adds entries (the usual case: one change, or
// removals then one change), the slices are kept as they are; otherwise the
// changes are merged in order through a map.
func groupChanges(changes []eir.Change) []*work {
	var order []eir.Dataset
	byDS := map[eir.Dataset][]eir.Change{}
	for _, ch := range changes {
		if _, ok := byDS[ch.Dataset]; !ok {
			order = append(order, ch.Dataset)
		}
		byDS[ch.Dataset] = append(byDS[ch.Dataset], ch)
	}
	out := make([]*work, 0, len(order))
	for _, ds := range order {
		chs := byDS[ds]
		w := &work{ds: ds, name: ds.String()}
		simple := true
		for i, ch := range chs {
			if (ch.Replace && i > 0) || ((len(ch.Add) > 0 || len(ch.AddKeys) > 0) && i < len(chs)-1) {
				simple = false
			}
		}
		if simple {
			w.replace = chs[0].Replace
			for _, ch := range chs {
				if len(ch.Remove) > 0 {
					w.removes = append(w.removes, ch.Remove)
				}
				if len(ch.RemoveKeys) > 0 {
					w.removeKeys = append(w.removeKeys, ch.RemoveKeys)
				}
			}
			last := chs[len(chs)-1]
			w.adds, w.addKeys = last.Add, last.AddKeys
			out = append(out, w)
			continue
		}
		present := map[entryKey]bool{}
		var order []entryKey
		set := func(k entryKey, add bool) {
			if _, ok := present[k]; !ok {
				order = append(order, k)
			}
			present[k] = add
		}
		for _, ch := range chs {
			if ch.Replace {
				w.replace = true
				clear(present)
				order = order[:0]
			}
			cw := &work{ds: ds, removes: [][]eir.Entry{ch.Remove}, removeKeys: [][]uint64{ch.RemoveKeys}, adds: ch.Add, addKeys: ch.AddKeys}
			cw.eachRemove(func(k entryKey) { set(k, false) })
			cw.eachAdd(func(k entryKey) { set(k, true) })
		}
		var removes []eir.Entry
		for _, k := range order {
			e := keyEntry(ds.Target, k)
			if present[k] {
				w.adds = append(w.adds, e)
			} else if !w.replace {
				removes = append(removes, e)
			}
		}
		if len(removes) > 0 {
			w.removes = [][]eir.Entry{removes}
		}
		out = append(out, w)
	}
	return out
}

func keyEntry(t eir.Target, k entryKey) eir.Entry {
	switch t {
	case eir.TargetTAC:
		return eir.Entry{TAC: eir.TAC(k.a)}
	case eir.TargetRange:
		return eir.Entry{From: eir.IMEI(k.a), To: eir.IMEI(k.b)}
	}
	return eir.Entry{IMEI: eir.IMEI(k.a), IMSI: k.imsi}
}

// Apply writes changes as new versions of their datasets and switches all
// of them in at once: a check sees every change or none. A write that races
// with another writer of the same dataset is rebuilt from the new state (up
// to three times) and then fails with eir.ErrConflict.
func (s *Store) Apply(ctx context.Context, changes []eir.Change) (eir.ApplyResult, error) {
	return s.ApplyWith(ctx, changes, eir.ApplyOptions{})
}

// ApplyWith is Apply with a sync-state record written in the same switch,
// optional expectations on that record (a mismatch is eir.ErrConflict and is
// not retried), and strict deltas (eir.ErrNoop).
func (s *Store) ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error) {
	if err := eir.ValidateChanges(changes); err != nil {
		return eir.ApplyResult{}, err
	}
	start := time.Now()
	defer func() { s.m.duration.WithLabelValues("apply").Observe(time.Since(start).Seconds()) }()
	res, _, err := s.applyRetrying(ctx, changes, o)
	return res, err
}

// applyDetailed is ApplyWith returning what was built (for the sweeper).
func (s *Store) applyDetailed(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) ([]*built, error) {
	if err := eir.ValidateChanges(changes); err != nil {
		return nil, err
	}
	_, builds, err := s.applyRetrying(ctx, changes, o)
	return builds, err
}

func (s *Store) applyRetrying(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, []*built, error) {
	works := groupChanges(changes)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var res eir.ApplyResult
		var builds []*built
		res, builds, err = s.apply(ctx, works, o)
		if !errors.Is(err, errDatasetRace) {
			return res, builds, err
		}
		s.log.Info("concurrent write to the same dataset; rebuilding", zap.Error(err))
	}
	return eir.ApplyResult{}, nil, err
}

// errDatasetRace is a conflict on a dataset version (retried), as opposed to
// one on the sync state (returned).
var errDatasetRace = fmt.Errorf("%w: dataset changed during the write", eir.ErrConflict)

// built is a version written and not yet switched in.
type built struct {
	w   *work
	ref buildRef
	// expected is the tag of the content in force the build is based on
	// (manifestEntry.tag; "0": no dataset), checked at the switch; "*" for
	// a replacement nothing was judged on (no ApplyOptions.Before).
	expected string
	entry    manifestEntry
	added    uint64
	removed  uint64
	updated  uint64 // expiring datasets: entries whose expiry changed
	noopAdd  uint64
	noopRem  uint64
	// removedEntries lists the entries removed (expiring datasets only).
	removedEntries []eir.Entry
	// inForce is the content in force a fresh range or expiring build
	// read, and written the distinct keys a fresh IMEI or TAC build wrote
	// (sorted by bucket): what countReplaced compares.
	inForce map[entryKey]struct{}
	written []uint64
}

func (s *Store) apply(ctx context.Context, works []*work, o eir.ApplyOptions) (res eir.ApplyResult, done []*built, err error) {
	if err := s.errDown("apply"); err != nil {
		return res, nil, err
	}
	if err := s.errDiverged(); err != nil {
		return res, nil, err
	}
	p, cur, err := s.inForce(ctx)
	if err != nil {
		return res, nil, err
	}
	var builds, unchanged []*built
	var folds []*Lock
	defer func() {
		if err != nil {
			s.abandon(builds)
		}
		s.abandon(unchanged)
		for _, l := range folds {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			l.Unlock(uctx)
			cancel()
		}
	}()
	// Every fold lock is taken before anything is built: none is waited
	// for while holding a dataset being built.
	var waited bool
	if folds, waited, err = s.foldLocks(ctx, works, cur); err != nil {
		return res, nil, err
	}
	if waited {
		// A fold switched meanwhile: build on what it switched in.
		if p, cur, err = s.inForce(ctx); err != nil {
			return res, nil, err
		}
	}
	for _, w := range works {
		c, ok := cur[w.name]
		switch {
		case !ok && !w.replace && w.numAdds() == 0:
			continue // removals from a dataset that does not exist: nothing to do
		case w.compact && (c.Overlay == 0 || c.OCount < uint64(s.o.OverlayMax)):
			continue // folded meanwhile by another process
		}
		b, berr := s.build(ctx, w, c, ok)
		if b != nil {
			builds = append(builds, b)
		}
		if berr == nil && o.Strict && (b.noopAdd > 0 || b.noopRem > 0) {
			berr = fmt.Errorf("redisstore: %s: %w (%d adds of present entries, %d removals of absent ones)", w.name, eir.ErrNoop, b.noopAdd, b.noopRem)
		}
		if berr != nil {
			return res, nil, berr
		}
		if w.replace && o.Before != nil {
			// Before judges the counts against c: switch only over c.
			b.expected = inForceTag(c, ok)
		}
		if ok && !w.replace && !w.compact && b.added == 0 && b.removed == 0 && b.updated == 0 {
			// Nothing changed: keep the version in force.
			unchanged = append(unchanged, b)
			builds = builds[:len(builds)-1]
		}
	}
	for _, b := range unchanged {
		c := cur[b.w.name]
		res.Datasets = append(res.Datasets, eir.DatasetResult{Dataset: b.w.ds, Version: c.current(), Count: c.Count,
			Hash: uint64(c.Hash), NoopAdds: b.noopAdd, NoopRemoves: b.noopRem, Previous: c.Count})
	}
	for _, b := range builds {
		res.Datasets = append(res.Datasets, eir.DatasetResult{
			Dataset: b.w.ds, Version: b.ref.version, Added: b.added, Removed: b.removed, Updated: b.updated, Count: b.entry.Count,
			Hash: uint64(b.entry.Hash), NoopAdds: b.noopAdd, NoopRemoves: b.noopRem, Previous: cur[b.w.name].Count,
		})
	}
	if o.Before != nil {
		// Each attempt starts from the caller's state: a write retried
		// after a race calls Before again.
		state := make(map[string]string, len(o.State))
		for f, v := range o.State {
			state[f] = v
		}
		o.State = state
		if err = o.Before(res.Datasets, o.State); err != nil {
			return eir.ApplyResult{}, nil, err
		}
	}
	if len(builds) > 0 || len(o.State) > 0 || len(o.ExpectState) > 0 {
		var epoch int64
		if epoch, err = s.commit(ctx, p, builds, o); err != nil {
			return eir.ApplyResult{}, nil, err
		}
		if len(builds) > 0 {
			s.m.switches.Inc()
			if _, err := s.refreshPlan(ctx, ""); err != nil {
				s.log.Warn("cannot reload manifest after a switch", zap.Error(err))
			}
			s.log.Debug("datasets switched", zap.Int64("epoch", epoch), zap.Int("datasets", len(builds)))
		}
	}
	return res, append(builds, unchanged...), nil
}

// inForce reads the plan in force and its datasets by name.
func (s *Store) inForce(ctx context.Context) (*plan, map[string]planEntry, error) {
	p, err := s.refreshPlan(ctx, "")
	if err != nil {
		if errors.Is(err, eir.ErrDiverged) {
			return nil, nil, err
		}
		return nil, nil, s.unavailable("apply", err)
	}
	cur := make(map[string]planEntry, len(p.all))
	for _, e := range p.all {
		cur[e.name] = e
	}
	return p, cur, nil
}

// inForceTag is the tag a build based on cur expects at its switch
// (hasCur false: no dataset).
func inForceTag(cur planEntry, hasCur bool) string {
	if !hasCur {
		return "0"
	}
	return cur.tag()
}

func (s *Store) bucketsFor(n int) uint64 {
	return uint64(max(1, (n+s.o.BucketFill-1)/s.o.BucketFill))
}

// bucketsForReplace keeps the bucket count in force for a replacement of a
// similar size, so that the two versions can be compared bucket by bucket
// inside Redis (see intersect).
func (s *Store) bucketsForReplace(n int, cur planEntry, hasCur bool) uint64 {
	nb := s.bucketsFor(n)
	if hasCur && cur.Buckets > 0 && cur.Buckets*2 >= nb && cur.Buckets <= nb*2 && n/int(cur.Buckets) <= s.maxBucket {
		return cur.Buckets
	}
	return nb
}

// build writes the new version of one dataset (or of its overlay) and
// returns it registered as being built. The returned *built is non-nil
// once something may have been written, so that it is cleaned up on
// failure.
func (s *Store) build(ctx context.Context, w *work, cur planEntry, hasCur bool) (*built, error) {
	s.readLimits(ctx)
	b := &built{w: w, expected: "*"}
	if !w.replace {
		b.expected = inForceTag(cur, hasCur)
	}
	if !hasCur {
		cur = planEntry{}
	}
	incremental := hasCur && !w.replace && (cur.Count > 0 || cur.Overlay != 0)
	overlay := incremental && s.useOverlay(w, cur)
	// fresh: written without reading the content in force (a replacement,
	// or the first entries of a dataset); countReplaced counts it.
	fresh := !incremental
	if w.ds.Expiring {
		fresh = w.replace || !hasCur
	}
	var buckets uint64
	switch {
	case w.ds.Expiring:
		buckets = s.bucketsFor(int(cur.Count) + w.numAdds())
	case w.ds.Target == eir.TargetRange:
	case overlay:
	case incremental && (int(cur.Count)+w.numAdds())/int(cur.Buckets) <= s.maxBucket:
		buckets = cur.Buckets
	case incremental:
		buckets = s.bucketsFor(int(cur.Count) + w.numAdds()) // rebucket from a full read
	default:
		buckets = s.bucketsForReplace(w.numAdds(), cur, w.replace && cur.Count > 0)
	}
	v, err := s.rdb.Incr(ctx, s.k.seq).Uint64()
	if err != nil {
		return nil, s.unavailable("apply", err)
	}
	b.ref = buildRef{ds: w.ds, version: v, buckets: buckets, overlay: overlay}
	if err := s.rdb.ZAdd(ctx, s.k.building, redis.Z{Score: float64(unixMilli(s.o.Now().Add(s.o.BuildLease))), Member: b.ref.String()}).Err(); err != nil {
		return nil, s.unavailable("apply", err)
	}
	pw := s.newPipeWriter(ctx, b.ref)
	switch {
	case w.ds.Expiring:
		err = s.buildExpiring(pw, b, cur, !fresh)
	case w.ds.Target == eir.TargetRange:
		err = s.buildRanges(ctx, pw, b, cur, incremental)
	case overlay:
		err = s.overlayDelta(ctx, pw, b, cur)
	case incremental && buckets == cur.Buckets:
		err = s.fold(ctx, pw, b, cur)
	case incremental:
		// Rebucket: read the content in force, apply the changes in
		// memory, write everything into the new buckets.
		content := map[entryKey]struct{}{}
		if err := s.readAll(ctx, pw, cur, content); err != nil {
			return b, err
		}
		b.applyInMemory(content)
		keys := make([]entryKey, 0, len(content))
		for k := range content {
			keys = append(keys, k)
		}
		if w.ds.Target == eir.TargetPair {
			err = s.writePairs(pw, b, keys)
		} else {
			vals := make([]uint64, len(keys))
			for i, k := range keys {
				vals[i] = k.a
			}
			err = s.writeSets(pw, b, vals)
		}
	case w.ds.Target == eir.TargetPair:
		keys := make([]entryKey, 0, w.numAdds())
		w.eachAdd(func(k entryKey) { keys = append(keys, k) })
		err = s.writePairs(pw, b, keys)
	default:
		vals := w.addKeys
		if len(w.adds) > 0 {
			vals = make([]uint64, 0, w.numAdds())
			w.eachAdd(func(k entryKey) { vals = append(vals, k.a) })
		}
		err = s.writeSets(pw, b, vals)
	}
	if err == nil {
		err = pw.flush()
	}
	if err == nil && fresh {
		err = s.countReplaced(ctx, pw, b, cur)
	}
	if err != nil {
		return b, err
	}
	b.entry.At = unixMilli(s.o.Now())
	if !overlay {
		b.entry.Version, b.entry.Buckets = v, buckets
	}
	return b, nil
}

// countReplaced sets what a fresh build (a replacement, or the first
// entries of a dataset) adds and removes, by content: the entries it
// shares with the content in force cur, its overlay applied, are neither.
// It is the one place where replacements are counted, for every target.
func (s *Store) countReplaced(ctx context.Context, pw *pipeWriter, b *built, cur planEntry) error {
	var common uint64
	var err error
	switch t := b.w.ds.Target; {
	case cur.Count == 0:
	case b.w.ds.Expiring || t == eir.TargetRange:
		common = takeCommon(b.inForce, b.w.eachAdd) // read by the builder
	case t == eir.TargetPair:
		common, err = s.intersectPairs(pw, b.w, cur)
	default:
		common, err = s.intersect(ctx, pw, b, cur)
	}
	if err != nil {
		return err
	}
	b.added, b.removed = b.entry.Count-common, cur.Count-common
	b.inForce, b.written = nil, nil
	return nil
}

// takeCommon counts the distinct entries each yields that inForce holds,
// deleting them from inForce.
func takeCommon(inForce map[entryKey]struct{}, each func(func(entryKey))) uint64 {
	var n uint64
	each(func(k entryKey) {
		if _, ok := inForce[k]; ok {
			delete(inForce, k)
			n++
		}
	})
	return n
}

// applyInMemory applies the work to content, counting effective and no-op
// changes, and sets the count and hash of the result.
func (b *built) applyInMemory(content map[entryKey]struct{}) {
	t := b.w.ds.Target
	b.w.eachRemove(func(k entryKey) {
		if _, ok := content[k]; ok {
			delete(content, k)
			b.removed++
		} else {
			b.noopRem++
		}
	})
	b.w.eachAdd(func(k entryKey) {
		if _, ok := content[k]; !ok {
			content[k] = struct{}{}
			b.added++
		} else {
			b.noopAdd++
		}
	})
	b.entry.Count, b.entry.Hash = uint64(len(content)), 0
	for k := range content {
		b.entry.Hash ^= hexUint64(k.hash(t))
	}
}

// writeSets writes IMEI or TAC values into the empty version b.ref: it sorts
// them by bucket, in place, and skips duplicates (they may be the caller's
// AddKeys, which must stay a permutation of themselves: a write retried
// after a race reads them again), then sends one SADD per bucket (per 1024
// members), so that no per-bucket copy is held in memory. b.written is set
// to the distinct values.
func (s *Store) writeSets(pw *pipeWriter, b *built, vals []uint64) error {
	t, name, B := b.w.ds.Target, b.w.name, b.ref.buckets
	slices.SortFunc(vals, func(x, y uint64) int {
		if bx, by := x%B, y%B; bx != by {
			return cmpU(bx, by)
		}
		return cmpU(x, y)
	})
	n := 0 // the distinct values first, the duplicates swapped behind them
	for i, v := range vals {
		if n == 0 || v != vals[n-1] {
			vals[n], vals[i] = vals[i], vals[n]
			n++
		}
	}
	vals = vals[:n]
	b.written = vals
	b.entry.Count, b.entry.Hash = uint64(len(vals)), 0
	for _, v := range vals {
		b.entry.Hash ^= hexUint64(entryKey{a: v}.hash(t))
	}
	for start := 0; start < len(vals); {
		bk := vals[start] % B
		end := start
		for end < len(vals) && vals[end]%B == bk {
			end++
		}
		ms := make([]uint64, end-start)
		for i, v := range vals[start:end] {
			ms[i] = v / B
		}
		if err := s.setOp(pw, "sadd", s.k.bucketKey(name, bk, b.ref.version), ms); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// writePairs writes pairs into the empty version b.ref.
func (s *Store) writePairs(pw *pipeWriter, b *built, keys []entryKey) error {
	name, B := b.w.name, b.ref.buckets
	fields := map[uint64]map[uint64]map[eir.IMSI]struct{}{} // bucket → field → IMSIs
	b.entry.Count, b.entry.Hash = 0, 0
	for _, k := range keys {
		bk, f := k.a%B, k.a/B
		if fields[bk] == nil {
			fields[bk] = map[uint64]map[eir.IMSI]struct{}{}
		}
		if fields[bk][f] == nil {
			fields[bk][f] = map[eir.IMSI]struct{}{}
		}
		if _, dup := fields[bk][f][k.imsi]; !dup {
			fields[bk][f][k.imsi] = struct{}{}
			b.entry.Count++
			b.entry.Hash ^= hexUint64(k.hash(eir.TargetPair))
		}
	}
	for bk, fs := range fields {
		args := make([]any, 0, 2*len(fs))
		for f, set := range fs {
			args = append(args, strconv.FormatUint(f, 10), joinIMSIs(set))
		}
		if err := pw.add(pw.pipe.HSet(pw.ctx, s.k.bucketKey(name, bk, b.ref.version), args...), nil); err != nil {
			return err
		}
	}
	return nil
}

// setOp queues SADD or SREM of ms to key, 1024 members per command.
func (s *Store) setOp(pw *pipeWriter, op, key string, ms []uint64) error {
	for len(ms) > 0 {
		n := min(len(ms), 1024)
		args := make([]any, 0, n+2)
		args = append(args, op, key)
		for _, m := range ms[:n] {
			args = append(args, m)
		}
		if err := pw.add(pw.pipe.Do(pw.ctx, args...), nil); err != nil {
			return err
		}
		ms = ms[n:]
	}
	return nil
}

func joinIMSIs(set map[eir.IMSI]struct{}) string {
	list := make([]string, 0, len(set))
	for imsi := range set {
		list = append(list, string(imsi))
	}
	slices.Sort(list)
	return strings.Join(list, ",")
}

// readAll reads, through pw, every entry of a bucketed dataset in force
// into content, its overlay applied.
func (s *Store) readAll(ctx context.Context, pw *pipeWriter, cur planEntry, content map[entryKey]struct{}) error {
	for bk := range cur.Buckets {
		key := s.k.bucketKey(cur.name, bk, cur.Version)
		if cur.ds.Target == eir.TargetPair {
			cmd := pw.pipe.HGetAll(pw.ctx, key)
			if err := pw.add(cmd, func() error {
				for f, list := range cmd.Val() {
					q, err := strconv.ParseUint(f, 10, 64)
					if err != nil {
						return fmt.Errorf("redisstore: %s bucket %d: field %q: %w", cur.name, bk, f, err)
					}
					for _, imsi := range strings.Split(list, ",") {
						content[entryKey{a: q*cur.Buckets + bk, imsi: eir.IMSI(imsi)}] = struct{}{}
					}
				}
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		cmd := pw.pipe.SMembers(pw.ctx, key)
		if err := pw.add(cmd, func() error {
			for _, m := range cmd.Val() {
				q, err := strconv.ParseUint(m, 10, 64)
				if err != nil {
					return fmt.Errorf("redisstore: %s bucket %d: member %q: %w", cur.name, bk, m, err)
				}
				content[entryKey{a: q*cur.Buckets + bk}] = struct{}{}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := pw.flush(); err != nil {
		return err
	}
	return s.applyOverlay(ctx, cur, content)
}

// buildRanges writes a range version: the hash of ranges as loaded and the
// sorted set of their union, which lookups read.
func (s *Store) buildRanges(ctx context.Context, pw *pipeWriter, b *built, cur planEntry, incremental bool) error {
	inForce := map[entryKey]struct{}{}
	if cur.Count > 0 {
		_, curRows := s.k.rangeKeys(cur.name, cur.Version)
		fields, err := s.rdb.HKeys(ctx, curRows).Result()
		if err != nil {
			return s.unavailable("apply", err)
		}
		for _, f := range fields {
			from, to, ok := parseRangeMember(f)
			if !ok {
				return fmt.Errorf("redisstore: %s: range %q", cur.name, f)
			}
			inForce[entryKey{a: uint64(from), b: uint64(to)}] = struct{}{}
		}
	}
	rows := inForce
	if !incremental {
		rows = map[entryKey]struct{}{}
		b.inForce = inForce // for countReplaced
	}
	b.applyInMemory(rows)
	if !incremental {
		b.noopAdd, b.noopRem = 0, 0 // a fresh build has nothing to compare with
	}
	if len(rows) == 0 {
		return nil
	}
	sorted := make([]entryKey, 0, len(rows))
	fields := make([]any, 0, 2*len(rows))
	for k := range rows {
		sorted = append(sorted, k)
		fields = append(fields, rangeMember(eir.IMEI(k.a), eir.IMEI(k.b)), "")
	}
	slices.SortFunc(sorted, func(x, y entryKey) int {
		if x.a != y.a {
			return cmpU(x.a, y.a)
		}
		return cmpU(x.b, y.b)
	})
	var union []redis.Z
	for _, k := range sorted {
		if n := len(union); n > 0 {
			last := &union[n-1]
			from, to, _ := parseRangeMember(last.Member.(string))
			if k.a <= uint64(to)+1 {
				if k.b > uint64(to) {
					last.Member = rangeMember(from, eir.IMEI(k.b))
				}
				continue
			}
		}
		union = append(union, redis.Z{Score: float64(k.a), Member: rangeMember(eir.IMEI(k.a), eir.IMEI(k.b))})
	}
	unionKey, rowsKey := s.k.rangeKeys(b.w.name, b.ref.version)
	for len(fields) > 0 {
		n := min(len(fields), 2048)
		if err := pw.add(pw.pipe.HSet(ctx, rowsKey, fields[:n]...), nil); err != nil {
			return err
		}
		fields = fields[n:]
	}
	for len(union) > 0 {
		n := min(len(union), 1024)
		if err := pw.add(pw.pipe.ZAdd(ctx, unionKey, union[:n]...), nil); err != nil {
			return err
		}
		union = union[n:]
	}
	return nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
