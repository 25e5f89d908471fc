package main

import (
	"bytes"
	"os"
	"path/filepath"
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

// TestPrintAddresses: -print-addresses prints where a client on this
// machine reaches eird and the Redis it uses, EIR_* variables over the
// file (scripts/run.sh reads it), and fails like -check-config on a bad
// configuration.
func TestPrintAddresses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eird.yaml")
	const file = `diameter:
  listen: 0.0.0.0:3868
  origin_host: eir.example.org
  origin_realm: example.org
  allow_any_peer: true
redis:
  addresses: ["127.0.0.1:6379"]
store:
  snapshot_dir: ""
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"the file", map[string]string{"EIR_ADMIN_LISTEN": "", "EIR_N5G_LISTEN": ""},
			"diameter 127.0.0.1:3868 tcp\nredis standalone 127.0.0.1:6379\n"},
		{"variables over the file", map[string]string{
			"EIR_DIAMETER_LISTEN": "[::]:3869", "EIR_ADMIN_LISTEN": "127.0.0.2:9000",
			"EIR_N5G_LISTEN": ":7777", "EIR_N5G_API_PREFIX": "/eir",
			"EIR_REDIS_MODE": "cluster", "EIR_REDIS_ADDRESSES": "10.0.0.1:7000, 10.0.0.2:7000",
		}, "diameter [::1]:3869 tcp\nadmin http://127.0.0.2:9000\nn5g http://127.0.0.1:7777/eir\nredis cluster 10.0.0.1:7000 10.0.0.2:7000\n"},
		{"diameter over TLS only", map[string]string{
			"EIR_ADMIN_LISTEN": "", "EIR_DIAMETER_LISTEN": "", "EIR_DIAMETER_TLS_LISTEN": ":5658",
			"EIR_DIAMETER_TLS_CERT_FILE": path, "EIR_DIAMETER_TLS_KEY_FILE": path, "EIR_DIAMETER_TLS_CLIENT_CA_FILE": path,
		}, "diameter-tls 127.0.0.1:5658 tcp\nredis standalone 127.0.0.1:6379\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"-config", path, "-print-addresses"}, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if out.String() != tc.want {
				t.Errorf("got\n%swant\n%s", out.String(), tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run([]string{"-config", filepath.Join(dir, "none.yaml"), "-print-addresses"}, &out, &errb)
		if code != 2 || out.Len() != 0 || !strings.HasPrefix(errb.String(), "eird: configuration:\n") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, the configuration error", code, out.String(), errb.String())
		}
	})
}
