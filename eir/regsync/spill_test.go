package regsync

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/regsync/regformat"
)

// feed adds generated IMEI rows to acc: n rows over distinct keys, each
// repeated about dup times, in a random order; with conflict, one key gets
// two different data.
func feed(t *testing.T, acc *accumulator, n, distinct int, delta, conflict bool, seed int64) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	for i := range n {
		k := uint64(35209900000000 + rng.Intn(distinct)*7)
		r := regformat.Record{IMEI: eir.IMEI(k), Blocking: k%3 != 0, Line: i + 2, Data: "x"}
		if delta {
			r.Op = regformat.OpAdd
			if k%5 == 0 {
				r.Op = regformat.OpRemove
			}
		}
		if conflict && i == n-1 {
			r.IMEI, r.Data, r.Op = eir.IMEI(35209900000000), "other", regformat.OpAdd
			if delta {
				r.Op = regformat.OpRemove
			}
		}
		if err := acc.add(r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSpillMatchesMemory: a list validated through runs on disk gives
// exactly the effect, duplicates and conflicts of the list validated in
// memory, full or delta.
func TestSpillMatchesMemory(t *testing.T) {
	ds := eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack}
	for _, tc := range []struct {
		name            string
		delta, conflict bool
	}{{"full", false, false}, {"delta", true, false}, {"full conflict", false, true}, {"delta conflict", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mem := &accumulator{kind: kindIMEI}
			disk := &accumulator{kind: kindIMEI, spillDir: dir, spillAt: 1000}
			feed(t, mem, 50_000, 20_000, tc.delta, tc.conflict, 1)
			feed(t, disk, 50_000, 20_000, tc.delta, tc.conflict, 1)
			if len(disk.runs) < 10 {
				t.Fatalf("%d runs written; the test does not spill", len(disk.runs))
			}
			d1, err1 := mem.validate(tc.delta)
			d2, err2 := disk.validate(tc.delta)
			var ve1, ve2 *validationError
			if tc.conflict {
				if !errors.As(err1, &ve1) || !errors.As(err2, &ve2) || ve1.message != ve2.message {
					t.Fatalf("conflict: memory %v, runs %v", err1, err2)
				}
				return
			}
			if err1 != nil || err2 != nil || d1 != d2 {
				t.Fatalf("validate: memory %d %v, runs %d %v", d1, err1, d2, err2)
			}
			var e1, e2 effect
			if tc.delta {
				e1, e2 = mem.delta(ds, false), disk.delta(ds, false)
			} else {
				e1, e2 = mem.full(ds), disk.full(ds)
			}
			if e1.count != e2.count || e1.hash != e2.hash || fmt.Sprint(e1.change) != fmt.Sprint(e2.change) {
				t.Fatalf("effects differ: memory %d %x, runs %d %x", e1.count, e1.hash, e2.count, e2.hash)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("%d run files left behind", len(left))
			}
		})
	}
}

// TestSpillBoundsMemory: validating a list of a million distinct IMEIs
// through runs keeps about 9 bytes per entry in memory, not the rows.
func TestSpillBoundsMemory(t *testing.T) {
	e := stolenEnv(t)
	e.engine.sources["national"].spillAt = spillAtTest
	var b strings.Builder
	b.WriteString("imei\n")
	for i := range 1_000_000 {
		fmt.Fprintf(&b, "%d\n", 35209900000000+uint64(i)*13)
	}
	p := filepath.Join(e.dir, "big.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	s := e.engine.sources["national"]
	u := &unit{name: "big.csv", jobs: []*job{{list: regformat.Stolen, full: &member{info: regformat.FileInfo{Name: "big.csv", List: regformat.Stolen},
		open: func() (io.ReadCloser, error) { return os.Open(p) }}}}}
	pl := &plan{j: u.jobs[0], ds: eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack}, mode: "full"}
	var err error
	peak := peakHeap(func() { err = s.parsePlan(u, pl) })
	if err != nil {
		t.Fatal(err)
	}
	if pl.effect.count != 1_000_000 {
		t.Fatalf("%d entries, want 1,000,000", pl.effect.count)
	}
	// In memory the rows take 24 bytes each (24 MB, 48 MB while the
	// slice grows: a 94 MiB heap peak, measured); through runs, 8 bytes
	// per key and 1 per change, plus the garbage of parsing until the
	// collector runs.
	if peak > 32<<20 {
		t.Fatalf("heap grew by %d MiB validating 1,000,000 rows through runs", peak>>20)
	}
	t.Logf("1,000,000 rows validated through runs: heap peak +%d MiB", peak>>20)
}

var spillAtTest = 100_000
