package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/eir-sidecar/eir/eir"
)

// Expiring datasets (manual entries with an expiry) are hashes bucketed like
// the others. For IMEI and TAC targets the field is the member and the value
// its expiry in Unix milliseconds ("0": never); for pairs the value lists
// "imsi@expiry" items. Lookups compare the expiry with the time of the
// check, so an entry stops applying exactly when it expires; the sweeper
// (SweepExpired) removes it later, which changes no answer.

// expiringMatch reports whether a HGET value of an expiring dataset matches
// at time now.
func expiringMatch(v string, ds eir.Dataset, imsi eir.IMSI, now int64) bool {
	if v == "" {
		return false
	}
	live := func(exp string) bool {
		t, err := strconv.ParseInt(exp, 10, 64)
		return err == nil && (t == 0 || t > now)
	}
	if ds.Target != eir.TargetPair {
		return live(v)
	}
	for _, item := range strings.Split(v, ",") {
		i, exp, ok := strings.Cut(item, "@")
		if !ok {
			continue
		}
		if (ds.List != eir.ListException || i == string(imsi)) && live(exp) {
			return true
		}
	}
	return false
}

// readExpiring reads, through pw, every entry of a version of an expiring
// dataset.
func (s *Store) readExpiring(pw *pipeWriter, cur planEntry) (map[entryKey]int64, error) {
	content := map[entryKey]int64{}
	for bk := range cur.Buckets {
		cmd := pw.pipe.HGetAll(pw.ctx, s.k.bucketKey(cur.name, bk, cur.Version))
		if err := pw.add(cmd, func() error {
			for f, v := range cmd.Val() {
				q, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					return fmt.Errorf("redisstore: %s bucket %d: field %q: %w", cur.name, bk, f, err)
				}
				x := q*cur.Buckets + bk
				if cur.ds.Target != eir.TargetPair {
					exp, _ := strconv.ParseInt(v, 10, 64)
					content[entryKey{a: x}] = exp
					continue
				}
				for _, item := range strings.Split(v, ",") {
					imsi, e, _ := strings.Cut(item, "@")
					exp, _ := strconv.ParseInt(e, 10, 64)
					content[entryKey{a: x, imsi: eir.IMSI(imsi)}] = exp
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return content, pw.flush()
}

// buildExpiring writes a new version of an expiring dataset: the version in
// force read into memory (these datasets are small), the changes applied,
// everything written. A removal that names an expiry removes the entry only
// while it still has that expiry (the sweeper must not remove an entry
// extended meanwhile).
func (s *Store) buildExpiring(pw *pipeWriter, b *built, cur planEntry, incremental bool) error {
	content := map[entryKey]int64{}
	if cur.Count > 0 {
		var err error
		if content, err = s.readExpiring(pw, cur); err != nil {
			return err
		}
	}
	if !incremental {
		// Written afresh: countReplaced compares with what is in force.
		b.inForce = make(map[entryKey]struct{}, len(content))
		for k := range content {
			b.inForce[k] = struct{}{}
		}
		content = map[entryKey]int64{}
	}
	t := b.w.ds.Target
	for _, list := range b.w.removes {
		for _, e := range list {
			k := keyOf(t, e)
			exp, ok := content[k]
			switch {
			case !ok:
				b.noopRem++
			case e.Expires != 0 && exp != e.Expires:
				b.noopRem++ // changed since the caller looked
			default:
				delete(content, k)
				b.removed++
				b.removedEntries = append(b.removedEntries, entryWithExpiry(t, k, exp))
			}
		}
	}
	for _, e := range b.w.adds {
		k := keyOf(t, e)
		exp, ok := content[k]
		switch {
		case !ok:
			b.added++
		case exp != e.Expires:
			b.updated++
		default:
			b.noopAdd++
		}
		content[k] = e.Expires
	}
	B := b.ref.buckets
	b.entry.Count, b.entry.Hash = uint64(len(content)), 0
	fields := map[uint64]map[uint64][]string{} // bucket → field → values
	for k, exp := range content {
		b.entry.Hash ^= hexUint64(k.hash(t))
		bk, f := k.a%B, k.a/B
		if fields[bk] == nil {
			fields[bk] = map[uint64][]string{}
		}
		v := strconv.FormatInt(exp, 10)
		if t == eir.TargetPair {
			v = string(k.imsi) + "@" + v
		}
		fields[bk][f] = append(fields[bk][f], v)
	}
	for bk, fs := range fields {
		args := make([]any, 0, 2*len(fs))
		for f, vals := range fs {
			slices.Sort(vals)
			args = append(args, strconv.FormatUint(f, 10), strings.Join(vals, ","))
		}
		if err := pw.add(pw.pipe.HSet(pw.ctx, s.k.bucketKey(b.w.name, bk, b.ref.version), args...), nil); err != nil {
			return err
		}
	}
	return nil
}

func entryWithExpiry(t eir.Target, k entryKey, exp int64) eir.Entry {
	e := keyEntry(t, k)
	e.Expires = exp
	return e
}

// SweepExpired removes the entries of expiring datasets whose expiry has
// passed and returns them (for the audit trail). Checks already ignore them
// from their expiry on; this only reclaims the space. Several processes may
// sweep at once: each expired entry is returned by one of them.
func (s *Store) SweepExpired(ctx context.Context) ([]eir.DatasetEntry, error) {
	p, err := s.refreshPlan(ctx, "")
	if err != nil {
		return nil, s.unavailable("sweep", err)
	}
	now := unixMilli(s.o.Now())
	var changes []eir.Change
	for _, e := range p.entries {
		if !e.ds.Expiring {
			continue
		}
		content, err := s.readExpiring(s.newPipeReader(ctx, "sweep"), e)
		if err != nil {
			return nil, err
		}
		var gone []eir.Entry
		for k, exp := range content {
			if exp != 0 && exp <= now {
				gone = append(gone, entryWithExpiry(e.ds.Target, k, exp))
			}
		}
		if len(gone) > 0 {
			changes = append(changes, eir.Change{Dataset: e.ds, Remove: gone})
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	builds, err := s.applyDetailed(ctx, changes, eir.ApplyOptions{})
	if err != nil {
		return nil, err
	}
	var out []eir.DatasetEntry
	for _, b := range builds {
		for _, en := range b.removedEntries {
			out = append(out, eir.DatasetEntry{Dataset: b.w.ds, Entry: en})
		}
	}
	return out, nil
}
