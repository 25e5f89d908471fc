//go:build linux

package fetch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eir-sidecar/eir/internal/testenv"
)

// later is a clock an hour ahead: every file written now has settled.
func later() time.Time { return time.Now().Add(time.Hour) }

// noLease makes leases unavailable, as for a file another user owns.
func noLease(path string) (func(), error) { return nil, errLeaseUnavailable }

// statFile returns path as Ready would list it (without sidecars).
func statFile(t *testing.T, path string) File {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: filepath.Base(path), Path: path, Size: info.Size(), ModTime: info.ModTime()}
}

func TestReadLease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "a.csv")
	writeFile(t, file, "a", time.Now())
	tests := []struct {
		name    string
		path    string
		open    []int // this process holds path open with these flags
		wantErr error
	}{
		{name: "no writer", path: file},
		{name: "open read-only here", path: file, open: []int{os.O_RDONLY}},
		{name: "open for writing here", path: file, open: []int{os.O_WRONLY}, wantErr: errLeaseRefused},
		{name: "open read-write here", path: file, open: []int{os.O_RDONLY, os.O_RDWR}, wantErr: errLeaseRefused},
		{name: "directory", path: dir, wantErr: errLeaseUnavailable},
		{name: "missing", path: filepath.Join(dir, "missing.csv"), wantErr: fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, flags := range tc.open {
				fh, err := os.OpenFile(tc.path, flags, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer fh.Close()
			}
			release, err := readLease(tc.path)
			if release != nil {
				release()
			}
			if tc.wantErr == nil && (err != nil || release == nil) {
				t.Fatalf("lease = %v", err)
			}
			if tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || release != nil) {
				t.Fatalf("lease = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// A registry uploader (another process) writes a list in place and stalls
// for longer than Settle: the file is held back until the uploader closes it.
func TestWriterProcessHoldsFileBack(t *testing.T) {
	t.Parallel()
	const name = "20250314T1500_full.csv"
	tests := []struct {
		name       string
		open       string // the file the writer holds: name or its sidecar
		wantReason string
	}{
		{name: "file", open: name, wantReason: reasonLease},
		{name: "sidecar", open: name + ".sha256", wantReason: "sidecar " + name + ".sha256: " + reasonLease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := &Dir{Path: t.TempDir(), Now: later}
			p := filepath.Join(d.Path, name)
			for _, n := range []string{name, name + ".sha256"} {
				if n != tc.open {
					writeFile(t, filepath.Join(d.Path, n), "imei,status\n", time.Now())
				}
			}
			stop := startWriter(t, filepath.Join(d.Path, tc.open), "imei,status\n490154203237518,black\n")
			f := statFile(t, p)
			f.Sidecars = map[string]string{".sha256": p + ".sha256"}

			// Listed (it has settled), but not complete: the caller
			// reports why it waits.
			if got, err := d.Ready(); err != nil || !reflect.DeepEqual(names(got), []string{name}) {
				t.Fatalf("ready while written = %v, %v", names(got), err)
			}
			if busy, why := d.Writing(f); !busy || why != tc.wantReason {
				t.Fatalf("writing = %v, %q, want %q", busy, why, tc.wantReason)
			}
			if ok, why, err := d.Complete(f); ok || why != tc.wantReason || err != nil {
				t.Fatalf("complete while written = %v, %q, %v", ok, why, err)
			}
			assertBusy(t, d, f)

			stop()
			got, err := d.Ready()
			if err != nil || !reflect.DeepEqual(got, []File{f}) {
				t.Fatalf("ready once closed = %+v, %v", got, err)
			}
			if ok, why, err := d.Complete(f); !ok || why != "" || err != nil {
				t.Fatalf("complete once closed = %v, %q, %v", ok, why, err)
			}
			if err := d.Done(nil, f); err != nil {
				t.Fatalf("done once closed = %v", err)
			}
		})
	}
}

// assertBusy checks that no move takes f, and that a refused move leaves
// nothing behind.
func assertBusy(t *testing.T, d *Dir, f File) {
	t.Helper()
	before := listDir(t, d.Path)
	moves := map[string]func() error{
		"done":   func() error { return d.Done(map[string]int{"rows": 1}, f) },
		"reject": func() error { return d.Reject(Reason{Code: "header"}, f) },
		"hold":   func() error { return d.Hold(Reason{Code: "shrink_guard"}, f) },
	}
	for name, move := range moves {
		if err := move(); !errors.Is(err, ErrBusy) {
			t.Errorf("%s of a busy file = %v, want ErrBusy", name, err)
		}
	}
	if after := listDir(t, d.Path); !reflect.DeepEqual(after, before) {
		t.Errorf("landing folder after refused moves = %v, want %v", after, before)
	}
}

// While a file moves, its read lease keeps writers out: an open for
// writing would wait, and a non-blocking one fails.
func TestMoveKeepsWritersOut(t *testing.T) {
	// Not parallel: replaces the package's rename.
	d, clk := newDir(t)
	f := arrive(t, d, clk, "20250314_full.csv", "content")
	var openErr error
	rename = func(oldpath, newpath string) error {
		if oldpath == f.Path {
			fd, err := unix.Open(oldpath, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err == nil {
				_ = unix.Close(fd)
			}
			openErr = err
		}
		return os.Rename(oldpath, newpath)
	}
	t.Cleanup(func() { rename = os.Rename })
	if err := d.Done(nil, f); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(openErr, unix.EWOULDBLOCK) {
		t.Fatalf("open for writing during the move = %v, want EWOULDBLOCK", openErr)
	}
	// The lease is gone after the move.
	fh, err := os.OpenFile(filepath.Join(d.Path, DoneDir, f.Name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = fh.Close()
}

// Where no lease can be taken (a file another user owns, a filesystem
// without leases), the inotify watcher sees the stalled in-place upload.
func TestWatcherHoldsBackStalledUpload(t *testing.T) {
	t.Parallel()
	d := &Dir{Path: t.TempDir(), Now: later, lease: noLease}
	p := func(n string) string { return filepath.Join(d.Path, n) }
	writeFile(t, p("old.csv"), "x", time.Now()) // before Watch: unknown, settled
	if err := d.Watch(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Watch(); err != nil {
		t.Fatalf("second watch = %v", err)
	}

	stalled, err := os.Create(p("stalled.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.WriteString("imei,status\n490154203237518,black\n"); err != nil {
		t.Fatal(err)
	}
	f := statFile(t, p("stalled.csv"))
	testenv.Eventually(t, "the watcher sees the write", 10*time.Second, func() bool { busy, _ := d.Writing(f); return busy })
	if _, why := d.Writing(f); why != reasonInotify {
		t.Errorf("reason = %q, want %q", why, reasonInotify)
	}
	if got, err := d.Ready(); err != nil || !reflect.DeepEqual(names(got), []string{"old.csv", "stalled.csv"}) {
		t.Fatalf("ready during a stalled upload = %v, %v", names(got), err)
	}
	if ok, why, err := d.Complete(f); ok || why != reasonInotify || err != nil {
		t.Errorf("complete during a stalled upload = %v, %q, %v", ok, why, err)
	}
	assertBusy(t, d, f)

	// The upload resumes and finishes.
	if _, err := stalled.WriteString("353918050000007,black\n"); err != nil {
		t.Fatal(err)
	}
	if err := stalled.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the closed upload is complete", 10*time.Second, func() bool {
		ok, _, err := d.Complete(statFile(t, p("stalled.csv")))
		return ok && err == nil
	})
}

func TestWatcherRenamedUploadIsComplete(t *testing.T) {
	t.Parallel()
	d := &Dir{Path: t.TempDir(), Now: later, lease: noLease}
	p := func(n string) string { return filepath.Join(d.Path, n) }
	if err := d.Watch(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })

	// An in-place upload stalls...
	old, err := os.Create(p("list.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.WriteString("imei,status\n"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the watcher sees the write", 10*time.Second, func() bool { busy, _ := d.Writing(statFile(t, p("list.csv"))); return busy })

	// ...and the registry sends the list again as list.csv.part, renamed
	// over the stalled one when complete.
	writeFile(t, p("list.csv.part"), "imei,status\n490154203237518,black\n", time.Now())
	if err := os.Rename(p("list.csv.part"), p("list.csv")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the renamed upload is complete", 10*time.Second, func() bool {
		ok, _, err := d.Complete(statFile(t, p("list.csv")))
		return ok && err == nil
	})

	// The stalled writer writes on into the replaced file, which has left
	// the folder: that does not concern list.csv. (Events arrive in order:
	// once probe.csv's write is seen, the earlier one has been handled.)
	if _, err := old.WriteString("353918050000007,black\n"); err != nil {
		t.Fatal(err)
	}
	probe, err := os.Create(p("probe.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if _, err := probe.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the watcher sees the probe", 10*time.Second, func() bool { busy, _ := d.Writing(statFile(t, p("probe.csv"))); return busy })
	if busy, why := d.Writing(statFile(t, p("list.csv"))); busy {
		t.Errorf("renamed upload: writing = %q", why)
	}

	// Stopped, the watcher knows nothing: Settle alone decides again.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second close = %v", err)
	}
	if busy, _ := d.Writing(statFile(t, p("probe.csv"))); busy {
		t.Error("writing after close")
	}
}

func TestWatchErrorsAndRestart(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "file"), "x", time.Now())
	for _, path := range []string{"", filepath.Join(base, "missing"), filepath.Join(base, "file")} {
		d := &Dir{Path: path}
		if err := d.Watch(); err == nil {
			t.Errorf("watch %q: no error", path)
		}
		if err := d.Close(); err != nil {
			t.Errorf("close without a watcher = %v", err)
		}
	}

	// The landing folder goes away and comes back: Watch starts again.
	d := &Dir{Path: filepath.Join(base, "landing")}
	if err := os.Mkdir(d.Path, dirMode); err != nil {
		t.Fatal(err)
	}
	if err := d.Watch(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	first := d.watcher()
	if err := os.Remove(d.Path); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the watcher stops", 10*time.Second, func() bool { return !d.Watching() })
	if err := os.Mkdir(d.Path, dirMode); err != nil {
		t.Fatal(err)
	}
	if err := d.Watch(); err != nil {
		t.Fatal(err)
	}
	if w := d.watcher(); w == first || !w.running() || !d.Watching() {
		t.Fatal("watch did not start a new watcher")
	}
}

// The files of one unit move together: while a writer holds one of them
// open, none moves; once it is done, all do.
func TestUnitMovesTogether(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	var files []File
	for _, name := range []string{"a.csv", "b.csv", "c.csv"} {
		files = append(files, arrive(t, d, clk, name, name))
	}
	w, err := os.OpenFile(files[1].Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := listDir(t, d.Path)
	moves := map[string]func() error{
		DoneDir:     func() error { return d.Done(map[string]int{"rows": 1}, files...) },
		RejectedDir: func() error { return d.Reject(Reason{Code: "conflict"}, files...) },
		HeldDir:     func() error { return d.Hold(Reason{Code: "shrink_guard"}, files...) },
	}
	for sub, move := range moves {
		if err := move(); !errors.Is(err, ErrBusy) {
			t.Fatalf("%s of a unit with a busy file = %v, want ErrBusy", sub, err)
		}
		if after := listDir(t, d.Path); !reflect.DeepEqual(after, before) {
			t.Fatalf("after a refused move to %s/: %v, want %v", sub, after, before)
		}
	}
	w.Close()
	if err := d.Reject(Reason{Code: "conflict"}, files...); err != nil {
		t.Fatal(err)
	}
	want := []string{"a.csv", "a.csv.reason", "a.csv.sha256", "b.csv", "b.csv.reason", "b.csv.sha256", "c.csv", "c.csv.reason", "c.csv.sha256"}
	if got := listDir(t, filepath.Join(d.Path, RejectedDir)); !reflect.DeepEqual(got, want) {
		t.Fatalf("rejected/ = %v, want %v", got, want)
	}
}
