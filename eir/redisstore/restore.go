package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// Recovery from a divergence (see trust.go) is explicit. Restore writes the
// lists in force, as this process holds them, back into Redis: every
// dataset as a new version, the sync-state record they belong to, the
// data set's identity, and a restore marker (a new random id and the epoch
// of the content written back) so that every other eird takes the restored
// lists when they are at least as new as its own. Accept takes Redis's
// state as the truth instead (after an operator emptied it on purpose, say).
// Both compare, by content, the lists before and after (what Redis holds
// now against what this process holds) and let the caller refuse (a
// guard); both are one atomic switch.

// restoreScript switches a restore in: it checks that Redis's state is
// still the one the restorer compared with, retires every version in the
// manifest, writes the restored manifest, sync state and identity, and
// moves the epoch past both the current one and the restored one.
//
// KEYS: manifest, epoch, building, retired, sync state, identity.
// ARGV: retire-at, expected id, expected restore marker, expected epoch,
// new id, new restore marker, restored-from epoch, n, n × (dataset, entry
// JSON, build reference), k, k × (field, value).
var restoreScript = redis.NewScript(switchLua + `
local ep = tonumber(redis.call('GET', KEYS[2]) or '0')
if (redis.call('HGET', KEYS[6], 'id') or '') ~= ARGV[2] or (redis.call('HGET', KEYS[6], 'restore') or '') ~= ARGV[3] or ep ~= tonumber(ARGV[4]) then
  return redis.error_reply('CONFLICT redis changed during the restore')
end
local n = tonumber(ARGV[8])
local refs = {}
for j = 0, n - 1 do refs[#refs + 1] = ARGV[11 + j*3] end
local gone = unleased(refs)
if gone then
  return redis.error_reply('EXPIRED build ' .. gone .. ' was reclaimed')
end
local cur = redis.call('HGETALL', KEYS[1])
for j = 1, #cur, 2 do
  retire(ARGV[1], cur[j], cjson.decode(cur[j+1]), nil)
end
redis.call('DEL', KEYS[1])
for j = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[9 + j*3], ARGV[10 + j*3])
  redis.call('ZREM', KEYS[3], ARGV[11 + j*3])
end
redis.call('DEL', KEYS[5])
local k0 = 9 + n * 3
local k = tonumber(ARGV[k0])
for j = 0, k - 1 do
  redis.call('HSET', KEYS[5], ARGV[k0 + 1 + j*2], ARGV[k0 + 2 + j*2])
end
redis.call('HSET', KEYS[6], 'id', ARGV[5], 'restore', ARGV[6], 'restored_from', ARGV[7])
local from = tonumber(ARGV[7])
if from < ep then from = ep end
redis.call('SET', KEYS[2], num(from + 1))
return from + 1
`)

// raiseSeqScript moves the version sequence to at least ARGV[1].
var raiseSeqScript = redis.NewScript(`
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`)

// held returns the plan in force and its complete copy, or else the last
// lists held completely (a switch not loaded yet when Redis failed), or
// why not.
func (s *Store) held() (*plan, replicaSet, error) {
	p := s.plan.Load()
	if p == nil {
		return nil, nil, errors.New("redisstore: this eird holds no lists (it has not read them from redis or from its local copy)")
	}
	rs := s.replica.Load()
	if !s.o.Replica || rs == nil {
		return nil, nil, errors.New("redisstore: this eird keeps no copy of the lists (store.replica is off)")
	}
	missing := ""
	for _, e := range p.entries {
		if !(*rs)[e.rkey].holds(&e) {
			missing = e.name
			break
		}
	}
	if missing == "" {
		return p, *rs, nil
	}
	if v := s.lastHeld.Load(); v != nil {
		return v.plan, v.rs, nil
	}
	return nil, nil, fmt.Errorf("redisstore: this eird does not hold dataset %s (not loaded yet, or beyond store.replica_max_entries): restore from an eird that holds every list", missing)
}

// Restore writes the lists in force back into Redis (see the comment
// above). It refuses when Redis holds the lists in force (unless
// o.Always), when this process does not hold every list, when o.Before
// refuses, or when Redis changed meanwhile (eir.ErrConflict: another eird
// restored first, or a writer).
func (s *Store) Restore(ctx context.Context, o eir.RecoverOptions) (res eir.RecoverResult, err error) {
	defer func() { s.countRecovery("restore", err) }()
	d := s.div.Load()
	if d == nil && !o.Always {
		return res, fmt.Errorf("redisstore: restore: %w", eir.ErrNothingToRecover)
	}
	if d != nil {
		res.Reason = d.reason
	}
	p, rs, err := s.held()
	if err != nil {
		return res, err
	}
	redisPlan, err := s.loadPlan(ctx)
	if err != nil {
		return res, s.unavailable("restore", err)
	}
	diff, err := s.compareWithRedis(ctx, p, rs, redisPlan, true)
	if err != nil {
		return res, err
	}
	if o.Before != nil {
		if err := o.Before(diff); err != nil {
			return res, err
		}
	}
	res.Datasets = diff

	// New versions above every version either side knows.
	var top uint64
	for _, e := range append(slices.Clone(p.all), redisPlan.all...) {
		top = max(top, e.Version, e.Overlay)
	}
	if err := raiseSeqScript.Run(ctx, s.rdb, []string{s.k.seq}, top+1_000_000).Err(); err != nil {
		return res, s.unavailable("restore", err)
	}
	var builds []*built
	defer func() {
		if err != nil {
			s.abandon(builds)
		}
	}()
	next := replicaSet{}
	for rk, d := range rs {
		next[rk] = d // the plan in force stays answerable until the switch
	}
	args := []any{}
	entries := map[string]manifestEntry{}
	for _, e := range p.all {
		w := restoreWork(e, rs[e.rkey])
		b, err := s.build(ctx, w, planEntry{}, false)
		if b != nil {
			builds = append(builds, b)
		}
		if err != nil {
			return res, err
		}
		if b.entry.Count != e.Count || (e.Count > 0 && uint64(b.entry.Hash) != uint64(e.Hash)) {
			return res, fmt.Errorf("redisstore: restore of %s: wrote %d entries (hash %x), the lists in force have %d (hash %x)",
				e.name, b.entry.Count, uint64(b.entry.Hash), e.Count, uint64(e.Hash))
		}
		b.entry.At = e.At // when the content was switched to, not when it was rewritten
		entries[e.name] = b.entry
		raw, _ := json.Marshal(b.entry)
		args = append(args, e.name, string(raw), b.ref.String())
	}
	id := p.ident.ID
	if id == "" {
		id = randomID()
	}
	marker := randomID()
	head := []any{unixMilli(s.o.Now().Add(s.o.Grace)), redisPlan.ident.ID, redisPlan.ident.Restore, redisPlan.ep,
		id, marker, p.ep, len(p.all)}
	args = appendFields(append(head, args...), p.sync)
	if err := s.replicateWrites(ctx, "restore"); err != nil {
		return res, err
	}
	cmd, notReplicated := s.runSwitch(ctx, "restore", restoreScript, s.k.switchKeys(), args...)
	epoch, err := cmd.Uint64()
	switch {
	case err != nil && strings.HasPrefix(err.Error(), "CONFLICT"):
		return res, fmt.Errorf("redisstore: restore: %w: %s; look again with eirctl status", eir.ErrConflict, strings.TrimPrefix(err.Error(), "CONFLICT "))
	case err != nil:
		return res, s.unavailable("restore", err)
	}
	// The copies held answer the restored versions at once: those of the
	// datasets with entries (held checked them all; an empty dataset has no
	// copy, whether it never had entries or lost them through its overlay).
	for _, e := range p.entries {
		ne := s.planEntry(e.ds, e.name, entries[e.name])
		next[ne.rkey] = localDS{name: e.name, base: rs[e.rkey].merged(e, ne.Version)}
	}
	var total uint64
	for _, e := range p.entries {
		total += e.Count
	}
	s.publishReplica(next, total)
	if _, err := s.refreshPlan(ctx, ""); err != nil {
		return res, fmt.Errorf("redisstore: restored, but the restored state could not be read back: %w", err)
	}
	s.nudge()
	res.Epoch, res.StoreID = epoch, short(id)
	s.log.Warn("lists in force restored into redis", zap.Uint64("epoch", epoch), zap.Int("datasets", len(p.all)),
		zap.String("repaired", res.Reason))
	builds = nil // in force: never abandoned, even when not acknowledged
	return res, notReplicated
}

// restoreWork is the replacement of a dataset by the content held.
func restoreWork(e planEntry, d localDS) *work {
	w := &work{ds: e.ds, name: e.name, replace: true}
	l := d.merged(e, 0)
	switch {
	case e.ds.Target == eir.TargetRange:
		for _, r := range l.rows {
			w.adds = append(w.adds, eir.Entry{From: eir.IMEI(r[0]), To: eir.IMEI(r[1])})
		}
	case e.ds.Target == eir.TargetPair:
		for i, x := range l.keys {
			for _, item := range strings.Split(l.value(i), ",") {
				if item == "" {
					continue
				}
				imsi, exp := item, int64(0)
				if e.ds.Expiring {
					var es string
					imsi, es, _ = strings.Cut(item, "@")
					exp, _ = strconv.ParseInt(es, 10, 64)
				}
				w.adds = append(w.adds, eir.Entry{IMEI: eir.IMEI(x), IMSI: eir.IMSI(imsi), Expires: exp})
			}
		}
	case e.ds.Expiring:
		for i, x := range l.keys {
			w.adds = append(w.adds, entryWithExpiry(e.ds.Target, entryKey{a: x}, l.exps[i]))
		}
	default:
		w.addKeys = slices.Clone(l.keys) // written sorted by bucket, in place
	}
	return w
}

// Accept takes Redis's state as the lists in force, ending a divergence
// without a restore: the copies held are dropped and Redis's lists loaded.
func (s *Store) Accept(ctx context.Context, o eir.RecoverOptions) (res eir.RecoverResult, err error) {
	defer func() { s.countRecovery("accept", err) }()
	d := s.div.Load()
	if d == nil {
		return res, fmt.Errorf("redisstore: accept: %w", eir.ErrNothingToRecover)
	}
	res.Reason = d.reason
	redisPlan, err := s.loadPlan(ctx)
	if err != nil {
		return res, s.unavailable("accept", err)
	}
	if p, held, err := s.held(); err == nil {
		diff, err := s.compareWithRedis(ctx, p, held, redisPlan, false)
		if err != nil {
			return res, err
		}
		res.Datasets = diff
	} else {
		s.log.Warn("accepting redis's state without comparing it with the lists in force", zap.Error(err))
	}
	if o.Before != nil {
		if err := o.Before(res.Datasets); err != nil {
			return res, err
		}
	}
	s.reloadMu.Lock()
	if redisPlan.ident.ID == "" {
		if err := s.newIdentity(ctx); err != nil {
			s.reloadMu.Unlock()
			return res, s.unavailable("accept", err)
		}
		if redisPlan, err = s.loadPlan(ctx); err != nil {
			s.reloadMu.Unlock()
			return res, s.unavailable("accept", err)
		}
	}
	// Versions of another history may reuse the numbers of the copies
	// held: drop them all.
	s.publishReplica(replicaSet{}, 0)
	s.plan.Store(redisPlan)
	s.converge("redis's state accepted")
	s.reloadMu.Unlock()
	s.nudge()
	res.Epoch, res.StoreID = redisPlan.ep, short(redisPlan.ident.ID)
	s.log.Warn("redis's state accepted as the lists in force", zap.Uint64("epoch", redisPlan.ep), zap.String("was", res.Reason))
	return res, nil
}

func (s *Store) countRecovery(kind string, err error) {
	switch {
	case err == nil:
		s.m.restores.WithLabelValues(kind, "ok").Inc()
	case errors.Is(err, eir.ErrHeld), errors.Is(err, eir.ErrNothingToRecover):
		s.m.restores.WithLabelValues(kind, "refused").Inc()
	default:
		s.m.restores.WithLabelValues(kind, "error").Inc()
	}
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// compareWithRedis compares, dataset by dataset and by content, the lists
// held (p, rs) with the lists Redis holds (rp). With toRedis, the results
// describe restoring the lists held over Redis's (Previous: Redis's
// count); otherwise accepting Redis's over the lists held.
func (s *Store) compareWithRedis(ctx context.Context, p *plan, rs replicaSet, rp *plan, toRedis bool) ([]eir.DatasetResult, error) {
	names := map[string]bool{}
	for _, e := range p.all {
		names[e.name] = true
	}
	for _, e := range rp.all {
		names[e.name] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	var out []eir.DatasetResult
	for _, name := range sorted {
		mine, hasMine := p.find(name)
		theirs, hasTheirs := rp.find(name)
		ds := mine.ds
		if !hasMine {
			ds = theirs.ds
		}
		var a, b *localSet // the contents, overlays applied: a held, b Redis's
		if hasMine && (mine.Count > 0 || mine.Overlay != 0) {
			a = rs[mine.rkey].merged(mine, 0)
		}
		if hasTheirs && (theirs.Count > 0 || theirs.Overlay != 0) {
			if hasMine && rp.ident == p.ident && theirs.tag() == mine.tag() {
				b = a // the same version: the same content
			} else {
				d, err := s.loadDSLenient(ctx, theirs)
				if err != nil {
					return nil, err
				}
				b = d.merged(theirs, 0)
			}
		}
		onlyA, onlyB, common := diffViews(ds.Target, a, b)
		r := eir.DatasetResult{Dataset: ds}
		if toRedis {
			r.Added, r.Removed, r.Count, r.Previous = onlyA, onlyB, onlyA+common, onlyB+common
		} else {
			r.Added, r.Removed, r.Count, r.Previous = onlyB, onlyA, onlyB+common, onlyA+common
		}
		out = append(out, r)
	}
	return out, nil
}

// loadDSLenient reads a dataset of Redis as it is, without checking it
// against its manifest (it may be incomplete: that is what is compared).
func (s *Store) loadDSLenient(ctx context.Context, e planEntry) (localDS, error) {
	base, err := s.loadLocal(ctx, e)
	if err != nil {
		return localDS{}, s.unavailable("restore", err)
	}
	d := localDS{name: e.name, base: base}
	if e.Overlay != 0 {
		vals, err := s.readOverlay(ctx, e)
		if err != nil {
			return localDS{}, err
		}
		d.ov = &localSet{version: e.Overlay}
		d.ov.setValues(vals, false)
	}
	return d, nil
}

// diffViews counts the entries only in a, only in b, and in both (nil:
// empty).
func diffViews(t eir.Target, a, b *localSet) (onlyA, onlyB, common uint64) {
	if t == eir.TargetRange || t == eir.TargetPair {
		ma, mb := viewItems(t, a), viewItems(t, b)
		na, nb := uint64(len(ma)), uint64(len(mb))
		common = takeCommon(mb, func(yield func(entryKey)) {
			for k := range ma {
				yield(k)
			}
		})
		return na - common, nb - common, common
	}
	// IMEIs and TACs (millions): a merge of the sorted keys, no map.
	var ka, kb []uint64
	if a != nil {
		ka = a.keys
	}
	if b != nil {
		kb = b.keys
	}
	i, j := 0, 0
	for i < len(ka) && j < len(kb) {
		switch {
		case ka[i] < kb[j]:
			onlyA++
			i++
		case ka[i] > kb[j]:
			onlyB++
			j++
		default:
			common++
			i++
			j++
		}
	}
	onlyA += uint64(len(ka) - i)
	onlyB += uint64(len(kb) - j)
	return
}

// viewItems lists the entries of a range or pair dataset's content.
func viewItems(t eir.Target, l *localSet) map[entryKey]struct{} {
	out := map[entryKey]struct{}{}
	if l == nil {
		return out
	}
	if t == eir.TargetRange {
		for _, r := range l.rows {
			out[entryKey{a: r[0], b: r[1]}] = struct{}{}
		}
		return out
	}
	for i, x := range l.keys {
		for _, item := range strings.Split(l.value(i), ",") {
			imsi, _, _ := strings.Cut(item, "@")
			if imsi != "" {
				out[entryKey{a: x, imsi: eir.IMSI(imsi)}] = struct{}{}
			}
		}
	}
	return out
}
