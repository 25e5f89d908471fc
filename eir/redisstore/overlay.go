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

	"github.com/eir-sidecar/eir/eir"
)

// Overlays: an edit costs an edit.
//
// A small change to a large permanent IMEI, TAC or pair dataset does not
// copy the dataset: it writes a new version of the dataset's overlay, one
// hash of the entries that differ from the version in force (field: the
// IMEI or TAC; value: "1" present or "" absent for IMEIs and TACs, the
// IMSI list for pairs), and switches the manifest to (version, overlay)
// with the same atomic commit. Lookups read the overlay first. The
// replica reloads only the overlay. When an overlay reaches
// Options.OverlayMax entries the janitor folds it into a new version (a
// compaction: same content, so the replica derives the new version from
// its copies instead of reading it); a write that would make it larger
// than 4 × OverlayMax folds at once. Counts and set hashes stay exact.

// overlayMatch reports whether an overlay value of dataset ds matches a
// query with imsi.
func overlayMatch(v string, ds eir.Dataset, imsi eir.IMSI) bool {
	switch {
	case v == "":
		return false
	case ds.Target != eir.TargetPair:
		return true
	case ds.List != eir.ListException:
		return true // notifications: grey while any pair is listed
	}
	return imsi != "" && imsiListed(v, imsi)
}

// overlayable reports whether a dataset can have an overlay.
func overlayable(ds eir.Dataset) bool {
	return !ds.Expiring && (ds.Target == eir.TargetIMEI || ds.Target == eir.TargetTAC || ds.Target == eir.TargetPair)
}

// presentValue is an IMEI or TAC entry's value in an overlay.
const presentValue = "1"

// readOverlay reads the overlay of e, by key: the value in force of every
// entry it changes ("" absent; nil without an overlay). A field that is
// not a key is an error: the overlay cannot be applied.
func (s *Store) readOverlay(ctx context.Context, e planEntry) (map[uint64]string, error) {
	if e.overlay == "" {
		return nil, nil
	}
	m, err := s.rdb.HGetAll(ctx, e.overlay).Result()
	if err != nil {
		return nil, s.unavailable("overlay", err)
	}
	vals := make(map[uint64]string, len(m))
	for f, v := range m {
		x, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redisstore: overlay %s: field %q is not a key", e.overlay, f)
		}
		vals[x] = v
	}
	return vals, nil
}

// loadOverlay reads one overlay version.
func (s *Store) loadOverlay(ctx context.Context, e planEntry) (*localSet, error) {
	vals, err := s.readOverlay(ctx, e)
	if err != nil {
		return nil, err
	}
	l := &localSet{version: e.Overlay}
	l.setValues(vals, false)
	if uint64(l.count) != e.OCount {
		return nil, fmt.Errorf("overlay %d: read %d entries, the manifest says %d", e.Overlay, l.count, e.OCount)
	}
	return l, nil
}

// itemCount is the number of entries a pair value lists.
func itemCount(v string) int {
	if v == "" {
		return 0
	}
	return strings.Count(v, ",") + 1
}

// count returns the number of entries of d, the overlay applied.
func (d localDS) count(e planEntry) uint64 {
	n := int64(d.base.count)
	if d.ov == nil {
		return uint64(n)
	}
	for i, x := range d.ov.keys {
		v := d.ov.value(i)
		j, in := slices.BinarySearch(d.base.keys, x)
		if e.ds.Target == eir.TargetPair {
			if in {
				n -= int64(itemCount(d.base.value(j)))
			}
			n += int64(itemCount(v))
			continue
		}
		switch {
		case v != "" && !in:
			n++
		case v == "" && in:
			n--
		}
	}
	return uint64(n)
}

// merged returns the version d's content describes, the overlay applied:
// a new version numbered version. A copy without a version (an empty
// dataset, not held) is empty.
func (d localDS) merged(e planEntry, version uint64) *localSet {
	base := d.base
	if base == nil {
		base = &localSet{}
	}
	out := &localSet{version: version}
	if d.ov == nil {
		*out = *base
		out.version = version
		return out
	}
	pairs := e.ds.Target == eir.TargetPair
	var vals map[uint64]string
	if pairs {
		vals = make(map[uint64]string, len(base.keys)+len(d.ov.keys))
		for i, x := range base.keys {
			vals[x] = base.value(i)
		}
	} else {
		out.keys = make([]uint64, 0, len(base.keys)+len(d.ov.keys))
	}
	i, j := 0, 0
	for i < len(base.keys) || j < len(d.ov.keys) {
		switch {
		case j == len(d.ov.keys) || (i < len(base.keys) && base.keys[i] < d.ov.keys[j]):
			if !pairs {
				out.keys = append(out.keys, base.keys[i])
			}
			i++
		default:
			x, v := d.ov.keys[j], d.ov.value(j)
			if i < len(base.keys) && base.keys[i] == x {
				i++
			}
			j++
			switch {
			case pairs && v == "":
				delete(vals, x)
			case pairs:
				vals[x] = v
			case v != "":
				out.keys = append(out.keys, x)
			}
		}
	}
	if pairs {
		out.setValues(vals, true)
	} else {
		out.count = len(out.keys)
	}
	return out
}

// compacted returns the copy of e's version derived from the copies held
// when e's version was compacted from them (no Redis read), or false.
func (d localDS) compacted(e planEntry) (*localSet, bool) {
	if e.From == 0 || d.base == nil || d.base.version != e.From {
		return nil, false
	}
	if (e.FromOverlay == 0) != (d.ov == nil) || (d.ov != nil && d.ov.version != e.FromOverlay) {
		return nil, false
	}
	return d.merged(e, e.Version), true
}

// keyOps is the net effect of a delta on IMEI or TAC keys: the removals
// apply first, then the additions.
type keyOps struct {
	order   []uint64
	final   map[uint64]bool // present after the delta
	removed map[uint64]bool // named by a removal
	dupAdds uint64          // additions of a key added earlier in the delta
}

func setOps(w *work) *keyOps {
	o := &keyOps{final: map[uint64]bool{}, removed: map[uint64]bool{}}
	w.eachRemove(func(k entryKey) {
		if _, ok := o.final[k.a]; !ok {
			o.order = append(o.order, k.a)
		}
		o.final[k.a], o.removed[k.a] = false, true
	})
	w.eachAdd(func(k entryKey) {
		if _, ok := o.final[k.a]; !ok {
			o.order = append(o.order, k.a)
		}
		if o.final[k.a] {
			o.dupAdds++
		}
		o.final[k.a] = true
	})
	return o
}

// pairOp is the net effect of a delta on one (IMEI, IMSI) pair.
type pairOp struct {
	add, removed bool
}

// pairOps is the net effect of a delta on pairs, by IMEI.
type pairOps struct {
	order []uint64
	ops   map[uint64]map[eir.IMSI]*pairOp
}

func pairOpsOf(w *work) *pairOps {
	o := &pairOps{ops: map[uint64]map[eir.IMSI]*pairOp{}}
	touch := func(k entryKey, add bool) {
		m := o.ops[k.a]
		if m == nil {
			m = map[eir.IMSI]*pairOp{}
			o.ops[k.a] = m
			o.order = append(o.order, k.a)
		}
		op := m[k.imsi]
		if op == nil {
			op = &pairOp{}
			m[k.imsi] = op
		}
		op.add = add
		if !add {
			op.removed = true
		}
	}
	w.eachRemove(func(k entryKey) { touch(k, false) })
	w.eachAdd(func(k entryKey) { touch(k, true) })
	return o
}

// fieldState is one entry (an IMEI or TAC; for pairs, an IMEI) as a delta
// finds it: its value in the version in force and in the overlay.
type fieldState struct {
	key  uint64
	base string // "1"/"" for IMEIs and TACs, the IMSI list for pairs
	ov   string
	inOv bool
	next string // the value after the delta
}

func (f *fieldState) effective() string {
	if f.inOv {
		return f.ov
	}
	return f.base
}

// readFields reads, through pw, the state of keys in the version in force
// of cur and in its overlay.
func (s *Store) readFields(pw *pipeWriter, cur planEntry, keys []uint64) ([]*fieldState, error) {
	base := make([]string, len(keys))
	if err := s.readBase(pw, cur.name, cur.Version, cur.Buckets, cur.ds.Target == eir.TargetPair, keys, base); err != nil {
		return nil, err
	}
	out := make([]*fieldState, len(keys))
	for i, k := range keys {
		out[i] = &fieldState{key: k}
	}
	if cur.overlay != "" {
		for start := 0; start < len(keys); start += 1000 {
			end := min(start+1000, len(keys))
			fields := make([]string, end-start)
			for j := range fields {
				fields[j] = strconv.FormatUint(keys[start+j], 10)
			}
			cmd := pw.pipe.HMGet(pw.ctx, cur.overlay, fields...)
			if err := pw.add(cmd, func() error {
				for j, v := range cmd.Val() {
					if sv, ok := v.(string); ok {
						out[start+j].ov, out[start+j].inOv = sv, true
					}
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	if err := pw.flush(); err != nil {
		return nil, err
	}
	for i, f := range out {
		f.base = base[i]
	}
	return out, nil
}

// readBase queues on pw the reads of keys in version v (B buckets) of a
// dataset: once pw is flushed, vals[i] is the value of keys[i] there
// (presentValue or "" for IMEIs and TACs, the IMSI list for pairs).
func (s *Store) readBase(pw *pipeWriter, name string, v, B uint64, pairs bool, keys []uint64, vals []string) error {
	if B == 0 {
		return nil // no version: nothing is there
	}
	byBucket := map[uint64][]int{}
	for i, k := range keys {
		byBucket[k%B] = append(byBucket[k%B], i)
	}
	for bk, idx := range byBucket {
		key := s.k.bucketKey(name, bk, v)
		if pairs {
			fields := make([]string, len(idx))
			for j, i := range idx {
				fields[j] = strconv.FormatUint(keys[i]/B, 10)
			}
			cmd := pw.pipe.HMGet(pw.ctx, key, fields...)
			if err := pw.add(cmd, func() error {
				for j, x := range cmd.Val() {
					vals[idx[j]], _ = x.(string)
				}
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		members := make([]any, len(idx))
		for j, i := range idx {
			members[j] = keys[i] / B
		}
		cmd := pw.pipe.SMIsMember(pw.ctx, key, members...)
		if err := pw.add(cmd, func() error {
			for j, in := range cmd.Val() {
				if in {
					vals[idx[j]] = presentValue
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// planFields computes the value of every field after the delta w, with the
// counts, no-ops and set hash of the result (b.entry.Hash starts from the
// hash in force).
func (b *built) planFields(fields []*fieldState, sets *keyOps, pairs *pairOps) {
	t := b.w.ds.Target
	for _, f := range fields {
		was := f.effective()
		if pairs == nil {
			now := was
			if final, ok := sets.final[f.key]; ok {
				now = ""
				if final {
					now = presentValue
				}
				switch {
				case was != "" && now != "" && !sets.removed[f.key]:
					b.noopAdd++
				case was == "" && now == "":
					b.noopRem++
				}
			}
			switch {
			case was == "" && now != "":
				b.added++
			case was != "" && now == "":
				b.removed++
			}
			if was != now {
				b.entry.Hash ^= hexUint64(entryKey{a: f.key}.hash(t))
			}
			f.next = now
			continue
		}
		set := map[eir.IMSI]struct{}{}
		if was != "" {
			for _, imsi := range strings.Split(was, ",") {
				set[eir.IMSI(imsi)] = struct{}{}
			}
		}
		for imsi, o := range pairs.ops[f.key] {
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
				b.entry.Hash ^= hexUint64(entryKey{a: f.key, imsi: imsi}.hash(eir.TargetPair))
			}
		}
		f.next = joinIMSIs(set)
	}
	b.noopAdd += dupAdds(sets)
}

func dupAdds(o *keyOps) uint64 {
	if o == nil {
		return 0
	}
	return o.dupAdds
}

// touchedKeys lists the keys a delta names, with its net effect.
func touchedKeys(w *work) ([]uint64, *keyOps, *pairOps) {
	if w.ds.Target == eir.TargetPair {
		o := pairOpsOf(w)
		return o.order, nil, o
	}
	o := setOps(w)
	return o.order, o, nil
}

// useOverlay reports whether a delta on cur goes into the overlay: the
// dataset is large and the overlay stays small.
func (s *Store) useOverlay(w *work, cur planEntry) bool {
	if w.compact || !overlayable(w.ds) || cur.Buckets == 0 {
		return false
	}
	n := len(w.adds) + len(w.addKeys)
	for _, l := range w.removes {
		n += len(l)
	}
	for _, l := range w.removeKeys {
		n += len(l)
	}
	return cur.Count >= uint64(s.o.OverlayMax) && int(cur.OCount)+n <= 4*s.o.OverlayMax
}

// overlayDelta writes a delta as a new version of cur's overlay: the old
// overlay copied (inside Redis), then the touched entries set to their new
// value, or dropped from the overlay when they are back to the value of
// the version in force.
func (s *Store) overlayDelta(ctx context.Context, pw *pipeWriter, b *built, cur planEntry) error {
	keys, sets, pairs := touchedKeys(b.w)
	fields, err := s.readFields(pw, cur, keys)
	if err != nil {
		return err
	}
	b.entry = cur.manifestEntry
	// Made by an edit, not by a compaction (see localDS.compacted).
	b.entry.From, b.entry.FromOverlay = 0, 0
	b.planFields(fields, sets, pairs)
	ovKey := s.k.overlayKey(b.w.name, b.ref.version)
	if cur.overlay != "" {
		if err := pw.add(pw.pipe.Do(ctx, "copy", cur.overlay, ovKey), nil); err != nil {
			return err
		}
	}
	ocount := cur.OCount
	for _, f := range fields {
		field := strconv.FormatUint(f.key, 10)
		var cmd redis.Cmder
		switch {
		case f.next == f.base && f.inOv:
			cmd = pw.pipe.HDel(ctx, ovKey, field)
			ocount--
		case f.next == f.base:
			continue
		default:
			cmd = pw.pipe.HSet(ctx, ovKey, field, f.next)
			if !f.inOv {
				ocount++
			}
		}
		if err := pw.add(cmd, nil); err != nil {
			return err
		}
	}
	// An overlay emptied by the delta stays named (Redis holds no key for
	// an empty hash): the dataset's version keeps increasing.
	b.entry.Overlay, b.entry.OCount = b.ref.version, ocount
	b.entry.Count = cur.Count + b.added - b.removed
	return nil
}

// fold writes a new version of cur with its overlay and the delta w
// applied: every bucket copied (inside Redis), then only the entries that
// differ from the version in force changed. With an empty delta it is a
// compaction: the new version has the content in force, and says from
// which version and overlay it was made (see localDS.compacted).
func (s *Store) fold(ctx context.Context, pw *pipeWriter, b *built, cur planEntry) error {
	keys, sets, pairs := touchedKeys(b.w)
	ov, err := s.readOverlay(ctx, cur)
	if err != nil {
		return err
	}
	named := make(map[uint64]bool, len(keys))
	for _, k := range keys {
		named[k] = true
	}
	for k := range ov {
		if !named[k] {
			keys = append(keys, k)
		}
	}
	fields, err := s.readFields(pw, cur, keys)
	if err != nil {
		return err
	}
	b.entry.Hash = cur.Hash
	b.planFields(fields, sets, pairs)
	name, B, v := b.w.name, b.ref.buckets, b.ref.version
	for bk := uint64(0); bk < B; bk++ {
		if err := pw.add(pw.pipe.Do(ctx, "copy", s.k.bucketKey(name, bk, cur.Version), s.k.bucketKey(name, bk, v)), nil); err != nil {
			return err
		}
	}
	for _, f := range fields {
		if f.next == f.base {
			continue
		}
		key, m := s.k.bucketKey(name, f.key%B, v), f.key/B
		var cmd redis.Cmder
		switch {
		case pairs != nil && f.next == "":
			cmd = pw.pipe.HDel(ctx, key, strconv.FormatUint(m, 10))
		case pairs != nil:
			cmd = pw.pipe.HSet(ctx, key, strconv.FormatUint(m, 10), f.next)
		case f.next == "":
			cmd = pw.pipe.SRem(ctx, key, m)
		default:
			cmd = pw.pipe.SAdd(ctx, key, m)
		}
		if err := pw.add(cmd, nil); err != nil {
			return err
		}
	}
	b.entry.Count = cur.Count + b.added - b.removed
	if b.w.compact {
		b.entry.From, b.entry.FromOverlay = cur.Version, cur.Overlay
	}
	return nil
}

// applyOverlay applies cur's overlay to content read from its version.
func (s *Store) applyOverlay(ctx context.Context, cur planEntry, content map[entryKey]struct{}) error {
	ov, err := s.readOverlay(ctx, cur)
	if err != nil || len(ov) == 0 {
		return err
	}
	if cur.ds.Target == eir.TargetPair {
		byIMEI := map[uint64][]entryKey{}
		for k := range content {
			byIMEI[k.a] = append(byIMEI[k.a], k)
		}
		for x, v := range ov {
			for _, k := range byIMEI[x] {
				delete(content, k)
			}
			if v != "" {
				for _, imsi := range strings.Split(v, ",") {
					content[entryKey{a: x, imsi: eir.IMSI(imsi)}] = struct{}{}
				}
			}
		}
		return nil
	}
	for x, v := range ov {
		if v == "" {
			delete(content, entryKey{a: x})
		} else {
			content[entryKey{a: x}] = struct{}{}
		}
	}
	return nil
}

// Compact folds the overlays that reached Options.OverlayMax entries into
// new versions (the janitor calls it). Several processes may compact at
// once: one folds a dataset while the others skip it (see compact).
func (s *Store) Compact(ctx context.Context) (int, error) {
	if err := s.errDiverged(); err != nil {
		return 0, nil
	}
	p := s.plan.Load()
	if p == nil {
		return 0, nil
	}
	n := 0
	for _, e := range p.all {
		if e.Overlay == 0 || e.OCount < uint64(s.o.OverlayMax) {
			continue
		}
		done, err := s.compact(ctx, e)
		if err != nil {
			return n, err
		}
		if done {
			n++
			s.m.compactions.Inc()
		}
	}
	return n, nil
}

// compact folds the overlay of e's dataset, and reports whether it did. It
// tries the dataset's fold lock once: while another process folds the
// dataset it does nothing (waiting would only copy the dataset again, from
// the content the other fold replaces). With the lock held, apply reads
// the manifest again and skips the dataset when its overlay was folded
// meanwhile.
func (s *Store) compact(ctx context.Context, e planEntry) (bool, error) {
	l, err := s.TryLock(ctx, foldLock(e.name), s.o.BuildLease)
	if err != nil || l == nil {
		return false, err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		l.Unlock(uctx)
		cancel()
	}()
	res, _, err := s.apply(ctx, []*work{{ds: e.ds, name: e.name, compact: true}}, eir.ApplyOptions{})
	if errors.Is(err, errDatasetRace) {
		return false, nil // a writer got there first; the next pass looks again
	}
	return err == nil && len(res.Datasets) > 0, err
}

// foldLocks serializes the folds of the datasets of works with their edits
// (see serializeFold), dataset by dataset in the order of their names:
// two writes never wait on each other, whatever the order of their
// changes. It returns the locks taken, to release after the switch (also
// when it fails), and whether it waited for another process's fold (the
// content in force changed meanwhile). A compaction's lock is held by its
// caller (compact).
func (s *Store) foldLocks(ctx context.Context, works []*work, cur map[string]planEntry) (held []*Lock, waited bool, err error) {
	sorted := slices.Clone(works)
	slices.SortFunc(sorted, func(a, b *work) int { return strings.Compare(a.name, b.name) })
	for _, w := range sorted {
		c, ok := cur[w.name]
		if !ok || w.compact {
			continue
		}
		l, wt, err := s.serializeFold(ctx, w, c)
		waited = waited || wt
		if err != nil {
			return held, waited, err
		}
		if l != nil {
			held = append(held, l)
		}
	}
	return held, waited, nil
}

// serializeFold keeps folds of a large dataset from racing with its
// edits: a fold (the janitor's compaction, or a delta too large for the
// overlay) copies the whole dataset, which takes seconds at millions of
// entries, and an edit switched meanwhile would make it start over, for
// ever under a storm of edits from several eird. A fold holds the
// dataset's fold lock (it is returned, to release after the switch); an
// edit into the overlay waits while another process folds. It reports
// whether it waited.
func (s *Store) serializeFold(ctx context.Context, w *work, cur planEntry) (*Lock, bool, error) {
	if !overlayable(w.ds) || w.replace || cur.Count < uint64(s.o.OverlayMax) {
		return nil, false, nil
	}
	name := foldLock(w.name)
	for waited := false; ; waited = true {
		if !s.useOverlay(w, cur) {
			l, err := s.TryLock(ctx, name, s.o.BuildLease)
			if err != nil || l != nil {
				return l, waited, err
			}
		} else {
			held, err := s.rdb.Exists(ctx, s.k.lockKey(name)).Result()
			if err != nil {
				return nil, waited, s.unavailable("apply", err)
			}
			if held == 0 {
				return nil, waited, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, waited, fmt.Errorf("redisstore: %s: %w: waited for a fold of the dataset: %w", w.name, eir.ErrUnavailable, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
