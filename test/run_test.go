package test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// The tests of scripts/run.sh (make run) run the script itself, with the
// binaries built by TestMain (EIRD_BIN_DIR), a configuration of their own on
// free ports (EIRD_CONFIG) and, when the script starts a Redis, its data in
// a temporary folder (EIRD_REDIS_DIR): never 6379, never .run/.

// runBanner is the first line of what run.sh prints once eird is ready.
const runBanner = "eird is ready: S13 Diameter on "

// runScript is one run of scripts/run.sh.
type runScript struct {
	cmd    *exec.Cmd
	out    string // file of stdout and stderr, interleaved
	exited chan struct{}
	code   int
	once   sync.Once
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runConfig writes a configuration listening on the given ports, with the
// Redis at redisAddr, and returns its path. bootstrap loads the demo lists
// (ready at once); without it /readyz is 503 until a list is loaded.
func runConfig(t *testing.T, dir string, diameterPort, adminPort int, redisAddr string, bootstrap bool) string {
	t.Helper()
	demo, err := filepath.Abs("../demo")
	if err != nil {
		t.Fatal(err)
	}
	files := "[]"
	if bootstrap {
		files = fmt.Sprintf("[%s/imeis.csv, %s/tacs.csv]", demo, demo)
	}
	// No snapshot: what a restart answers comes from Redis alone.
	cfg := fmt.Sprintf(`diameter:
  listen: 127.0.0.1:%d
  origin_host: eir.localdomain
  origin_realm: localdomain
  peers: [{origin_host: "*", addresses: ["127.0.0.0/8"]}]
redis:
  addresses: [%q]
store:
  snapshot_dir: ""
admin:
  listen: 127.0.0.1:%d
log:
  format: json
bootstrap:
  files: %s
`, diameterPort, redisAddr, adminPort, files)
	path := filepath.Join(dir, "eird.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startRun starts scripts/run.sh with config, the environment env added
// (EIR_* and EIRD_* variables of the test's own environment removed), in
// its own process group as a terminal's foreground job.
func startRun(t *testing.T, config, redisDir string, env ...string) *runScript {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "run.out")
	outf, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	r := &runScript{out: outPath, exited: make(chan struct{})}
	r.cmd = exec.Command("bash", "../scripts/run.sh")
	r.cmd.Stdout, r.cmd.Stderr = outf, outf
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EIR_") && !strings.HasPrefix(kv, "EIRD_") {
			r.cmd.Env = append(r.cmd.Env, kv)
		}
	}
	r.cmd.Env = append(r.cmd.Env, noRaceExitSleep, "EIRD_BIN_DIR="+binDir, "EIRD_CONFIG="+config, "EIRD_REDIS_DIR="+redisDir)
	r.cmd.Env = append(r.cmd.Env, env...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		r.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode() // -1 when killed by a signal
		}
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.stop(t, syscall.SIGTERM)
		// The Redis run.sh started runs in its own session.
		if b, err := os.ReadFile(filepath.Join(redisDir, "redis.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("run.sh output:\n%s", r.output())
		}
	})
	return r
}

func (r *runScript) output() string {
	b, _ := os.ReadFile(r.out)
	return string(b)
}

// wait waits for run.sh to exit and returns its exit code.
func (r *runScript) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.exited:
		return r.code
	case <-time.After(timeout):
		t.Fatalf("run.sh still running after %v:\n%s", timeout, r.output())
		return 0
	}
}

// stop sends sig (SIGINT: to the whole process group, as Ctrl-C in a
// terminal does; otherwise to the script only) and returns the exit code.
func (r *runScript) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	r.once.Do(func() {
		if sig == syscall.SIGINT {
			syscall.Kill(-r.cmd.Process.Pid, sig)
		} else {
			r.cmd.Process.Signal(sig)
		}
		select {
		case <-r.exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.exited
			t.Errorf("run.sh did not exit within 30s of %v", sig)
		}
	})
	return r.code
}

// waitBanner waits for the banner; it fails at once when run.sh exits first.
func (r *runScript) waitBanner(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, "run.sh to print that eird is ready", 60*time.Second, func() bool {
		select {
		case <-r.exited:
			t.Fatalf("run.sh exited (%d) before the banner:\n%s", r.code, r.output())
		default:
		}
		return strings.Contains(r.output(), runBanner)
	})
}

// readyz returns the status code of GET /readyz, or 0 when nothing answers.
func readyz(admin string) int {
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// mustContain fails unless run.sh's output holds every one of want.
func (r *runScript) mustContain(t *testing.T, want ...string) {
	t.Helper()
	out := r.output()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("run.sh output lacks %q:\n%s", w, out)
		}
	}
}

// mustNotContain fails when run.sh's output holds one of bad.
func (r *runScript) mustNotContain(t *testing.T, bad ...string) {
	t.Helper()
	out := r.output()
	for _, b := range bad {
		if strings.Contains(out, b) {
			t.Errorf("run.sh output holds %q:\n%s", b, out)
		}
	}
}

// TestRunBannerWaitsForReadyz: while /readyz answers 503 (eird listens but
// holds no list), run.sh prints no "in another terminal" hints; once a list
// is loaded, it prints them with the configured addresses. SIGTERM then
// stops eird and run.sh exits 0.
func TestRunBannerWaitsForReadyz(t *testing.T) {
	rds := redistest.Start(t)
	dir := t.TempDir()
	dport, aport := freePort(t), freePort(t)
	admin := fmt.Sprintf("127.0.0.1:%d", aport)
	r := startRun(t, runConfig(t, dir, dport, aport, rds.Addr(), false), filepath.Join(dir, "redis"))
	testenv.Eventually(t, "/readyz to answer 503 (no lists yet)", 60*time.Second, func() bool {
		select {
		case <-r.exited:
			t.Fatalf("run.sh exited (%d):\n%s", r.code, r.output())
		default:
		}
		return readyz(admin) == http.StatusServiceUnavailable
	})
	// /readyz has answered nothing but 503 so far: no banner.
	r.mustNotContain(t, runBanner, "In another terminal")
	r.mustContain(t, "run: using the Redis at "+rds.Addr()+" (standalone)")

	ctl := &eird{admin: admin}
	if out, errOut, code := ctl.eirctl(t, "", "add", "-reason", "run.sh test", "35693803564380"); code != 0 {
		t.Fatalf("eirctl add: exit %d\n%s%s", code, out, errOut)
	}
	r.waitBanner(t)
	if code := readyz(admin); code != http.StatusOK {
		t.Errorf("/readyz %d after the banner, want 200", code)
	}
	r.mustContain(t,
		fmt.Sprintf("%s127.0.0.1:%d (tcp)", runBanner, dport),
		"admin API on http://"+admin,
		fmt.Sprintf("eirbench check -addr 127.0.0.1:%d ", dport),
		"eirctl -server http://"+admin+" check ")
	r.mustNotContain(t, "N5g-eir on") // n5g.listen is empty
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("run.sh exited %d after SIGTERM, want 0:\n%s", code, r.output())
	}
}

// TestRunExitStatus: run.sh exits with eird's status when eird cannot
// start, before printing any hint.
func TestRunExitStatus(t *testing.T) {
	t.Run("missing config", func(t *testing.T) {
		dir := t.TempDir()
		r := startRun(t, filepath.Join(dir, "nonexistent.yaml"), filepath.Join(dir, "redis"))
		if code := r.wait(t, 30*time.Second); code != 2 {
			t.Errorf("exit %d, want 2 (eird's configuration error)", code)
		}
		r.mustContain(t, "eird: configuration:", "nonexistent.yaml: no such file or directory")
		r.mustNotContain(t, "redis-server", runBanner)
	})
	t.Run("diameter port in use", func(t *testing.T) {
		rds := redistest.Start(t)
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		dir := t.TempDir()
		cfg := runConfig(t, dir, busy.Addr().(*net.TCPAddr).Port, freePort(t), rds.Addr(), true)
		r := startRun(t, cfg, filepath.Join(dir, "redis"))
		if code := r.wait(t, 60*time.Second); code != 1 {
			t.Errorf("exit %d, want 1 (eird's)", code)
		}
		r.mustContain(t, "address already in use", "run: eird exited with status 1")
		r.mustNotContain(t, runBanner)
	})
	// Another process answers /readyz 200 on the admin address: its answer
	// is not taken for this eird's.
	t.Run("admin port answering readyz", func(t *testing.T) {
		rds := redistest.Start(t)
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer other.Close()
		dir := t.TempDir()
		cfg := runConfig(t, dir, freePort(t), other.Listener.Addr().(*net.TCPAddr).Port, rds.Addr(), true)
		r := startRun(t, cfg, filepath.Join(dir, "redis"))
		if code := r.wait(t, 60*time.Second); code != 1 {
			t.Errorf("exit %d, want 1 (eird's)", code)
		}
		r.mustContain(t, "run: something already listens on "+other.Listener.Addr().String(),
			"address already in use", "run: eird exited with status 1")
		r.mustNotContain(t, runBanner)
	})
}

// TestRunNoLocalRedisForOtherAddresses: run.sh starts a local redis-server
// only for one loopback address in standalone mode, read as eird reads it
// (EIR_* variables over the file); any other Redis that does not answer
// ends run.sh with status 1 and a message that says so, eird not started.
func TestRunNoLocalRedisForOtherAddresses(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	loopback := fmt.Sprintf("127.0.0.1:%d", p1)
	for _, tc := range []struct {
		name, file string
		env        []string
		want       string
	}{
		{"remote in the file", "192.0.2.1:6379", nil, "Redis at 192.0.2.1:6379 (standalone) is not reachable"},
		{"remote in EIR_REDIS_ADDRESSES over a loopback one in the file", loopback,
			[]string{"EIR_REDIS_ADDRESSES=192.0.2.1:6379"}, "Redis at 192.0.2.1:6379 (standalone) is not reachable"},
		{"two loopback cluster seeds", loopback,
			[]string{"EIR_REDIS_MODE=cluster", fmt.Sprintf("EIR_REDIS_ADDRESSES=127.0.0.1:%d,127.0.0.1:%d", p1, p2)},
			fmt.Sprintf("Redis at 127.0.0.1:%d 127.0.0.1:%d (cluster) is not reachable", p1, p2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			redisDir := filepath.Join(dir, "redis")
			r := startRun(t, runConfig(t, dir, freePort(t), freePort(t), tc.file, true), redisDir, tc.env...)
			if code := r.wait(t, 30*time.Second); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			r.mustContain(t, tc.want, "only for one loopback address (127.0.0.0/8, ::1, localhost) in standalone mode")
			r.mustNotContain(t, "starting redis-server", "starting eird", runBanner)
			if _, err := os.Stat(redisDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("run.sh made %s (%v): a local Redis was prepared", redisDir, err)
			}
		})
	}
}

// TestRunRedisKeepsEntriesAcrossRestart: the Redis run.sh starts keeps a
// manual entry and its audit record across Ctrl-C and a new run (its
// append-only file in EIRD_REDIS_DIR); eird keeps no local copy here, so
// the answer after the restart comes from Redis.
func TestRunRedisKeepsEntriesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	redisDir := filepath.Join(dir, "redis")
	redisAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	aport := freePort(t)
	cfg := runConfig(t, dir, freePort(t), aport, redisAddr, true)
	ctl := &eird{admin: fmt.Sprintf("127.0.0.1:%d", aport)}
	const imei, reason = "35693803564380", "stolen, reported by run.sh test"

	r := startRun(t, cfg, redisDir)
	r.waitBanner(t)
	r.mustContain(t, "run: no Redis at "+redisAddr+"; starting redis-server there", "then the Redis run.sh started")
	if out, errOut, code := ctl.eirctl(t, "", "add", "-reason", reason, imei); code != 0 {
		t.Fatalf("eirctl add: exit %d\n%s%s", code, out, errOut)
	}
	if code := r.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("run.sh exited %d after Ctrl-C, want 0:\n%s", code, r.output())
	}
	// run.sh stopped its Redis after eird.
	if c, err := net.Dial("tcp", redisAddr); err == nil {
		c.Close()
		t.Fatalf("Redis at %s still answers after run.sh exited", redisAddr)
	}

	r2 := startRun(t, cfg, redisDir)
	r2.waitBanner(t)
	r2.mustContain(t, "run: no Redis at "+redisAddr+"; starting redis-server there")
	out, errOut, code := ctl.eirctl(t, "", "check", imei)
	if code != 0 || !strings.Contains(out, "BLACKLISTED") || !strings.Contains(out, "manual") {
		t.Errorf("eirctl check %s after the restart: exit %d, want BLACKLISTED by manual\n%s%s", imei, code, out, errOut)
	}
	out, errOut, code = ctl.eirctl(t, "", "audit", "-imei", imei)
	if code != 0 || !strings.Contains(out, reason) || !strings.Contains(out, "entry.add") {
		t.Errorf("eirctl audit -imei %s after the restart: exit %d, want the entry.add with its reason\n%s%s", imei, code, out, errOut)
	}
	if code := r2.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("run.sh exited %d after SIGTERM, want 0", code)
	}
}
