package main

import (
	"bytes"
	"strings"
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

// TestUsage: -h prints the usage once on standard output and exits 0; a bad
// flag or a stray word (eird version) prints the error and the usage on
// standard error and exits 2, before any configuration is read.
func TestUsage(t *testing.T) {
	const usage = "usage: eird [flags]\n"
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // a substring; "" wants nothing
		stderr string // the first line
	}{
		{[]string{"-h"}, 0, usage, ""},
		{[]string{"-help"}, 0, usage, ""},
		{[]string{"-x"}, 2, "", "eird: flag provided but not defined: -x\n"},
		{[]string{"version"}, 2, "", `eird: unexpected argument "version": eird takes flags only (did you mean -version?)` + "\n"},
		{[]string{"-config", "/nonexistent/eird.yaml", "run"}, 2, "", `eird: unexpected argument "run": eird takes flags only` + "\n"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args, code, tc.code, errb.String())
		}
		if tc.stdout == "" && out.Len() != 0 || !strings.Contains(out.String(), tc.stdout) {
			t.Errorf("%v: stdout %q, want %q", tc.args, out.String(), tc.stdout)
		}
		if tc.code == 0 {
			if n := strings.Count(out.String(), usage); n != 1 || errb.Len() != 0 || !strings.Contains(out.String(), "-check-config") {
				t.Errorf("%v: usage %d times on stdout (want once, with the flags), stderr %q", tc.args, n, errb.String())
			}
			continue
		}
		if !strings.HasPrefix(errb.String(), tc.stderr+usage) || strings.Count(errb.String(), usage) != 1 ||
			strings.Contains(errb.String(), "eird: configuration") {
			t.Errorf("%v: stderr %q, want %q then the usage once", tc.args, errb.String(), tc.stderr)
		}
	}
}
