package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

// ListEntries returns up to limit entries of a dataset from cursor ("" for
// the start), and the cursor of the next page ("" at the end). Entries come
// in bucket order, not sorted.
func (s *Store) ListEntries(ctx context.Context, ds eir.Dataset, cursor string, limit int) ([]eir.Entry, string, error) {
	p, err := s.refreshPlan(ctx, "")
	if err != nil {
		return nil, "", s.unavailable("list", err)
	}
	var e *planEntry
	for i := range p.all {
		if p.all[i].ds == ds {
			e = &p.all[i]
		}
	}
	if e == nil || e.Count == 0 {
		return nil, "", nil
	}
	var version, pos, offset uint64
	if cursor != "" {
		parts := strings.Split(cursor, ".")
		if len(parts) != 3 {
			return nil, "", fmt.Errorf("redisstore: cursor %q: %w", cursor, eir.ErrCursorStale)
		}
		version, _ = strconv.ParseUint(parts[0], 10, 64)
		pos, _ = strconv.ParseUint(parts[1], 10, 64)
		offset, _ = strconv.ParseUint(parts[2], 10, 64)
		if version != e.current() {
			return nil, "", eir.ErrCursorStale
		}
	}
	next := func(p, o uint64) string { return fmt.Sprintf("%d.%d.%d", e.current(), p, o) }
	if ds.Target == eir.TargetRange {
		_, rowsKey := s.k.rangeKeys(e.name, e.Version)
		rows, err := s.rdb.HKeys(ctx, rowsKey).Result()
		if err != nil {
			return nil, "", s.unavailable("list", err)
		}
		slices.Sort(rows)
		var out []eir.Entry
		for i := int(pos); i < len(rows) && len(out) < limit; i++ {
			if from, to, ok := parseRangeMember(rows[i]); ok {
				out = append(out, eir.Entry{From: from, To: to})
			}
			if len(out) == limit && i+1 < len(rows) {
				return out, next(uint64(i+1), 0), nil
			}
		}
		return out, "", nil
	}
	// The overlay, read once and grouped by bucket once.
	ov, err := s.readOverlay(ctx, *e)
	if err != nil {
		return nil, "", err
	}
	ovByBucket := map[uint64]map[uint64]string{}
	for x, v := range ov {
		bk := x % e.Buckets
		if ovByBucket[bk] == nil {
			ovByBucket[bk] = map[uint64]string{}
		}
		ovByBucket[bk][x] = v
	}
	// The page's buckets, read together: as many as the page needs at the
	// average fill.
	perBucket := max(1, e.Count/e.Buckets)
	var out []eir.Entry
	for b := pos; b < e.Buckets; {
		n := min(e.Buckets-b, uint64(max(limit, 0))/perBucket+1, 512)
		read, err := s.bucketEntries(ctx, *e, b, n, ovByBucket)
		if err != nil {
			return nil, "", err
		}
		for j, entries := range read {
			bk := b + uint64(j)
			for i := int(offset); i < len(entries); i++ {
				out = append(out, entries[i])
				if len(out) == limit {
					switch {
					case i+1 < len(entries):
						return out, next(bk, uint64(i+1)), nil
					case bk+1 < e.Buckets:
						return out, next(bk+1, 0), nil
					}
					return out, "", nil
				}
			}
			offset = 0
		}
		b += n
	}
	return out, "", nil
}

// bucketEntries reads n buckets from b in one pipeline, each with its
// entries of the overlay (ovByBucket, by bucket) applied, sorted.
func (s *Store) bucketEntries(ctx context.Context, e planEntry, b, n uint64, ovByBucket map[uint64]map[uint64]string) ([][]eir.Entry, error) {
	t := e.ds.Target
	sets := t != eir.TargetPair && !e.ds.Expiring
	out := make([][]eir.Entry, n)
	pr := s.newPipeReader(ctx, "list")
	for j := range n {
		bk := b + j
		key := s.k.bucketKey(e.name, bk, e.Version)
		ov := ovByBucket[bk]
		var list []eir.Entry
		var cmd redis.Cmder
		var decode func() error
		if sets {
			c := pr.pipe.SMembers(ctx, key)
			cmd, decode = c, func() error {
				for _, m := range c.Val() {
					q, err := strconv.ParseUint(m, 10, 64)
					if err != nil {
						return fmt.Errorf("redisstore: %s bucket %d: member %q: %w", e.name, bk, m, err)
					}
					if _, changed := ov[q*e.Buckets+bk]; !changed {
						list = append(list, keyEntry(t, entryKey{a: q*e.Buckets + bk}))
					}
				}
				return nil
			}
		} else {
			c := pr.pipe.HGetAll(ctx, key)
			cmd, decode = c, func() error {
				for f, v := range c.Val() {
					q, err := strconv.ParseUint(f, 10, 64)
					if err != nil {
						return fmt.Errorf("redisstore: %s bucket %d: field %q: %w", e.name, bk, f, err)
					}
					if _, changed := ov[q*e.Buckets+bk]; !changed {
						list = append(list, fieldEntries(e.ds, q*e.Buckets+bk, v)...)
					}
				}
				return nil
			}
		}
		if err := pr.add(cmd, func() error {
			if err := decode(); err != nil {
				return err
			}
			for x, v := range ov {
				switch {
				case v == "":
				case sets:
					list = append(list, keyEntry(t, entryKey{a: x}))
				default:
					list = append(list, fieldEntries(e.ds, x, v)...)
				}
			}
			slices.SortFunc(list, func(x, y eir.Entry) int {
				if c := cmp.Compare(uint64(x.IMEI)+uint64(x.TAC), uint64(y.IMEI)+uint64(y.TAC)); c != 0 {
					return c
				}
				return strings.Compare(string(x.IMSI), string(y.IMSI))
			})
			out[j] = list
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, pr.flush()
}

// fieldEntries decodes one hash field of a pair or expiring dataset.
func fieldEntries(ds eir.Dataset, x uint64, v string) []eir.Entry {
	t := ds.Target
	if t != eir.TargetPair {
		exp, _ := strconv.ParseInt(v, 10, 64)
		return []eir.Entry{entryWithExpiry(t, entryKey{a: x}, exp)}
	}
	var out []eir.Entry
	for _, item := range strings.Split(v, ",") {
		if item == "" {
			continue
		}
		imsi, exp := item, int64(0)
		if ds.Expiring {
			var e string
			imsi, e, _ = strings.Cut(item, "@")
			exp, _ = strconv.ParseInt(e, 10, 64)
		}
		out = append(out, eir.Entry{IMEI: eir.IMEI(x), IMSI: eir.IMSI(imsi), Expires: exp})
	}
	return out
}

// EntriesFor returns every entry of every dataset that concerns an IMEI:
// its IMEI entries, the TAC and range entries covering it, and every pair
// with that IMEI (only those with q.IMSI when it is set). Expired entries
// not yet swept are included with their expiry. The lookups are a check's
// (queue), but for ranges, read as loaded rather than as their union, and
// pairs, read whole rather than for one IMSI.
func (s *Store) EntriesFor(ctx context.Context, q eir.Query) ([]eir.DatasetEntry, error) {
	p, err := s.refreshPlan(ctx, "")
	if err != nil {
		return nil, s.unavailable("list", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]lookupCmds, len(p.entries))
	for i, e := range p.entries {
		x := queryKey(e.ds.Target, q.IMEI)
		switch e.ds.Target {
		case eir.TargetRange:
			_, rowsKey := s.k.rangeKeys(e.name, e.Version)
			cmds[i].base = pipe.HKeys(ctx, rowsKey)
		case eir.TargetPair:
			cmds[i].base = pipe.HGet(ctx, s.k.bucketKey(e.name, x%e.Buckets, e.Version), strconv.FormatUint(x/e.Buckets, 10))
			if e.overlay != "" {
				cmds[i].ov = pipe.HGet(ctx, e.overlay, strconv.FormatUint(x, 10))
			}
		default:
			cmds[i] = s.queue(ctx, pipe, &p.entries[i], &q)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.unavailable("list", err)
	}
	var out []eir.DatasetEntry
	for i, e := range p.entries {
		if rows, ok := cmds[i].base.(*redis.StringSliceCmd); ok {
			for _, r := range rows.Val() {
				if from, to, ok := parseRangeMember(r); ok && from <= q.IMEI && q.IMEI <= to {
					out = append(out, eir.DatasetEntry{Dataset: e.ds, Entry: eir.Entry{From: from, To: to}})
				}
			}
			continue
		}
		x, v := queryKey(e.ds.Target, q.IMEI), cmds[i].value()
		switch {
		case v == "":
		case e.ds.Target != eir.TargetPair && !e.ds.Expiring:
			out = append(out, eir.DatasetEntry{Dataset: e.ds, Entry: keyEntry(e.ds.Target, entryKey{a: x})})
		default:
			for _, en := range fieldEntries(e.ds, x, v) {
				if q.IMSI == "" || e.ds.Target != eir.TargetPair || en.IMSI == q.IMSI {
					out = append(out, eir.DatasetEntry{Dataset: e.ds, Entry: en})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b eir.DatasetEntry) int {
		if c := strings.Compare(a.Dataset.String(), b.Dataset.String()); c != 0 {
			return c
		}
		return strings.Compare(a.Entry.KeyString(a.Dataset.Target), b.Entry.KeyString(b.Dataset.Target))
	})
	return out, nil
}

// queryKey is the key an IMEI is looked up by in a dataset of target t:
// the IMEI, or its TAC.
func queryKey(t eir.Target, imei eir.IMEI) uint64 {
	if t == eir.TargetTAC {
		return uint64(imei.TAC())
	}
	return uint64(imei)
}

// value returns the value in force of the entry c looked up: the
// overlay's when the overlay has the entry, else the version's
// (presentValue or "" for a member of a set, the field's value of a hash).
func (c lookupCmds) value() string {
	if c.ov != nil && c.ov.Err() == nil {
		return c.ov.Val()
	}
	switch cmd := c.base.(type) {
	case *redis.BoolCmd:
		if cmd.Val() {
			return presentValue
		}
	case *redis.StringCmd:
		return cmd.Val()
	}
	return ""
}
