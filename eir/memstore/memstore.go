// Package memstore is an in-memory list store for tests and development. It
// implements eir.Lookup and the same write contract as redisstore (whole
// changes applied atomically, per-dataset versions), and is checked by the
// same contract suite (eir/storetest).
package memstore

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

type dataset struct {
	version uint64
	// expiry holds the expiry of each entry of an expiring dataset (Unix
	// milliseconds, 0: never), keyed by eir.Entry.Key.
	expiry map[eir.Entry]int64
	imeis  map[eir.IMEI]struct{}
	tacs   map[eir.TAC]struct{}
	ranges map[[2]eir.IMEI]struct{}
	pairs  map[eir.IMEI]map[eir.IMSI]struct{}
}

func newDataset() *dataset {
	return &dataset{
		imeis:  map[eir.IMEI]struct{}{},
		tacs:   map[eir.TAC]struct{}{},
		ranges: map[[2]eir.IMEI]struct{}{},
		pairs:  map[eir.IMEI]map[eir.IMSI]struct{}{},
		expiry: map[eir.Entry]int64{},
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
	for k, v := range d.expiry {
		c.expiry[k] = v
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

func (d *dataset) match(ds eir.Dataset, q eir.Query, now int64) bool {
	live := func(e eir.Entry) bool {
		if !ds.Expiring {
			return true
		}
		exp := d.expiry[e]
		return exp == 0 || exp > now
	}
	switch ds.Target {
	case eir.TargetIMEI:
		_, ok := d.imeis[q.IMEI]
		return ok && live(eir.Entry{IMEI: q.IMEI})
	case eir.TargetTAC:
		_, ok := d.tacs[q.IMEI.TAC()]
		return ok && live(eir.Entry{TAC: q.IMEI.TAC()})
	case eir.TargetRange:
		for r := range d.ranges {
			if r[0] <= q.IMEI && q.IMEI <= r[1] {
				return true
			}
		}
	case eir.TargetPair:
		if ds.List != eir.ListException { // notifications: grey by IMEI
			for imsi := range d.pairs[q.IMEI] {
				if live(eir.Entry{IMEI: q.IMEI, IMSI: imsi}) {
					return true
				}
			}
			return false
		}
		if q.IMSI == "" {
			return false
		}
		_, ok := d.pairs[q.IMEI][q.IMSI]
		return ok && live(eir.Entry{IMEI: q.IMEI, IMSI: q.IMSI})
	}
	return false
}

// hash returns the XOR of eir.Entry.Hash over the dataset.
func (d *dataset) hash(t eir.Target) uint64 {
	var h uint64
	for k := range d.imeis {
		h ^= eir.Entry{IMEI: k}.Hash(t)
	}
	for k := range d.tacs {
		h ^= eir.Entry{TAC: k}.Hash(t)
	}
	for k := range d.ranges {
		h ^= eir.Entry{From: k[0], To: k[1]}.Hash(t)
	}
	for imei, set := range d.pairs {
		for imsi := range set {
			h ^= eir.Entry{IMEI: imei, IMSI: imsi}.Hash(t)
		}
	}
	return h
}

// Store is an in-memory list store. The zero value is not usable; call New.
type Store struct {
	mu   sync.RWMutex
	sets map[eir.Dataset]*dataset
	seq  uint64
	// state is the sync-state record (ApplyWith).
	state map[string]string
	// Fail, when set, makes Match fail with ErrUnavailable (tests).
	fail error
	// Now is the clock expiring entries are checked against; default
	// time.Now.
	Now func() time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// New returns an empty store.
func New() *Store { return &Store{sets: map[eir.Dataset]*dataset{}, state: map[string]string{}} }

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
		if d.match(id, q, s.now().UnixMilli()) {
			hits = append(hits, eir.Hit{Dataset: id})
		}
	}
	return hits, nil
}

// MatchLocal implements eir.LocalLookup: everything is in memory, so it
// answers unless a failure is set (then Match reports it).
func (s *Store) MatchLocal(q eir.Query, hits []eir.Hit) ([]eir.Hit, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fail != nil {
		return hits, false
	}
	for id, d := range s.sets {
		if d.match(id, q, s.now().UnixMilli()) {
			hits = append(hits, eir.Hit{Dataset: id})
		}
	}
	return hits, true
}

// Apply applies every change atomically: a query sees all of them or none.
func (s *Store) Apply(ctx context.Context, changes []eir.Change) (eir.ApplyResult, error) {
	return s.ApplyWith(ctx, changes, eir.ApplyOptions{})
}

// ApplyWith is Apply with the sync-state options of eir.ApplyOptions.
func (s *Store) ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error) {
	if err := eir.ValidateChanges(changes); err != nil {
		return eir.ApplyResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, _, err := s.applyLocked(changes, o)
	return res, err
}

// SweepExpired removes the entries of expiring datasets whose expiry has
// passed and returns them.
func (s *Store) SweepExpired(ctx context.Context) ([]eir.DatasetEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixMilli()
	var changes []eir.Change
	for id, d := range s.sets {
		if !id.Expiring {
			continue
		}
		var gone []eir.Entry
		for k, exp := range d.expiry {
			if exp != 0 && exp <= now {
				k.Expires = exp
				gone = append(gone, k)
			}
		}
		if len(gone) > 0 {
			changes = append(changes, eir.Change{Dataset: id, Remove: gone})
		}
	}
	_, removed, err := s.applyLocked(changes, eir.ApplyOptions{})
	return removed, err
}

func (s *Store) applyLocked(changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, []eir.DatasetEntry, error) {
	for f, want := range o.ExpectState {
		if s.state[f] != want {
			return eir.ApplyResult{}, nil, fmt.Errorf("memstore: %w: sync state %s changed", eir.ErrConflict, f)
		}
	}
	next := map[eir.Dataset]*dataset{}
	var order []eir.Dataset
	var removedEntries []eir.DatasetEntry
	results := map[eir.Dataset]*eir.DatasetResult{}
	replaced := map[eir.Dataset]bool{}
	for _, ch := range changes {
		d, ok := next[ch.Dataset]
		if !ok && s.sets[ch.Dataset] == nil && (!ch.Replace || ch.IfExists) && len(ch.Add) == 0 && len(ch.AddKeys) == 0 {
			continue // removals from (or an IfExists emptying of) a dataset that does not exist: nothing to do
		}
		if !ok {
			if cur := s.sets[ch.Dataset]; cur != nil && !ch.Replace {
				d = cur.clone()
			} else {
				d = newDataset()
			}
			next[ch.Dataset] = d
			order = append(order, ch.Dataset)
			results[ch.Dataset] = &eir.DatasetResult{Dataset: ch.Dataset}
		} else if ch.Replace {
			d = newDataset()
			next[ch.Dataset] = d
		}
		if ch.Replace {
			replaced[ch.Dataset] = true
		}
		st := results[ch.Dataset]
		t := ch.Dataset.Target
		apply := func(e eir.Entry, add bool) {
			key := e.Key()
			if ch.Dataset.Expiring {
				exp, had := d.expiry[key]
				switch {
				case !add && had && e.Expires != 0 && exp != e.Expires:
					st.NoopRemoves++ // changed since the caller looked
					return
				case add && had && exp != e.Expires:
					d.expiry[key] = e.Expires
					st.Updated++
					return
				case add:
					d.expiry[key] = e.Expires
				case had:
					delete(d.expiry, key)
					if e.Expires == 0 {
						e.Expires = exp
					}
					removedEntries = append(removedEntries, eir.DatasetEntry{Dataset: ch.Dataset, Entry: e})
				}
			}
			switch changed := d.apply(t, key, add); {
			case changed && add:
				st.Added++
			case changed:
				st.Removed++
			case add && !ch.Replace:
				st.NoopAdds++
			case !add:
				st.NoopRemoves++
			}
		}
		for _, e := range ch.Remove {
			apply(e, false)
		}
		for _, k := range ch.RemoveKeys {
			apply(keyEntry(t, k), false)
		}
		for _, e := range ch.Add {
			apply(e, true)
		}
		for _, k := range ch.AddKeys {
			apply(keyEntry(t, k), true)
		}
		if o.Strict && (st.NoopAdds > 0 || st.NoopRemoves > 0) {
			return eir.ApplyResult{}, nil, fmt.Errorf("memstore: %s: %w", ch.Dataset, eir.ErrNoop)
		}
	}
	var res eir.ApplyResult
	for i, id := range order {
		d, r := next[id], results[id]
		if cur := s.sets[id]; cur != nil {
			r.Previous = uint64(cur.count())
		}
		if replaced[id] {
			// Counted by content, as the Redis store counts a replacement.
			r.Added, r.Removed = diffCounts(s.sets[id], d, id.Target)
		}
		r.Version, r.Count, r.Hash = s.seq+uint64(i)+1, uint64(d.count()), d.hash(id.Target)
		res.Datasets = append(res.Datasets, *r)
	}
	if o.Before != nil {
		state := maps.Clone(o.State)
		if state == nil {
			state = map[string]string{}
		}
		if err := o.Before(res.Datasets, state); err != nil {
			return eir.ApplyResult{}, nil, err
		}
		o.State = state
	}
	for _, id := range order {
		s.seq++
		next[id].version = s.seq
		s.sets[id] = next[id]
	}
	for f, v := range o.State {
		s.state[f] = v
	}
	return res, removedEntries, nil
}

// diffCounts counts the entries of next that cur lacks and those of cur
// that next lacks (cur nil: no dataset).
func diffCounts(cur, next *dataset, t eir.Target) (added, removed uint64) {
	in := map[eir.Entry]bool{}
	if cur != nil {
		for _, e := range cur.entries(t) {
			in[e.Key()] = true
		}
	}
	for _, e := range next.entries(t) {
		if in[e.Key()] {
			delete(in, e.Key())
		} else {
			added++
		}
	}
	return added, uint64(len(in))
}

func keyEntry(t eir.Target, k uint64) eir.Entry {
	if t == eir.TargetTAC {
		return eir.Entry{TAC: eir.TAC(k)}
	}
	return eir.Entry{IMEI: eir.IMEI(k)}
}

// SyncState returns the sync-state record written by ApplyWith.
func (s *Store) SyncState(ctx context.Context) (map[string]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]string, len(s.state))
	for k, v := range s.state {
		out[k] = v
	}
	return out, nil
}

// Datasets lists every dataset with its version and entry count.
func (s *Store) Datasets(ctx context.Context) ([]eir.DatasetInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]eir.DatasetInfo, 0, len(s.sets))
	for id, d := range s.sets {
		out = append(out, eir.DatasetInfo{Dataset: id, Version: d.version, Count: uint64(d.count()), Hash: d.hash(id.Target)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset.String() < out[j].Dataset.String() })
	return out, nil
}

// entries returns the entries of d sorted by key, with their expiry.
func (d *dataset) entries(t eir.Target) []eir.Entry {
	out := make([]eir.Entry, 0, d.count())
	for k := range d.imeis {
		out = append(out, eir.Entry{IMEI: k})
	}
	for k := range d.tacs {
		out = append(out, eir.Entry{TAC: k})
	}
	for k := range d.ranges {
		out = append(out, eir.Entry{From: k[0], To: k[1]})
	}
	for imei, set := range d.pairs {
		for imsi := range set {
			out = append(out, eir.Entry{IMEI: imei, IMSI: imsi})
		}
	}
	for i := range out {
		out[i].Expires = d.expiry[out[i]]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyString(t) < out[j].KeyString(t) })
	return out
}

// ListEntries returns up to limit entries of a dataset from cursor ("" for
// the start) and the cursor of the next page ("" at the end). A cursor of
// an older version of the dataset fails with eir.ErrCursorStale.
func (s *Store) ListEntries(ctx context.Context, ds eir.Dataset, cursor string, limit int) ([]eir.Entry, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.sets[ds]
	if d == nil {
		return nil, "", nil
	}
	var version uint64
	var pos int
	if cursor != "" {
		if _, err := fmt.Sscanf(cursor, "%d.%d", &version, &pos); err != nil || version != d.version || pos < 0 {
			return nil, "", eir.ErrCursorStale
		}
	}
	all := d.entries(ds.Target)
	if pos >= len(all) {
		return nil, "", nil
	}
	end := min(pos+max(limit, 1), len(all))
	next := ""
	if end < len(all) {
		next = fmt.Sprintf("%d.%d", d.version, end)
	}
	return all[pos:end], next, nil
}

// EntriesFor returns every entry of every dataset that concerns q.IMEI: its
// IMEI entries, the TAC and range entries covering it, and its pairs (only
// those with q.IMSI when set). Expired entries not yet swept are included.
func (s *Store) EntriesFor(ctx context.Context, q eir.Query) ([]eir.DatasetEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []eir.DatasetEntry
	for ds, d := range s.sets {
		add := func(e eir.Entry) {
			e.Expires = d.expiry[e]
			out = append(out, eir.DatasetEntry{Dataset: ds, Entry: e})
		}
		switch ds.Target {
		case eir.TargetIMEI:
			if _, ok := d.imeis[q.IMEI]; ok {
				add(eir.Entry{IMEI: q.IMEI})
			}
		case eir.TargetTAC:
			if _, ok := d.tacs[q.IMEI.TAC()]; ok {
				add(eir.Entry{TAC: q.IMEI.TAC()})
			}
		case eir.TargetRange:
			for r := range d.ranges {
				if r[0] <= q.IMEI && q.IMEI <= r[1] {
					add(eir.Entry{From: r[0], To: r[1]})
				}
			}
		case eir.TargetPair:
			for imsi := range d.pairs[q.IMEI] {
				if q.IMSI == "" || imsi == q.IMSI {
					add(eir.Entry{IMEI: q.IMEI, IMSI: imsi})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Dataset.String() != b.Dataset.String() {
			return a.Dataset.String() < b.Dataset.String()
		}
		return a.Entry.KeyString(a.Dataset.Target) < b.Entry.KeyString(b.Dataset.Target)
	})
	return out, nil
}
