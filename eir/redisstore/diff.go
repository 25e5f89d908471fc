package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/eir-sidecar/eir/eir"
)

// intersect counts the entries a fresh build b of an IMEI or TAC dataset
// (just written) shares with the content in force cur, so that a
// replacement reports, and a guard judges, what it really removes and
// adds. With the same bucket count it is one SINTERCARD per pair of
// buckets inside Redis, corrected for cur's overlay; otherwise, or on a
// Redis older than 7, the smaller side is looked up in the other: the keys
// written in cur, overlay applied, or (cur smaller and without overlay)
// cur's entries in b.
func (s *Store) intersect(ctx context.Context, pw *pipeWriter, b *built, cur planEntry) (uint64, error) {
	if b.ref.buckets == cur.Buckets {
		common, ok, err := s.interCard(pw, b, cur)
		if err != nil {
			return 0, err
		}
		if ok {
			return s.overlayCorrected(ctx, pw, b, cur, common)
		}
	}
	if cur.overlay == "" && cur.Count < uint64(len(b.written)) {
		return s.inForceIn(pw, b, cur)
	}
	var common uint64
	for start := 0; start < len(b.written); start += 1 << 16 {
		end := min(start+1<<16, len(b.written))
		fields, err := s.readFields(pw, cur, b.written[start:end])
		if err != nil {
			return 0, err
		}
		for _, f := range fields {
			if f.effective() != "" {
				common++
			}
		}
	}
	return common, nil
}

// inForceIn counts the entries of cur (a version without overlay) that b
// holds, reading cur a batch of buckets at a time: a list that grew past
// its bucket count (1 million IMEIs replaced by 100 million) costs reads
// of the million, not lookups of the 100 million.
func (s *Store) inForceIn(pw *pipeWriter, b *built, cur planEntry) (uint64, error) {
	const batch = 1024 // buckets per read: about 128 entries each
	var common uint64
	for first := uint64(0); first < cur.Buckets; first += batch {
		var keys []uint64
		for bk := first; bk < min(first+batch, cur.Buckets); bk++ {
			cmd := pw.pipe.SMembers(pw.ctx, s.k.bucketKey(cur.name, bk, cur.Version))
			if err := pw.add(cmd, func() error {
				for _, m := range cmd.Val() {
					q, err := strconv.ParseUint(m, 10, 64)
					if err != nil {
						return fmt.Errorf("redisstore: %s bucket %d: member %q: %w", cur.name, bk, m, err)
					}
					keys = append(keys, q*cur.Buckets+bk)
				}
				return nil
			}); err != nil {
				return 0, err
			}
		}
		if err := pw.flush(); err != nil {
			return 0, err
		}
		vals := make([]string, len(keys))
		if err := s.readBase(pw, b.w.name, b.ref.version, b.ref.buckets, false, keys, vals); err != nil {
			return 0, err
		}
		if err := pw.flush(); err != nil {
			return 0, err
		}
		for _, v := range vals {
			if v == presentValue {
				common++
			}
		}
	}
	return common, nil
}

// interCard sums SINTERCARD over the pairs of buckets of two versions with
// the same bucket count. It reports false when Redis has no SINTERCARD
// (before 7.0; tried on the first pair).
func (s *Store) interCard(pw *pipeWriter, b *built, cur planEntry) (int64, bool, error) {
	keys := func(bk uint64) (string, string) {
		return s.k.bucketKey(cur.name, bk, cur.Version), s.k.bucketKey(b.w.name, bk, b.ref.version)
	}
	k0, n0 := keys(0)
	total, err := s.rdb.SInterCard(pw.ctx, 0, k0, n0).Result()
	if err != nil {
		return 0, false, nil
	}
	for bk := uint64(1); bk < cur.Buckets; bk++ {
		k, n := keys(bk)
		cmd := pw.pipe.SInterCard(pw.ctx, 0, k, n)
		if err := pw.add(cmd, func() error {
			total += cmd.Val()
			return nil
		}); err != nil {
			return 0, true, err
		}
	}
	return total, true, pw.flush()
}

// overlayCorrected corrects common, the entries b shares with the version
// under cur's overlay, into those it shares with the content in force:
// each entry of the overlay counts as it is in force, not as it is in the
// version under it.
func (s *Store) overlayCorrected(ctx context.Context, pw *pipeWriter, b *built, cur planEntry, common int64) (uint64, error) {
	ov, err := s.readOverlay(ctx, cur)
	if err != nil {
		return 0, err
	}
	if len(ov) == 0 {
		return uint64(common), nil
	}
	keys := make([]uint64, 0, len(ov))
	for k := range ov {
		keys = append(keys, k)
	}
	inNew := make([]string, len(keys)) // read with the fields (one round trip)
	if err := s.readBase(pw, b.w.name, b.ref.version, b.ref.buckets, false, keys, inNew); err != nil {
		return 0, err
	}
	fields, err := s.readFields(pw, cur, keys)
	if err != nil {
		return 0, err
	}
	for i, f := range fields {
		if inNew[i] == "" {
			continue
		}
		if f.base != "" {
			common--
		}
		if f.effective() != "" {
			common++
		}
	}
	return uint64(common), nil
}

// intersectPairs counts the distinct pairs of a fresh build w that are in
// force in cur, its overlay applied.
func (s *Store) intersectPairs(pw *pipeWriter, w *work, cur planEntry) (uint64, error) {
	seen := map[uint64]bool{}
	var imeis []uint64
	w.eachAdd(func(k entryKey) {
		if !seen[k.a] {
			seen[k.a] = true
			imeis = append(imeis, k.a)
		}
	})
	inForce := map[entryKey]struct{}{} // the pairs in force of those IMEIs
	for start := 0; start < len(imeis); start += 1 << 16 {
		end := min(start+1<<16, len(imeis))
		fields, err := s.readFields(pw, cur, imeis[start:end])
		if err != nil {
			return 0, err
		}
		for _, f := range fields {
			for _, imsi := range strings.Split(f.effective(), ",") {
				if imsi != "" {
					inForce[entryKey{a: f.key, imsi: eir.IMSI(imsi)}] = struct{}{}
				}
			}
		}
	}
	return takeCommon(inForce, w.eachAdd), nil
}
