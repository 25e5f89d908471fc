// Package memstore is an in-memory list store for tests and development. It
// implements eir.Lookup and the same write contract as redisstore (whole
// changes applied atomically, per-dataset versions), and is checked by the
// same contract suite (eir/storetest).
package memstore

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/eir-sidecar/eir/eir"
)

type dataset struct {
	version uint64
	imeis   map[eir.IMEI]struct{}
	tacs    map[eir.TAC]struct{}
	ranges  map[[2]eir.IMEI]struct{}
	pairs   map[eir.IMEI]map[eir.IMSI]struct{}
}

func newDataset() *dataset {
	return &dataset{
		imeis:  map[eir.IMEI]struct{}{},
		tacs:   map[eir.TAC]struct{}{},
		ranges: map[[2]eir.IMEI]struct{}{},
		pairs:  map[eir.IMEI]map[eir.IMSI]struct{}{},
	}
}

func (d *dataset) count() int {
	n := len(d.imeis) + len(d.tacs) + len(d.ranges)
	for _, p := range d.pairs {
		n += len(p)
	}
	return n
}

func (d *dataset) clone() *dataset {
	c := newDataset()
	c.version = d.version
	for k := range d.imeis {
		c.imeis[k] = struct{}{}
	}
	for k := range d.tacs {
		c.tacs[k] = struct{}{}
	}
	for k := range d.ranges {
		c.ranges[k] = struct{}{}
	}
	for k, v := range d.pairs {
		m := make(map[eir.IMSI]struct{}, len(v))
		for i := range v {
			m[i] = struct{}{}
		}
		c.pairs[k] = m
	}
	return c
}

// apply adds or removes e; it reports whether the dataset changed.
func (d *dataset) apply(t eir.Target, e eir.Entry, add bool) bool {
	var had bool
	switch t {
	case eir.TargetIMEI:
		_, had = d.imeis[e.IMEI]
		if add {
			d.imeis[e.IMEI] = struct{}{}
		} else {
			delete(d.imeis, e.IMEI)
		}
	case eir.TargetTAC:
		_, had = d.tacs[e.TAC]
		if add {
			d.tacs[e.TAC] = struct{}{}
		} else {
			delete(d.tacs, e.TAC)
		}
	case eir.TargetRange:
		k := [2]eir.IMEI{e.From, e.To}
		_, had = d.ranges[k]
		if add {
			d.ranges[k] = struct{}{}
		} else {
			delete(d.ranges, k)
		}
	case eir.TargetPair:
		p := d.pairs[e.IMEI]
		_, had = p[e.IMSI]
		if add {
			if p == nil {
				p = map[eir.IMSI]struct{}{}
				d.pairs[e.IMEI] = p
			}
			p[e.IMSI] = struct{}{}
		} else if p != nil {
			delete(p, e.IMSI)
			if len(p) == 0 {
				delete(d.pairs, e.IMEI)
			}
		}
	}
	return had != add
}

func (d *dataset) match(t eir.Target, q eir.Query) bool {
	switch t {
	case eir.TargetIMEI:
		_, ok := d.imeis[q.IMEI]
		return ok
	case eir.TargetTAC:
		_, ok := d.tacs[q.IMEI.TAC()]
		return ok
	case eir.TargetRange:
		for r := range d.ranges {
			if r[0] <= q.IMEI && q.IMEI <= r[1] {
				return true
			}
		}
	case eir.TargetPair:
		if q.IMSI == "" {
			return false
		}
		_, ok := d.pairs[q.IMEI][q.IMSI]
		return ok
	}
	return false
}

// Store is an in-memory list store. The zero value is not usable; call New.
type Store struct {
	mu   sync.RWMutex
	sets map[eir.Dataset]*dataset
	seq  uint64
	// Fail, when set, makes Match fail with ErrUnavailable (tests).
	fail error
}

// New returns an empty store.
func New() *Store { return &Store{sets: map[eir.Dataset]*dataset{}} }

// SetFailure makes every Match return an error wrapping eir.ErrUnavailable
// and err, until called with nil.
func (s *Store) SetFailure(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// Match implements eir.Lookup.
func (s *Store) Match(ctx context.Context, q eir.Query, hits []eir.Hit) ([]eir.Hit, error) {
	if err := ctx.Err(); err != nil {
		return hits, fmt.Errorf("memstore: match: %w: %w", eir.ErrUnavailable, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fail != nil {
		return hits, fmt.Errorf("memstore: match: %w: %w", eir.ErrUnavailable, s.fail)
	}
	for id, d := range s.sets {
		if d.match(id.Target, q) {
			hits = append(hits, eir.Hit{Dataset: id})
		}
	}
	return hits, nil
}

// Apply applies every change atomically: a query sees all of them or none.
func (s *Store) Apply(ctx context.Context, changes []eir.Change) (eir.ApplyResult, error) {
	if err := eir.ValidateChanges(changes); err != nil {
		return eir.ApplyResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[eir.Dataset]*dataset{}
	var res eir.ApplyResult
	for _, ch := range changes {
		d, ok := next[ch.Dataset]
		if !ok && s.sets[ch.Dataset] == nil && !ch.Replace && len(ch.Add) == 0 {
			continue // removals from a dataset that does not exist: nothing to do
		}
		if !ok {
			if cur := s.sets[ch.Dataset]; cur != nil && !ch.Replace {
				d = cur.clone()
			} else {
				d = newDataset()
			}
			next[ch.Dataset] = d
		} else if ch.Replace {
			d = newDataset()
			next[ch.Dataset] = d
		}
		st := eir.DatasetResult{Dataset: ch.Dataset}
		for _, e := range ch.Remove {
			if d.apply(ch.Dataset.Target, e, false) {
				st.Removed++
			}
		}
		for _, e := range ch.Add {
			if d.apply(ch.Dataset.Target, e, true) {
				st.Added++
			}
		}
		res.Datasets = append(res.Datasets, st)
	}
	for id, d := range next {
		s.seq++
		d.version = s.seq
		s.sets[id] = d
	}
	for i := range res.Datasets {
		d := next[res.Datasets[i].Dataset]
		res.Datasets[i].Version = d.version
		res.Datasets[i].Count = uint64(d.count())
	}
	return res, nil
}

// Datasets lists every dataset with its version and entry count.
func (s *Store) Datasets(ctx context.Context) ([]eir.DatasetInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]eir.DatasetInfo, 0, len(s.sets))
	for id, d := range s.sets {
		out = append(out, eir.DatasetInfo{Dataset: id, Version: d.version, Count: uint64(d.count())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset.String() < out[j].Dataset.String() })
	return out, nil
}
