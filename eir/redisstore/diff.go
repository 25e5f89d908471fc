package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

// intersect counts the entries a replacement b (just written) shares with
// the content in force cur, so that a replacement reports, and a guard
// judges, what it really removes and adds. For IMEI and TAC datasets with
// the same bucket count it is one SINTERCARD per bucket inside Redis;
// otherwise the new keys are looked up in the version in force. The
// overlay in force is accounted for.
func (s *Store) intersect(ctx context.Context, b *built, cur planEntry, vals []uint64, pairKeys []entryKey) (uint64, error) {
	if b.w.ds.Target == eir.TargetPair {
		return s.intersectPairs(ctx, cur, pairKeys)
	}
	var common int64
	var err error
	if b.ref.buckets == cur.Buckets {
		common, err = s.interCard(ctx, b, cur)
	}
	if b.ref.buckets != cur.Buckets || err != nil {
		common, err = s.memberCount(ctx, cur, vals)
	}
	if err != nil {
		return 0, err
	}
	if cur.overlay == "" {
		return uint64(common), nil
	}
	// The overlay's entries: count them as they are in force, not as
	// they are in the version under it.
	ov, err := s.rdb.HGetAll(ctx, cur.overlay).Result()
	if err != nil {
		return 0, s.unavailable("apply", err)
	}
	keys := make([]uint64, 0, len(ov))
	for f := range ov {
		k, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			continue
		}
		keys = append(keys, k)
	}
	inBase, err := s.members(ctx, cur.name, cur.Version, cur.Buckets, keys)
	if err != nil {
		return 0, err
	}
	inNew, err := s.members(ctx, b.w.name, b.ref.version, b.ref.buckets, keys)
	if err != nil {
		return 0, err
	}
	for i, k := range keys {
		if !inNew[i] {
			continue
		}
		if inBase[i] {
			common--
		}
		if ov[strconv.FormatUint(k, 10)] != "" {
			common++
		}
	}
	return uint64(common), nil
}

// interCard sums SINTERCARD over the bucket pairs of two versions with the
// same bucket count (Redis 7).
func (s *Store) interCard(ctx context.Context, b *built, cur planEntry) (int64, error) {
	var total int64
	for start := uint64(0); start < cur.Buckets; start += 512 {
		end := min(start+512, cur.Buckets)
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, 0, end-start)
		for bk := start; bk < end; bk++ {
			cmds = append(cmds, pipe.SInterCard(ctx, 0, s.k.bucketKey(cur.name, bk, cur.Version), s.k.bucketKey(b.w.name, bk, b.ref.version)))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return 0, err
		}
		for _, c := range cmds {
			total += c.Val()
		}
	}
	return total, nil
}

// memberCount counts the keys present in the version in force of cur.
func (s *Store) memberCount(ctx context.Context, cur planEntry, vals []uint64) (int64, error) {
	var n int64
	for start := 0; start < len(vals); start += 1 << 16 {
		end := min(start+1<<16, len(vals))
		in, err := s.members(ctx, cur.name, cur.Version, cur.Buckets, vals[start:end])
		if err != nil {
			return 0, err
		}
		for _, ok := range in {
			if ok {
				n++
			}
		}
	}
	return n, nil
}

// members reports which keys version v (B buckets) of a set dataset holds.
func (s *Store) members(ctx context.Context, name string, v, B uint64, keys []uint64) ([]bool, error) {
	out := make([]bool, len(keys))
	byBucket := map[uint64][]int{}
	for i, k := range keys {
		byBucket[k%B] = append(byBucket[k%B], i)
	}
	rb := s.newReadBatch(ctx)
	for bk, idx := range byBucket {
		ms := make([]any, len(idx))
		for j, i := range idx {
			ms[j] = keys[i] / B
		}
		cmd := rb.pipe.SMIsMember(ctx, s.k.bucketKey(name, bk, v), ms...)
		if err := rb.add(func() {
			for j, in := range cmd.Val() {
				out[idx[j]] = in
			}
		}); err != nil {
			return nil, err
		}
	}
	return out, rb.flush()
}

// intersectPairs counts the pairs of a replacement that are in force.
func (s *Store) intersectPairs(ctx context.Context, cur planEntry, keys []entryKey) (uint64, error) {
	seen := map[entryKey]bool{}
	var imeis []uint64
	for _, k := range keys {
		if !seen[entryKey{a: k.a}] {
			seen[entryKey{a: k.a}] = true
			imeis = append(imeis, k.a)
		}
	}
	var common uint64
	for start := 0; start < len(imeis); start += 1 << 16 {
		end := min(start+1<<16, len(imeis))
		fields, err := s.readFields(ctx, cur, imeis[start:end])
		if err != nil {
			return 0, err
		}
		for _, f := range fields {
			for _, imsi := range strings.Split(f.effective(), ",") {
				if imsi != "" {
					seen[entryKey{a: f.key, imsi: eir.IMSI(imsi)}] = true
				}
			}
		}
	}
	done := map[entryKey]bool{}
	for _, k := range keys {
		if seen[k] && k.imsi != "" && !done[k] {
			done[k] = true
			common++
		}
	}
	return common, nil
}
