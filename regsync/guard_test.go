package regsync

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/regsync/fetch"
)

// imeiSeq returns n distinct IMEIs from first.
func imeiSeq(first uint64, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = eir.IMEI(first + uint64(i)).String()
	}
	return out
}

func datasetCount(t *testing.T, e *env, ds eir.Dataset) uint64 {
	t.Helper()
	infos, err := e.store.Datasets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Dataset == ds {
			return in.Count
		}
	}
	return 0
}

// The delta of a DIRBS package applies on the base in force, but the
// package's full file shrinks the list from 2005 to 11 entries: the delta
// unblocks 1994 stolen IMEIs and is held, whatever path it takes.
func TestDeltaThatShrinksTheListIsHeld(t *testing.T) {
	e := newEnv(t)
	all := imeiSeq(35209900100000, 2005)
	e.blacklistPackage("20260101_000000", -1, 42, all, all, nil, nil)
	e.pass()
	black := eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack}
	if n := datasetCount(t, e, black); n != 2005 {
		t.Fatalf("%d entries in force, want 2005", n)
	}
	name := e.blacklistPackage("20260102_000000", 42, 47, all[:11], nil, all[11:], nil)
	fr := fileResult(t, e.pass(), name)
	if fr.Result != "held" || !strings.Contains(fr.Message, "1994") {
		t.Fatalf("%+v; want held, naming the 1994 unblocked entries", fr)
	}
	e.moved("held", name)
	if n := datasetCount(t, e, black); n != 2005 {
		t.Fatalf("%d entries in force after the held package, want 2005", n)
	}
	e.expect(35209900100000+2004, "", "blacklisted")
	if st := e.state("blacklist"); st.Run != 42 {
		t.Fatalf("run %d in force, want 42", st.Run)
	}
	// An operator approves: the change is applied, with its true counts.
	rep, err := e.engine.Approve(context.Background(), "national", name, "noc-alice")
	if err != nil {
		t.Fatal(err)
	}
	fr = fileResult(t, rep, name)
	if fr.Result != "applied" || fr.Lists[0].Removed != 1994 || fr.Lists[0].Count != 11 {
		t.Fatalf("%+v", fr)
	}
}

// A full list of the same size with other IMEIs is judged by content.
func TestSameSizeReplacementIsHeld(t *testing.T) {
	e := stolenEnv(t, func(c *SourceConfig) { c.Guards.MaxUnblocks = 20 })
	first := imeiSeq(35209900100000, 2000)
	e.write("a.csv", "imei\n"+strings.Join(first, "\n")+"\n")
	e.pass()
	second := append(imeiSeq(35209900100050, 1950), imeiSeq(35209900900000, 50)...)
	e.write("b.csv", "imei\n"+strings.Join(second, "\n")+"\n")
	fr := fileResult(t, e.pass(), "b.csv")
	if fr.Result != "held" || fr.Reason != "unblock_guard" || !strings.Contains(fr.Message, "unblock 50 entries") {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900100000, "", "blacklisted")
	rep, err := e.engine.Approve(context.Background(), "national", "b.csv", "noc-alice")
	if err != nil {
		t.Fatal(err)
	}
	fr = fileResult(t, rep, "b.csv")
	if l := fr.Lists[0]; fr.Result != "applied" || l.Added != 50 || l.Removed != 50 || l.Count != 2000 {
		t.Fatalf("%+v; want 50 added, 50 removed, 2000 in force", fr)
	}
	// The same true counts in the sync state, the result file and the
	// audit trail.
	if st := e.state("stolen"); st.Added != 50 || st.Removed != 50 {
		t.Fatalf("sync state %+v", st)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "done", "b.csv.result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res FileReport
	json.Unmarshal(b, &res)
	if res.Lists[0].Removed != 50 || res.Lists[0].Added != 50 {
		t.Fatalf("result file %s", b)
	}
	recs, _, err := e.trail.Find(context.Background(), audit.Query{Action: audit.ActionSync})
	if err != nil || len(recs) == 0 || !strings.Contains(fmt.Sprint(recs[0].After), "removed:50") {
		t.Fatalf("audit %+v %v", recs, err)
	}
}

// A full list that removes entries reports them removed.
func TestFullListReportsRemovals(t *testing.T) {
	e := stolenEnv(t)
	e.write("a.csv", "imei\n"+strings.Join(imeiSeq(35209900100000, 1000), "\n")+"\n")
	e.pass()
	e.write("b.csv", "imei\n"+strings.Join(imeiSeq(35209900100010, 990), "\n")+"\n")
	fr := fileResult(t, e.pass(), "b.csv")
	if l := fr.Lists[0]; fr.Result != "applied" || l.Removed != 10 || l.Added != 0 || l.Count != 990 {
		t.Fatalf("%+v", fr)
	}
}

// A writer that stalls in the middle of an in-place upload, longer than
// settle, with the file still open: the partial file is never applied nor
// moved; once the writer closes it, the whole file is applied.
func TestStalledUploadIsNotApplied(t *testing.T) {
	e := stolenEnv(t)
	rows := imeiSeq(35209900100000, 1000)
	p := filepath.Join(e.dir, "stolen.csv")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fmt.Fprintf(w, "imei\n%s\n", strings.Join(rows[:850], "\n"))
	old := time.Unix(0, e.now.Load()).Add(-time.Hour)
	os.Chtimes(p, old, old) // long past settle
	for range 2 {
		e.pass()
		e.expect(35209900100000, "", "unknown")
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the file being written was moved: %v", err)
		}
	}
	fmt.Fprintf(w, "%s\n", strings.Join(rows[850:], "\n"))
	w.Close()
	os.Chtimes(p, old, old)
	fr := fileResult(t, e.pass(), "stolen.csv")
	if fr.Result != "applied" || fr.Lists[0].Count != 1000 {
		t.Fatalf("%+v", fr)
	}
}

// touchingPublisher changes a file after it was read and before the
// switch: the file's writer was not done.
type touchingPublisher struct {
	Publisher
	path string
	once sync.Once
}

func (p *touchingPublisher) ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error) {
	p.once.Do(func() {
		f, _ := os.OpenFile(p.path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("35209900999999\n")
		f.Close()
	})
	return p.Publisher.ApplyWith(ctx, changes, o)
}

func TestFileChangedBeforeTheSwitchIsNotApplied(t *testing.T) {
	e := stolenEnv(t)
	p := e.write("a.csv", "imei\n35209900176148\n")
	pub := &touchingPublisher{Publisher: e.store, path: p}
	clock := func() time.Time { return time.Unix(0, e.now.Load()) }
	eng, err := New(Options{Now: clock}, []SourceConfig{{Name: "national", Format: "stolen", Dir: e.dir, Settle: time.Second}},
		pub, CoordinatorFor(e.store), zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	rep, err := eng.Pass(context.Background(), "national")
	if err != nil {
		t.Fatal(err)
	}
	if fr := fileResult(t, rep, "a.csv"); fr.Result != "waiting" {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900176148, "", "unknown")
	e.expect(35209900999999, "", "unknown")
	// The next pass reads the file as it is now.
	old := time.Unix(0, e.now.Load()).Add(-time.Hour)
	os.Chtimes(p, old, old)
	rep, _ = eng.Pass(context.Background(), "national")
	if fr := fileResult(t, rep, "a.csv"); fr.Result != "applied" || fr.Lists[0].Count != 2 {
		t.Fatalf("%+v", fr)
	}
}

// allocated runs f and returns the bytes the process allocated
// meanwhile: an upper bound of how much the heap grew, which no spike can
// escape (unlike samples of the heap in use). Use it where f allocates
// little garbage.
func allocated(f func()) uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	rtmetrics.Read(s)
	return s[0].Value.Uint64() - before
}

// heapGrowth runs f with the collector held to a soft memory limit of
// limit bytes above the memory the runtime uses now, and returns how far
// the heap's address space (HeapSys, which never shrinks) grew above the
// heap in use before: an upper bound of the peak of the memory f held,
// which no spike escapes. It is tight only in a fresh process (see
// isolate), whose heap has little idle space to reuse.
func heapGrowth(limit int64, f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// What the memory limit counts: all the runtime's memory but what it
	// returned to the system.
	used := int64(before.Sys - before.HeapReleased)
	gc := debug.SetGCPercent(-1)
	ml := debug.SetMemoryLimit(used + limit)
	f()
	runtime.ReadMemStats(&after)
	debug.SetMemoryLimit(ml)
	debug.SetGCPercent(gc)
	return after.HeapSys - before.HeapInuse
}

// isolateEnv names the test a re-executed test binary runs alone.
const isolateEnv = "REGSYNC_ISOLATED_TEST"

// isolate runs the calling test again, alone, in a fresh process of the
// test binary, so that heapGrowth measures it from a small heap. It
// reports true in that process, where the test goes on; in the calling
// process it reports false, once the other process passed (the caller
// returns) or after failing the test with its output.
func isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(isolateEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), isolateEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a process of its own: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, ".go:") { // the test's own log lines
			t.Log(strings.TrimSpace(l))
		}
	}
	return false
}

// writeZipBomb writes a zip whose one member inflates to a header and n
// MiB of one repeated row, without compressing n MiB: a deflate block of
// one MiB made by a fresh compressor refers only to itself, so the stream
// can repeat it.
func writeZipBomb(t *testing.T, path string, n int) {
	t.Helper()
	deflated := func(b []byte) []byte {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write(b)
		w.Flush()
		return buf.Bytes()
	}
	header := []byte("imei\n")
	chunk := []byte(strings.Repeat("35209900176148\n", (1<<20)/15))
	var stream bytes.Buffer
	stream.Write(deflated(header))
	block := deflated(chunk)
	crc := crc32.Update(0, crc32.IEEETable, header)
	for range n {
		stream.Write(block)
		crc = crc32.Update(crc, crc32.IEEETable, chunk)
	}
	stream.Write([]byte{0x03, 0x00}) // a final empty block
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "stolen.csv", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(stream.Len()), UncompressedSize64: uint64(len(header) + n*len(chunk))})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(stream.Bytes())
	zw.Close()
	f.Close()
}

// A zip that inflates a few megabytes into a gigabyte is rejected before
// it is inflated, with bounded memory, and stays rejected.
func TestZipBombRejected(t *testing.T) {
	e := stolenEnv(t)
	p := filepath.Join(e.dir, "bomb.zip")
	writeZipBomb(t, p, 1024) // 1 GiB
	if fi, _ := os.Stat(p); fi.Size() > 4<<20 {
		t.Fatalf("the bomb is %d bytes", fi.Size())
	}
	// It is a real bomb: it inflates.
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := zr.File[0].Open()
	if n, err := io.CopyN(io.Discard, rc, 64<<20); n != 64<<20 || err != nil {
		t.Fatalf("the bomb does not inflate: %d %v", n, err)
	}
	rc.Close()
	zr.Close()
	old := time.Unix(0, e.now.Load()).Add(-time.Minute)
	os.Chtimes(p, old, old)
	var fr FileReport
	n := allocated(func() { fr = fileResult(t, e.pass(), "bomb.zip") })
	if fr.Result != "rejected" || fr.Reason != "compression_ratio" {
		t.Fatalf("%+v", fr)
	}
	if n > 16<<20 {
		t.Fatalf("%d MiB allocated reading a zip bomb", n>>20)
	}
	e.moved("rejected", "bomb.zip")
}

// A file of more rows than the limit is rejected while it is read.
func TestRowBombRejected(t *testing.T) {
	e := stolenEnv(t, func(c *SourceConfig) { c.Limits.MaxRows = 10_000 })
	e.write("rows.csv", "imei\n"+strings.Join(imeiSeq(35209900100000, 10_001), "\n")+"\n")
	fr := fileResult(t, e.pass(), "rows.csv")
	if fr.Result != "rejected" || fr.Reason != "too_many_rows" {
		t.Fatalf("%+v", fr)
	}
	e2 := stolenEnv(t, func(c *SourceConfig) { c.Limits.MaxFileBytes = 100 })
	e2.write("big.csv", "imei\n"+strings.Join(imeiSeq(35209900100000, 100), "\n")+"\n")
	if fr := fileResult(t, e2.pass(), "big.csv"); fr.Result != "rejected" || fr.Reason != "too_large" {
		t.Fatalf("%+v", fr)
	}
}

// Millions of copies of one row cost the memory of one row: duplicates
// collapse while the file is read.
func TestDuplicateRowBombBoundedMemory(t *testing.T) {
	if !isolate(t) {
		return
	}
	e := stolenEnv(t)
	p := filepath.Join(e.dir, "dups.csv")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("imei\n")
	row := []byte(strings.Repeat("35209900176148\n", 1<<14))
	for range 128 { // 2,097,152 rows, 31 MB
		f.Write(row)
	}
	f.Close()
	old := time.Unix(0, e.now.Load()).Add(-time.Minute)
	os.Chtimes(p, old, old)
	var fr FileReport
	grew := heapGrowth(8<<20, func() { fr = fileResult(t, e.pass(), "dups.csv") })
	if l := fr.Lists; fr.Result != "applied" || l[0].Count != 1 || l[0].Duplicates != 1<<21-1 {
		t.Fatalf("%+v", fr)
	}
	// Without collapsing, the rows alone take 24 bytes each: 48 MiB;
	// collapsed, 9 to 14 MiB measured.
	if grew > 24<<20 {
		t.Fatalf("heap grew by %d MiB for one distinct row", grew>>20)
	}
	t.Logf("2,097,152 copies of one row: heap grew by at most %d MiB", grew>>20)
}

// A file whose processing did not finish (the process died, e.g. out of
// memory) is rejected at the next pass, not retried forever.
func TestCrashedDuringProcessingRejected(t *testing.T) {
	e := stolenEnv(t)
	p := e.write("killer.csv", "imei\n35209900176148\n")
	fi, _ := os.Stat(p)
	dir := &fetch.Dir{Path: e.dir}
	if err := dir.BeginProcessing([]fetch.File{{Name: "killer.csv", Path: p, Size: fi.Size(), ModTime: fi.ModTime()}}); err != nil {
		t.Fatal(err)
	}
	// (the process dies here: no EndProcessing)
	fr := fileResult(t, e.pass(), "killer.csv")
	if fr.Result != "rejected" || fr.Reason != "crashed_during_processing" {
		t.Fatalf("%+v", fr)
	}
	e.moved("rejected", "killer.csv")
	e.expect(35209900176148, "", "unknown")
	// A file that went through normally leaves no marker behind.
	e.write("ok.csv", "imei\n35209900176148\n")
	e.pass()
	if crashed, _ := dir.Interrupted(); len(crashed) != 0 {
		t.Fatalf("markers left: %v", crashed)
	}
}

// With require_checksum a file waits for its checksum, is applied when
// it matches, and is rejected when none comes.
func TestRequireChecksum(t *testing.T) {
	e := stolenEnv(t, func(c *SourceConfig) { c.RequireChecksum, c.IncompleteWait = true, 10*time.Minute })
	content := "imei\n35209900176148\n"
	e.write("a.csv", content)
	if fr := fileResult(t, e.pass(), "a.csv"); fr.Result != "waiting" || !strings.Contains(fr.Message, "checksum") {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900176148, "", "unknown")
	sum := sha256.Sum256([]byte(content))
	e.write("a.csv.sha256", hex.EncodeToString(sum[:])+"  a.csv\n")
	if fr := fileResult(t, e.pass(), "a.csv"); fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
	e.write("b.csv", "imei\n35209900176149\n")
	e.pass()
	e.now.Add(int64(15 * time.Minute))
	if fr := fileResult(t, e.pass(), "b.csv"); fr.Result != "rejected" || fr.Reason != "missing_checksum" {
		t.Fatalf("%+v", fr)
	}
}

// Limits.MaxUncompressedBytes bounds what a unit yields: one file as it is
// read, a package by the sizes it declares, and the files of a loose delta
// set together as they are read.
func TestMaxUncompressedBytes(t *testing.T) {
	limit := func(c *SourceConfig) { c.Limits.MaxUncompressedBytes = 1000 }
	rows := func(first uint64) []string { return imeiSeq(first, 15) } // 15 rows: 640 bytes
	e := newEnv(t, limit)
	e.write("20260101_000000_blacklist.csv", blRows(append(rows(35209900100000), rows(35209900200000)...)...))
	e.zip("20260101_000000_blacklist.zip",
		[2]string{"20260101_000000_blacklist_delta_-1_42_blocked.csv", blRows(rows(35209900100000)...)},
		[2]string{"20260101_000000_blacklist.csv", blRows(rows(35209900100000)...)})
	for _, op := range []string{"blocked", "unblocked", "changed"} {
		e.write("20260102_000000_blacklist_delta_-1_43_"+op+".csv", blRows(rows(35209900300000+uint64(len(op))*1000)...))
	}
	rep := e.pass()
	for _, name := range []string{"20260101_000000_blacklist.csv", "20260101_000000_blacklist.zip", "20260102_000000_blacklist_delta_-1_43"} {
		if fr := fileResult(t, rep, name); fr.Result != "rejected" || fr.Reason != "too_large" {
			t.Fatalf("%s: %+v", name, fr)
		}
	}
	// Each of them alone is within the limit.
	f := newEnv(t, limit)
	f.write("20260102_000000_blacklist_delta_-1_43_blocked.csv", blRows(rows(35209900300000)...))
	if fr := f.pass().Files[0]; fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
}

// Limits.MaxRows bounds the rows of a list: the change-type files of a
// delta set together.
func TestMaxRowsDeltaSet(t *testing.T) {
	e := newEnv(t, func(c *SourceConfig) { c.Limits.MaxRows = 100 })
	e.write("20260101_000000_blacklist_delta_-1_42_blocked.csv", blRows(imeiSeq(35209900100000, 60)...))
	e.write("20260101_000000_blacklist_delta_-1_42_unblocked.csv", blRows(imeiSeq(35209900200000, 41)...))
	name := "20260101_000000_blacklist_delta_-1_42"
	if fr := fileResult(t, e.pass(), name); fr.Result != "rejected" || fr.Reason != "too_many_rows" {
		t.Fatalf("%+v", fr)
	}
	e.write("20260102_000000_blacklist_delta_-1_43_blocked.csv", blRows(imeiSeq(35209900100000, 60)...))
	e.write("20260102_000000_blacklist_delta_-1_43_unblocked.csv", blRows(imeiSeq(35209900200000, 40)...))
	if fr := fileResult(t, e.pass(), "20260102_000000_blacklist_delta_-1_43"); fr.Result != "applied" || fr.Lists[0].Rows != 100 {
		t.Fatalf("%+v", fr)
	}
}

// writeZip writes a zip of n empty members named by name.
func writeZip(t *testing.T, path string, n int, name func(i int) string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range n {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: name(i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// What is read of a file to group it into a unit, before its list is
// parsed under the limits, is bounded: a package's central directory (its
// members, their names), a generic list's header, a manifest.
func TestGroupingReadsBounded(t *testing.T) {
	e := stolenEnv(t)
	old := time.Unix(0, e.now.Load()).Add(-time.Minute)
	many := filepath.Join(e.dir, "many.zip")
	writeZip(t, many, 2000, func(i int) string { return fmt.Sprintf("m%d.csv", i) })
	long := filepath.Join(e.dir, "long.zip")
	writeZip(t, long, 600, func(i int) string { return fmt.Sprintf("%02000d.csv", i) })
	line := filepath.Join(e.dir, "line.csv")
	f, err := os.Create(line)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("imei")
	chunk := []byte(strings.Repeat("1", 1<<20))
	for range 64 { // 64 MiB without a newline
		f.Write(chunk)
	}
	f.Close()
	for _, p := range []string{many, long, line} {
		os.Chtimes(p, old, old)
	}
	e.write("m.csv", "imei\n35209900176148\n")
	e.write("m.csv.manifest.json", `{"run_id": 1`+strings.Repeat(" ", 1<<20)+"}")
	var rep PassReport
	n := allocated(func() { rep = e.pass() })
	for name, reason := range map[string]string{"many.zip": "too_many_members", "long.zip": "too_many_members", "line.csv": "format", "m.csv": "manifest"} {
		if fr := fileResult(t, rep, name); fr.Result != "rejected" || fr.Reason != reason {
			t.Fatalf("%s: %+v, want rejected %s", name, fr, reason)
		}
	}
	// A header is read up to a row's length (1 MiB; the CSV reader takes
	// several times that); read whole, the 64 MiB line would cost more
	// than twice its size.
	if n > 32<<20 {
		t.Fatalf("%d MiB allocated reading them", n>>20)
	}
	e.expect(35209900176148, "", "unknown")
}

// What is read to group a file into a unit is read under its processing
// marker: a process that died meanwhile leaves the file marked.
func TestGroupingReadsMarked(t *testing.T) {
	e := stolenEnv(t)
	p := e.write("a.csv", "imei\n35209900176148\n")
	fi, _ := os.Stat(p)
	f := fetch.File{Name: "a.csv", Path: p, Size: fi.Size(), ModTime: fi.ModTime()}
	var during, after []fetch.File
	restarted := &fetch.Dir{Path: e.dir} // what the next process sees
	if why := e.engine.sources["national"].opening(f, func() { during, _ = restarted.Interrupted() }); why != "" {
		t.Fatal(why)
	}
	after, _ = restarted.Interrupted()
	if len(during) != 1 || during[0].Name != "a.csv" || len(after) != 0 {
		t.Fatalf("marked while read: %v; after: %v", during, after)
	}
}

// An upload that keeps the file's old modification time (sftp put -p,
// rsync -t) waits for its checksum, and a loose delta set for its other
// files, from when eird first saw them, not from that time.
func TestWaitFromFirstSeen(t *testing.T) {
	e := stolenEnv(t, func(c *SourceConfig) { c.RequireChecksum, c.IncompleteWait = true, 10*time.Minute })
	content := "imei\n35209900176148\n"
	p := e.write("a.csv", content)
	lastYear := time.Unix(0, e.now.Load()).AddDate(-1, 0, 0)
	os.Chtimes(p, lastYear, lastYear)
	if fr := fileResult(t, e.pass(), "a.csv"); fr.Result != "waiting" || !strings.Contains(fr.Message, "checksum") {
		t.Fatalf("%+v", fr)
	}
	e.now.Add(int64(5 * time.Minute))
	sum := sha256.Sum256([]byte(content))
	p = e.write("a.csv.sha256", hex.EncodeToString(sum[:])+"  a.csv\n")
	os.Chtimes(p, lastYear, lastYear)
	if fr := fileResult(t, e.pass(), "a.csv"); fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
	// Ten minutes after it was first seen, it is rejected.
	p = e.write("b.csv", "imei\n35209900176149\n")
	os.Chtimes(p, lastYear, lastYear)
	e.pass()
	e.now.Add(int64(9 * time.Minute)) // and a minute each pass
	if fr := fileResult(t, e.pass(), "b.csv"); fr.Result != "rejected" || fr.Reason != "missing_checksum" {
		t.Fatalf("%+v", fr)
	}

	d := newEnv(t)
	p = d.write("20260102_000000_blacklist_delta_42_47_blocked.csv", blRows("35209900176148"))
	os.Chtimes(p, lastYear, lastYear)
	if fr := d.pass().Files[0]; fr.Result != "waiting" || !strings.Contains(fr.Message, "unblocked") {
		t.Fatalf("%+v", fr)
	}
	d.now.Add(int64(15 * time.Minute))
	if fr := d.pass().Files[0]; fr.Result != "rejected" || fr.Reason != "missing_member" {
		t.Fatalf("%+v", fr)
	}
}

// markBegun leaves the processing markers a process that died while it
// processed files would leave.
func (e *env) markBegun(names ...string) {
	e.t.Helper()
	var files []fetch.File
	for _, name := range names {
		p := filepath.Join(e.dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			e.t.Fatal(err)
		}
		files = append(files, fetch.File{Name: name, Path: p, Size: fi.Size(), ModTime: fi.ModTime()})
	}
	if err := (&fetch.Dir{Path: e.dir}).BeginProcessing(files); err != nil {
		e.t.Fatal(err)
	}
}

// A unit whose apply committed before the process died (and before its
// files were filed away) is in force: the next pass files it as applied,
// it does not reject it as crashed. A loose delta set goes as one.
func TestCrashAfterApplyFiledAsApplied(t *testing.T) {
	e := newEnv(t)
	full := "20260101_000000_blacklist.csv"
	e.write(full, blRows("35209900176148"))
	prefix := "20260102_000000_exceptions_operator1_delta_-1_42_"
	for _, op := range []string{"added", "removed"} {
		e.write(prefix+op+".csv", "imei,imsi,msisdn\n4901542032375"+strconv.Itoa(len(op))+",111018001111111,223338000000\n")
	}
	rep := e.pass()
	for _, f := range rep.Files {
		if f.Result != "applied" {
			t.Fatalf("%+v", rep.Files)
		}
	}
	// The process died after the switch: the files are still there, with
	// their markers.
	for _, name := range []string{full, prefix + "added.csv", prefix + "removed.csv"} {
		b, err := os.ReadFile(filepath.Join(e.dir, "done", name))
		if err != nil {
			t.Fatal(err)
		}
		e.write(name, string(b))
	}
	e.markBegun(prefix+"added.csv", prefix+"removed.csv")
	e.markBegun(full)
	rep = e.pass()
	if len(rep.Files) != 2 {
		t.Fatalf("%+v", rep.Files)
	}
	for _, fr := range rep.Files {
		if fr.Result != "applied" || !strings.Contains(fr.Message, "before eird stopped") {
			t.Fatalf("%+v", fr)
		}
	}
	if left := e.files(""); len(left) != 0 {
		t.Fatalf("left in the drop directory: %v", left)
	}
	if r := e.files("rejected"); len(r) != 0 {
		t.Fatalf("rejected: %v", r)
	}
	// A file that was not in force is rejected, not retried.
	e.write("20260103_000000_blacklist.csv", blRows("35209900176149"))
	e.markBegun("20260103_000000_blacklist.csv")
	if fr := fileResult(t, e.pass(), "20260103_000000_blacklist.csv"); fr.Result != "rejected" || fr.Reason != "crashed_during_processing" {
		t.Fatalf("%+v", fr)
	}
}

// A processing marker that cannot be checked is logged; the pass goes on
// with the other files.
func TestBadMarkerDoesNotStopPasses(t *testing.T) {
	e := stolenEnv(t)
	// A marker naming a file whose name is too long to stat.
	long := strings.Repeat("x", 300) + ".csv"
	if err := os.MkdirAll(filepath.Join(e.dir, fetch.ProcessingDir), 0o750); err != nil {
		t.Fatal(err)
	}
	marker, _ := json.Marshal(map[string]any{"name": long, "size": 1, "mtime": time.Now()})
	if err := os.WriteFile(filepath.Join(e.dir, fetch.ProcessingDir, "sha256-bad.json"), marker, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := (&fetch.Dir{Path: e.dir}).Interrupted(); err == nil {
		t.Fatal("the marker can be checked; the test tests nothing")
	}
	e.write("a.csv", "imei\n35209900176148\n")
	if fr := fileResult(t, e.pass(), "a.csv"); fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
}
