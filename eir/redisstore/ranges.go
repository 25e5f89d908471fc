package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

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
			return cmp.Compare(x.a, y.a)
		}
		return cmp.Compare(x.b, y.b)
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
