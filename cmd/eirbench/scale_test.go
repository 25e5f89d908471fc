package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPermute checks that permute is a permutation of 0..n-1.
func TestPermute(t *testing.T) {
	for _, n := range []uint64{1, 2, 7, 10, 1000, 1_000_000_007 * 2} {
		if n > 1_000_000 {
			// Too large to enumerate: distinct over a window.
			seen := map[uint64]bool{}
			for i := range uint64(10_000) {
				v := permute(i, n)
				if v >= n || seen[v] {
					t.Fatalf("n %d: permute(%d) = %d, out of range or repeated", n, i, v)
				}
				seen[v] = true
			}
			continue
		}
		seen := make([]bool, n)
		for i := range n {
			v := permute(i, n)
			if v >= n || seen[v] {
				t.Fatalf("n %d: permute(%d) = %d, out of range or repeated", n, i, v)
			}
			seen[v] = true
		}
	}
}

// TestScaleLists checks the generated lists stay out of the TACs of the
// load generator (10000000 and up) and of each other.
func TestScaleLists(t *testing.T) {
	for _, j := range []uint64{0, 1, scalePerTAC - 1, scalePerTAC, scaleMaxIMEIs - 1} {
		if tac := uint64(scaleIMEI(j)) / 1_000_000; tac < scaleBlackTAC || tac >= scaleRangeTAC {
			t.Errorf("IMEI %d has TAC %d, outside the blacklist's band", j, tac)
		}
	}
	from, to := scaleRange(scaleMaxRanges - 1)
	if f, l := uint64(from)/1_000_000, uint64(to)/1_000_000; f < scaleRangeTAC || l >= scaleBandEnd {
		t.Errorf("last range %v-%v outside the ranges' band", from, to)
	}
	if got := scalePairIMEIs(55); got != 10 {
		t.Errorf("scalePairIMEIs(55) = %d, want 10", got)
	}
	path := filepath.Join(t.TempDir(), "tacs.csv")
	avoid := map[uint64]bool{}
	for i := range uint64(5000) {
		avoid[permute(i, scaleTACSpace)] = true // the first ones the list would take
	}
	rows, _, err := writeScaleTACs(path, 3000, avoid)
	if err != nil || rows != 3000 {
		t.Fatalf("writeScaleTACs: %d rows, %v", rows, err)
	}
	b, _ := os.ReadFile(path)
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\r\n") {
		if line == "tac" {
			continue
		}
		v, err := strconv.ParseUint(line, 10, 64)
		if err != nil || len(line) != 8 || avoid[v] || v >= scaleBlackTAC && v < scaleBandEnd {
			t.Fatalf("TAC row %q", line)
		}
	}
}

// TestScaleCommand runs eirbench scale tiny, end to end (its own Redis,
// the reference server and eird, built here), and checks the report.
func TestScaleCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eird and eirbench")
	}
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", "../eird", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	md := filepath.Join(t.TempDir(), "scale.md")
	var stdout, stderr bytes.Buffer
	code := scaleCommand([]string{"-imeis", "10000", "-tacs", "1000", "-ranges", "100", "-pairs", "1000", "-base", "1000",
		"-rounds", "1", "-duration", "500ms", "-warmup", "100ms", "-entries", "1000", "-conns", "1", "-window", "16",
		"-eird", filepath.Join(bin, "eird"), "-eirbench", filepath.Join(bin, "eirbench"), "-markdown", md,
		"-dir", filepath.Join(t.TempDir(), "work")}, &stdout, &stderr) // -dir need not exist
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "\t")
		got[k], _ = strconv.ParseFloat(v, 64)
	}
	for k, want := range map[string]float64{
		"phase1_imeis": 1000, "phase2_imeis": 10000, "phase2_blacklist_rows": 10000, "phase2_blacklist_entries": 10000,
		"phase2_tacs_entries": 1000, "phase2_ranges_entries": 100, "phase1_tacs_entries": 100, "phase2_problems": 0, "phase1_problems": 0,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	// 1000 pairs: IMEIs with 1 to 10 IMSIs each, the last IMEI complete.
	if p := got["phase2_exceptions_entries"]; p < 1000 || p > 1009 {
		t.Errorf("phase2_exceptions_entries = %v, want 1000 to 1009", p)
	}
	entries := got["phase2_entries"] // the load generator's 4 × 1000 too
	if want := 10000 + 1000 + 100 + got["phase2_exceptions_entries"] + 4000; entries != want {
		t.Errorf("phase2_entries = %v, want %v", entries, want)
	}
	for _, k := range []string{"phase2_blacklist_apply_seconds", "phase2_blacklist_go_heap_peak_bytes", "phase2_blacklist_redis_bytes",
		"phase2_redis_bytes_per_imei", "phase2_start_from_redis_full_seconds", "phase2_start_from_local_copy_full_seconds",
		"phase2_start_from_redis_heap_after_gc_bytes", "phase2_start_from_local_copy_local_copy_bytes", "phase2_eird_answers_per_second",
		"phase2_reference_answers_per_second", "phase2_eird_p99_ms", "phase1_eird_answers_per_second", "throughput_last_over_first"} {
		if v, ok := got[k]; !ok || v <= 0 {
			t.Errorf("%s = %v, want > 0", k, v)
		}
	}
	for _, k := range []string{"phase2_start_from_redis_replica_entries", "phase2_start_from_local_copy_replica_entries"} {
		if got[k] != entries {
			t.Errorf("%s = %v, want every entry (%v)", k, got[k], entries)
		}
	}
	if v := got["phase2_blacklist_redis_bytes_per_entry"]; v <= 0 || v > 100 {
		t.Errorf("Redis bytes per blacklisted IMEI %v", v)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "markdown", string(b), "## Scale", "| blacklist | 10,000 | 10,000 |", "| 10,000 | local copy |", "eird's throughput at 10,000 IMEIs over that at 1,000, measured in the same round")
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("eirbench scale left %d files in the temporary folder", len(left))
	}
}
