package regsync

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		// A queued dial of the pool may end after Close (see eir/redisstore).
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).queuedNewConn.func2"))
}

var prefixSeq atomic.Int64

type auditQuery = audit.Query

// env is one engine on a fresh key space of a shared redis-server, with a
// drop directory and a clock the test controls.
type env struct {
	trail  *audit.Log
	t      *testing.T
	store  *redisstore.Store
	engine *Engine
	dir    string
	now    atomic.Int64
	rdb    *redis.Client
}

func newEnv(t *testing.T, mods ...func(*SourceConfig)) *env {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	e := &env{t: t, rdb: rdb, dir: t.TempDir()}
	e.now.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, e.now.Load()) }
	st, err := redisstore.New(context.Background(), rdb, redisstore.Options{Prefix: fmt.Sprintf("r%d:", prefixSeq.Add(1)), Now: clock},
		zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	e.trail = audit.New(st, audit.Options{Now: clock})
	cfg := SourceConfig{Name: "national", Format: "dirbs", Operator: "operator1", Dir: e.dir, Settle: time.Second}
	for _, m := range mods {
		m(&cfg)
	}
	e.engine = e.newEngine(cfg)
	return e
}

func (e *env) newEngine(cfgs ...SourceConfig) *Engine {
	clock := func() time.Time { return time.Unix(0, e.now.Load()) }
	return e.newEngineWith(e.store, Options{Now: clock, Audit: e.trail}, cfgs...)
}

// newEngineWith is newEngine with another publisher and options.
func (e *env) newEngineWith(pub Publisher, o Options, cfgs ...SourceConfig) *Engine {
	eng, err := New(o, cfgs, pub, CoordinatorFor(e.store), zaptest.NewLogger(e.t), prometheus.NewRegistry())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { eng.Close() })
	return eng
}

// write puts a file into the drop directory, old enough to be settled.
func (e *env) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	old := time.Unix(0, e.now.Load()).Add(-time.Minute)
	os.Chtimes(p, old, old)
	return p
}

// zip writes a zip package of members (name → content).
func (e *env) zip(name string, members ...[2]string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	f, err := os.Create(p)
	if err != nil {
		e.t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, m := range members {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: m[0], Method: zip.Store})
		w.Write([]byte(m[1]))
	}
	zw.Close()
	f.Close()
	old := time.Unix(0, e.now.Load()).Add(-time.Minute)
	os.Chtimes(p, old, old)
	return p
}

func (e *env) pass() PassReport {
	e.t.Helper()
	e.now.Add(int64(time.Minute))
	rep, err := e.engine.Pass(context.Background(), "national")
	if err != nil {
		e.t.Fatalf("pass: %v", err)
	}
	return rep
}

func (e *env) status(imei eir.IMEI, imsi eir.IMSI) string {
	e.t.Helper()
	d, err := eir.NewDecider(e.store, eir.Policy{}).Check(context.Background(), eir.Query{IMEI: imei, IMSI: imsi})
	if err != nil {
		return "unknown"
	}
	return strings.ToLower(d.Status.String())
}

func (e *env) expect(imei eir.IMEI, imsi eir.IMSI, want string) {
	e.t.Helper()
	if got := e.status(imei, imsi); got != want {
		e.t.Fatalf("%s/%s: %s, want %s", imei, imsi, got, want)
	}
}

func (e *env) state(list string) ListState {
	e.t.Helper()
	m, err := e.store.SyncState(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	st, _ := parseState(m[stateKey("national", listOf(list))])
	return st
}

func (e *env) moved(sub, name string) {
	e.t.Helper()
	if _, err := os.Stat(filepath.Join(e.dir, sub, name)); err != nil {
		e.t.Fatalf("%s not in %s/: %v", name, sub, err)
	}
}

func (e *env) reason(name string) map[string]any {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "rejected", name+".reason"))
	if err != nil {
		e.t.Fatalf("no reason file for %s: %v", name, err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func fileResult(t *testing.T, rep PassReport, name string) FileReport {
	t.Helper()
	for _, f := range rep.Files {
		if f.File == name {
			return f
		}
	}
	t.Fatalf("no report for %s in %+v", name, rep.Files)
	return FileReport{}
}

const blHeader = "imei,block_date,reasons\r\n"

func blRows(imeis ...string) string {
	var b strings.Builder
	b.WriteString(blHeader)
	for _, i := range imeis {
		fmt.Fprintf(&b, "%s,20260101,IMEI found on local stolen list\r\n", i)
	}
	return b.String()
}

// blacklistPackage is a DIRBS blacklist zip: full list and the three
// change-type files of delta base_run.
func (e *env) blacklistPackage(ts string, base, run int64, full []string, blocked, unblocked, changed []string) string {
	name := ts + "_blacklist.zip"
	d := fmt.Sprintf("%s_blacklist_delta_%d_%d_", ts, base, run)
	members := [][2]string{
		{d + "blocked.csv", blRows(blocked...)},
		{d + "unblocked.csv", blRows(unblocked...)},
		{d + "changed.csv", blRows(changed...)},
	}
	if full != nil {
		members = append(members, [2]string{ts + "_blacklist.csv", blRows(full...)})
	}
	e.zip(name, members...)
	return name
}

// Case 2: every form of one device keys the same.
func TestCase02Normalisation(t *testing.T) {
	e := newEnv(t)
	e.write("20260101_000000_blacklist.csv", blRows("862222222222264"))
	e.pass()
	for _, q := range []eir.IMEI{86222222222226} {
		e.expect(q, "", "blacklisted")
	}
	for _, in := range []string{"862222222222264", "862222222222260", "8622222222222601"} {
		id, _ := eir.ParseIdentity(in)
		e.expect(id.IMEI, "", "blacklisted")
	}
}

// Case 3: the user guide's full blacklist.
func TestCase03UserGuideBlacklist(t *testing.T) {
	e := newEnv(t)
	b, err := os.ReadFile("regformat/testdata/20180217_000302_blacklist.csv")
	if err != nil {
		t.Fatal(err)
	}
	e.write("20180217_000302_blacklist.csv", string(b))
	rep := e.pass()
	fr := fileResult(t, rep, "20180217_000302_blacklist.csv")
	if fr.Result != "applied" || fr.Lists[0].Count != 4 {
		t.Fatalf("%+v", fr)
	}
	e.moved("done", "20180217_000302_blacklist.csv")
}

// Case 4: a delta from base -1 on an empty state is a snapshot.
func TestCase04DeltaFromEmpty(t *testing.T) {
	e := newEnv(t)
	b, _ := os.ReadFile("regformat/testdata/20180217_000302_blacklist_delta_-1_42_blocked.csv")
	e.write("20180217_000302_blacklist_delta_-1_42_blocked.csv", string(b))
	rep := e.pass()
	if fr := rep.Files[0]; fr.Result != "applied" {
		t.Fatalf("%+v", rep)
	}
	if st := e.state("blacklist"); st.Run != 42 {
		t.Fatalf("state %+v: want run 42", st)
	}
}

// Cases 5, 6, 7: deltas apply on their exact base only; a gap falls back to
// the full file of the package, or is refused.
func TestCases05to07DeltaBases(t *testing.T) {
	e := newEnv(t)
	A, B, C := "35209900176148", "49015420323751", "26053179311383"
	e.blacklistPackage("20260101_000000", -1, 42, []string{B, C}, []string{B, C}, nil, nil)
	e.pass()
	e.expect(35209900176148, "", "unknown")
	e.expect(49015420323751, "", "blacklisted")
	// Case 5: 42→47 (a gap in run ids is fine).
	e.blacklistPackage("20260102_000000", 42, 47, nil, []string{A}, []string{B}, []string{C})
	rep := e.pass()
	if fr := rep.Files[0]; fr.Result != "applied" || fr.Lists[0].Mode != "delta" || fr.Lists[0].Changed != 1 {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900176148, "", "blacklisted")
	e.expect(49015420323751, "", "unknown")
	e.expect(26053179311383, "", "blacklisted")
	if st := e.state("blacklist"); st.Run != 47 || st.Base != 42 {
		t.Fatalf("state %+v", st)
	}
	// Case 6: 45→50 without a full file: refused, nothing changes.
	name := e.blacklistPackage("20260103_000000", 45, 50, nil, []string{B}, nil, nil)
	rep = e.pass()
	if fr := fileResult(t, rep, name); fr.Result != "rejected" || fr.Reason != "delta_base" {
		t.Fatalf("%+v", fr)
	}
	e.moved("rejected", name)
	if r := e.reason(name); r["code"] != "delta_base" {
		t.Fatalf("reason %v", r)
	}
	e.expect(49015420323751, "", "unknown")
	st, _, _ := e.engine.Status(context.Background())
	if len(st[0].ResyncLists) != 1 {
		t.Fatalf("resync not flagged: %+v", st[0])
	}
	// Case 7: the same with the full file in the package.
	name = e.blacklistPackage("20260104_000000", 45, 50, []string{A, B}, []string{B}, nil, nil)
	rep = e.pass()
	if fr := fileResult(t, rep, name); fr.Result != "applied" || fr.Lists[0].Mode != "full" {
		t.Fatalf("%+v", fr)
	}
	e.expect(49015420323751, "", "blacklisted")
	e.expect(26053179311383, "", "unknown")
	if st := e.state("blacklist"); st.Run != 50 {
		t.Fatalf("state %+v", st)
	}
	st, _, _ = e.engine.Status(context.Background())
	if len(st[0].ResyncLists) != 0 {
		t.Fatalf("resync still flagged: %+v", st[0])
	}
	// The same package again: already applied.
	name = e.blacklistPackage("20260104_000001", 45, 50, []string{A, B}, []string{B}, nil, nil)
	if fr := fileResult(t, e.pass(), name); fr.Result != "already_applied" {
		t.Fatalf("%+v", fr)
	}
}

// Case 8: the aggregate example: unblock on base 1000; an empty delta.
func TestCase08EmptyDelta(t *testing.T) {
	e := newEnv(t)
	e.blacklistPackage("20260101_000000", -1, 1000, nil, []string{"35209900176148"}, nil, nil)
	e.pass()
	e.blacklistPackage("20260102_000000", 1000, 1004, nil, nil, []string{"35209900176148"}, nil)
	e.pass()
	e.expect(35209900176148, "", "unknown")
	name := e.blacklistPackage("20260103_000000", 1004, 1010, nil, nil, nil, nil)
	if fr := fileResult(t, e.pass(), name); fr.Result != "applied" || fr.Lists[0].Added+fr.Lists[0].Removed != 0 {
		t.Fatalf("%+v", fr)
	}
	if st := e.state("blacklist"); st.Run != 1010 {
		t.Fatalf("state %+v", st)
	}
}

// Cases 9 and 14: one key with two changes in one delta set is refused.
func TestCases09and14MultipleChanges(t *testing.T) {
	e := newEnv(t)
	e.blacklistPackage("20260101_000000", -1, 42, nil, []string{"49015420323751"}, nil, nil)
	e.pass()
	name := e.blacklistPackage("20260102_000000", 42, 47, nil, []string{"35209900176148"}, []string{"352099001761481"}, nil)
	fr := fileResult(t, e.pass(), name)
	if fr.Result != "rejected" || fr.Reason != "conflict" {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900176148, "", "unknown")
	// Case 14, generic format: add and remove of one IMEI in one file.
	g := newEnv(t, func(c *SourceConfig) { c.Format = "stolen" })
	g.write("delta.csv", "imei,reporting_date,status,change_type\n12345678901234,20190819,,add\n12345678901234,20190819,,remove\n")
	if fr := g.pass().Files[0]; fr.Result != "rejected" || fr.Reason != "conflict" {
		t.Fatalf("%+v", fr)
	}
}

// Cases 10, 11, 26: exceptions of this operator; legacy headers.
func TestCases10_11_26Exceptions(t *testing.T) {
	e := newEnv(t)
	X := "35209900176148"
	e.blacklistPackage("20260101_000000", -1, 42, nil, []string{X}, nil, nil)
	e.zip("20260101_000000_exceptions_operator1.zip",
		[2]string{"20260101_000000_exceptions_operator1_delta_-1_42_added.csv", "imei,imsi,msisdn\n" + X + ",111018001111111,223338000000\n"},
		[2]string{"20260101_000000_exceptions_operator2_delta_-1_42_added.csv", "imei,imsi,msisdn\n" + X + ",111025111111111,223338000001\n"})
	e.pass()
	e.expect(35209900176148, "111018001111111", "whitelisted")
	e.expect(35209900176148, "111025111111111", "blacklisted") // operator2's exception is not ours
	// Case 11: the legacy two-column full file.
	b, _ := os.ReadFile("regformat/testdata/20180217_000302_exceptions_operator1.csv")
	e.write("20260102_000000_exceptions_operator1.csv", string(b))
	if fr := e.pass().Files[0]; fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
	// Case 26: the legacy combined delta with change_type.
	f := newEnv(t)
	f.write("20180217_000302_exceptions_operator1_delta_-1_42.csv", "imei,imsi,change_type\n64220299727231,111041012987198,added\n")
	if fr := f.pass().Files[0]; fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
	f.expect(64220299727231, "111041012987198", "whitelisted") // an exception pair answers WHITELISTED
	f.expect(64220299727231, "", "unknown")
	st, _ := f.store.Datasets(context.Background())
	if len(st) != 1 || st[0].Count != 1 || st[0].Dataset.List != eir.ListException {
		t.Fatalf("datasets %+v", st)
	}
}

func stolenEnv(t *testing.T, mods ...func(*SourceConfig)) *env {
	return newEnv(t, append([]func(*SourceConfig){func(c *SourceConfig) { c.Format = "stolen" }}, mods...)...)
}

// Case 12: exact duplicates collapse. Case 13: conflicting rows refuse
// the file.
func TestCases12and13Duplicates(t *testing.T) {
	e := stolenEnv(t)
	b, _ := os.ReadFile("regformat/testdata/sample_stolen_list_duplicate.csv")
	e.write("sample_stolen_list_duplicate.csv", string(b))
	fr := e.pass().Files[0]
	if fr.Result != "applied" || fr.Lists[0].Rows != 21 || fr.Lists[0].Count != 20 || fr.Lists[0].Duplicates != 1 {
		t.Fatalf("%+v", fr)
	}
	e.write("conflict.csv", "imei,reporting_date,status\n01234567891234,20160401,\n01234567891234,20160402,\n")
	fr = fileResult(t, e.pass(), "conflict.csv")
	if fr.Result != "rejected" || fr.Reason != "conflict" {
		t.Fatalf("%+v", fr)
	}
}

// Case 15: no-op changes are warnings by default and refuse the file in
// strict mode.
func TestCase15Noops(t *testing.T) {
	for _, strict := range []bool{false, true} {
		e := stolenEnv(t, func(c *SourceConfig) { c.Guards.Strict = strict })
		e.write("a_full.csv", "imei\n32345678901234\n")
		e.pass()
		e.write("b_delta.csv", "imei,change_type\n12345678901243,remove\n32345678901234,add\n")
		fr := fileResult(t, e.pass(), "b_delta.csv")
		if strict && (fr.Result != "rejected" || fr.Reason != "strict") {
			t.Fatalf("strict: %+v", fr)
		}
		if !strict && (fr.Result != "applied" || fr.Lists[0].Noops != 2) {
			t.Fatalf("default: %+v", fr)
		}
	}
}

// Case 16: the counts of DIRBS's row_count_stats_common.
func TestCase16DeltaCounts(t *testing.T) {
	e := stolenEnv(t)
	e.write("a.csv", "imei\n12345678901243\n32345678901234\n")
	e.pass()
	e.write("b.csv", "imei,change_type\n12345678901243,remove\n22345678901243,add\n22345678901243,add\n42345678901243,add\n52345678901243,add\n")
	fr := fileResult(t, e.pass(), "b.csv")
	if l := fr.Lists[0]; l.Added != 3 || l.Removed != 1 || l.Count != 4 {
		t.Fatalf("%+v", l)
	}
}

// Case 17: a full file replaces the list.
func TestCase17FullReplaces(t *testing.T) {
	e := stolenEnv(t, func(c *SourceConfig) { c.Guards.MinSnapshotRatio = 0.5 })
	e.write("a.csv", "imei\n52345678901234\n32345678901234\n")
	e.pass()
	e.write("b.csv", "imei\n12345678901234\n22345678901234\n32345678901234\n")
	e.pass()
	for imei, want := range map[eir.IMEI]string{12345678901234: "blacklisted", 22345678901234: "blacklisted", 32345678901234: "blacklisted", 52345678901234: "unknown"} {
		e.expect(imei, "", want)
	}
}

// Cases 18 and 21: a shrunken snapshot is held until approved.
func TestCases18and21ShrinkGuard(t *testing.T) {
	e := stolenEnv(t)
	var big strings.Builder
	big.WriteString("imei\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&big, "3520990000%04d\n", i)
	}
	e.write("a.csv", big.String())
	e.pass()
	e.write("b.csv", "imei\n35209900000001\n")
	fr := fileResult(t, e.pass(), "b.csv")
	if fr.Result != "held" || fr.Reason != "shrink_guard" {
		t.Fatalf("%+v", fr)
	}
	e.moved("held", "b.csv")
	e.expect(35209900000500, "", "blacklisted")
	st, _, _ := e.engine.Status(context.Background())
	if len(st[0].Held) != 1 || st[0].Held[0].Reason != "shrink_guard" {
		t.Fatalf("status %+v", st[0])
	}
	// The operator approves; the file is applied.
	rep, err := e.engine.Approve(context.Background(), "national", "b.csv", "noc-alice")
	if err != nil {
		t.Fatal(err)
	}
	if fr := fileResult(t, rep, "b.csv"); fr.Result != "applied" || !strings.Contains(fr.Message, "noc-alice") {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900000500, "", "unknown")
	e.expect(35209900000001, "", "blacklisted")
	audit, _ := e.store.MetaList(context.Background(), "sync:audit", 10)
	if len(audit) != 1 || !strings.Contains(audit[0], "noc-alice") {
		t.Fatalf("audit %v", audit)
	}
	recs, _, err := e.trail.Find(context.Background(), auditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, r := range recs {
		trail = append(trail, r.Action+" "+r.Actor+" "+r.Target+" "+r.Dataset)
	}
	want := []string{
		"sync.apply sync:national b.csv national/imei/black",
		"sync.approve noc-alice b.csv ",
		"sync.apply sync:national a.csv national/imei/black",
	}
	if strings.Join(trail, "|") != strings.Join(want, "|") {
		t.Fatalf("audit trail:\n got %q\nwant %q", trail, want)
	}
	// Case 21: a header-only snapshot empties the list only once approved.
	e.write("c.csv", "imei\n")
	if fr := fileResult(t, e.pass(), "c.csv"); fr.Result != "held" || fr.Reason != "shrink_guard" {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900000001, "", "blacklisted")
	if _, err := e.engine.Approve(context.Background(), "national", "c.csv", "noc-bob"); err != nil {
		t.Fatal(err)
	}
	e.expect(35209900000001, "", "unknown")
}

// The unblock cap of deltas.
func TestUnblockGuard(t *testing.T) {
	e := stolenEnv(t, func(c *SourceConfig) { c.Guards.MaxUnblocks = 2 })
	e.write("a.csv", "imei\n11111111111111\n22222222222222\n33333333333333\n")
	e.pass()
	e.write("b.csv", "imei,change_type\n11111111111111,remove\n22222222222222,remove\n33333333333333,remove\n")
	if fr := fileResult(t, e.pass(), "b.csv"); fr.Result != "held" || fr.Reason != "unblock_guard" {
		t.Fatalf("%+v", fr)
	}
	e.expect(22222222222222, "", "blacklisted")
}

// Case 19: files without a header, empty, of the wrong type or delimiter
// are rejected and change nothing.
func TestCase19BadFiles(t *testing.T) {
	e := stolenEnv(t)
	e.write("keep.csv", "imei\n35209900176148\n")
	e.pass()
	for _, name := range []string{"barred_list_missing_header.csv", "pairing_list_empty_file_noheaders.csv", "barred_list_incorrectfiletype.txt", "operator1_pipedelimited_20160701_20160731.csv"} {
		b, err := os.ReadFile("regformat/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		out := strings.TrimSuffix(name, ".txt") + "_x.csv"
		e.write(out, string(b))
		fr := fileResult(t, e.pass(), out)
		if fr.Result != "rejected" {
			t.Fatalf("%s: %+v", name, fr)
		}
		e.moved("rejected", out)
		e.expect(35209900176148, "", "blacklisted")
	}
}

// Case 22: a bad row is quarantined below the ratio, and rejects the file
// when no bad row is tolerated. (Two rows are bad here: '%', and '*' in the
// 7th digit, since keys are the first 14 digits.)
func TestCase22BadRow(t *testing.T) {
	b, _ := os.ReadFile("regformat/testdata/barred_list_hexpound_bad_symbol.csv")
	e := stolenEnv(t, func(c *SourceConfig) { c.Guards.MaxBadRowRatio = 0.5 })
	e.write("x.csv", string(b))
	if fr := e.pass().Files[0]; fr.Result != "applied" || fr.Lists[0].BadRows != 2 || fr.Lists[0].Count != 18 {
		t.Fatalf("%+v", fr)
	}
	f := stolenEnv(t, func(c *SourceConfig) { c.Guards.MaxBadRowRatio = 1e-9 })
	f.write("x.csv", string(b))
	if fr := f.pass().Files[0]; fr.Result != "rejected" || fr.Reason != "bad_rows" {
		t.Fatalf("%+v", fr)
	}
}

// Case 23: an LSDS report's life: pending, then blacklisted, then recovered.
func TestCase23LSDSSequence(t *testing.T) {
	e := newEnv(t, func(c *SourceConfig) { c.Format = "lsds" })
	steps := []struct{ row, want string }{
		{"37006845010201,20190819,pending,add", "unknown"},
		{"37006845010201,20190819,blacklist,update", "blacklisted"},
		{"37006845010201,20190819,recovered,remove", "unknown"},
	}
	for i, s := range steps {
		e.write(fmt.Sprintf("StolenDeltaList08-2%d-2019T164504.csv", i), "imei,reporting_date,status,change_type\n"+s.row+"\n")
		if fr := e.pass().Files[0]; fr.Result != "applied" {
			t.Fatalf("step %d: %+v", i, fr)
		}
		e.expect(37006845010201, "", s.want)
	}
}

// Case 24: removal by one source leaves another source's entry in force.
func TestCase24Provenance(t *testing.T) {
	e := newEnv(t)
	gsmaDir := t.TempDir()
	e.engine = e.newEngine(
		SourceConfig{Name: "national", Format: "stolen", Dir: e.dir},
		SourceConfig{Name: "gsma", Format: "stolen", Dir: gsmaDir},
	)
	e.write("n.csv", "imei\n35209900176148\n")
	os.WriteFile(filepath.Join(gsmaDir, "g.csv"), []byte("imei\n35209900176148\n"), 0o644)
	old := time.Unix(0, e.now.Load()).Add(-time.Minute)
	os.Chtimes(filepath.Join(gsmaDir, "g.csv"), old, old)
	e.pass()
	if _, err := e.engine.Pass(context.Background(), "gsma"); err != nil {
		t.Fatal(err)
	}
	e.write("n2.csv", "imei,change_type\n35209900176148,remove\n")
	e.pass()
	d, _ := eir.NewDecider(e.store, eir.Policy{}).Check(context.Background(), eir.Query{IMEI: 35209900176148})
	if d.Status != eir.Blacklisted || d.Source != "gsma" {
		t.Fatalf("%+v: want blacklisted by gsma", d)
	}
}

// Case 25: quoted reasons with commas, CRLF, a BOM.
func TestCase25Quoting(t *testing.T) {
	e := newEnv(t)
	e.write("20260101_000000_blacklist.csv", "\ufeffimei,block_date,reasons\r\n35209900176148,20260101,\"Stolen, police report\"\r\n")
	if fr := e.pass().Files[0]; fr.Result != "applied" || fr.Lists[0].Count != 1 {
		t.Fatalf("%+v", fr)
	}
}

// Case 27: in one run a triplet leaves the notifications (blacklisted) and
// its IMEI enters the blacklist.
func TestCase27NotificationToBlacklist(t *testing.T) {
	e := newEnv(t)
	X := "35209900176148"
	nl := func(rows string) string { return "imei,imsi,msisdn,block_date,reasons\n" + rows }
	e.zip("20260101_000000_notifications_operator1.zip",
		[2]string{"20260101_000000_notifications_operator1_delta_-1_42_new.csv", nl(X + ",111018001111111,223338000000,20260201,Duplicate IMEI detected\n")})
	e.blacklistPackage("20260101_000000", -1, 42, nil, nil, nil, nil)
	e.pass()
	e.expect(35209900176148, "", "greylisted")
	ops := map[string]string{"new": "", "resolved": "", "blacklisted": X + ",111018001111111,223338000000,20260201,Duplicate IMEI detected\n", "no_longer_seen": "", "changed": ""}
	var members [][2]string
	for op, rows := range ops {
		members = append(members, [2]string{"20260102_000000_notifications_operator1_delta_42_47_" + op + ".csv", nl(rows)})
	}
	e.zip("20260102_000000_notifications_operator1.zip", members...)
	e.blacklistPackage("20260102_000000", 42, 47, nil, []string{X}, nil, nil)
	rep := e.pass()
	for _, f := range rep.Files {
		if f.Result != "applied" {
			t.Fatalf("%+v", rep)
		}
	}
	e.expect(35209900176148, "", "blacklisted")
	ds, _ := e.store.Datasets(context.Background())
	for _, d := range ds {
		if d.Dataset.Target == eir.TargetPair && d.Count != 0 {
			t.Fatalf("notification still listed: %+v", d)
		}
	}
}

// Case 28: a barred TAC with a leading zero.
func TestCase28BarredTAC(t *testing.T) {
	e := newEnv(t, func(c *SourceConfig) { c.Format = "tac" })
	b, _ := os.ReadFile("regformat/testdata/sample_barred_tac_list_v2.csv")
	e.write("tacs.csv", string(b))
	if fr := e.pass().Files[0]; fr.Result != "applied" {
		t.Fatalf("%+v", fr)
	}
	e.expect(100100123456, "", "blacklisted") // 00100100123456
	e.expect(10010012345678, "", "unknown")
}

// Case 29: a non-numeric IMEI is quarantined, not applied (S13 cannot carry
// it: TS 29.272 §7.3.4 digits; the IMEI AVP would be answered 5004).
func TestCase29NonNumeric(t *testing.T) {
	e := newEnv(t)
	e.write("20260101_000000_blacklist.csv", blRows("21AA0000000000", "35209900176148"))
	e.engine.sources["national"].cfg.Guards.MaxBadRowRatio = 0.5
	fr := e.pass().Files[0]
	if fr.Result != "applied" || fr.Lists[0].BadRows != 1 || fr.Lists[0].Count != 1 {
		t.Fatalf("%+v", fr)
	}
}

// Case 30: a corrupt, truncated or incomplete package is rejected.
func TestCase30BadPackages(t *testing.T) {
	e := newEnv(t)
	e.blacklistPackage("20260101_000000", -1, 42, nil, []string{"35209900176148"}, nil, nil)
	e.pass()
	good := e.blacklistPackage("20260102_000000", 42, 47, nil, []string{"49015420323751"}, nil, nil)
	data, _ := os.ReadFile(filepath.Join(e.dir, good))
	os.Remove(filepath.Join(e.dir, good))
	// Truncated.
	e.write("20260102_000000_blacklist_trunc.zip", string(data[:len(data)/2]))
	// A flipped byte in a member's data: CRC error.
	bad := append([]byte(nil), data...)
	i := strings.Index(string(bad), "49015420323751")
	bad[i] = '5'
	e.write("20260102_000000_blacklist_crc.zip", string(bad))
	// Missing its unblocked member.
	e.zip("20260102_000000_blacklist_missing.zip",
		[2]string{"20260102_000000_blacklist_delta_42_47_blocked.csv", blRows("49015420323751")},
		[2]string{"20260102_000000_blacklist_delta_42_47_changed.csv", blRows()})
	rep := e.pass()
	for name, reason := range map[string]string{"20260102_000000_blacklist_trunc.zip": "zip", "20260102_000000_blacklist_crc.zip": "zip",
		"20260102_000000_blacklist_missing.zip": "missing_member"} {
		fr := fileResult(t, rep, name)
		if fr.Result != "rejected" || fr.Reason != reason {
			t.Fatalf("%s: %+v, want rejected %s", name, fr, reason)
		}
		e.moved("rejected", name)
	}
	e.expect(49015420323751, "", "unknown")
	e.expect(35209900176148, "", "blacklisted")
	if st := e.state("blacklist"); st.Run != 42 {
		t.Fatalf("state %+v", st)
	}
}

// A delta is reconciled against the full file of the same package: when
// they disagree, the full file wins.
func TestReconcile(t *testing.T) {
	e := newEnv(t)
	A, B, C := "35209900176148", "49015420323751", "26053179311383"
	e.blacklistPackage("20260101_000000", -1, 42, []string{A}, []string{A}, nil, nil)
	e.pass()
	// Same entries: no replacement.
	name := e.blacklistPackage("20260102_000000", 42, 47, []string{A, B}, []string{B}, nil, nil)
	if fr := fileResult(t, e.pass(), name); fr.Lists[0].Mode != "delta" || !strings.Contains(fr.Lists[0].Note, "same entries") {
		t.Fatalf("%+v", fr)
	}
	// The full file also lists C, which the delta forgot: replaced.
	name = e.blacklistPackage("20260103_000000", 47, 48, []string{A, B, C}, nil, nil, nil)
	fr := fileResult(t, e.pass(), name)
	if fr.Lists[0].Mode != "reconciled" {
		t.Fatalf("%+v", fr)
	}
	e.expect(26053179311383, "", "blacklisted")
	if st := e.state("blacklist"); st.Run != 48 || st.Mode != "reconciled" {
		t.Fatalf("state %+v", st)
	}
}

// Drop-directory discipline: partial uploads and growing files wait.
func TestDropDirectory(t *testing.T) {
	e := stolenEnv(t)
	e.write("a.csv.part", "imei\n35209900176148\n")
	p := filepath.Join(e.dir, "b.csv")
	os.WriteFile(p, []byte("imei\n49015420323751\n"), 0o644) // just written: not settled
	now := time.Unix(0, e.now.Load()).Add(time.Minute)
	os.Chtimes(p, now, now)
	rep := e.pass()
	if len(rep.Files) != 0 {
		t.Fatalf("%+v", rep)
	}
	e.expect(49015420323751, "", "unknown")
	e.now.Add(int64(time.Hour))
	if fr := e.pass().Files[0]; fr.Result != "applied" || fr.File != "b.csv" {
		t.Fatalf("%+v", fr)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "a.csv.part")); err != nil {
		t.Fatal("the partial upload was touched")
	}
}

// Two eird on one Redis: the lock lets one pass run; the sync state makes a
// second apply of the same version a no-op.
func TestTwoInstances(t *testing.T) {
	e := stolenEnv(t)
	other := e.newEngine(SourceConfig{Name: "national", Format: "stolen", Dir: e.dir})
	lease, err := CoordinatorFor(e.store).TryLock(context.Background(), "sync:national", time.Minute)
	if err != nil || lease == nil {
		t.Fatal(err)
	}
	e.write("a.csv", "imei\n35209900176148\n")
	rep, err := other.Pass(context.Background(), "national")
	if err != nil || rep.Skipped == "" {
		t.Fatalf("pass under another's lock: %+v %v", rep, err)
	}
	lease.Unlock(context.Background())
	e.pass()
	e.expect(35209900176148, "", "blacklisted")
	// The same file delivered to the other instance's directory.
	otherDir := t.TempDir()
	other = e.newEngine(SourceConfig{Name: "national", Format: "stolen", Dir: otherDir})
	b, _ := os.ReadFile(filepath.Join(e.dir, "done", "a.csv"))
	os.WriteFile(filepath.Join(otherDir, "a.csv"), b, 0o644)
	old := time.Unix(0, e.now.Load()).Add(-time.Minute)
	os.Chtimes(filepath.Join(otherDir, "a.csv"), old, old)
	rep, _ = other.Pass(context.Background(), "national")
	if fr := fileResult(t, rep, "a.csv"); fr.Result != "already_applied" {
		t.Fatalf("%+v", fr)
	}
}

// Case 1: normalisation of list values; bad values are quarantined with
// their line, and the result in done/ lists them.
func TestCase01Normalisation(t *testing.T) {
	e := newEnv(t, func(c *SourceConfig) { c.Guards.MaxBadRowRatio = 0.6 })
	e.write("20260101_000000_blacklist.csv", blRows("35120030203334f", "52003020863612#", " 64444444444444 ", "1234567890123456", "12345678901234567", "a1234"))
	fr := e.pass().Files[0]
	l := fr.Lists[0]
	if fr.Result != "applied" || l.Count != 4 || l.BadRows != 2 || len(l.Quarantined) != 2 {
		t.Fatalf("%+v", fr)
	}
	for imei, want := range map[eir.IMEI]string{35120030203334: "blacklisted", 52003020863612: "blacklisted", 64444444444444: "blacklisted", 12345678901234: "blacklisted"} {
		e.expect(imei, "", want)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "done", "20260101_000000_blacklist.csv.result.json"))
	if err != nil || !strings.Contains(string(b), "a1234") || !strings.Contains(string(b), "line 7") {
		t.Fatalf("quarantined rows not in the result: %v\n%s", err, b)
	}
}

// Case 20: header names in any case and order.
func TestCase20Headers(t *testing.T) {
	e := newEnv(t)
	e.write("20260101_000000_exceptions_operator1.csv", "mSiSdn,iMeI,imSI\n223338000000,35209900176148,111018001111111\n")
	if fr := e.pass().Files[0]; fr.Result != "applied" || fr.Lists[0].Count != 1 {
		t.Fatalf("%+v", fr)
	}
	e.expect(35209900176148, "111018001111111", "whitelisted")
}
