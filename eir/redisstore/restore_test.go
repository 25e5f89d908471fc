package redisstore

import (
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// TestRestoreDatasetEmptiedThroughItsOverlay: a dataset whose entries were
// all removed through its overlay (count 0, an overlay) has no copy in the
// replica; a restore writes it back empty and keeps answering, instead of
// failing after the switch was made.
func TestRestoreDatasetEmptiedThroughItsOverlay(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	s := trustStore(t, srv.Client(t), prefix, func(o *Options) { o.OverlayMax = 3 })
	emptied, kept := black("emptied"), black("kept")
	if _, err := s.Apply(ctxT(t), []eir.Change{
		{Dataset: emptied, Add: entries(11, 12, 13)},
		{Dataset: kept, Add: entries(21)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: emptied, Remove: entries(11, 12, 13)}}); err != nil {
		t.Fatal(err)
	}
	e, _ := s.plan.Load().find(emptied.String())
	if e.Count != 0 || e.Overlay == 0 {
		t.Fatalf("%s: count %d, overlay %d; want emptied through its overlay", emptied, e.Count, e.Overlay)
	}
	testenv.Eventually(t, "the replica", 10*time.Second, func() bool { return s.replicaComplete(s.plan.Load()) && s.replicaServes() })

	res, err := s.Restore(ctxT(t), eir.RecoverOptions{Always: true})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	for _, r := range res.Datasets {
		if r.Added != 0 || r.Removed != 0 {
			t.Errorf("%s: restoring the lists Redis holds reports %+v", r.Dataset, r)
		}
	}
	fresh := newStore(t, srv.Client(t), prefix, nil)
	for _, st := range []*Store{s, fresh} {
		if listed(t, st, 11) || !listed(t, st, 21) {
			t.Fatal("after the restore: want 11 unlisted, 21 listed")
		}
	}
	after, _ := fresh.plan.Load().find(emptied.String())
	if after.Count != 0 || after.Overlay != 0 {
		t.Fatalf("%s restored as count %d overlay %d; want an empty version", emptied, after.Count, after.Overlay)
	}
}
