package test

import (
	"archive/zip"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

const syncConfig = baseConfig + `
sync:
  sources:
    - name: national
      format: dirbs
      operator: operator1
      interval: 1h
      settle: 1ms
      dir: "{{dir}}/national"
    - name: gsma
      format: stolen
      interval: 1h
      https:
        urls: ["%s/lists/gsma-stolen.csv"]
        spool_dir: "{{dir}}/gsma-spool"
        ca_file: "%s"
        bearer_token: s3cret
        retries: -1
`

// fakeRegistry is an HTTPS server publishing a stolen list with an ETag.
type fakeRegistry struct {
	mu   sync.Mutex
	body string
	hits int
}

func (r *fakeRegistry) set(body string) {
	r.mu.Lock()
	r.body = body
	r.mu.Unlock()
}

func (r *fakeRegistry) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

func registry(t *testing.T, body string) (reg *fakeRegistry, url, caFile string) {
	reg = &fakeRegistry{body: body}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.mu.Lock()
		reg.hits++
		body := reg.body
		reg.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		etag := fmt.Sprintf(`"%x"`, len(body))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	return reg, srv.URL, caFile
}

func writeZip(t *testing.T, path string, members map[string]string) {
	f, err := os.Create(path + ".part")
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range members {
		w, _ := zw.Create(name)
		w.Write([]byte(content))
	}
	zw.Close()
	f.Close()
	os.Rename(path+".part", path) // the SFTP landing discipline: rename when complete
}

func blacklist(imeis ...string) string {
	var b strings.Builder
	b.WriteString("imei,block_date,reasons\r\n")
	for _, i := range imeis {
		fmt.Fprintf(&b, "%s,20260101,IMEI found on local stolen list\r\n", i)
	}
	return b.String()
}

// TestRegistrySyncEndToEnd feeds a DIRBS package through the drop directory
// and a stolen list through HTTPS into a running eird, and checks the
// answers over S13 after each step.
func TestRegistrySyncEndToEnd(t *testing.T) {
	rds := redistest.Start(t)
	reg, url, ca := registry(t, "imei,reporting_date,status\n49015420323751,20260101,\n")
	e := startEIRD(t, fmt.Sprintf(syncConfig, rds.Addr(), url, ca))
	drop := filepath.Join(e.dir, "national")
	os.MkdirAll(drop, 0o750)
	c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme9.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	status := func(imei, imsi string) int {
		t.Helper()
		a, err := c.Check(ctxT(t), imei, imsi)
		if err != nil {
			t.Fatal(err)
		}
		return s13client.EquipmentStatus(a.Msg)
	}

	// Run 42: full package with deltas from -1, and operator1's exceptions.
	writeZip(t, filepath.Join(drop, "20260101_000000_blacklist.zip"), map[string]string{
		"20260101_000000_blacklist.csv":                       blacklist("35209900176148", "26053179311383"),
		"20260101_000000_blacklist_delta_-1_42_blocked.csv":   blacklist("35209900176148", "26053179311383"),
		"20260101_000000_blacklist_delta_-1_42_unblocked.csv": blacklist(),
		"20260101_000000_blacklist_delta_-1_42_changed.csv":   blacklist(),
	})
	writeZip(t, filepath.Join(drop, "20260101_000000_exceptions_operator1.zip"), map[string]string{
		"20260101_000000_exceptions_operator1.csv": "imei,imsi,msisdn\n35209900176148,001010000000001,\n",
	})
	out, errOut, code := e.eirctl(t, "", "sync", "now")
	if code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("sync now: %d\n%s%s", code, out, errOut)
	}
	if got := status("35209900176148", ""); got != 1 {
		t.Fatalf("blacklisted IMEI: %d", got)
	}
	if got := status("35209900176148", "001010000000001"); got != 0 {
		t.Fatalf("exception pair: %d", got)
	}
	if got := status("49015420323751", ""); got != 1 {
		t.Fatalf("gsma stolen list over HTTPS: %d", got)
	}
	// Run 47: a delta unblocking one IMEI.
	writeZip(t, filepath.Join(drop, "20260102_000000_blacklist.zip"), map[string]string{
		"20260102_000000_blacklist_delta_42_47_blocked.csv":   blacklist(),
		"20260102_000000_blacklist_delta_42_47_unblocked.csv": blacklist("26053179311383"),
		"20260102_000000_blacklist_delta_42_47_changed.csv":   blacklist(),
	})
	// A truncated package and a package with a gap.
	os.WriteFile(filepath.Join(drop, "20260102_000001_blacklist.zip"), []byte("PK\x03\x04trunc"), 0o644)
	writeZip(t, filepath.Join(drop, "20260103_000000_blacklist.zip"), map[string]string{
		"20260103_000000_blacklist_delta_50_60_blocked.csv":   blacklist("12345678901234"),
		"20260103_000000_blacklist_delta_50_60_unblocked.csv": blacklist(),
		"20260103_000000_blacklist_delta_50_60_changed.csv":   blacklist(),
	})
	out, _, _ = e.eirctl(t, "", "sync", "now", "-source", "national")
	if got := status("26053179311383", ""); got != -1 {
		t.Fatalf("unblocked IMEI: %d\n%s", got, out)
	}
	if got := status("12345678901234", ""); got != -1 {
		t.Fatalf("a delta with a gap was applied\n%s", out)
	}
	for _, name := range []string{"20260102_000001_blacklist.zip", "20260103_000000_blacklist.zip"} {
		if _, err := os.Stat(filepath.Join(drop, "rejected", name+".reason")); err != nil {
			t.Errorf("%s not rejected with a reason: %v\n%s", name, err, out)
		}
	}
	// The status shows the runs, the true counts of the last apply (run
	// 47 removed one entry), the resync need and the rejections.
	out, _, code = e.eirctl(t, "", "-o", "json", "sync", "status")
	if code != 0 || !strings.Contains(out, `"run": 47`) || !strings.Contains(out, `"removed": 1`) {
		t.Errorf("sync status does not show run 47 removing 1 entry:\n%s", out)
	}
	out, _, code = e.eirctl(t, "", "sync", "status")
	for _, want := range []string{"national  blacklist", "47", "gsma", "needs a full list", "recent rejections", "REMOVED"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("sync status lacks %q:\n%s", want, out)
		}
	}
	// The HTTPS source answers 304 the second time: no new file.
	before := reg.requests()
	out, _, _ = e.eirctl(t, "", "sync", "now", "-source", "gsma")
	if reg.requests() != before+1 || strings.Contains(out, "downloaded") {
		t.Errorf("second pull: %d requests, output:\n%s", reg.requests()-before, out)
	}
	// A shrunken gsma list is held, then approved.
	reg.set("imei,reporting_date,status\n")
	out, _, _ = e.eirctl(t, "", "sync", "now", "-source", "gsma")
	if !strings.Contains(out, "held") {
		t.Fatalf("shrunken list not held:\n%s", out)
	}
	if got := status("49015420323751", ""); got != 1 {
		t.Fatalf("a held list was applied")
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "gsma-spool", "held"))
	var held string
	for _, en := range entries {
		if !strings.HasSuffix(en.Name(), ".reason") {
			held = en.Name()
		}
	}
	out, errOut, code = e.eirctl(t, "", "sync", "approve", "gsma", held)
	if code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("approve: %d\n%s%s", code, out, errOut)
	}
	if got := status("49015420323751", ""); got != -1 {
		t.Fatalf("approved empty list not applied: %d", got)
	}
	e.waitMetric(t, `eir_sync_rejected_files_total{reason="zip",source="national"}`, 1, 5*time.Second)
}

// TestSyncKilledDuringApply kills eird in the middle of applying a large
// list: the previous version keeps serving, and the next eird applies the
// list.
func TestSyncKilledDuringApply(t *testing.T) {
	rds := redistest.Start(t, redistest.WithPersistence())
	cfg := baseConfig + `
sync:
  lock_ttl: 2s
  sources:
    - name: national
      format: stolen
      interval: 1h
      settle: 1ms
      dir: "{{dir}}/national"
`
	e := startEIRD(t, fmt.Sprintf(cfg, rds.Addr()))
	drop := filepath.Join(e.dir, "national")
	os.MkdirAll(drop, 0o750)
	os.WriteFile(filepath.Join(drop, "a.csv"), []byte("imei\n35209900176148\n"), 0o644)
	if _, _, code := e.eirctl(t, "", "sync", "now"); code != 0 {
		t.Fatal("first pass failed")
	}
	// 1.5 million rows, replacing the list.
	var b strings.Builder
	b.WriteString("imei\n")
	for i := 0; i < 1_500_000; i++ {
		fmt.Fprintf(&b, "86%012d\n", i*7)
	}
	fmt.Fprintf(&b, "35209900176148\n")
	os.WriteFile(filepath.Join(drop, "b.csv"), []byte(b.String()), 0o644)
	cmd := e.eirctlAsync(t, "sync", "now")
	rdb := rds.Client(t)
	testenv.Eventually(t, "the build to start", 60*time.Second, func() bool {
		n, _ := rdb.ZCard(context.Background(), "{eir:meta}:building").Result()
		return n > 0
	})
	e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
	cmd.Wait()
	// The version in force is intact: the old list, complete.
	e2 := startEIRDIn(t, e.dir, fmt.Sprintf(cfg, rds.Addr()))
	c, err := s13client.Dial(ctxT(t), e2.diameter, s13client.Options{OriginHost: "mme9.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := func(imei string) int {
		a, err := c.Check(ctxT(t), imei, "")
		if err != nil {
			t.Fatal(err)
		}
		return s13client.EquipmentStatus(a.Msg)
	}
	if got := check("35209900176148"); got != 1 {
		t.Fatalf("old list not serving after the kill: %d", got)
	}
	if got := check("86000000000007"); got != -1 {
		t.Fatalf("a half-built list is visible")
	}
	// The dead eird's lock is taken over at once (same host, its process
	// is gone); the file whose processing the kill interrupted is
	// rejected, not retried forever (a file that crashes eird would crash
	// every restart).
	// (The pass eird runs at start does it.)
	testenv.Eventually(t, "b.csv rejected crashed_during_processing after the restart", 20*time.Second, func() bool {
		out, _, _ := e2.eirctl(t, "", "sync", "status")
		return strings.Contains(out, "crashed_during_processing")
	})
	if _, err := os.Stat(filepath.Join(drop, "rejected", "b.csv")); err != nil {
		t.Fatalf("b.csv not in rejected/: %v", err)
	}
	if strings.Contains(e2.log(), "sync lock held") {
		t.Fatal("the dead eird's lock blocked the pass")
	}
	// The operator checks the file and drops it again: it is applied.
	if err := os.Rename(filepath.Join(drop, "rejected", "b.csv"), filepath.Join(drop, "b.csv")); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := e2.eirctl(t, "", "sync", "now"); code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("pass after the file was dropped again: %d\n%s%s", code, out, errOut)
	}
	if got := check("86000000000007"); got != 1 || check("35209900176148") != 1 {
		t.Fatal("list not applied after restart")
	}
}
