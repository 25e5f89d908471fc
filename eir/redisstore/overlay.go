package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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
		j, in := d.base.find(x)
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
		out.indexKeys()
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
