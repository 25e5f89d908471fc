package redisstore

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// TestSwitchLuaMirrorsGo: the switch scripts name versions and tag the
// content in force as buildRef.String and manifestEntry.tag do.
func TestSwitchLuaMirrorsGo(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	probe := redis.NewScript(switchLua + `
return {ref(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'), tag(ARGV[5]), tag(nil)}`)
	tac := eir.Dataset{Source: "gsma", Target: eir.TargetTAC, List: eir.ListGrey, Expiring: true}
	for _, tc := range []struct {
		ref   buildRef
		entry manifestEntry
	}{
		{buildRef{ds: black("national"), version: 9_007_199_254, buckets: 4096}, manifestEntry{Version: 9_007_199_254, Buckets: 4096}},
		{buildRef{ds: tac, version: 12, overlay: true}, manifestEntry{Version: 11, Overlay: 12, OCount: 3}},
	} {
		overlay := "0"
		if tc.ref.overlay {
			overlay = "1"
		}
		raw, err := json.Marshal(tc.entry)
		if err != nil {
			t.Fatal(err)
		}
		got, err := probe.Run(ctxT(t), rdb, nil, tc.ref.ds.String(), tc.ref.version, tc.ref.buckets, overlay, string(raw)).StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != tc.ref.String() {
			t.Errorf("lua ref %q, buildRef.String %q", got[0], tc.ref.String())
		}
		if back, err := parseBuildRef(got[0]); err != nil || back != tc.ref {
			t.Errorf("lua ref %q parses as %+v, %v", got[0], back, err)
		}
		if got[1] != tc.entry.tag() {
			t.Errorf("lua tag %q, manifestEntry.tag %q", got[1], tc.entry.tag())
		}
		if got[2] != "0" {
			t.Errorf("lua tag of no entry %q, want 0 (what a build of a new dataset expects)", got[2])
		}
	}
}

// TestRefusedApplyLeavesNothing: a write that ApplyOptions.Before refuses
// (a guard, or a dry run that only wanted the counts) was told the exact
// counts, and leaves Redis as it found it: no staged version, nothing
// building or retired, the same manifest and epoch. Only the version
// counter moved, as it does for any build.
func TestRefusedApplyLeavesNothing(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	prefix := freshPrefix()
	s := newStore(t, rdb, prefix, nil)
	grey := eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListGrey}
	tac := eir.Dataset{Source: "national", Target: eir.TargetTAC, List: eir.ListBlack}
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Add: entries(1, 2, 3)}, {Dataset: grey, Add: entries(9)}}); err != nil {
		t.Fatal(err)
	}
	snapshot := func() map[string]string {
		out := map[string]string{}
		iter := rdb.Scan(ctxT(t), 0, "*"+prefix+"*", 1000).Iterator()
		for iter.Next(ctxT(t)) {
			k := iter.Val()
			if k == s.k.seq {
				out[k] = "" // the version counter
				continue
			}
			v, err := rdb.Dump(ctxT(t), k).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := snapshot()
	refused := errors.New("dry run")
	var got []eir.DatasetResult
	changes := []eir.Change{
		{Dataset: black("national"), Replace: true, Add: entries(3, 4)},                                                      // keeps 3, adds 4, removes 1 and 2
		{Dataset: grey, Add: entries(10), Remove: entries(9, 11)},                                                            // delta: adds 10, removes 9
		{Dataset: tac, Replace: true, IfExists: true, Add: []eir.Entry{{TAC: 35209900}}},                                     // created
		{Dataset: eir.Dataset{Source: "national", Target: eir.TargetTAC, List: eir.ListGrey}, Replace: true, IfExists: true}, // absent, stays so
	}
	_, err := s.ApplyWith(ctxT(t), changes, eir.ApplyOptions{Before: func(res []eir.DatasetResult, _ map[string]string) error {
		got = slices.Clone(res)
		return refused
	}})
	if !errors.Is(err, refused) {
		t.Fatalf("apply: %v, want the error of Before", err)
	}
	want := map[string][3]uint64{ // added, removed, count
		black("national").String(): {1, 2, 2}, grey.String(): {1, 1, 1}, tac.String(): {1, 0, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Before was told %+v, want %v", got, want)
	}
	for _, r := range got {
		if w, ok := want[r.Dataset.String()]; !ok || [3]uint64{r.Added, r.Removed, r.Count} != w {
			t.Errorf("%s: added %d, removed %d, count %d; want %v", r.Dataset, r.Added, r.Removed, r.Count, w)
		}
	}
	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("key %s changed by a refused write", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("key %s left by a refused write", k)
		}
	}
	if !listed(t, s, 1) || listed(t, s, 4) {
		t.Error("the lists in force changed")
	}
}
