package redisstore

import (
	"context"
	"encoding/json"
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
	w        *work
	ref      buildRef
	expected string // version the build was based on, "*" for replacements
	entry    manifestEntry
	added    uint64
	removed  uint64
	updated  uint64 // expiring datasets: entries whose expiry changed
	noopAdd  uint64
	noopRem  uint64
	// removedEntries lists the entries removed (expiring datasets only).
	removedEntries []eir.Entry
}

func (s *Store) apply(ctx context.Context, works []*work, o eir.ApplyOptions) (res eir.ApplyResult, done []*built, err error) {
	p, err := s.loadPlan(ctx)
	if err != nil {
		return res, nil, s.unavailable("apply", err)
	}
	cur := map[string]planEntry{}
	for _, e := range p.all {
		cur[e.name] = e
	}
	var builds, unchanged []*built
	defer func() {
		if err != nil {
			s.abandon(builds)
		}
	}()
	for _, w := range works {
		c, ok := cur[w.name]
		if !ok && !w.replace && w.numAdds() == 0 {
			continue // removals from a dataset that does not exist: nothing to do
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
		if ok && !w.replace && b.added == 0 && b.removed == 0 && b.updated == 0 {
			// Nothing changed: keep the version in force.
			unchanged = append(unchanged, b)
			builds = builds[:len(builds)-1]
		}
	}
	if len(builds) > 0 || len(o.State) > 0 || len(o.ExpectState) > 0 {
		epoch, err := s.commit(ctx, builds, o)
		if err != nil {
			return res, nil, err
		}
		if len(builds) > 0 {
			s.m.switches.Inc()
			if _, err := s.refreshPlan(ctx, ""); err != nil {
				s.log.Warn("cannot reload manifest after a switch", zap.Error(err))
			}
			s.log.Debug("datasets switched", zap.Int64("epoch", epoch), zap.Int("datasets", len(builds)))
		}
	}
	s.abandon(unchanged)
	for _, b := range unchanged {
		c := cur[b.w.name]
		res.Datasets = append(res.Datasets, eir.DatasetResult{Dataset: b.w.ds, Version: c.Version, Count: c.Count,
			Hash: uint64(c.Hash), NoopAdds: b.noopAdd, NoopRemoves: b.noopRem})
	}
	for _, b := range builds {
		res.Datasets = append(res.Datasets, eir.DatasetResult{
			Dataset: b.w.ds, Version: b.ref.version, Added: b.added, Removed: b.removed, Updated: b.updated, Count: b.entry.Count,
			Hash: uint64(b.entry.Hash), NoopAdds: b.noopAdd, NoopRemoves: b.noopRem,
		})
	}
	return res, append(builds, unchanged...), nil
}

func (s *Store) bucketsFor(n int) uint64 {
	return uint64(max(1, (n+s.o.BucketFill-1)/s.o.BucketFill))
}

// build writes the new version of one dataset and returns it registered as
// being built. The returned *built is non-nil once something may have been
// written, so that it is cleaned up on failure.
func (s *Store) build(ctx context.Context, w *work, cur planEntry, hasCur bool) (*built, error) {
	b := &built{w: w, expected: "*"}
	if !w.replace {
		b.expected = "0"
		if hasCur {
			b.expected = strconv.FormatUint(cur.Version, 10)
		}
	}
	incremental := hasCur && !w.replace && cur.Count > 0
	var buckets uint64
	switch {
	case w.ds.Expiring:
		buckets = s.bucketsFor(int(cur.Count) + w.numAdds())
	case w.ds.Target == eir.TargetRange:
	case incremental && (int(cur.Count)+w.numAdds())/int(cur.Buckets) <= s.maxBucket:
		buckets = cur.Buckets
	case incremental:
		buckets = s.bucketsFor(int(cur.Count) + w.numAdds()) // rebucket from a full read
	default:
		buckets = s.bucketsFor(w.numAdds())
	}
	v, err := s.rdb.Incr(ctx, s.k.seq).Uint64()
	if err != nil {
		return nil, s.unavailable("apply", err)
	}
	b.ref = buildRef{ds: w.ds, version: v, buckets: buckets}
	if err := s.rdb.ZAdd(ctx, s.k.building, redis.Z{Score: float64(unixMilli(s.o.Now().Add(s.o.BuildLease))), Member: b.ref.String()}).Err(); err != nil {
		return nil, s.unavailable("apply", err)
	}
	pw := s.newPipeWriter(ctx, b.ref)
	switch {
	case w.ds.Expiring:
		err = s.buildExpiring(ctx, pw, b, cur, hasCur && !w.replace)
	case w.ds.Target == eir.TargetRange:
		err = s.buildRanges(ctx, pw, b, cur, incremental)
	case incremental && buckets == cur.Buckets && w.ds.Target == eir.TargetPair:
		err = s.pairDelta(ctx, pw, b, cur)
	case incremental && buckets == cur.Buckets:
		err = s.setDelta(ctx, pw, b, cur)
	case incremental:
		// Rebucket: read the version in force, apply the changes in
		// memory, write everything into the new buckets.
		content := map[entryKey]struct{}{}
		if err := s.readAll(ctx, cur, w.ds.Target, content); err != nil {
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
		b.added = b.entry.Count
	default:
		vals := w.addKeys
		if len(w.adds) > 0 {
			vals = make([]uint64, 0, w.numAdds())
			w.eachAdd(func(k entryKey) { vals = append(vals, k.a) })
		}
		err = s.writeSets(pw, b, vals)
		b.added = b.entry.Count
	}
	if err == nil {
		err = pw.flush()
	}
	if err != nil {
		return b, err
	}
	b.entry.Version, b.entry.Buckets, b.entry.At = v, buckets, unixMilli(s.o.Now())
	return b, nil
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
// them by bucket (in place), drops duplicates, and sends one SADD per bucket
// (per 1024 members), so that no per-bucket copy is held in memory.
func (s *Store) writeSets(pw *pipeWriter, b *built, vals []uint64) error {
	t, name, B := b.w.ds.Target, b.w.name, b.ref.buckets
	slices.SortFunc(vals, func(x, y uint64) int {
		if bx, by := x%B, y%B; bx != by {
			return cmpU(bx, by)
		}
		return cmpU(x, y)
	})
	vals = slices.Compact(vals)
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
		if err := s.setOp(pw, "sadd", s.k.bucketKey(name, bk, b.ref.version), ms, nil); err != nil {
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
func (s *Store) setOp(pw *pipeWriter, op, key string, ms []uint64, done func(redis.Cmder)) error {
	for len(ms) > 0 {
		n := min(len(ms), 1024)
		args := make([]any, 0, n+2)
		args = append(args, op, key)
		for _, m := range ms[:n] {
			args = append(args, m)
		}
		if err := pw.add(pw.pipe.Do(pw.ctx, args...), done); err != nil {
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

// setDelta applies a delta to an IMEI or TAC dataset: it reads which of the
// touched entries the version in force holds (SMISMEMBER), copies every
// bucket (COPY, inside Redis) and applies only the effective changes, so
// that counts and the set hash stay exact.
func (s *Store) setDelta(ctx context.Context, pw *pipeWriter, b *built, cur planEntry) error {
	t, name, B, v := b.w.ds.Target, b.w.name, b.ref.buckets, b.ref.version
	type touch struct {
		final   map[uint64]bool // member → present after the delta
		order   []uint64
		removed map[uint64]bool // member named by a removal
	}
	touched := map[uint64]*touch{}
	get := func(bk uint64) *touch {
		tc := touched[bk]
		if tc == nil {
			tc = &touch{final: map[uint64]bool{}, removed: map[uint64]bool{}}
			touched[bk] = tc
		}
		return tc
	}
	b.w.eachRemove(func(k entryKey) {
		tc := get(k.a % B)
		m := k.a / B
		if _, ok := tc.final[m]; !ok {
			tc.order = append(tc.order, m)
		}
		tc.final[m] = false
		tc.removed[m] = true
	})
	b.w.eachAdd(func(k entryKey) {
		tc := get(k.a % B)
		m := k.a / B
		if _, ok := tc.final[m]; !ok {
			tc.order = append(tc.order, m)
		}
		if tc.final[m] {
			b.noopAdd++ // added twice in one delta
		}
		tc.final[m] = true
	})
	initial := map[uint64][]bool{}
	for bk, tc := range touched {
		args := make([]any, len(tc.order))
		for i, m := range tc.order {
			args[i] = m
		}
		cmd := pw.pipe.SMIsMember(ctx, s.k.bucketKey(name, bk, cur.Version), args...)
		if err := pw.add(cmd, func(c redis.Cmder) { initial[bk] = c.(*redis.BoolSliceCmd).Val() }); err != nil {
			return err
		}
	}
	for bk := uint64(0); bk < B; bk++ {
		if err := pw.add(pw.pipe.Do(ctx, "copy", s.k.bucketKey(name, bk, cur.Version), s.k.bucketKey(name, bk, v)), nil); err != nil {
			return err
		}
	}
	if err := pw.flush(); err != nil {
		return err
	}
	b.entry.Hash = cur.Hash
	for bk, tc := range touched {
		var adds, rems []uint64
		for i, m := range tc.order {
			was, now := initial[bk][i], tc.final[m]
			switch {
			case was && !now:
				rems = append(rems, m)
			case !was && now:
				adds = append(adds, m)
			case was && now && !tc.removed[m]:
				b.noopAdd++
			case !was && !now:
				b.noopRem++
			}
			if was != now {
				b.entry.Hash ^= hexUint64(entryKey{a: m*B + bk}.hash(t))
			}
		}
		b.added += uint64(len(adds))
		b.removed += uint64(len(rems))
		key := s.k.bucketKey(name, bk, v)
		if err := s.setOp(pw, "srem", key, rems, nil); err != nil {
			return err
		}
		if err := s.setOp(pw, "sadd", key, adds, nil); err != nil {
			return err
		}
	}
	b.entry.Count = cur.Count + b.added - b.removed
	return nil
}

// pairDelta copies the version in force and updates the IMSI lists of the
// fields a delta touches.
func (s *Store) pairDelta(ctx context.Context, pw *pipeWriter, b *built, cur planEntry) error {
	name, B, v := b.w.name, b.ref.buckets, b.ref.version
	for bk := uint64(0); bk < B; bk++ {
		if err := pw.add(pw.pipe.Do(ctx, "copy", s.k.bucketKey(name, bk, cur.Version), s.k.bucketKey(name, bk, v)), nil); err != nil {
			return err
		}
	}
	type op struct {
		add, removed bool
	}
	touched := map[uint64]map[uint64]map[eir.IMSI]*op{} // bucket → field → IMSI → final op
	touch := func(k entryKey, add bool) {
		bk, f := k.a%B, k.a/B
		if touched[bk] == nil {
			touched[bk] = map[uint64]map[eir.IMSI]*op{}
		}
		if touched[bk][f] == nil {
			touched[bk][f] = map[eir.IMSI]*op{}
		}
		o := touched[bk][f][k.imsi]
		if o == nil {
			o = &op{}
			touched[bk][f][k.imsi] = o
		}
		o.add = add
		if !add {
			o.removed = true
		}
	}
	b.w.eachRemove(func(k entryKey) { touch(k, false) })
	b.w.eachAdd(func(k entryKey) { touch(k, true) })
	olds := map[uint64]*redis.SliceCmd{}
	order := map[uint64][]uint64{}
	for bk, fs := range touched {
		names := make([]string, 0, len(fs))
		for f := range fs {
			order[bk] = append(order[bk], f)
			names = append(names, strconv.FormatUint(f, 10))
		}
		cmd := pw.pipe.HMGet(ctx, s.k.bucketKey(name, bk, cur.Version), names...)
		olds[bk] = cmd
		if err := pw.add(cmd, nil); err != nil {
			return err
		}
	}
	if err := pw.flush(); err != nil {
		return err
	}
	b.entry.Hash = cur.Hash
	for bk, fields := range order {
		vals := olds[bk].Val()
		key := s.k.bucketKey(name, bk, v)
		for i, f := range fields {
			set := map[eir.IMSI]struct{}{}
			if sv, ok := vals[i].(string); ok && sv != "" {
				for _, imsi := range strings.Split(sv, ",") {
					set[eir.IMSI(imsi)] = struct{}{}
				}
			}
			changed := false
			for imsi, o := range touched[bk][f] {
				_, had := set[imsi]
				switch {
				case o.add && !had:
					set[imsi] = struct{}{}
					b.added++
				case !o.add && had:
					delete(set, imsi)
					b.removed++
				case o.add && had && !o.removed:
					b.noopAdd++
				case !o.add && !had:
					b.noopRem++
				}
				if o.add != had {
					changed = true
					b.entry.Hash ^= hexUint64(entryKey{a: f*B + bk, imsi: imsi}.hash(eir.TargetPair))
				}
			}
			if !changed {
				continue
			}
			field := strconv.FormatUint(f, 10)
			var cmd redis.Cmder
			if len(set) == 0 {
				cmd = pw.pipe.HDel(ctx, key, field)
			} else {
				cmd = pw.pipe.HSet(ctx, key, field, joinIMSIs(set))
			}
			if err := pw.add(cmd, nil); err != nil {
				return err
			}
		}
	}
	b.entry.Count = cur.Count + b.added - b.removed
	return nil
}

// readAll reads every entry of a bucketed version into content.
func (s *Store) readAll(ctx context.Context, cur planEntry, t eir.Target, content map[entryKey]struct{}) error {
	for start := uint64(0); start < cur.Buckets; start += 512 {
		end := min(start+512, cur.Buckets)
		pipe := s.rdb.Pipeline()
		cmds := make([]redis.Cmder, 0, end-start)
		for bk := start; bk < end; bk++ {
			key := s.k.bucketKey(cur.name, bk, cur.Version)
			if t == eir.TargetPair {
				cmds = append(cmds, pipe.HGetAll(ctx, key))
			} else {
				cmds = append(cmds, pipe.SMembers(ctx, key))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return s.unavailable("apply", err)
		}
		for i, c := range cmds {
			bk := start + uint64(i)
			switch c := c.(type) {
			case *redis.StringSliceCmd:
				for _, m := range c.Val() {
					q, err := strconv.ParseUint(m, 10, 64)
					if err != nil {
						return fmt.Errorf("redisstore: %s bucket %d: member %q: %w", cur.name, bk, m, err)
					}
					content[entryKey{a: q*cur.Buckets + bk}] = struct{}{}
				}
			case *redis.MapStringStringCmd:
				for f, list := range c.Val() {
					q, err := strconv.ParseUint(f, 10, 64)
					if err != nil {
						return fmt.Errorf("redisstore: %s bucket %d: field %q: %w", cur.name, bk, f, err)
					}
					for _, imsi := range strings.Split(list, ",") {
						content[entryKey{a: q*cur.Buckets + bk, imsi: eir.IMSI(imsi)}] = struct{}{}
					}
				}
			}
		}
	}
	return nil
}

// buildRanges writes a range version: the hash of ranges as loaded and the
// buildRanges writes a range version: the hash of ranges as loaded and the
// sorted set of their union, which lookups read.
func (s *Store) buildRanges(ctx context.Context, pw *pipeWriter, b *built, cur planEntry, incremental bool) error {
	rows := map[entryKey]struct{}{}
	if incremental {
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
			rows[entryKey{a: uint64(from), b: uint64(to)}] = struct{}{}
		}
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

// commitScript switches the built versions in: it checks the expected
// sync-state fields, that each build is still registered (the janitor has
// not reclaimed it) and that the version in force is still the one the
// build started from; then it updates the manifest, retires the replaced
// versions, writes the sync state and increments the epoch.
//
// KEYS: manifest, epoch, building, retired, sync state.
// ARGV: retire-at (unix ms), n builds, n × (dataset, expected version or
// "*", manifest entry JSON, build reference), m expectations, m × (field,
// value or "" for absent), k state fields, k × (field, value).
var commitScript = redis.NewScript(`
local n = tonumber(ARGV[2])
local function ver(e)
  if not e then return '0' end
  return string.format('%.0f', cjson.decode(e).v)
end
local i = 3 + n * 4
local m = tonumber(ARGV[i])
for j = 0, m - 1 do
  local field, want = ARGV[i + 1 + j*2], ARGV[i + 2 + j*2]
  local got = redis.call('HGET', KEYS[5], field)
  if (got or '') ~= want then
    return redis.error_reply('STATE ' .. field .. ' changed')
  end
end
local k0 = i + 1 + m * 2
for j = 0, n - 1 do
  local name, expected, ref = ARGV[3 + j*4], ARGV[4 + j*4], ARGV[6 + j*4]
  if not redis.call('ZSCORE', KEYS[3], ref) then
    return redis.error_reply('EXPIRED build ' .. ref .. ' was reclaimed')
  end
  if expected ~= '*' and expected ~= ver(redis.call('HGET', KEYS[1], name)) then
    return redis.error_reply('CONFLICT ' .. name .. ' changed since version ' .. expected)
  end
end
for j = 0, n - 1 do
  local name, entry, ref = ARGV[3 + j*4], ARGV[5 + j*4], ARGV[6 + j*4]
  local cur = redis.call('HGET', KEYS[1], name)
  if cur then
    local c = cjson.decode(cur)
    redis.call('ZADD', KEYS[4], ARGV[1], name .. '|' .. string.format('%.0f', c.v) .. '|' .. string.format('%.0f', c.b or 0))
  end
  redis.call('HSET', KEYS[1], name, entry)
  redis.call('ZREM', KEYS[3], ref)
end
local k = tonumber(ARGV[k0])
for j = 0, k - 1 do
  redis.call('HSET', KEYS[5], ARGV[k0 + 1 + j*2], ARGV[k0 + 2 + j*2])
end
if n > 0 then
  return redis.call('INCR', KEYS[2])
end
return tonumber(redis.call('GET', KEYS[2]) or '0')
`)

func (s *Store) commit(ctx context.Context, builds []*built, o eir.ApplyOptions) (int64, error) {
	args := []any{unixMilli(s.o.Now().Add(s.o.Grace)), len(builds)}
	for _, b := range builds {
		entry, err := json.Marshal(b.entry)
		if err != nil {
			return 0, err
		}
		args = append(args, b.w.name, b.expected, string(entry), b.ref.String())
	}
	args = append(args, len(o.ExpectState))
	for f, v := range o.ExpectState {
		args = append(args, f, v)
	}
	args = append(args, len(o.State))
	for f, v := range o.State {
		args = append(args, f, v)
	}
	epoch, err := commitScript.Run(ctx, s.rdb, []string{s.k.manifest, s.k.epoch, s.k.building, s.k.retired, s.k.syncState}, args...).Int64()
	switch {
	case err == nil:
		return epoch, nil
	case strings.HasPrefix(err.Error(), "CONFLICT"):
		return 0, fmt.Errorf("redisstore: %w: %s", errDatasetRace, err.Error())
	case strings.HasPrefix(err.Error(), "STATE"):
		return 0, fmt.Errorf("redisstore: %w: sync state %s", eir.ErrConflict, strings.TrimPrefix(err.Error(), "STATE "))
	case strings.HasPrefix(err.Error(), "EXPIRED"):
		return 0, fmt.Errorf("redisstore: apply: %s (the build took longer than build_lease)", err.Error())
	}
	return 0, s.unavailable("apply", err)
}

// abandon hands versions that were being built to the janitor for deletion.
func (s *Store) abandon(builds []*built) {
	if len(builds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, b := range builds {
			p.ZRem(ctx, s.k.building, b.ref.String())
			p.ZAdd(ctx, s.k.retired, redis.Z{Score: float64(unixMilli(s.o.Now())), Member: b.ref.String()})
		}
		return nil
	})
	if err != nil {
		s.log.Warn("cannot hand failed builds to the janitor; their lease will expire", zap.Error(err))
	}
}

// pipeWriter batches the writes of a build into pipelines of a bounded size
// pipeWriter batches the writes of a build into pipelines of a bounded size
// and keeps the build's lease alive.
type pipeWriter struct {
	s         *Store
	ctx       context.Context
	ref       buildRef
	pipe      redis.Pipeliner
	cmds      []redis.Cmder
	done      []func(redis.Cmder)
	lastTouch time.Time
}

func (s *Store) newPipeWriter(ctx context.Context, ref buildRef) *pipeWriter {
	return &pipeWriter{s: s, ctx: ctx, ref: ref, pipe: s.rdb.Pipeline(), lastTouch: s.o.Now()}
}

func (w *pipeWriter) add(c redis.Cmder, done func(redis.Cmder)) error {
	w.cmds = append(w.cmds, c)
	w.done = append(w.done, done)
	if len(w.cmds) >= 512 {
		return w.flush()
	}
	return nil
}

func (w *pipeWriter) flush() error {
	if len(w.cmds) > 0 {
		_, err := w.pipe.Exec(w.ctx)
		if err != nil && !errors.Is(err, redis.Nil) {
			return w.s.unavailable("apply", err)
		}
		for i, c := range w.cmds {
			if w.done[i] != nil {
				w.done[i](c)
			}
		}
		w.cmds, w.done = w.cmds[:0], w.done[:0]
	}
	if now := w.s.o.Now(); now.Sub(w.lastTouch) > w.s.o.BuildLease/4 {
		n, err := w.s.rdb.ZAddArgs(w.ctx, w.s.k.building, redis.ZAddArgs{XX: true, Ch: true, Members: []redis.Z{{
			Score: float64(unixMilli(now.Add(w.s.o.BuildLease))), Member: w.ref.String(),
		}}}).Result()
		if err != nil {
			return w.s.unavailable("apply", err)
		}
		if n == 0 {
			return fmt.Errorf("redisstore: apply: build %s was reclaimed by the janitor (slower than build_lease)", w.ref)
		}
		w.lastTouch = now
	}
	return nil
}
