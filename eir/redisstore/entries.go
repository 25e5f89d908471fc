package redisstore

import (
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
	ov, err := s.overlayEntries(ctx, *e)
	if err != nil {
		return nil, "", err
	}
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
	var out []eir.Entry
	for b := pos; b < e.Buckets; b++ {
		entries, err := s.bucketEntries(ctx, *e, b, ov)
		if err != nil {
			return nil, "", err
		}
		for i := int(offset); i < len(entries); i++ {
			out = append(out, entries[i])
			if len(out) == limit {
				switch {
				case i+1 < len(entries):
					return out, next(b, uint64(i+1)), nil
				case b+1 < e.Buckets:
					return out, next(b+1, 0), nil
				}
				return out, "", nil
			}
		}
		offset = 0
	}
	return out, "", nil
}

// overlayEntries reads the overlay of e, by key: the value of every entry
// it changes (nil without an overlay).
func (s *Store) overlayEntries(ctx context.Context, e planEntry) (map[uint64]string, error) {
	if e.overlay == "" {
		return nil, nil
	}
	m, err := s.rdb.HGetAll(ctx, e.overlay).Result()
	if err != nil {
		return nil, s.unavailable("list", err)
	}
	out := make(map[uint64]string, len(m))
	for f, v := range m {
		if x, err := strconv.ParseUint(f, 10, 64); err == nil {
			out[x] = v
		}
	}
	return out, nil
}

// bucketEntries reads one bucket with the overlay ov applied, sorted.
func (s *Store) bucketEntries(ctx context.Context, e planEntry, b uint64, ov map[uint64]string) ([]eir.Entry, error) {
	key := s.k.bucketKey(e.name, b, e.Version)
	t := e.ds.Target
	var out []eir.Entry
	if t != eir.TargetPair && !e.ds.Expiring {
		ms, err := s.rdb.SMembers(ctx, key).Result()
		if err != nil {
			return nil, s.unavailable("list", err)
		}
		for _, m := range ms {
			q, err := strconv.ParseUint(m, 10, 64)
			if err != nil {
				continue
			}
			if _, changed := ov[q*e.Buckets+b]; !changed {
				out = append(out, keyEntry(t, entryKey{a: q*e.Buckets + b}))
			}
		}
		for x, v := range ov {
			if x%e.Buckets == b && v != "" {
				out = append(out, keyEntry(t, entryKey{a: x}))
			}
		}
	} else {
		fields, err := s.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, s.unavailable("list", err)
		}
		for f, v := range fields {
			q, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				continue
			}
			if _, changed := ov[q*e.Buckets+b]; !changed {
				out = append(out, fieldEntries(e.ds, q*e.Buckets+b, v)...)
			}
		}
		for x, v := range ov {
			if x%e.Buckets == b && v != "" {
				out = append(out, fieldEntries(e.ds, x, v)...)
			}
		}
	}
	slices.SortFunc(out, func(x, y eir.Entry) int {
		if c := cmpU(uint64(x.IMEI)+uint64(x.TAC), uint64(y.IMEI)+uint64(y.TAC)); c != 0 {
			return c
		}
		return strings.Compare(string(x.IMSI), string(y.IMSI))
	})
	return out, nil
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
// not yet swept are included with their expiry.
func (s *Store) EntriesFor(ctx context.Context, q eir.Query) ([]eir.DatasetEntry, error) {
	p, err := s.refreshPlan(ctx, "")
	if err != nil {
		return nil, s.unavailable("list", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]redis.Cmder, len(p.entries))
	ovs := make([]*redis.StringCmd, len(p.entries))
	for i, e := range p.entries {
		if e.overlay != "" {
			x := uint64(q.IMEI)
			if e.ds.Target == eir.TargetTAC {
				x = uint64(q.IMEI.TAC())
			}
			ovs[i] = pipe.HGet(ctx, e.overlay, strconv.FormatUint(x, 10))
		}
		switch e.ds.Target {
		case eir.TargetRange:
			_, rowsKey := s.k.rangeKeys(e.name, e.Version)
			cmds[i] = pipe.HKeys(ctx, rowsKey)
		case eir.TargetPair:
			x := uint64(q.IMEI)
			cmds[i] = pipe.HGet(ctx, s.k.bucketKey(e.name, x%e.Buckets, e.Version), strconv.FormatUint(x/e.Buckets, 10))
		default:
			x := uint64(q.IMEI)
			if e.ds.Target == eir.TargetTAC {
				x = uint64(q.IMEI.TAC())
			}
			key, field := s.k.bucketKey(e.name, x%e.Buckets, e.Version), strconv.FormatUint(x/e.Buckets, 10)
			if e.ds.Expiring {
				cmds[i] = pipe.HGet(ctx, key, field)
			} else {
				cmds[i] = pipe.SIsMember(ctx, key, x/e.Buckets)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.unavailable("list", err)
	}
	var out []eir.DatasetEntry
	for i, e := range p.entries {
		if ov := ovs[i]; ov != nil && ov.Err() == nil {
			// The overlay holds the entry's value in force.
			switch {
			case ov.Val() == "":
				continue
			case e.ds.Target == eir.TargetPair:
				cmds[i] = redis.NewStringResult(ov.Val(), nil)
			default:
				cmds[i] = redis.NewBoolResult(true, nil)
			}
		}
		switch c := cmds[i].(type) {
		case *redis.BoolCmd:
			if c.Val() {
				out = append(out, eir.DatasetEntry{Dataset: e.ds, Entry: keyEntry(e.ds.Target, entryKey{a: uint64(q.IMEI)})})
				if e.ds.Target == eir.TargetTAC {
					out[len(out)-1].Entry = eir.Entry{TAC: q.IMEI.TAC()}
				}
			}
		case *redis.StringCmd:
			if c.Val() == "" {
				continue
			}
			x := uint64(q.IMEI)
			if e.ds.Target == eir.TargetTAC {
				x = uint64(q.IMEI.TAC())
			}
			for _, en := range fieldEntries(e.ds, x, c.Val()) {
				if q.IMSI == "" || e.ds.Target != eir.TargetPair || en.IMSI == q.IMSI {
					out = append(out, eir.DatasetEntry{Dataset: e.ds, Entry: en})
				}
			}
		case *redis.StringSliceCmd:
			for _, r := range c.Val() {
				if from, to, ok := parseRangeMember(r); ok && from <= q.IMEI && q.IMEI <= to {
					out = append(out, eir.DatasetEntry{Dataset: e.ds, Entry: eir.Entry{From: from, To: to}})
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
