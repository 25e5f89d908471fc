package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// Apply writes changes as new versions of their datasets and switches all
// of them in at once: a check sees every change or none. A write that races
// with another writer of the same dataset is rebuilt from the new state (up
// to three times) and then fails with eir.ErrConflict.
func (s *Store) Apply(ctx context.Context, changes []eir.Change) (eir.ApplyResult, error) {
	return s.ApplyWith(ctx, changes, eir.ApplyOptions{})
}

// ApplyWith is Apply with a sync-state record written in the same switch,
// optional expectations on that record (a mismatch is eir.ErrConflict and is
// not retried), and strict deltas (eir.ErrNoop).
func (s *Store) ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error) {
	if err := eir.ValidateChanges(changes); err != nil {
		return eir.ApplyResult{}, err
	}
	start := time.Now()
	defer func() { s.m.duration.WithLabelValues("apply").Observe(time.Since(start).Seconds()) }()
	res, _, err := s.applyRetrying(ctx, changes, o)
	return res, err
}

// applyDetailed is ApplyWith returning what was built (for the sweeper).
func (s *Store) applyDetailed(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) ([]*built, error) {
	if err := eir.ValidateChanges(changes); err != nil {
		return nil, err
	}
	_, builds, err := s.applyRetrying(ctx, changes, o)
	return builds, err
}

func (s *Store) applyRetrying(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, []*built, error) {
	works := groupChanges(changes)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var res eir.ApplyResult
		var builds []*built
		res, builds, err = s.buildAndSwitch(ctx, works, o)
		if !errors.Is(err, errDatasetRace) {
			return res, builds, err
		}
		s.log.Info("concurrent write to the same dataset; rebuilding", zap.Error(err))
	}
	return eir.ApplyResult{}, nil, err
}

// errDatasetRace is a conflict on a dataset version (retried), as opposed to
// one on the sync state (returned).
var errDatasetRace = fmt.Errorf("%w: dataset changed during the write", eir.ErrConflict)

// built is a version written and not yet switched in.
type built struct {
	w   *work
	ref buildRef
	// expected is the tag of the content in force the build is based on
	// (manifestEntry.tag; "0": no dataset), checked at the switch; "*" for
	// a replacement nothing was judged on (no ApplyOptions.Before).
	expected string
	entry    manifestEntry
	added    uint64
	removed  uint64
	updated  uint64 // expiring datasets: entries whose expiry changed
	noopAdd  uint64
	noopRem  uint64
	// removedEntries lists the entries removed (expiring datasets only).
	removedEntries []eir.Entry
	// inForce is the content in force a fresh range or expiring build
	// read, and written the distinct keys a fresh IMEI or TAC build wrote
	// (sorted by bucket): what countReplaced compares.
	inForce map[entryKey]struct{}
	written []uint64
}

// buildAndSwitch is one attempt of a write: it takes the fold locks,
// builds a new version of each dataset of works on the content in force,
// and switches them in with the sync state of o in one commit. It fails
// with errDatasetRace when another writer switched a dataset meanwhile.
func (s *Store) buildAndSwitch(ctx context.Context, works []*work, o eir.ApplyOptions) (res eir.ApplyResult, done []*built, err error) {
	if err := s.errDown("apply"); err != nil {
		return res, nil, err
	}
	if err := s.errDiverged(); err != nil {
		return res, nil, err
	}
	p, cur, err := s.inForce(ctx)
	if err != nil {
		return res, nil, err
	}
	var builds, unchanged []*built
	var folds []*Lock
	defer func() {
		if err != nil {
			s.abandon(builds)
		}
		s.abandon(unchanged)
		for _, l := range folds {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			l.Unlock(uctx)
			cancel()
		}
	}()
	// Every fold lock is taken before anything is built: none is waited
	// for while holding a dataset being built.
	var waited bool
	if folds, waited, err = s.foldLocks(ctx, works, cur); err != nil {
		return res, nil, err
	}
	if waited {
		// A fold switched meanwhile: build on what it switched in.
		if p, cur, err = s.inForce(ctx); err != nil {
			return res, nil, err
		}
	}
	for _, w := range works {
		c, ok := cur[w.name]
		switch {
		case !ok && (!w.replace || w.ifExists) && w.numAdds() == 0:
			continue // removals from (or an IfExists emptying of) a dataset that does not exist: nothing to do
		case w.compact && (c.Overlay == 0 || c.OCount < uint64(s.o.OverlayMax)):
			continue // folded meanwhile by another process
		}
		b, berr := s.build(ctx, w, c, ok)
		if b != nil {
			builds = append(builds, b)
		}
		if berr == nil && o.Strict && (b.noopAdd > 0 || b.noopRem > 0) {
			berr = fmt.Errorf("redisstore: %s: %w (%d adds of present entries, %d removals of absent ones)", w.name, eir.ErrNoop, b.noopAdd, b.noopRem)
		}
		if berr != nil {
			return res, nil, berr
		}
		if w.replace && o.Before != nil {
			// Before judges the counts against c: switch only over c.
			b.expected = inForceTag(c, ok)
		}
		if ok && !w.replace && !w.compact && b.added == 0 && b.removed == 0 && b.updated == 0 {
			// Nothing changed: keep the version in force.
			unchanged = append(unchanged, b)
			builds = builds[:len(builds)-1]
		}
	}
	for _, b := range unchanged {
		c := cur[b.w.name]
		res.Datasets = append(res.Datasets, eir.DatasetResult{Dataset: b.w.ds, Version: c.current(), Count: c.Count,
			Hash: uint64(c.Hash), NoopAdds: b.noopAdd, NoopRemoves: b.noopRem, Previous: c.Count})
	}
	for _, b := range builds {
		res.Datasets = append(res.Datasets, eir.DatasetResult{
			Dataset: b.w.ds, Version: b.ref.version, Added: b.added, Removed: b.removed, Updated: b.updated, Count: b.entry.Count,
			Hash: uint64(b.entry.Hash), NoopAdds: b.noopAdd, NoopRemoves: b.noopRem, Previous: cur[b.w.name].Count,
		})
	}
	if o.Before != nil {
		// Each attempt starts from the caller's state: a write retried
		// after a race calls Before again.
		state := make(map[string]string, len(o.State))
		for f, v := range o.State {
			state[f] = v
		}
		o.State = state
		if err = o.Before(res.Datasets, o.State); err != nil {
			return eir.ApplyResult{}, nil, err
		}
	}
	if len(builds) > 0 || len(o.State) > 0 || len(o.ExpectState) > 0 {
		if len(builds) > 0 {
			if err = s.replicateWrites(ctx, "apply"); err != nil {
				return eir.ApplyResult{}, nil, err // nothing switched: the builds are abandoned
			}
		}
		epoch, cerr := s.commit(ctx, p, builds, o)
		if cerr != nil && !errors.Is(cerr, errNotReplicated) {
			return eir.ApplyResult{}, nil, cerr
		}
		if len(builds) > 0 {
			s.m.switches.Inc()
			if _, err := s.refreshPlan(ctx, ""); err != nil {
				s.log.Warn("cannot reload manifest after a switch", zap.Error(err))
			}
			s.log.Debug("datasets switched", zap.Int64("epoch", epoch), zap.Int("datasets", len(builds)))
		}
		if cerr != nil {
			// Switched in, but too few replicas have it: in force, so
			// never abandoned, but not acknowledged.
			builds = nil
			return eir.ApplyResult{}, nil, cerr
		}
	}
	return res, append(builds, unchanged...), nil
}

// inForce reads the plan in force and its datasets by name.
func (s *Store) inForce(ctx context.Context) (*plan, map[string]planEntry, error) {
	p, err := s.refreshPlan(ctx, "")
	if err != nil {
		if errors.Is(err, eir.ErrDiverged) {
			return nil, nil, err
		}
		return nil, nil, s.unavailable("apply", err)
	}
	cur := make(map[string]planEntry, len(p.all))
	for _, e := range p.all {
		cur[e.name] = e
	}
	return p, cur, nil
}

// inForceTag is the tag a build based on cur expects at its switch
// (hasCur false: no dataset).
func inForceTag(cur planEntry, hasCur bool) string {
	if !hasCur {
		return "0"
	}
	return cur.tag()
}
