package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// Filters of the datasets too large for the replica.
//
// A dataset beyond Options.ReplicaMaxEntries is not copied: its checks read
// Redis. With Options.ReplicaFilter, the replica keeps instead a Bloom
// filter of the version's keys (about 1.2 bytes a key, 1 % false
// positives) and the overlay in full. A version is immutable, so the filter
// of version v has no false negative for as long as v is in force: a key
// it rules out is not in v, and the overlay (held exactly) decides the keys
// it has. Only the keys the filter may hold (the listed IMEIs and about 1 %
// of the others) are read from Redis, at that version, as before. The
// filter answers nothing alone: it is not a copy of the lists, so it does
// not count for the replica's completeness, the local copy, a restore or
// an outage (the checks it cannot rule out fail then, as without it).
const filterFalsePositives = 0.01

// filterCopy is the filter of one version of a dataset, with its overlay.
type filterCopy struct {
	name      string
	version   uint64
	overlay   uint64
	bf        *bloom.BloomFilter
	baseCount uint64    // the version's entries, as read
	ov        *localSet // nil without an overlay
}

// filterSet is the filters in use, by planEntry.rkey; never modified once
// published.
type filterSet map[string]*filterCopy

// filterable reports whether a dataset's version can be held as a filter:
// the datasets keyed by IMEI or TAC (ranges are few and held in full).
func filterable(e *planEntry) bool {
	return e.ds.Target != eir.TargetRange && e.Count > 0
}

// ruledOut reports whether the filter of e, when the replica has it,
// decides whether e matches q: the overlay has q's key (hit is its answer),
// or the version cannot have it. count counts the lookup in the metrics.
func (s *Store) ruledOut(e *planEntry, q *eir.Query, count bool) (hit, decided bool) {
	fs := s.filters.Load()
	if fs == nil {
		return false, false
	}
	f := (*fs)[e.rkey]
	if f == nil || f.version != e.Version || f.overlay != e.Overlay {
		return false, false
	}
	x := queryKey(e.ds.Target, q.IMEI)
	if f.ov != nil {
		if i, ok := f.ov.find(x); ok {
			return overlayMatch(f.ov.value(i), e.ds, q.IMSI), true
		}
	}
	var kb [8]byte
	if f.bf.Test(filterKey(&kb, x)) {
		if count {
			s.m.filterMaybe.Inc()
		}
		return false, false
	}
	if count {
		s.m.filterAbsent.Inc()
	}
	return false, true
}

// publishFilters publishes fs: a pointer to the parameter, a variable of
// its own (a pointer to the caller's variable would see its next value).
func (s *Store) publishFilters(fs filterSet) { s.filters.Store(&fs) }

func cloneFilters(fs filterSet) filterSet {
	out := make(filterSet, len(fs)+1)
	for k, f := range fs {
		out[k] = f
	}
	return out
}

// filterKey writes the filter's key for x into b and returns it; b is the
// caller's, so that a lookup allocates nothing.
func filterKey(b *[8]byte, x uint64) []byte {
	binary.LittleEndian.PutUint64(b[:], x)
	return b[:]
}

// syncFilters builds the filters of the datasets named in tooLarge (the
// replica does not hold them) and drops those no longer in force.
func (s *Store) syncFilters(ctx context.Context, p *plan, tooLarge []string) error {
	cur := filterSet{}
	if fs := s.filters.Load(); fs != nil {
		cur = *fs
	}
	next := filterSet{}
	for _, name := range tooLarge {
		e, ok := p.find(name)
		if !ok || !filterable(&e) {
			continue
		}
		if f := cur[e.rkey]; f != nil {
			next = cloneFilters(next)
			next[e.rkey] = f
			continue
		}
		var have *filterCopy
		for _, f := range cur {
			if f.name == e.name && f.version == e.Version {
				have = f // another overlay of the same version
			}
		}
		start := time.Now()
		f, err := s.loadFilter(ctx, e, have)
		var inc *incompleteError
		if errors.As(err, &inc) && s.checkIncomplete(ctx, p, e, inc) {
			continue
		}
		if err != nil {
			return fmt.Errorf("redisstore: filter of %s version %d: %w", e.name, e.Version, err)
		}
		next = cloneFilters(next) // the published set is never modified
		next[e.rkey] = f
		s.publishFilters(next)
		s.log.Info("dataset too large for the replica held as a filter: checks read redis only for the IMEIs it may hold",
			zap.String("dataset", e.name), zap.Uint64("version", e.Version), zap.Uint64("entries", e.Count),
			zap.Uint("bytes", f.bf.Cap()/8), zap.Duration("duration", time.Since(start)))
		if np := s.plan.Load(); np != p {
			s.nudge()
			return nil
		}
	}
	s.publishFilters(next)
	var bytes uint
	for _, f := range next {
		bytes += f.bf.Cap() / 8
	}
	s.m.filterBytes.Set(float64(bytes))
	return nil
}

// loadFilter builds the filter of e, reusing the one of have (same version,
// another overlay), and checks it against the manifest's count like a copy.
func (s *Store) loadFilter(ctx context.Context, e planEntry, have *filterCopy) (*filterCopy, error) {
	f := &filterCopy{name: e.name, version: e.Version, overlay: e.Overlay}
	if have != nil {
		f.bf, f.baseCount = have.bf, have.baseCount
	} else {
		f.bf = bloom.NewWithEstimates(uint(max(e.Count, 1)), filterFalsePositives)
		var kb [8]byte
		n, err := s.scanVersion(ctx, e, func(x uint64, _ string) error {
			f.bf.Add(filterKey(&kb, x))
			return nil
		})
		if err != nil {
			return nil, err
		}
		f.baseCount = n
	}
	if e.Overlay != 0 {
		ov, err := s.loadOverlay(ctx, e)
		if err != nil {
			return nil, err
		}
		f.ov = ov
	}
	n, err := s.countWithOverlay(ctx, e, f)
	if err != nil {
		return nil, err
	}
	if n != e.Count {
		return nil, &incompleteError{ds: e.name, version: e.Version, read: n, want: e.Count}
	}
	return f, nil
}

// countWithOverlay is localDS.count for a filter: the version's entries,
// the overlay applied, reading from Redis whether the version has each key
// of the overlay (the filter cannot tell).
func (s *Store) countWithOverlay(ctx context.Context, e planEntry, f *filterCopy) (uint64, error) {
	n := int64(f.baseCount)
	if f.ov == nil {
		return uint64(n), nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(f.ov.keys))
	members := make([]*redis.BoolCmd, len(f.ov.keys))
	for i, x := range f.ov.keys {
		key, field := e.bucket(&s.k, x%e.Buckets), strconv.FormatUint(x/e.Buckets, 10)
		if e.ds.Target == eir.TargetPair {
			cmds[i] = pipe.HGet(ctx, key, field)
		} else {
			members[i] = pipe.SIsMember(ctx, key, field)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	for i := range f.ov.keys {
		v := f.ov.value(i)
		if e.ds.Target == eir.TargetPair {
			n -= int64(itemCount(cmds[i].Val()))
			n += int64(itemCount(v))
			continue
		}
		switch in := members[i].Val(); {
		case v != "" && !in:
			n++
		case v == "" && in:
			n--
		}
	}
	return uint64(n), nil
}
