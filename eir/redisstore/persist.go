package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/redisstore/snapshot"
)

// The local copy: after each switch the replica loads completely, the
// lists in force are written to Options.SnapshotDir (package snapshot: one
// file per dataset version, reused while the version stays in force, and a
// checksummed index), with the plan they belong to. At start the copy is
// read before anything else: the store trusts its plan (see trust.go) and
// the replica answers from it until Redis confirms or replaces it. So an
// eird started while Redis is down, empty or older serves the last good
// lists from its first check, and Restore has a source even when every
// eird restarted.

// copyMeta is the store's description of a copy.
type copyMeta struct {
	Prefix string `json:"prefix"`
	// Confirmed is when Redis last confirmed these lists before the copy
	// was written: a process started from the copy serves them for
	// Options.MaxStale from then, not from its start.
	Confirmed time.Time         `json:"confirmed"`
	Identity  identity          `json:"identity"`
	Epoch     string            `json:"epoch"`
	Sync      map[string]string `json:"sync"`
	Fields    int               `json:"fields"` // of the manifest
	Datasets  []copyDataset     `json:"datasets"`
}

// copyDataset is one dataset of a copy: its manifest entry and the keys of
// the sets holding its version and overlay.
type copyDataset struct {
	Name    string        `json:"name"`
	Entry   manifestEntry `json:"entry"`
	Base    string        `json:"base,omitempty"`
	Overlay string        `json:"overlay,omitempty"`
}

type snapshotter struct {
	s     *Store
	dir   *snapshot.Dir
	mu    sync.Mutex
	last  string         // the plan last written: identity and epoch
	stats snapshot.Stats // of the last write
}

func newSnapshotter(s *Store, dir string) *snapshotter {
	return &snapshotter{s: s, dir: &snapshot.Dir{Path: dir}}
}

// SnapshotWritten reports the last write of the local copy: its size,
// how long it took and how many set files it wrote; ok is false until a
// copy of the plan in force was written.
func (s *Store) SnapshotWritten() (bytes int64, took time.Duration, written int, ok bool) {
	if s.snap == nil {
		return 0, 0, 0, false
	}
	p := s.plan.Load()
	s.snap.mu.Lock()
	defer s.snap.mu.Unlock()
	if p == nil || s.snap.last != p.copyID() {
		return 0, 0, 0, false
	}
	return s.snap.stats.Bytes, s.snap.stats.Duration, s.snap.stats.Written, true
}

// copyID names the lists of a plan in a copy: its data set, restore and
// epoch.
func (p *plan) copyID() string { return p.ident.ID + "|" + p.ident.Restore + "|" + p.epoch }

// setKey names the content of a dataset version (or overlay) of a data
// set: versions are never reused within a data set and a restore.
func setKey(p *plan, name, kind string, version uint64, count int) string {
	return p.ident.ID + "|" + p.ident.Restore + "|" + name + "|" + kind + strconv.FormatUint(version, 10) + "|" + strconv.Itoa(count)
}

// save writes the copy of plan p held in rs, unless it is the copy last
// written. Errors are logged and counted: the lists in force are not
// affected.
func (sn *snapshotter) save(p *plan, rs replicaSet) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	id := p.copyID()
	if id == sn.last {
		return
	}
	confirmed := sn.s.confirmed.Load()
	if confirmed == 0 {
		confirmed = time.Now().UnixNano() // p was read from Redis just now; its poll has not ended yet
	}
	meta := copyMeta{Prefix: sn.s.o.Prefix, Identity: p.ident, Epoch: p.epoch, Sync: p.sync, Fields: p.fields,
		Confirmed: time.Unix(0, confirmed).UTC()}
	var sets []*snapshot.Set
	for _, e := range p.all {
		cd := copyDataset{Name: e.name, Entry: e.manifestEntry}
		if e.Count > 0 || e.Overlay != 0 {
			d, ok := rs[e.rkey]
			if !ok || !d.holds(&e) {
				return // not complete: the next load writes it
			}
			cd.Base = setKey(p, e.name, "v", d.base.version, d.base.count)
			sets = append(sets, d.base.toSet(cd.Base))
			if d.ov != nil {
				cd.Overlay = setKey(p, e.name, "o", d.ov.version, d.ov.count)
				sets = append(sets, d.ov.toSet(cd.Overlay))
			}
		}
		meta.Datasets = append(meta.Datasets, cd)
	}
	raw, err := json.Marshal(meta)
	if err != nil {
		sn.s.log.Error("local copy of the lists not written", zap.Error(err))
		return
	}
	st, err := sn.dir.Write(&snapshot.Copy{Meta: raw, Sets: sets})
	if err != nil {
		sn.s.m.snapshotWrites.WithLabelValues("error").Inc()
		sn.s.log.Error("local copy of the lists not written (store.snapshot_dir); a restart while redis is down would answer without them",
			zap.String("dir", sn.dir.Path), zap.Error(err))
		return
	}
	sn.last, sn.stats = id, st
	sn.s.m.snapshotWrites.WithLabelValues("ok").Inc()
	sn.s.m.snapshotBytes.Set(float64(st.Bytes))
	sn.s.log.Debug("local copy of the lists written", zap.String("epoch", p.epoch), zap.Int64("bytes", st.Bytes),
		zap.Int("sets", st.Files), zap.Int("written", st.Written), zap.Duration("duration", st.Duration))
}

func (l *localSet) toSet(key string) *snapshot.Set {
	s := &snapshot.Set{Key: key, Keys: l.keys, Exps: l.exps, Rows: l.rows}
	if l.offs != nil {
		s.Values, s.Offs = l.values, l.offs
	}
	return s
}

// loadSnapshot reads the local copy into the plan and the replica: the
// lists it holds answer checks from now on (for Options.MaxStale unless
// Redis confirms them), and they are the lists this process trusts.
func (s *Store) loadSnapshot() {
	start := time.Now()
	c, st, err := s.snap.dir.Read()
	if errors.Is(err, snapshot.ErrNoCopy) {
		s.log.Info("no local copy of the lists yet", zap.String("dir", s.snap.dir.Path))
		return
	}
	if err == nil {
		err = s.installCopy(c)
	}
	if err != nil {
		s.log.Error("local copy of the lists not usable; starting without it", zap.String("dir", s.snap.dir.Path), zap.Error(err))
		return
	}
	p := s.plan.Load()
	s.snap.last = p.copyID()
	s.m.snapshotBytes.Set(float64(st.Bytes))
	s.log.Info("lists loaded from the local copy; they answer until redis confirms or replaces them",
		zap.String("dir", s.snap.dir.Path), zap.String("epoch", p.epoch), zap.Int("datasets", len(p.entries)),
		zap.Int64("bytes", st.Bytes), zap.Duration("duration", time.Since(start)))
}

// installCopy makes a copy the plan in force and the replica.
func (s *Store) installCopy(c *snapshot.Copy) error {
	var meta copyMeta
	if err := json.Unmarshal(c.Meta, &meta); err != nil {
		return fmt.Errorf("copy metadata: %w", err)
	}
	if meta.Prefix != s.o.Prefix {
		return fmt.Errorf("the copy is of key prefix %q, not %q", meta.Prefix, s.o.Prefix)
	}
	sets := make(map[string]*snapshot.Set, len(c.Sets))
	for _, set := range c.Sets {
		sets[set.Key] = set
	}
	p := &plan{epoch: meta.Epoch, ident: meta.Identity, sync: meta.Sync, fields: meta.Fields}
	p.ep, _ = strconv.ParseUint(meta.Epoch, 10, 64)
	rs := replicaSet{}
	var total uint64
	for _, cd := range meta.Datasets {
		ds, err := eir.ParseDataset(cd.Name)
		if err != nil {
			return err
		}
		e := s.planEntry(ds, cd.Name, cd.Entry)
		p.all = append(p.all, e)
		if cd.Base == "" {
			continue
		}
		d := localDS{name: cd.Name, base: fromSet(sets[cd.Base], e, e.Version, true)}
		if cd.Overlay != "" {
			d.ov = fromSet(sets[cd.Overlay], e, e.Overlay, false)
		}
		if d.base == nil || (cd.Overlay != "" && d.ov == nil) {
			return fmt.Errorf("dataset %s: its set is missing from the copy", cd.Name)
		}
		if n := d.count(e); n != e.Count {
			return fmt.Errorf("dataset %s: the copy holds %d entries, its manifest %d", cd.Name, n, e.Count)
		}
		rs[e.rkey] = d
		total += e.Count
	}
	p.index()
	s.plan.Store(p)
	if s.o.Replica {
		s.publishReplica(rs, total)
		s.lastHeld.Store(&heldView{plan: p, rs: rs})
	}
	// The copy answers from now on, until MaxStale after Redis last
	// confirmed it (unless Redis confirms it again).
	confirmed := meta.Confirmed
	if confirmed.IsZero() || confirmed.After(time.Now()) {
		confirmed = time.Now()
	}
	s.confirmed.Store(confirmed.UnixNano())
	s.unverifiedCopy.Store(true)
	return nil
}

// fromSet rebuilds a copy of one version (items: pairs count by IMSI).
func fromSet(set *snapshot.Set, e planEntry, version uint64, items bool) *localSet {
	if set == nil {
		return nil
	}
	l := &localSet{version: version, keys: set.Keys, exps: set.Exps}
	switch {
	case len(set.Rows) > 0 || e.ds.Target == eir.TargetRange:
		l.keys = nil
		l.setRows(set.Rows)
	case set.Offs != nil:
		l.values, l.offs = set.Values, set.Offs
		l.countValues(items && e.ds.Target == eir.TargetPair)
	default:
		l.count = len(l.keys)
	}
	l.indexKeys()
	return l
}

// usableDir creates dir if needed and checks that a file can be written
// in it.
func usableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-probe-")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
