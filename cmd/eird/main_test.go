package main

import (
	"testing"
	"time"

	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/eir/guard"
)

func TestSyncSourcesTakeTheGuardsSection(t *testing.T) {
	global := config.Guards{MinSnapshotRatio: 0.75, MaxUnblocks: 10_000, MaxUnblockRatio: 0.01, RatioFloor: 100}
	cs := []config.SyncSource{
		{Name: "national", Format: "dirbs", Dir: "/srv/national"},
		{Name: "gsma", Format: "ranges", Dir: "/srv/gsma", Settle: time.Second, Guards: config.SyncGuards{
			MaxBadRowRatio: 0.1, MinSnapshotRatio: 0.5, MaxUnblocks: -1, MaxUnblockRatio: 0.2, RatioFloor: 7, Strict: true}},
	}
	got, err := syncSources(cs, global)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		settle time.Duration
		guards guard.Guards
	}{
		// Zero values take the guards section; settle defaults to 5s.
		{5 * time.Second, guard.Guards{MinSnapshotRatio: 0.75, MaxUnblocks: 10_000, MaxUnblockRatio: 0.01, RatioFloor: 100}},
		// A source's own values win, negative ones included.
		{time.Second, guard.Guards{MaxBadRowRatio: 0.1, MinSnapshotRatio: 0.5, MaxUnblocks: -1, MaxUnblockRatio: 0.2, RatioFloor: 7, Strict: true}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d sources, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Settle != w.settle || got[i].Guards != w.guards || got[i].Name != cs[i].Name || got[i].Dir != cs[i].Dir {
			t.Errorf("source %d: settle %v guards %+v, want %v %+v", i, got[i].Settle, got[i].Guards, w.settle, w.guards)
		}
	}
}
