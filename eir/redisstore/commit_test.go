package redisstore

import (
	"encoding/json"
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
