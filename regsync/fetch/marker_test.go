package fetch

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// restart returns a new Dir on the same landing folder, as after eird
// restarted.
func restart(d *Dir) *Dir { return &Dir{Path: d.Path, Now: d.Now} }

func TestBeginProcessingWritesMarkers(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	a := arrive(t, d, clk, "20250314_a.csv", "a")
	b := arrive(t, d, clk, "20250314_b.csv", "bb")
	if err := d.BeginProcessing([]File{a, b}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.Path, ProcessingDir)
	if got := listDir(t, dir); !reflect.DeepEqual(got, []string{"20250314_a.csv.json", "20250314_b.csv.json"}) {
		t.Fatalf("%s = %v", ProcessingDir, got)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "20250314_b.csv.json"))), &raw); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := map[string]any{
		"name":     "20250314_b.csv",
		"size":     float64(2),
		"mtime":    b.ModTime.Format(time.RFC3339Nano),
		"pid":      float64(os.Getpid()),
		"hostname": host,
		"started":  "2025-03-14T15:09:26Z", // from the injected clock
	}
	if !reflect.DeepEqual(raw, want) {
		t.Errorf("marker = %v\nwant %v", raw, want)
	}
	// Ready lists the files, never the markers.
	if got, _ := d.Ready(); !reflect.DeepEqual(names(got), []string{"20250314_a.csv", "20250314_b.csv"}) {
		t.Errorf("ready = %v", names(got))
	}
	// Files being processed by this Dir were not interrupted.
	if got, err := d.Interrupted(); err != nil || len(got) != 0 {
		t.Errorf("interrupted while processing = %v, %v", names(got), err)
	}
	if err := d.EndProcessing([]File{a, b}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("%s after end = %v", ProcessingDir, got)
	}
	if err := d.EndProcessing([]File{a}); err != nil {
		t.Errorf("second end = %v", err)
	}
}

// The process dies while processing (no EndProcessing): after a restart
// Interrupted lists the files whose marker still matches.
func TestInterruptedAfterDeath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, d *Dir, f File) // after the death
		want   bool                               // f is listed
	}{
		{name: "unchanged", change: func(*testing.T, *Dir, File) {}, want: true},
		{name: "grown", want: false, change: func(t *testing.T, _ *Dir, f File) {
			writeFile(t, f.Path, "content, and more", f.ModTime)
		}},
		{name: "touched", want: false, change: func(t *testing.T, _ *Dir, f File) {
			if err := os.Chtimes(f.Path, f.ModTime, f.ModTime.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "gone", want: false, change: func(t *testing.T, _ *Dir, f File) {
			if err := os.Remove(f.Path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "rejected by the restarted process", want: false, change: func(t *testing.T, d *Dir, f File) {
			if err := restart(d).Reject(Reason{Code: "crashed_during_processing"}, f); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, clk := newDir(t)
			f := arrive(t, d, clk, "20250314_full.csv", "content")
			other := arrive(t, d, clk, "20250314_delta.csv", "delta")
			if err := d.BeginProcessing([]File{f, other}); err != nil {
				t.Fatal(err)
			}
			if err := d.EndProcessing([]File{other}); err != nil { // other finished
				t.Fatal(err)
			}
			tc.change(t, d, f)

			got, err := restart(d).Interrupted()
			if err != nil {
				t.Fatal(err)
			}
			if tc.want {
				if !reflect.DeepEqual(got, []File{{Name: f.Name, Path: f.Path, Size: f.Size, ModTime: f.ModTime}}) {
					t.Fatalf("interrupted = %+v, want %s", got, f.Name)
				}
				return
			}
			if len(got) != 0 {
				t.Fatalf("interrupted = %v, want none", names(got))
			}
			// The stale marker is gone, even when the file comes back.
			if left := listDir(t, filepath.Join(d.Path, ProcessingDir)); len(left) != 0 {
				t.Errorf("markers left = %v", left)
			}
		})
	}
}

func TestMarkersSurviveAndAreCleaned(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	f := arrive(t, d, clk, "20250314_full.csv", "content")
	if err := d.BeginProcessing([]File{f}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.Path, ProcessingDir)
	// Leftovers of a death during a marker write, a broken marker, and a
	// file that is not a marker.
	writeFile(t, filepath.Join(dir, ".x.csv.json.123.tmp"), "{", t0)
	writeFile(t, filepath.Join(dir, "broken.csv.json"), "{", t0)
	writeFile(t, filepath.Join(dir, "README"), "operator notes", t0)

	// A second restart still sees the interruption: listing does not
	// consume it.
	for i := 0; i < 2; i++ {
		got, err := restart(d).Interrupted()
		if err != nil || !reflect.DeepEqual(names(got), []string{f.Name}) {
			t.Fatalf("interrupted (restart %d) = %v, %v", i, names(got), err)
		}
	}
	if got := listDir(t, dir); !reflect.DeepEqual(got, []string{"20250314_full.csv.json", "README"}) {
		t.Errorf("%s = %v", ProcessingDir, got)
	}
	// Done removes the marker with the file.
	if err := restart(d).Done(nil, f); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); !reflect.DeepEqual(got, []string{"README"}) {
		t.Errorf("%s after done = %v", ProcessingDir, got)
	}
}

func TestBeginProcessingRefusesFilesOutsideLanding(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	good := arrive(t, d, clk, "a.csv", "a")
	long := strings.Repeat("x", 240) + ".csv"
	writeFile(t, filepath.Join(d.Path, long), "l", t0)
	tests := []struct {
		name  string
		files []File
		ok    bool
	}{
		{name: "bad name", files: []File{good, {Name: "../a.csv"}}},
		{name: "hidden name", files: []File{good, {Name: ".a.csv"}}},
		{name: "partial name", files: []File{good, {Name: "a.csv.part"}}},
		{name: "in held/", files: []File{good, {Name: "a.csv", Path: filepath.Join(d.Path, HeldDir, "a.csv")}}},
		{name: "long name", files: []File{{Name: long, Path: filepath.Join(d.Path, long), Size: 1, ModTime: t0}}, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := restart(d)
			err := d.BeginProcessing(tc.files)
			if tc.ok != (err == nil) {
				t.Fatalf("begin = %v", err)
			}
			got, ierr := restart(d).Interrupted()
			if ierr != nil {
				t.Fatal(ierr)
			}
			if !tc.ok && len(got) != 0 {
				t.Fatalf("markers left by a failed begin: %v", names(got))
			}
			if tc.ok && len(got) != len(tc.files) {
				t.Fatalf("interrupted = %v", names(got))
			}
			for _, m := range listDir(t, filepath.Join(d.Path, ProcessingDir)) {
				if len(m) > maxMarkerName {
					t.Errorf("marker name of %d bytes", len(m))
				}
			}
			if err := d.EndProcessing(tc.files); tc.ok && err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := (&Dir{}).Interrupted(); err == nil {
		t.Error("interrupted without a path: no error")
	}
	if err := (&Dir{}).BeginProcessing([]File{good}); err == nil {
		t.Error("begin without a path: no error")
	}
	if got, err := (&Dir{Path: t.TempDir()}).Interrupted(); err != nil || got != nil {
		t.Errorf("interrupted without markers = %v, %v", got, err)
	}
}

func TestCompleteReasons(t *testing.T) {
	t.Parallel()
	d, clk := newDir(t)
	f := arrive(t, d, clk, "a.csv", "content")
	grown, touched := f, f
	grown.Size--
	touched.ModTime = touched.ModTime.Add(-time.Second)
	tests := []struct {
		name    string
		f       File
		ok      bool
		why     string
		wantErr error
	}{
		{name: "unchanged", f: f, ok: true},
		{name: "grown", f: grown, why: "size changed from 6 to 7 bytes since it was listed"},
		{name: "touched", f: touched, why: "modified since it was listed"},
		{name: "gone", f: File{Name: "b.csv", Path: filepath.Join(d.Path, "b.csv")}, wantErr: fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why, err := d.Complete(tc.f)
			if ok != tc.ok || why != tc.why || !errors.Is(err, tc.wantErr) {
				t.Errorf("complete = %v, %q, %v; want %v, %q, %v", ok, why, err, tc.ok, tc.why, tc.wantErr)
			}
		})
	}
}
