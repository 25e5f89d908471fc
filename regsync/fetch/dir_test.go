package fetch

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// clock is an injected Dir.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func writeFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func names(files []File) []string {
	out := []string{}
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	out := []string{}
	for _, de := range des {
		out = append(out, de.Name())
	}
	sort.Strings(out)
	return out
}

func newDir(t *testing.T) (*Dir, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	return &Dir{Path: t.TempDir(), Now: clk.Now}, clk
}

func TestReadySkipsPartialHiddenAndUnsettled(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	old := t0.Add(-time.Hour)
	p := func(n string) string { return filepath.Join(d.Path, n) }

	writeFile(t, p("20250314T1500_full.csv"), "a", t0)
	writeFile(t, p("20250314T1500_full.csv.sha256"), "x", t0)
	writeFile(t, p("20250314T1500_full.csv.MD5"), "x", t0)
	writeFile(t, p("20250314T1500_full.csv.manifest.json"), "{}", t0)
	writeFile(t, p("20250313T1500_delta.csv"), "bb", old)
	for _, n := range []string{
		"c.csv.part", "d.CSV.TMP", "e.zip.filepart", "f.crdownload", "g.lock",
		"h.partial", ".hidden.csv", "~lock.csv", "orphan.csv.sha256", "orphan.csv.md5",
	} {
		writeFile(t, p(n), "x", old)
	}
	if err := os.Mkdir(p("sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d.Path, "sub", "inner.csv"), "x", old)
	if err := os.Symlink(p("sub"), p("linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p("nowhere"), p("dangling.csv")); err != nil {
		t.Fatal(err)
	}

	// One second after the write, the new file is still being written
	// (default settle 5s).
	clk.t = t0.Add(time.Second)
	got, err := d.Ready()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"20250313T1500_delta.csv"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("ready at +1s = %v, want %v", names(got), want)
	}
	clk.t = t0.Add(DefaultSettle - time.Millisecond)
	if got, _ = d.Ready(); len(got) != 1 {
		t.Fatalf("ready just before settle = %v", names(got))
	}

	clk.t = t0.Add(DefaultSettle)
	got, err = d.Ready()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"20250313T1500_delta.csv", "20250314T1500_full.csv"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("ready after settle = %v, want %v", names(got), want)
	}
	delta, full := got[0], got[1]
	if delta.Size != 2 || !delta.ModTime.Equal(old) || delta.Path != p(delta.Name) || delta.Sidecars != nil {
		t.Errorf("delta = %+v", delta)
	}
	wantSide := map[string]string{
		".sha256":        p("20250314T1500_full.csv.sha256"),
		".md5":           p("20250314T1500_full.csv.MD5"),
		".manifest.json": p("20250314T1500_full.csv.manifest.json"),
	}
	if !reflect.DeepEqual(full.Sidecars, wantSide) {
		t.Errorf("sidecars = %v, want %v", full.Sidecars, wantSide)
	}
}

func TestReadyWaitsForSidecars(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	d.Settle = 2 * time.Second
	p := func(n string) string { return filepath.Join(d.Path, n) }
	writeFile(t, p("a.csv"), "a", t0)
	writeFile(t, p("a.csv.sha256"), "x", t0.Add(time.Second)) // written after the file
	writeFile(t, p("b.csv"), "b", t0)
	writeFile(t, p("b.csv.sha256.filepart"), "x", t0) // still uploading
	writeFile(t, p("c.csv"), "c", t0)

	clk.t = t0.Add(2 * time.Second)
	got, err := d.Ready()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c.csv"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("ready = %v, want %v", names(got), want)
	}
	clk.t = t0.Add(3 * time.Second)
	if got, _ = d.Ready(); !reflect.DeepEqual(names(got), []string{"a.csv", "c.csv"}) {
		t.Fatalf("ready once the sidecar settled = %v", names(got))
	}
	if err := os.Rename(p("b.csv.sha256.filepart"), p("b.csv.sha256")); err != nil {
		t.Fatal(err)
	}
	if got, _ = d.Ready(); !reflect.DeepEqual(names(got), []string{"a.csv", "b.csv", "c.csv"}) {
		t.Fatalf("ready once the upload finished = %v", names(got))
	}
}

func TestReadyNegativeSettleAndErrors(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	d.Settle = -1
	writeFile(t, filepath.Join(d.Path, "a.csv"), "a", t0) // modified "now"
	if got, err := d.Ready(); err != nil || len(got) != 1 {
		t.Fatalf("ready with no settle = %v, %v", names(got), err)
	}
	if _, err := (&Dir{Path: filepath.Join(d.Path, "missing")}).Ready(); err == nil {
		t.Error("ready of a missing folder: no error")
	}
	if _, err := (&Dir{}).Ready(); err == nil {
		t.Error("ready without a path: no error")
	}
}

func TestCompleteDetectsGrowth(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	p := filepath.Join(d.Path, "20250314_full.csv")
	writeFile(t, p, "imei,status\n", t0)
	clk.t = t0.Add(10 * time.Second)
	got, err := d.Ready()
	if err != nil || len(got) != 1 {
		t.Fatalf("ready = %v, %v", names(got), err)
	}
	f := got[0]
	if ok, why, err := d.Complete(f); !ok || why != "" || err != nil {
		t.Fatalf("complete of an unchanged file = %v, %q, %v", ok, why, err)
	}

	// The upload resumes: the file grows.
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString("490154203237518,black\n"); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, clk.t, clk.t); err != nil {
		t.Fatal(err)
	}
	if ok, why, err := d.Complete(f); ok || !strings.Contains(why, "size changed") || err != nil {
		t.Fatalf("complete of a grown file = %v, %q, %v", ok, why, err)
	}
	// Same size, new mtime: also unstable.
	if err := os.Truncate(p, f.Size); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, clk.t, clk.t); err != nil {
		t.Fatal(err)
	}
	if ok, why, _ := d.Complete(f); ok || why != "modified since it was listed" {
		t.Fatalf("complete of a rewritten file of the same size: %q", why)
	}
	// Skipped until it settles again, then listed with its new size.
	if got, _ = d.Ready(); len(got) != 0 {
		t.Fatalf("ready right after growth = %v", names(got))
	}
	clk.t = clk.t.Add(DefaultSettle)
	if got, _ = d.Ready(); len(got) != 1 {
		t.Fatalf("ready after settling again = %v", names(got))
	}
	if ok, _, err := d.Complete(got[0]); !ok || err != nil {
		t.Fatalf("complete after settling = %v, %v", ok, err)
	}

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := d.Complete(got[0]); ok || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("complete of a removed file = %v, %v", ok, err)
	}
}

// arrive drops name (and a .sha256 sidecar) into d and returns it as Ready
// lists it.
func arrive(t *testing.T, d *Dir, clk *clock, name, content string) File {
	t.Helper()
	writeFile(t, filepath.Join(d.Path, name), content, clk.t.Add(-time.Minute))
	writeFile(t, filepath.Join(d.Path, name+".sha256"), "sum-of-"+content, clk.t.Add(-time.Minute))
	got, err := d.Ready()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("%s not ready: %v", name, names(got))
	return File{}
}

func TestDoneMovesWithResultAndSuffixesDuplicates(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	const name = "20250314T1500_full.csv"
	type result struct {
		Rows  int    `json:"rows"`
		Batch string `json:"batch"`
	}

	f := arrive(t, d, clk, name, "first")
	if err := d.Done(result{Rows: 3, Batch: "b1"}, f); err != nil {
		t.Fatal(err)
	}
	done := filepath.Join(d.Path, DoneDir)
	if got := listDir(t, d.Path); !reflect.DeepEqual(got, []string{DoneDir}) {
		t.Fatalf("landing folder after Done = %v", got)
	}
	if got := readFile(t, filepath.Join(done, name)); got != "first" {
		t.Errorf("done file = %q", got)
	}
	if got := readFile(t, filepath.Join(done, name+".sha256")); got != "sum-of-first" {
		t.Errorf("done sidecar = %q", got)
	}
	var r result
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(done, name+ResultSuffix))), &r); err != nil || r != (result{3, "b1"}) {
		t.Errorf("result = %+v, %v", r, err)
	}
	info, err := os.Stat(done)
	if err != nil || info.Mode().Perm()&^0o750 != 0 {
		t.Errorf("done/ mode = %v, %v", info.Mode(), err)
	}

	// The same name arrives twice more: nothing is overwritten.
	clk.t = t0.Add(time.Hour)
	for i, content := range []string{"second", "third"} {
		f := arrive(t, d, clk, name, content)
		if err := d.Done(result{Rows: i}, f); err != nil {
			t.Fatal(err)
		}
	}
	stamp := name + ".20250314T160926"
	want := []string{
		name, name + ResultSuffix, name + ".sha256",
		stamp, stamp + ".1", stamp + ".1" + ResultSuffix, stamp + ".1.sha256",
		stamp + ResultSuffix, stamp + ".sha256",
	}
	sort.Strings(want)
	if got := listDir(t, done); !reflect.DeepEqual(got, want) {
		t.Fatalf("done/ = %v\nwant %v", got, want)
	}
	for n, content := range map[string]string{name: "first", stamp: "second", stamp + ".1": "third", stamp + ".1.sha256": "sum-of-third"} {
		if got := readFile(t, filepath.Join(done, n)); got != content {
			t.Errorf("%s = %q, want %q", n, got, content)
		}
	}
	if got := readFile(t, filepath.Join(done, stamp+".1"+ResultSuffix)); !strings.Contains(got, `"rows": 1`) {
		t.Errorf("third result = %s", got)
	}
}

func TestRejectWritesReason(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	f := arrive(t, d, clk, "20250314_full.csv", "imei\n")
	err := d.Reject(Reason{Code: "header", Message: "unknown column", Details: []string{"line 1: column \"foo\""}}, f)
	if err != nil {
		t.Fatal(err)
	}
	rej := filepath.Join(d.Path, RejectedDir)
	want := []string{"20250314_full.csv", "20250314_full.csv.reason", "20250314_full.csv.sha256"}
	if got := listDir(t, rej); !reflect.DeepEqual(got, want) {
		t.Fatalf("rejected/ = %v, want %v", got, want)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(rej, "20250314_full.csv.reason"))), &raw); err != nil {
		t.Fatal(err)
	}
	wantRaw := map[string]any{
		"code":    "header",
		"message": "unknown column",
		"details": []any{`line 1: column "foo"`},
		"time":    "2025-03-14T15:09:26Z", // from the injected clock
	}
	if !reflect.DeepEqual(raw, wantRaw) {
		t.Errorf("reason = %v, want %v", raw, wantRaw)
	}

	// A given time is kept; details are omitted when empty.
	f = arrive(t, d, clk, "b.csv", "b")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := d.Reject(Reason{Code: "checksum", Message: "sha256 mismatch", Time: at}, f); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(rej, "b.csv.reason"))
	if !strings.Contains(got, `"time": "2025-01-02T03:04:05Z"`) || strings.Contains(got, "details") {
		t.Errorf("reason = %s", got)
	}

	// A file that is gone cannot be rejected, and nothing is written.
	if err := d.Reject(Reason{Code: "zip"}, File{Name: "gone.csv", Path: filepath.Join(d.Path, "gone.csv")}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reject of a missing file = %v", err)
	}
	if _, err := os.Stat(filepath.Join(rej, "gone.csv.reason")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reason of a missing file written: %v", err)
	}
}

func TestHoldHeldRelease(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	a := arrive(t, d, clk, "20250314_a.csv", "a")
	b := arrive(t, d, clk, "20250314_b.csv", "b")
	if err := d.Hold(Reason{Code: "shrink_guard", Message: "list shrank by 60%", Details: []string{"before 1000", "after 400"}}, b); err != nil {
		t.Fatal(err)
	}
	if err := d.Hold(Reason{Code: "delta_base", Message: "base unknown"}, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Ready(); len(got) != 0 {
		t.Fatalf("ready after holding all = %v", names(got))
	}

	held, err := d.Held()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"20250314_a.csv", "20250314_b.csv"}; !reflect.DeepEqual(names(held), want) {
		t.Fatalf("held = %v, want %v", names(held), want)
	}
	hd := filepath.Join(d.Path, HeldDir)
	if held[1].Path != filepath.Join(hd, "20250314_b.csv") || held[1].Size != 1 ||
		held[1].Sidecars[".sha256"] != filepath.Join(hd, "20250314_b.csv.sha256") {
		t.Errorf("held b = %+v", held[1])
	}
	r, err := d.HeldReason("20250314_b.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := Reason{Code: "shrink_guard", Message: "list shrank by 60%", Details: []string{"before 1000", "after 400"}, Time: t0}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("held reason = %+v, want %+v", r, want)
	}

	// The operator approves b.
	f, err := d.Release("20250314_b.csv")
	if err != nil {
		t.Fatal(err)
	}
	wantF := File{
		Name: "20250314_b.csv", Path: filepath.Join(d.Path, "20250314_b.csv"), Size: 1, ModTime: b.ModTime,
		Sidecars: map[string]string{".sha256": filepath.Join(d.Path, "20250314_b.csv.sha256")},
	}
	if !reflect.DeepEqual(f, wantF) {
		t.Errorf("released = %+v\nwant %+v", f, wantF)
	}
	if got := listDir(t, hd); !reflect.DeepEqual(got, []string{"20250314_a.csv", "20250314_a.csv.reason", "20250314_a.csv.sha256"}) {
		t.Errorf("held/ after release = %v", got)
	}
	ready, err := d.Ready()
	if err != nil || !reflect.DeepEqual(ready, []File{wantF}) {
		t.Fatalf("ready after release = %+v, %v", ready, err)
	}
	if _, err := d.HeldReason("20250314_b.csv"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reason of a released file = %v", err)
	}
	if _, err := d.Release("20250314_b.csv"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second release = %v", err)
	}
}

func TestReleaseRestoresNameAndRefusesOverwrite(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	const name = "20250314_full.csv"
	if err := d.Hold(Reason{Code: "conflict"}, arrive(t, d, clk, name, "one")); err != nil {
		t.Fatal(err)
	}
	clk.t = t0.Add(time.Minute)
	if err := d.Hold(Reason{Code: "conflict", Message: "again"}, arrive(t, d, clk, name, "two")); err != nil {
		t.Fatal(err)
	}
	held, err := d.Held()
	if err != nil {
		t.Fatal(err)
	}
	suffixed := name + ".20250314T151026"
	if want := []string{name, suffixed}; !reflect.DeepEqual(names(held), want) {
		t.Fatalf("held = %v, want %v", names(held), want)
	}
	if r, err := d.HeldReason(suffixed); err != nil || r.Message != "again" {
		t.Fatalf("reason of the second = %+v, %v", r, err)
	}

	// The second copy comes back under the original name (and extension).
	f, err := d.Release(suffixed)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != name || readFile(t, f.Path) != "two" || readFile(t, f.Sidecars[".sha256"]) != "sum-of-two" {
		t.Fatalf("released = %+v", f)
	}
	// The first cannot come back while the name is taken.
	if _, err := d.Release(name); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("release onto an existing file = %v", err)
	}
	if readFile(t, filepath.Join(d.Path, name)) != "two" || readFile(t, filepath.Join(d.Path, HeldDir, name)) != "one" {
		t.Fatal("a refused release moved something")
	}
}

func TestHeldEmptyAndBadNames(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	if held, err := d.Held(); err != nil || len(held) != 0 {
		t.Fatalf("held without held/ = %v, %v", held, err)
	}
	for _, n := range []string{"", ".", "..", "../x", "a/b", `a\b`} {
		if _, err := d.Release(n); err == nil {
			t.Errorf("release %q: no error", n)
		}
		if _, err := d.HeldReason(n); err == nil {
			t.Errorf("held reason %q: no error", n)
		}
	}
	if err := d.Done(nil, File{Name: "../x", Path: filepath.Join(d.Path, "x")}); err == nil {
		t.Error("done with a bad name: no error")
	}
	if err := d.Done(func() {}, File{Name: "x"}); err == nil {
		t.Error("done with an unencodable result: no error")
	}
}

func TestHeldNameEndingInReason(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	if err := d.Hold(Reason{Code: "zip"}, arrive(t, d, clk, "odd.reason", "x")); err != nil {
		t.Fatal(err)
	}
	held, err := d.Held()
	if err != nil || !reflect.DeepEqual(names(held), []string{"odd.reason"}) {
		t.Fatalf("held = %v, %v", names(held), err)
	}
}

func TestMoveAcrossFilesystems(t *testing.T) {
	// Not parallel: replaces the package's rename.
	var calls int
	rename = func(oldpath, newpath string) error {
		calls++
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EXDEV}
	}
	t.Cleanup(func() { rename = os.Rename })

	d, clk := newDir(t)
	f := arrive(t, d, clk, "20250314_full.csv", "content")
	if err := os.Chmod(f.Path, 0o604); err != nil {
		t.Fatal(err)
	}
	if err := d.Hold(Reason{Code: "zip"}, f); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("rename calls = %d, want 2 (file and sidecar)", calls)
	}
	if got := listDir(t, d.Path); !reflect.DeepEqual(got, []string{HeldDir}) {
		t.Fatalf("landing folder = %v", got)
	}
	p := filepath.Join(d.Path, HeldDir, f.Name)
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, p) != "content" || !info.ModTime().Equal(f.ModTime) || info.Mode().Perm() != 0o604 {
		t.Errorf("copied file: mtime %v (want %v), mode %v", info.ModTime(), f.ModTime, info.Mode())
	}
	if got := listDir(t, filepath.Join(d.Path, HeldDir)); len(got) != 3 {
		t.Errorf("held/ = %v (temporary files left?)", got)
	}

	// Other rename errors are not papered over.
	rename = func(oldpath, newpath string) error {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EACCES}
	}
	if _, err := d.Release(f.Name); !errors.Is(err, syscall.EACCES) {
		t.Errorf("release with a failing rename = %v", err)
	}

	// The file fails to move after its sidecar did: the sidecar goes back,
	// and a later release works.
	held := filepath.Join(d.Path, HeldDir)
	rename = func(oldpath, newpath string) error {
		if oldpath == filepath.Join(held, f.Name) {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EIO}
		}
		return os.Rename(oldpath, newpath)
	}
	if _, err := d.Release(f.Name); !errors.Is(err, syscall.EIO) {
		t.Errorf("release with a failing rename of the file = %v", err)
	}
	if got := listDir(t, held); len(got) != 3 {
		t.Errorf("held/ after a failed release = %v", got)
	}
	if got := listDir(t, d.Path); !reflect.DeepEqual(got, []string{HeldDir}) {
		t.Errorf("landing folder after a failed release = %v", got)
	}
	rename = os.Rename
	if _, err := d.Release(f.Name); err != nil {
		t.Errorf("release after the failure = %v", err)
	}
}

// A unit whose second file cannot be moved puts the first one back: all
// the files move, or none.
func TestUnitMoveRollsBack(t *testing.T) {
	// Not parallel: replaces the package's rename.
	d, clk := newDir(t)
	a := arrive(t, d, clk, "a.csv", "a")
	b := arrive(t, d, clk, "b.csv", "b")
	before := listDir(t, d.Path)
	rename = func(oldpath, newpath string) error {
		if oldpath == b.Path {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EIO}
		}
		return os.Rename(oldpath, newpath)
	}
	t.Cleanup(func() { rename = os.Rename })
	if err := d.Done(nil, a, b); !errors.Is(err, syscall.EIO) {
		t.Fatalf("done = %v, want EIO", err)
	}
	if after := listDir(t, d.Path); !reflect.DeepEqual(after, append(before, DoneDir)) {
		t.Fatalf("landing folder = %v, want %v and done/", after, before)
	}
	if got := listDir(t, filepath.Join(d.Path, DoneDir)); len(got) != 0 {
		t.Fatalf("done/ = %v, want empty", got)
	}
}
