package redisstore

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// filtered reports whether the replica holds e as a filter.
func (s *Store) filtered(e planEntry) bool {
	fs := s.filters.Load()
	if fs == nil {
		return false
	}
	f := (*fs)[e.rkey]
	return f != nil && f.version == e.Version && f.overlay == e.Overlay
}

func TestFilterMatchesRedis(t *testing.T) {
	// The datasets of 300 entries are beyond the replica's bound: held as
	// filters, they must answer exactly as Redis does, with their
	// overlays and after compaction; the small ones stay in the replica.
	s := replicaVsRedis(t, func(o *Options) { o.ReplicaMaxEntries, o.ReplicaFilter = 100, true })
	p := s.plan.Load()
	filters, copies := 0, 0
	for _, e := range p.entries {
		if s.filtered(e) {
			filters++
		} else if _, ok := s.local(e); ok {
			copies++
		}
	}
	if filters < 4 || copies < 1 {
		t.Fatalf("%d datasets held as filters and %d copied; want the 5 large ones as filters and the small ones copied", filters, copies)
	}
	if n := testutil.ToFloat64(s.m.filterAbsent); n == 0 {
		t.Fatal("no lookup was ruled out by a filter")
	}
	if s.replicaComplete(p) {
		t.Fatal("a replica with filters reports itself complete: it cannot answer alone")
	}
}

func TestFilterSparesRedis(t *testing.T) {
	// IMEIs in no list are answered without Redis; the listed ones (and
	// the filter's false positives) are read from it.
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	hook := &countHook{}
	rdb.AddHook(hook)
	s := newStore(t, rdb, freshPrefix(), func(o *Options) {
		withReplica(t, 20*time.Millisecond)(o)
		o.ReplicaMaxEntries, o.ReplicaFilter, o.MaxStale, o.OverlayMax = 10, true, time.Hour, 50
	})
	runReplica(t, s)
	black := eir.Dataset{Source: "a", Target: eir.TargetIMEI, List: eir.ListBlack}
	var es []eir.Entry
	for i := range 5000 {
		es = append(es, eir.Entry{IMEI: eir.IMEI(35000000000000 + 2*i)})
	}
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black, Add: es}}); err != nil {
		t.Fatal(err)
	}
	// An edit: the overlay is held in full with the version's filter.
	added := eir.IMEI(35000000000001)
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black, Add: []eir.Entry{{IMEI: added}}}}); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, s)
	e, _ := s.plan.Load().find(black.String())
	if !s.filtered(e) || e.Overlay == 0 {
		t.Fatalf("%s is not held as a filter with its overlay: %+v", e.name, e)
	}

	q := eir.Query{IMEI: 35000000000003}
	if n := testing.AllocsPerRun(100, func() { s.ruledOut(&e, &q, true) }); n != 0 {
		t.Errorf("a filter lookup allocates %v times", n)
	}

	const checks = 5000
	before := hook.n.Load()
	for i := range checks {
		q := eir.Query{IMEI: eir.IMEI(35000000000003 + 2*i)} // odd: not listed
		if hits, err := s.Match(ctxT(t), q, nil); err != nil || len(hits) != 0 {
			t.Fatalf("%v: %v, %v", q.IMEI, hits, err)
		}
	}
	// The replica's own state reads go on meanwhile (one per 20 ms);
	// false positives are about 1 %.
	if n := hook.n.Load() - before; n > checks/20 {
		t.Fatalf("%d Redis round trips for %d checks of IMEIs in no list: the filter should rule out about 99 %%", n, checks)
	}
	for _, x := range []eir.IMEI{35000000000000, 35000000009998, added} {
		if hits, err := s.Match(ctxT(t), eir.Query{IMEI: x}, nil); err != nil || len(hits) != 1 {
			t.Fatalf("%v: %v, %v; want a hit in %s", x, hits, err, black)
		}
	}

	// Another edit reuses the version's filter: only the overlay is read.
	bf := (*s.filters.Load())[e.rkey].bf
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black, Remove: []eir.Entry{{IMEI: 35000000000000}}}}); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, s)
	e2, _ := s.plan.Load().find(black.String())
	if got := (*s.filters.Load())[e2.rkey]; got == nil || got.bf != bf {
		t.Fatal("an edit rebuilt the version's filter instead of reusing it")
	}
	if hits, err := s.Match(ctxT(t), eir.Query{IMEI: 35000000000000}, nil); err != nil || len(hits) != 0 {
		t.Fatalf("removed IMEI: %v, %v", hits, err)
	}
}
