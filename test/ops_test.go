package test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/certtest"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// opsConfig is baseConfig with tokens, a fast expiry sweep and the shadow
// sources given.
func opsConfig(redisAddr, shadow string) string {
	c := fmt.Sprintf(baseConfig, redisAddr)
	c = strings.Replace(c, "  version_grace: 5s\n", "  version_grace: 5s\n  expiry_sweep: 200ms\n", 1)
	return c + `  tokens:
    - {name: alice, token: alice-secret, role: write, sources: ["*"]}
    - {name: bob, token: bob-secret, role: read}
policy:
  shadow_sources: [` + shadow + `]
`
}

// answer summarises an ECA: "2001 es=1" or "exp 5422".
func answer(t *testing.T, a s13client.Answer) string {
	t.Helper()
	if er, err := a.Msg.FindAVP(avp.ExperimentalResult, 0); err == nil {
		for _, c := range er.Data.(*diam.GroupedAVP).AVP {
			if c.Code == avp.ExperimentalResultCode {
				return fmt.Sprintf("exp %d", uint32(c.Data.(datatype.Unsigned32)))
			}
		}
	}
	rc, err := a.Msg.FindAVP(avp.ResultCode, 0)
	if err != nil {
		t.Fatalf("no Result-Code in %v", a.Msg)
	}
	out := fmt.Sprint(uint32(rc.Data.(datatype.Unsigned32)))
	if es, err := a.Msg.FindAVP(avp.EquipmentStatus, 10415); err == nil {
		out += fmt.Sprintf(" es=%d", int32(es.Data.(datatype.Enumerated)))
	}
	return out
}

// ctl runs eirctl as one of alice, bob or nobody and fails on an unexpected
// exit code.
func ctl(t *testing.T, e *eird, who string, wantCode int, args ...string) string {
	t.Helper()
	if who != "" {
		args = append([]string{"-token", who + "-secret"}, args...)
	}
	out, errOut, code := e.eirctl(t, "", args...)
	if code != wantCode {
		t.Fatalf("eirctl %s as %q: exit %d, want %d\n%s%s", strings.Join(args, " "), who, code, wantCode, out, errOut)
	}
	return out + errOut
}

// TestOperatorDay is a day of operations through eirctl against a running
// eird: a stolen phone is blocked and seen on S13, the hit shows up in
// the events, the entry is removed with a reason and everything is in the
// audit trail; roles are enforced; a temporary block expires on time; a
// trial source runs in shadow mode; peers, tokens and policy are reloaded
// by SIGHUP and by eirctl without dropping a connection; SIGTERM writes the
// events still queued.
func TestOperatorDay(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, opsConfig(rds.Addr(), ""))
	for _, csv := range []string{demoLists, ruleLists, rangeLists} {
		if out, errOut, code := e.eirctl(t, csv, "-token", "alice-secret", "import", "-reason", "operator day lists", "-"); code != 0 {
			t.Fatalf("eirctl import: exit %d\n%s%s", code, out, errOut)
		}
	}
	mme, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme1.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mme.Close()
	check := func(imei string) string {
		t.Helper()
		a, err := mme.Check(ctxT(t), imei, "")
		if err != nil {
			t.Fatalf("ECR %s: %v", imei, err)
		}
		return answer(t, a)
	}
	const stolen = "35693803564380"
	if got := check(stolen); got != "exp 5422" {
		t.Fatalf("before the block: %s", got)
	}

	// 08:00 a stolen phone is reported and blocked.
	out := ctl(t, e, "alice", 0, "add", "-list", "black", "-reason", "stolen, police report 2026/4711", stolen+"6")
	if !strings.Contains(out, "ADDED") || !strings.Contains(out, "manual/imei/black") {
		t.Fatalf("add:\n%s", out)
	}
	if got := check(stolen); got != "2001 es=1" {
		t.Fatalf("after the block: %s", got)
	}
	// The MME's check is a hit event.
	testenv.Eventually(t, "the hit in eirctl events", 10*time.Second, func() bool {
		out := ctl(t, e, "bob", 0, "events")
		return strings.Contains(out, stolen) && strings.Contains(out, "BLACKLISTED") && strings.Contains(out, "mme1.e2e.test")
	})
	// Roles: bob reads only, nobody may do nothing.
	ctl(t, e, "bob", 3, "add", "-list", "black", "-reason", "x", "49015420323751")
	if out := ctl(t, e, "", 3, "list"); !strings.Contains(out, "give a token with") {
		t.Fatalf("list without a token does not ask for one:\n%s", out)
	}
	for _, cmd := range []string{"list", "status"} {
		out := ctl(t, e, "nobody", 3, cmd)
		if !strings.Contains(out, "eird refused the token from -token:") || strings.Contains(out, "give a token") ||
			strings.Contains(out, "readiness") || strings.Contains(out, "nobody-secret") {
			t.Fatalf("%s with a wrong token:\n%s", cmd, out)
		}
	}
	out = ctl(t, e, "bob", 0, "list", "-imei", stolen)
	if !strings.Contains(out, "stolen, police report 2026/4711") || !strings.Contains(out, "alice") {
		t.Fatalf("list -imei:\n%s", out)
	}

	// 11:00 the owner got the phone back.
	ctl(t, e, "alice", 2, "remove", stolen) // no reason: a usage error
	out = ctl(t, e, "alice", 0, "remove", "-reason", "returned to owner", stolen)
	if !strings.Contains(out, "removed 1 entry") {
		t.Fatalf("remove:\n%s", out)
	}
	if got := check(stolen); got != "exp 5422" {
		t.Fatalf("after the removal: %s", got)
	}
	ctl(t, e, "alice", 3, "remove", "-reason", "again", stolen)
	out = ctl(t, e, "bob", 0, "audit", "-imei", stolen)
	for _, want := range []string{"entry.add", "entry.remove", "alice", "returned to owner", "stolen, police report 2026/4711"} {
		if !strings.Contains(out, want) {
			t.Fatalf("audit has no %q:\n%s", want, out)
		}
	}

	// A temporary block expires by itself: checks stop matching at the
	// expiry, the sweeper removes and audits it.
	const temp = "86000000000001" // also in gsma's grey range
	ctl(t, e, "alice", 0, "add", "-list", "black", "-for", "3s", "-reason", "blocked while the report is checked", temp)
	if got := check(temp); got != "2001 es=1" {
		t.Fatalf("temporary block: %s", got)
	}
	testenv.Eventually(t, "the temporary block to expire", 10*time.Second, func() bool { return check(temp) == "2001 es=2" })
	testenv.Eventually(t, "the expiry in the audit trail", 10*time.Second, func() bool {
		return strings.Contains(ctl(t, e, "bob", 0, "audit", "-action", "entry.expire"), temp)
	})

	// A trial source in shadow mode, switched on by SIGHUP.
	const trial = "12345678901234"
	ctl(t, e, "alice", 0, "add", "-list", "black", "-source", "trial", "-reason", "new registry feed", trial)
	if got := check(trial); got != "2001 es=1" {
		t.Fatalf("trial source enforced: %s", got)
	}
	writeConfig(t, e, opsConfig(rds.Addr(), "trial"))
	e.cmd.Process.Signal(syscall.SIGHUP)
	e.waitLog(t, `"actor":"SIGHUP","changed"`, 10*time.Second)
	if got := check(trial); got != "2001 es=0" {
		t.Fatalf("trial source in shadow mode: %s, want WHITELISTED", got)
	}
	out = ctl(t, e, "bob", 0, "check", trial)
	if !strings.Contains(out, "SHADOW VERDICT") || !strings.Contains(out, "trial") {
		t.Fatalf("check in shadow mode:\n%s", out)
	}
	testenv.Eventually(t, "the shadow verdict event", 10*time.Second, func() bool {
		out := ctl(t, e, "bob", 0, "-o", "json", "events", "-limit", "1000")
		return strings.Contains(out, `"shadow": true`) && strings.Contains(out, trial)
	})
	e.waitLog(t, "shadow verdict not enforced", 5*time.Second)
	if v := e.metric(t, `eir_check_shadow_decisions_total{interface="s13",list_source="trial",rule="imei",status="blacklisted"}`); v != 1 {
		t.Fatalf("shadow decisions counted: %v", v)
	}

	// A reload through eirctl: bob's token is withdrawn, carol's added,
	// mme1 no longer allowed. The open connection stays up.
	cfg := opsConfig(rds.Addr(), "trial")
	cfg = strings.Replace(cfg, "- {name: bob, token: bob-secret, role: read}", "- {name: carol, token: carol-secret, role: read}", 1)
	cfg = strings.Replace(cfg, `"mme*.e2e.test"`, `"mme2.e2e.test"`, 1)
	writeConfig(t, e, strings.Replace(cfg, "shadow_sources: [trial]", "shadow_sources: [Not A Source]", 1))
	out = ctl(t, e, "alice", 3, "reload")
	if !strings.Contains(out, "policy.shadow_sources") {
		t.Fatalf("invalid reload:\n%s", out)
	}
	ctl(t, e, "bob", 0, "status") // nothing changed
	writeConfig(t, e, cfg)
	if out := ctl(t, e, "alice", 0, "reload"); !strings.Contains(out, "reloaded") {
		t.Fatalf("reload:\n%s", out)
	}
	ctl(t, e, "bob", 3, "list")
	if out := ctl(t, e, "bob", 3, "status"); !strings.Contains(out, "eird refused the token from -token:") {
		t.Fatalf("status with a withdrawn token:\n%s", out)
	}
	ctl(t, e, "carol", 0, "list")
	if got := check(trial); got != "2001 es=0" {
		t.Fatalf("the open connection after the reload: %s", got)
	}
	again, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme1.e2e.test", OriginRealm: "e2e.test"})
	if again != nil {
		again.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "CEA result code") {
		t.Fatalf("a new connection of mme1 after it left the allow-list: %v", err)
	}
	out = ctl(t, e, "carol", 0, "audit", "-action", "config.reload")
	if !strings.Contains(out, "SIGHUP") || !strings.Contains(out, "alice") {
		t.Fatalf("reloads in the audit trail:\n%s", out)
	}

	// SIGTERM under load: every check answered has its event in the
	// stream, also those still queued when the signal came.
	const last = "86000000000777" // greylisted by gsma's range, not checked before
	var answered atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				a, err := mme.Check(ctx, last, "")
				cancel()
				if err != nil || answer(t, a) != "2001 es=2" {
					return
				}
				answered.Add(1)
			}
		}()
	}
	testenv.Eventually(t, "checks under load", 10*time.Second, func() bool { return answered.Load() >= 300 })
	if err := e.stop(t); err != nil {
		t.Fatalf("eird exit: %v", err)
	}
	wg.Wait()
	if !strings.Contains(e.log(), "eird stopped") {
		t.Fatalf("no clean stop:\n%s", e.log())
	}
	if n := strings.Count(streamDocs(t, rds), `"imei":"`+last+`"`); int64(n) < answered.Load() {
		t.Fatalf("%d events in the stream after SIGTERM for %d checks answered", n, answered.Load())
	}
}

// streamDocs reads the whole events stream.
func streamDocs(t *testing.T, rds *redistest.Server) string {
	t.Helper()
	msgs, err := rds.Client(t).XRange(ctxT(t), "eir:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintln(&b, m.Values["doc"])
	}
	return b.String()
}

func writeConfig(t *testing.T, e *eird, cfg string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "eird.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAdminMutualTLS runs the admin API over HTTPS with client
// certificates: eirctl authenticates with its certificate, a reader's
// certificate cannot write, no certificate and no token is refused, and the
// probes need neither.
func TestAdminMutualTLS(t *testing.T) {
	rds := redistest.Start(t)
	ca := certtest.NewCA(t, "ops")
	srvCert, srvKey := ca.Server(t, "eird")
	cfg := fmt.Sprintf(baseConfig, rds.Addr()) + fmt.Sprintf(`  tls:
    cert_file: %s
    key_file: %s
    client_ca_file: %s
    writers: [noc-writer]
    readers: [noc-reader]
    writer_sources: ["*"]
`, srvCert, srvKey, ca.CertFile)
	e := startEIRD(t, cfg)
	run := func(cn string, stdin string, args ...string) (string, int) {
		t.Helper()
		base := []string{"-server", "https://" + e.admin, "-cacert", ca.CertFile}
		if cn != "" {
			cert, key := ca.Client(t, cn)
			base = append(base, "-cert", cert, "-key", key)
		}
		cmd := exec.Command(filepath.Join(binDir, "eirctl"), append(base, args...)...)
		cmd.Env = append(os.Environ(), noRaceExitSleep)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("noc-writer", demoLists, "import", "-reason", "demo lists", "-"); code != 0 {
		t.Fatalf("import with the writer's certificate: exit %d\n%s", code, out)
	}
	if out, code := run("noc-reader", "", "check", "35209900176148"); code != 0 || !strings.Contains(out, "BLACKLISTED") {
		t.Fatalf("check with the reader's certificate: exit %d\n%s", code, out)
	}
	if out, code := run("noc-reader", "", "add", "-reason", "x", "49015420323751"); code != 3 || !strings.Contains(out, "may only read") {
		t.Fatalf("add with the reader's certificate: exit %d\n%s", code, out)
	}
	if out, code := run("intern", "", "datasets"); code != 3 || !strings.Contains(out, "has no role") {
		t.Fatalf("a certificate without a role: exit %d\n%s", code, out)
	}
	if out, code := run("", "", "datasets"); code != 3 {
		t.Fatalf("no certificate: exit %d\n%s", code, out)
	}
	// The summary record of the import: the certificate is the actor, and
	// the file name, the sources and the reason are recorded.
	out, _ := run("noc-writer", "", "audit", "-action", "import")
	summary := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "standard input") {
			summary = l
		}
	}
	if !regexp.MustCompile(`\s+cert:noc-writer\s+import\s+standard input\s+gsma,manual,national\s+demo lists$`).MatchString(summary) {
		t.Fatalf("the import's summary record: %q\n%s", summary, out)
	}
	// Probes: HTTPS, no client certificate.
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca.CertFile)
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + e.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz over HTTPS without a certificate: %d", resp.StatusCode)
	}
}
