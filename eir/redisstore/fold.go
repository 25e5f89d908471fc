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

// Compact folds the overlays that reached Options.OverlayMax entries into
// new versions (the janitor calls it). Several processes may compact at
// once: one folds a dataset while the others skip it (see compactDataset).
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
		done, err := s.compactDataset(ctx, e)
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

// compactDataset folds the overlay of e's dataset, and reports whether it
// did. It tries the dataset's fold lock once: while another process folds
// the dataset it does nothing (waiting would only copy the dataset again,
// from the content the other fold replaces). With the lock held,
// buildAndSwitch reads the manifest again and skips the dataset when its overlay was folded
// meanwhile.
func (s *Store) compactDataset(ctx context.Context, e planEntry) (bool, error) {
	l, err := s.TryLock(ctx, foldLock(e.name), s.o.BuildLease)
	if err != nil || l == nil {
		return false, err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		l.Unlock(uctx)
		cancel()
	}()
	res, _, err := s.buildAndSwitch(ctx, []*work{{ds: e.ds, name: e.name, compact: true}}, eir.ApplyOptions{})
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
// caller (compactDataset).
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
