//go:build linux

package fetch

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// event encodes one inotify event as the kernel does (name NUL-padded).
func event(mask uint32, name string) []byte {
	n := 0
	if name != "" {
		n = (len(name)/unix.SizeofInotifyEvent + 1) * unix.SizeofInotifyEvent
	}
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], 1) // wd
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

type ev struct {
	mask uint32
	name string
}

func TestWatcherEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "fresh.csv"), "", time.Now())
	writeFile(t, filepath.Join(dir, "orig.csv"), "x", time.Now())
	if err := os.Link(filepath.Join(dir, "orig.csv"), filepath.Join(dir, "hard.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("orig.csv", filepath.Join(dir, "sym.csv")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		limit       int
		events      []ev
		wantWriting []string
		wantEnd     bool // the watch is gone
	}{
		{name: "modified", events: []ev{{unix.IN_MODIFY, "a.csv"}}, wantWriting: []string{"a.csv"}},
		{name: "modified then closed", events: []ev{{unix.IN_MODIFY, "a.csv"}, {unix.IN_CLOSE_WRITE, "a.csv"}}},
		{name: "closed then modified again", events: []ev{
			{unix.IN_MODIFY, "a.csv"}, {unix.IN_CLOSE_WRITE, "a.csv"}, {unix.IN_MODIFY, "a.csv"},
		}, wantWriting: []string{"a.csv"}},
		{name: "created empty", events: []ev{{unix.IN_CREATE, "fresh.csv"}}, wantWriting: []string{"fresh.csv"}},
		{name: "created as a hard link", events: []ev{{unix.IN_CREATE, "hard.csv"}}},
		{name: "created as a symlink", events: []ev{{unix.IN_CREATE, "sym.csv"}}},
		{name: "created and gone already", events: []ev{{unix.IN_CREATE, "gone.csv"}}},
		{name: "moved in over a stalled one", events: []ev{{unix.IN_MODIFY, "a.csv"}, {unix.IN_MOVED_TO, "a.csv"}}},
		{name: "moved away", events: []ev{{unix.IN_MODIFY, "a.csv"}, {unix.IN_MOVED_FROM, "a.csv"}}},
		{name: "deleted", events: []ev{{unix.IN_MODIFY, "a.csv"}, {unix.IN_DELETE, "a.csv"}}},
		{name: "partial and hidden names", events: []ev{{unix.IN_MODIFY, "a.csv.part"}, {unix.IN_MODIFY, ".a.csv"}}},
		{name: "subfolder", events: []ev{{unix.IN_CREATE | unix.IN_ISDIR, "done"}}},
		{name: "overflow forgets every name", events: []ev{
			{unix.IN_MODIFY, "a.csv"}, {unix.IN_MODIFY, "b.csv"}, {unix.IN_CLOSE_WRITE, "b.csv"}, {unix.IN_Q_OVERFLOW, ""},
			{unix.IN_MODIFY, "c.csv"},
		}, wantWriting: []string{"c.csv"}},
		{name: "table full", limit: 2, events: []ev{
			{unix.IN_MODIFY, "a.csv"}, {unix.IN_MODIFY, "b.csv"}, {unix.IN_MODIFY, "c.csv"},
			{unix.IN_MODIFY, "a.csv"}, {unix.IN_CLOSE_WRITE, "b.csv"}, {unix.IN_MODIFY, "d.csv"},
		}, wantWriting: []string{"a.csv", "d.csv"}},
		{name: "folder deleted", events: []ev{{unix.IN_MODIFY, "a.csv"}, {unix.IN_DELETE_SELF, ""}, {unix.IN_IGNORED, ""}}, wantEnd: true},
		{name: "folder moved", events: []ev{{unix.IN_MOVE_SELF, ""}}, wantEnd: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.limit
			if limit == 0 {
				limit = maxTracked
			}
			w := newWatcher(dir, limit)
			var buf []byte
			for _, e := range tc.events {
				buf = append(buf, event(e.mask, e.name)...)
			}
			alive := w.handle(buf)
			if alive == tc.wantEnd {
				t.Fatalf("handle = %v, want %v", alive, !tc.wantEnd)
			}
			if !alive {
				w.halt() // as run does
			}
			got := []string{}
			for _, n := range []string{"a.csv", "b.csv", "c.csv", "d.csv", "fresh.csv", "hard.csv", "sym.csv", "gone.csv", "a.csv.part", ".a.csv", "done"} {
				if w.writing(filepath.Join(dir, n)) {
					got = append(got, n)
				}
			}
			sort.Strings(got)
			want := append([]string{}, tc.wantWriting...)
			if want == nil {
				want = []string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("writing = %v, want %v", got, want)
			}
		})
	}
}

func TestWatcherOnlyKnowsItsFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWatcher(dir+"/", maxTracked)
	w.handle(event(unix.IN_MODIFY, "a.csv"))
	for path, want := range map[string]bool{
		filepath.Join(dir, "a.csv"):          true,
		filepath.Join(dir, HeldDir, "a.csv"): false,
		"a.csv":                              false,
	} {
		if got := w.writing(path); got != want {
			t.Errorf("writing(%s) = %v, want %v", path, got, want)
		}
	}
	w.halt()
	if w.writing(filepath.Join(dir, "a.csv")) || w.running() {
		t.Error("a stopped watcher still answers")
	}
}
