package snapshot

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testCopy() *Copy {
	return &Copy{
		Meta: json.RawMessage(`{"id":"a"}`),
		Sets: []*Set{
			{Key: "black|v1", Keys: []uint64{1, 35000000000000, 35000000000001, 1 << 60}},
			{Key: "grey|v1", Keys: []uint64{7, 9}, Exps: []int64{0, 1800000000}},
			{Key: "pairs|v1", Keys: []uint64{3, 4}, Values: "imsi1imsi22", Offs: []uint32{0, 5, 11}},
			{Key: "ranges|v1", Rows: [][2]uint64{{10, 20}, {5, 6}}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Read(dir); !errors.Is(err, ErrNoCopy) {
		t.Fatalf("Read(empty) = %v, want ErrNoCopy", err)
	}
	want := testCopy()
	st, err := Write(dir, want)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 4 || st.Written != 4 {
		t.Fatalf("first write: %+v, want 4 files written", st)
	}
	got, rst, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rst.Bytes != st.Bytes {
		t.Errorf("read %d bytes, wrote %d", rst.Bytes, st.Bytes)
	}
	if string(got.Meta) != string(want.Meta) {
		t.Errorf("meta %s, want %s", got.Meta, want.Meta)
	}
	if len(got.Sets) != len(want.Sets) {
		t.Fatalf("%d sets, want %d", len(got.Sets), len(want.Sets))
	}
	for i := range want.Sets {
		g, w := got.Sets[i], want.Sets[i]
		if g.Key != w.Key || !same(g.Keys, w.Keys) || g.Values != w.Values ||
			!same(g.Exps, w.Exps) || !same(g.Offs, w.Offs) || !same(g.Rows, w.Rows) {
			t.Errorf("set %d: got %+v, want %+v", i, g, w)
		}
	}
}

// same compares slices, an empty slice equal to nil.
func same[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// A second write reuses the files of unchanged sets and deletes the files
// no longer named.
func TestWriteReusesAndPrunes(t *testing.T) {
	dir := t.TempDir()
	c := testCopy()
	if _, err := Write(dir, c); err != nil {
		t.Fatal(err)
	}
	c.Sets = []*Set{c.Sets[0], {Key: "black|v2", Keys: []uint64{2}}}
	st, err := Write(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 2 || st.Written != 1 {
		t.Fatalf("second write: %+v, want 2 files, 1 written", st)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "set-*.bin"))
	if len(names) != 2 {
		t.Fatalf("%d set files on disk after the second write, want 2: %v", len(names), names)
	}
	got, _, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sets) != 2 || got.Sets[1].Key != "black|v2" {
		t.Fatalf("read %+v", got.Sets)
	}
}

// A set file damaged after it was written is written again by the next
// Write, not reused.
func TestWriteReplacesDamagedSet(t *testing.T) {
	dir := t.TempDir()
	c := testCopy()
	if _, err := Write(dir, c); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fileName("black|v1"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(setMagic)+3] ^= 0xff // same size, other content
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Write(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 1 {
		t.Fatalf("second write wrote %d sets, want the damaged one", st.Written)
	}
	if _, _, err := Read(dir); err != nil {
		t.Fatalf("the copy after the second write: %v", err)
	}
}

// A Dir checks a set file it reuses whole only the first time: the files
// it wrote itself are checked by size and trailer (cheap for a large list
// edited often), while a fresh Dir — a process started later — checks
// them whole and rewrites a damaged one.
func TestDirChecksWholeOnce(t *testing.T) {
	dir := t.TempDir()
	d := &Dir{Path: dir}
	c := testCopy()
	if _, err := d.Write(c); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fileName("black|v1"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(setMagic)+3] ^= 0xff // same size and trailer, other content
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Write(c); err != nil || st.Written != 0 {
		t.Fatalf("the writer of the files: %+v %v; want them reused on size and trailer", st, err)
	}
	if st, err := (&Dir{Path: dir}).Write(c); err != nil || st.Written != 1 {
		t.Fatalf("a fresh Dir: %+v %v; want the damaged set written again", st, err)
	}
	if _, _, err := Read(dir); err != nil {
		t.Fatal(err)
	}
}

// A copy whose index or set does not verify is not read.
func TestCorruptCopyRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"set byte flipped", func(t *testing.T, dir string) {
			p := filepath.Join(dir, fileName("black|v1"))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(setMagic)+3] ^= 0xff
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "checksum"},
		{"set truncated", func(t *testing.T, dir string) {
			p := filepath.Join(dir, fileName("grey|v1"))
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"set missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, fileName("pairs|v1"))); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"index altered", func(t *testing.T, dir string) {
			p := filepath.Join(dir, indexName)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(b), `"id":"a"`, `"id":"b"`, 1)
			if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "checksum mismatch"},
		{"index torn", func(t *testing.T, dir string) {
			p := filepath.Join(dir, indexName)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b[:len(b)/2], 0o600); err != nil {
				t.Fatal(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Write(dir, testCopy()); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)
			c, _, err := Read(dir)
			if err == nil {
				t.Fatalf("damaged copy read: %d sets", len(c.Sets))
			}
			if errors.Is(err, ErrNoCopy) {
				t.Fatalf("damaged copy reported as no copy: %v", err)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}
