package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

func TestThousandsf(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {10_000_000, "10,000,000"}, {1234.6, "1,235"}, {-1_234_567, "-1,234,567"}, {-123, "-123"}} {
		if got := thousandsf(tc.v); got != tc.want {
			t.Errorf("thousandsf(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestEditsCommand runs eirbench edits on a small list: it measures, writes
// its markdown section and leaves no local copy behind.
func TestEditsCommand(t *testing.T) {
	rds := redistest.Start(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	md := filepath.Join(t.TempDir(), "edits.md")
	var out, errb bytes.Buffer
	code := editsBench([]string{"-redis", rds.Addr(), "-n", "2000", "-edits", "8", "-compare", "4", "-markdown", md}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	wantContains(t, "stdout", out.String(), "entries\t2000", "overlay_edits\t8", "no_overlay_edits\t4", "snapshot_bytes\t")
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "markdown", string(b), "one list of 2,000 synthetic IMEIs", "| Edits | 8 in ", "Overlays off")
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("eirbench edits left %d files in the temporary folder", len(left))
	}
}

func TestWaitHeldGivesUp(t *testing.T) {
	rds := redistest.Start(t)
	// Without a replica no list is ever held: the wait ends with an error
	// (the caller cleans up), not an exit.
	s, closeStore, err := benchStore(context.Background(), rds.Addr(), redisstore.Options{Prefix: "waitheld:"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if _, err := waitHeld(s, "the list", 20*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not hold the list") {
		t.Fatalf("waitHeld: %v, want an error", err)
	}
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
