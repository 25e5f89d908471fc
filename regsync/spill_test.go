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
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

// feed adds n generated rows of list l to acc, over distinct keys, in a
// random order (so keys repeat); with conflict, one key gets two different
// data.
func feed(t *testing.T, acc listAccumulator, l regformat.List, n, distinct int, delta, conflict bool, seed int64) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	var first regformat.Record
	for i := range n {
		k := uint64(35209900000000 + rng.Intn(distinct)*7)
		r := regformat.Record{IMEI: eir.IMEI(k), Blocking: k%3 != 0, Line: i + 2, Data: "x"}
		switch l {
		case regformat.Exceptions:
			// Few (IMEI, IMSI) pairs, each with several MSISDNs.
			r.IMEI, r.IMSI, r.MSISDN = eir.IMEI(k/16), eir.IMSI(fmt.Sprintf("0010%011d", k%4)), fmt.Sprintf("0%d", k%16)
		case regformat.Ranges:
			r.From, r.To = eir.IMEI(k), eir.IMEI(k+uint64(rng.Intn(3)))
		}
		if delta {
			r.Op = regformat.OpAdd
			if k%5 == 0 {
				r.Op = regformat.OpRemove
			}
		}
		if i == 0 {
			first = r
		}
		if conflict && i == n-1 {
			r = first // its key, with other data (or another change)
			r.Line, r.Data = i+2, "other"
			if delta {
				r.Op = regformat.OpUpdate
			}
		}
		if err := acc.add(r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSpillMatchesMemory: a list validated through runs on disk gives
// exactly the effect, duplicates and conflicts of the list validated in
// memory, for every kind of key, full or delta.
func TestSpillMatchesMemory(t *testing.T) {
	lists := map[regformat.List]eir.Dataset{
		regformat.Stolen:     {Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack},
		regformat.Exceptions: {Source: "national", Target: eir.TargetPair, List: eir.ListException},
		regformat.Ranges:     {Source: "national", Target: eir.TargetRange, List: eir.ListBlack},
	}
	for l, ds := range lists {
		for _, tc := range []struct {
			name            string
			delta, conflict bool
		}{{"full", false, false}, {"delta", true, false}, {"full conflict", false, true}, {"delta conflict", true, true}} {
			t.Run(string(l)+" "+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				mem := newAccumulator(l, dir, 1<<30)
				disk := newAccumulator(l, dir, 40_000)
				feed(t, mem, l, 50_000, 20_000, tc.delta, tc.conflict, 1)
				feed(t, disk, l, 50_000, 20_000, tc.delta, tc.conflict, 1)
				if runs, _ := os.ReadDir(dir); len(runs) < 10 {
					t.Fatalf("%d runs written; the test does not spill", len(runs))
				}
				exception := l == regformat.Exceptions
				e1, d1, err1 := mem.finish(ds, tc.delta, exception)
				e2, d2, err2 := disk.finish(ds, tc.delta, exception)
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Fatalf("%d run files left behind", len(left))
				}
				var ve1, ve2 *validationError
				if tc.conflict {
					if !errors.As(err1, &ve1) || !errors.As(err2, &ve2) || ve1.message != ve2.message || ve1.code != "conflict" {
						t.Fatalf("conflict: memory %v, runs %v", err1, err2)
					}
					return
				}
				if err1 != nil || err2 != nil || d1 != d2 || d1 == 0 {
					t.Fatalf("validate: memory %d %v, runs %d %v", d1, err1, d2, err2)
				}
				if e1.count != e2.count || e1.hash != e2.hash || e1.unblock != e2.unblock || fmt.Sprint(e1.change) != fmt.Sprint(e2.change) {
					t.Fatalf("effects differ: memory %d %x, runs %d %x", e1.count, e1.hash, e2.count, e2.hash)
				}
				if n := len(e1.change.Add) + len(e1.change.AddKeys); n == 0 || (!tc.delta && uint64(n) != e1.count) {
					t.Fatalf("%d entries added, count %d", n, e1.count)
				}
			})
		}
	}
}

// TestPairEntriesOnce: the (IMEI, IMSI) pair of several MSISDNs is one
// entry, in a full list and in a delta.
func TestPairEntriesOnce(t *testing.T) {
	ds := eir.Dataset{Source: "national", Target: eir.TargetPair, List: eir.ListGrey}
	for _, delta := range []bool{false, true} {
		acc := newAccumulator(regformat.Notifications, t.TempDir(), 1<<20)
		for i, msisdn := range []string{"223338000000", "223338000001", "223338000002"} {
			acc.add(regformat.Record{IMEI: 35209900176148, IMSI: "111018001111111", MSISDN: msisdn, Line: i + 2})
		}
		acc.add(regformat.Record{IMEI: 35209900176149, IMSI: "111018001111111", MSISDN: "2", Line: 9})
		ef, _, err := acc.finish(ds, delta, false)
		if err != nil || len(ef.change.Add) != 2 {
			t.Fatalf("delta %v: %+v %v", delta, ef.change, err)
		}
	}
}

// memSource is a source without a store, for what parsePlan alone does.
func memSource(t *testing.T, spillBytes int, mods ...func(*SourceConfig)) *source {
	cfg := SourceConfig{Name: "national", Format: "stolen", Operator: "operator1", Limits: Limits{}.WithDefaults(), Guards: guard.Guards{}.WithDefaults()}
	for _, m := range mods {
		m(&cfg)
	}
	return &source{cfg: cfg, dir: &fetch.Dir{Path: t.TempDir()}, spillBytes: spillBytes}
}

// parseFile runs parsePlan over the full list file at p.
func parseFile(s *source, p string, l regformat.List, ds eir.Dataset) (*plan, error) {
	u := &unit{name: filepath.Base(p), jobs: []*job{{list: l, full: &member{info: regformat.FileInfo{Name: filepath.Base(p), List: l},
		open: func() (io.ReadCloser, error) { return os.Open(p) }}}}}
	pl := &plan{j: u.jobs[0], ds: ds, mode: "full"}
	return pl, s.parsePlan(u, pl)
}

// writeRows writes a list file of a header and n rows made by row.
func writeRows(t *testing.T, p, header string, n int, row func(i int) string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	b.WriteString(header)
	for i := range n {
		b.WriteString(row(i))
		if b.Len() > 1<<20 || i == n-1 {
			if _, err := f.WriteString(b.String()); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
}

// TestSpillBoundsMemory: validating a list of a million rows through runs
// keeps what the list does in memory (8 bytes per entry), not its rows.
// Nine rows in ten are "pending" reports that block nothing.
func TestSpillBoundsMemory(t *testing.T) {
	if !isolate(t) {
		return
	}
	s := memSource(t, 100_000*24)
	p := filepath.Join(t.TempDir(), "big.csv")
	writeRows(t, p, "imei,reporting_date,status\n", 1_000_000, func(i int) string {
		if i%10 == 0 {
			return fmt.Sprintf("%d,20260101,\n", 35209900000000+uint64(i)*13)
		}
		return fmt.Sprintf("%d,20260101,pending\n", 35209900000000+uint64(i)*13)
	})
	var pl *plan
	var err error
	grew := heapGrowth(8<<20, func() {
		pl, err = parseFile(s, p, regformat.Stolen, eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack})
	})
	if err != nil {
		t.Fatal(err)
	}
	if pl.effect.count != 100_000 || pl.report.Rows != 1_000_000 {
		t.Fatalf("%d entries of %d rows, want 100,000 of 1,000,000", pl.effect.count, pl.report.Rows)
	}
	// In memory the rows take 24 bytes each: 24 MiB, and their copy
	// while the slice grows (70 MiB measured); through runs, 14 MiB (22
	// with the keys' slice sized from the records spilled).
	if grew > 32<<20 {
		t.Fatalf("heap grew by %d MiB validating 1,000,000 rows through runs", grew>>20)
	}
	t.Logf("1,000,000 rows validated through runs: heap grew by at most %d MiB", grew>>20)
}

// TestPairListBoundedMemory: a pair list of a million rows (one IMEI and
// IMSI with a million MSISDNs) is validated through runs too: its memory
// is that of its one entry, not 40 bytes per row.
func TestPairListBoundedMemory(t *testing.T) {
	if !isolate(t) {
		return
	}
	s := memSource(t, 50_000*40)
	p := filepath.Join(t.TempDir(), "20260101_000000_exceptions_operator1.csv")
	writeRows(t, p, "imei,imsi,msisdn\n", 1_000_000, func(i int) string {
		return fmt.Sprintf("35209900176148,111018001111111,22%010d\n", i)
	})
	var pl *plan
	var err error
	grew := heapGrowth(24<<20, func() {
		pl, err = parseFile(s, p, regformat.Exceptions, eir.Dataset{Source: "national", Target: eir.TargetPair, List: eir.ListException})
	})
	if err != nil {
		t.Fatal(err)
	}
	if pl.effect.count != 1 || pl.report.Rows != 1_000_000 {
		t.Fatalf("%d entries of %d rows, want 1 of 1,000,000", pl.effect.count, pl.report.Rows)
	}
	// In memory: 40 MB of rows, and their copy while the slice grows (90
	// MiB measured); through runs, 14 to 30 MiB measured.
	if grew > 48<<20 {
		t.Fatalf("heap grew by %d MiB validating a pair list of 1,000,000 rows", grew>>20)
	}
	t.Logf("1,000,000 pair rows validated through runs: heap grew by at most %d MiB", grew>>20)
}

// A list refused while it is read (too many rows, a bad header, too many
// bad rows) leaves no run behind.
func TestRunsRemovedOnFailure(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		limits        Limits
		reason        string
	}{
		{name: "too many rows", limits: Limits{MaxRows: 3_000}, reason: "too_many_rows"},
		{name: "bad rows", content: "\nnot-an-imei\nnot-an-imei\n", reason: "bad_rows"},
		{name: "format", content: strings.Repeat("1", 2<<20), reason: "format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memSource(t, 100*24, func(c *SourceConfig) { c.Limits = tc.limits.WithDefaults(); c.Guards.MaxBadRowRatio = 1e-9 })
			p := filepath.Join(t.TempDir(), "rows.csv")
			writeRows(t, p, "imei\n", 3_001, func(i int) string { return fmt.Sprintf("%d\n", 35209900000000+uint64(i)*13) })
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(tc.content)
			f.Close()
			_, err := parseFile(s, p, regformat.Stolen, eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack})
			var ve *validationError
			if !errors.As(err, &ve) || ve.code != tc.reason {
				t.Fatalf("%v, want %s", err, tc.reason)
			}
			runs, _ := os.ReadDir(filepath.Join(s.dir.Path, spillDirName))
			if len(runs) != 0 {
				t.Fatalf("%d runs left in %s/", len(runs), spillDirName)
			}
		})
	}
}

// A full file over max_rows, through a whole pass, leaves no run in
// .spill/.
func TestPassOverMaxRowsLeavesNoRun(t *testing.T) {
	e := stolenEnv(t, func(c *SourceConfig) { c.Limits.MaxRows = 5_000 })
	e.engine.sources["national"].spillBytes = 500 * 24
	e.write("rows.csv", "imei\n"+strings.Join(imeiSeq(35209900100000, 5_001), "\n")+"\n")
	if fr := fileResult(t, e.pass(), "rows.csv"); fr.Result != "rejected" || fr.Reason != "too_many_rows" {
		t.Fatalf("%+v", fr)
	}
	runs, err := os.ReadDir(filepath.Join(e.dir, spillDirName))
	if err != nil || len(runs) != 0 {
		t.Fatalf("%d runs left in %s/ (%v)", len(runs), spillDirName, err)
	}
}
