package regsync

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
)

// writeAgain opens path for writing, as an uploader that is not done, and
// writes its first byte again (the watcher sees a writer where no read
// lease can be taken). done closes it and restores the modification time.
func writeAgain(t *testing.T, path string) (done func()) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	done = func() {
		once.Do(func() {
			f.Close()
			os.Chtimes(path, fi.ModTime(), fi.ModTime())
		})
	}
	t.Cleanup(done)
	return done
}

// busyAfterApply opens a file for writing once the store answered the
// switch: the file is busy when the pass files the unit away.
type busyAfterApply struct {
	Publisher
	t    *testing.T
	path string
	done func()
}

func (p *busyAfterApply) ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error) {
	res, err := p.Publisher.ApplyWith(ctx, changes, o)
	if p.done == nil {
		p.done = writeAgain(p.t, p.path)
	}
	return res, err
}

// files lists the names in a subfolder of the drop directory.
func (e *env) files(sub string) []string {
	des, _ := os.ReadDir(filepath.Join(e.dir, sub))
	var out []string
	for _, de := range des {
		if !de.IsDir() {
			out = append(out, de.Name())
		}
	}
	return out
}

// The files of a unit (a loose delta set) move together or not at all:
// when a writer reopened one of them, none is filed away, whether the unit
// is applied (done/), held (held/) or rejected (rejected/).
func TestUnitMovesAllOrNone(t *testing.T) {
	set := func(e *env, ts string, base, run int64, blocked, unblocked []string) string {
		prefix := ts + "_blacklist_delta_" + itoa(base) + "_" + itoa(run) + "_"
		e.write(prefix+"blocked.csv", blRows(blocked...))
		e.write(prefix+"changed.csv", blRows())
		e.write(prefix+"unblocked.csv", blRows(unblocked...))
		return prefix
	}
	A, B, C := "35209900176148", "49015420323751", "26053179311383"
	for _, tc := range []struct {
		name, result, sub string
		mods              func(*SourceConfig)
		blocked, unblock  []string
	}{
		{name: "applied", result: "applied", sub: "done", blocked: []string{A}},
		{name: "held", result: "held", sub: "held", mods: func(c *SourceConfig) { c.Guards.MaxUnblocks = 1 }, unblock: []string{A, B}},
		{name: "rejected", result: "rejected", sub: "rejected", mods: func(c *SourceConfig) { c.Guards.Strict = true }, blocked: []string{A}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mods []func(*SourceConfig)
			if tc.mods != nil {
				mods = append(mods, tc.mods)
			}
			e := newEnv(t, mods...)
			set(e, "20260101_000000", -1, 42, []string{A, B, C}, nil)
			if fr := e.pass().Files[0]; fr.Result != "applied" {
				t.Fatalf("%+v", fr)
			}
			prefix := set(e, "20260102_000000", 42, 47, tc.blocked, tc.unblock)
			pub := &busyAfterApply{Publisher: e.store, t: t, path: filepath.Join(e.dir, prefix+"unblocked.csv")}
			clock := func() time.Time { return time.Unix(0, e.now.Load()) }
			e.engine = e.newEngineWith(pub, Options{Now: clock}, SourceConfig{Name: "national", Format: "dirbs", Dir: e.dir, Settle: time.Second,
				Guards: e.engine.sources["national"].cfg.Guards})
			before := len(e.files(tc.sub))
			name := "20260102_000000_blacklist_delta_42_47"
			fr := fileResult(t, e.pass(), name)
			want := "waiting"
			if tc.result == "applied" {
				want = "applied" // it is in force; only the move waits
			}
			if fr.Result != want {
				t.Fatalf("%+v, want %s", fr, want)
			}
			if n := len(e.files(tc.sub)); n != before {
				t.Fatalf("%d files moved to %s/ while one of the unit was being written: %v", n-before, tc.sub, e.files(tc.sub))
			}
			for _, op := range []string{"blocked", "changed", "unblocked"} {
				if _, err := os.Stat(filepath.Join(e.dir, prefix+op+".csv")); err != nil {
					t.Fatalf("%s left the drop directory: %v", op, err)
				}
			}
			// The writer is done: the next pass files the three away.
			pub.done()
			fr = fileResult(t, e.pass(), name)
			if fr.Result != tc.result && !(tc.result == "applied" && fr.Result == "already_applied") {
				t.Fatalf("%+v, want %s", fr, tc.result)
			}
			for _, op := range []string{"blocked", "changed", "unblocked"} {
				e.moved(tc.sub, prefix+op+".csv")
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A file a writer still holds open is reported waiting, with the reason,
// pass after pass; it is not left out of the report.
func TestBusyFileReportedWaiting(t *testing.T) {
	e := stolenEnv(t)
	p := e.write("a.csv", "imei\n35209900176148\n")
	fi, _ := os.Stat(p)
	done := writeAgain(t, p)
	os.Chtimes(p, fi.ModTime(), fi.ModTime()) // settled, as far as times tell
	for range 2 {
		if fr := fileResult(t, e.pass(), "a.csv"); fr.Result != "waiting" || !strings.Contains(fr.Message, "still being written: ") {
			t.Fatalf("%+v", fr)
		}
	}
	e.expect(35209900176148, "", "unknown")
	done()
	if fr := fileResult(t, e.pass(), "a.csv"); fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
}

// The drop directory is watched again at the next pass after it was
// replaced (the watcher stops with the folder it watched).
func TestWatchRestartedEachPass(t *testing.T) {
	e := stolenEnv(t)
	s := e.engine.sources["national"]
	if !s.dir.Watching() {
		t.Fatal("not watching after New")
	}
	if err := os.Rename(e.dir, e.dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the watcher of the old folder stops", 10*time.Second, func() bool { return !s.dir.Watching() })
	e.pass()
	if !s.dir.Watching() {
		t.Fatal("the pass did not watch the new folder")
	}
}

// New closes the watchers it started when a later source is invalid, and
// Close stops them all; a pass after Close watches nothing.
func TestEngineWatchersClosed(t *testing.T) {
	e := stolenEnv(t)
	ignore := goleak.IgnoreCurrent()
	good := SourceConfig{Name: "a", Format: "stolen", Dir: t.TempDir()}
	bad := SourceConfig{Name: "b", Format: "no-such-format", Dir: t.TempDir()}
	if _, err := New(Options{}, []SourceConfig{good, {Name: "c", Format: "tac", Dir: t.TempDir()}, bad}, e.store, CoordinatorFor(e.store),
		zaptest.NewLogger(t), prometheus.NewRegistry()); err == nil {
		t.Fatal("no error for an unknown format")
	}
	goleak.VerifyNone(t, ignore)

	eng := e.newEngine(SourceConfig{Name: "national", Format: "stolen", Dir: e.dir, Settle: time.Second}, good)
	if !eng.sources["a"].dir.Watching() {
		t.Fatal("not watching")
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	e.engine = eng
	e.write("x.csv", "imei\n35209900176148\n")
	if fr := fileResult(t, e.pass(), "x.csv"); fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
	if eng.sources["national"].dir.Watching() {
		t.Fatal("a pass after Close watches again")
	}
	goleak.VerifyNone(t, ignore)
}
