// Package test holds black-box end-to-end tests: the eird and eirctl
// binaries, built by the tests, run against a real redis-server started on a
// free port, and are driven over the wire (S13 over TCP, the admin API over
// HTTP), with tshark and freeDiameter as independent checks.
package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/eir-sidecar/eir/internal/testenv"
)

var binDir string

// noRaceExitSleep stops the race detector of the binaries (built with
// -race) from sleeping a second at exit.
const noRaceExitSleep = "GORACE=atexit_sleep_ms=0"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eir-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-race", "-o", dir+"/", "../cmd/eird", "../cmd/eirctl", "../cmd/eirbench")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binaries:", err)
		os.Exit(1)
	}
	code := 0
	func() {
		defer os.RemoveAll(dir)
		code = m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goroutine leak:", err)
				code = 1
			}
		}
	}()
	os.Exit(code)
}

// eird is a running eird process.
type eird struct {
	cmd      *exec.Cmd
	dir      string
	logPath  string
	diameter string // host:port of the Diameter listener
	dtls     string // host:port of the Diameter TLS listener, when configured
	admin    string // host:port of the admin API
	n5g      string // host:port of the N5g-eir listener, when configured
	exited   chan struct{}
	exitErr  error
	stopOnce sync.Once
}

// startEIRD writes config (YAML; "{{dir}}" is replaced by a temp dir) and
// starts eird with it, listening on ports chosen by the kernel, and waits
// until it logs that it listens ("eird listening", with the addresses);
// "eird ready" comes once a list version is loaded.
func startEIRD(t *testing.T, config string, env ...string) *eird {
	t.Helper()
	return startEIRDIn(t, t.TempDir(), config, env...)
}

// startEIRDIn is startEIRD with the directory given (a restart keeps its
// drop directories).
func startEIRDIn(t *testing.T, dir, config string, env ...string) *eird {
	t.Helper()
	return startEIRDWith(t, dir, config, nil, env...)
}

// startEIRDWith is startEIRDIn with a command prefix that runs eird, e.g.
// `ip netns exec NS` (which execs eird: the process is eird's).
func startEIRDWith(t *testing.T, dir, config string, prefix []string, env ...string) *eird {
	t.Helper()
	config = strings.ReplaceAll(config, "{{dir}}", dir)
	cfgPath := filepath.Join(dir, "eird.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &eird{dir: dir, logPath: filepath.Join(dir, fmt.Sprintf("eird-%d.log", time.Now().UnixNano())), exited: make(chan struct{})}
	logf, err := os.Create(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string{}, prefix...), filepath.Join(binDir, "eird"), "-config", cfgPath)
	e.cmd = exec.Command(argv[0], argv[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.Env = append(os.Environ(), noRaceExitSleep)
	if !strings.Contains(config, "snapshot_dir") {
		// Each eird keeps its local copy of the lists in its own folder,
		// never in the default /var/lib/eird shared by every test.
		e.cmd.Env = append(e.cmd.Env, "EIR_STORE_SNAPSHOT_DIR="+filepath.Join(dir, "snapshot"))
	}
	e.cmd.Env = append(e.cmd.Env, env...)
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		e.exitErr = e.cmd.Wait()
		logf.Close()
		close(e.exited)
	}()
	t.Cleanup(func() {
		e.stop(t)
		if t.Failed() {
			t.Logf("eird log:\n%s", e.log())
		}
	})
	listening := e.waitLog(t, `"eird listening"`, 20*time.Second)
	var fields struct {
		Diameter, Admin, N5g string
		DiameterTLS          string `json:"diameter_tls"`
	}
	json.Unmarshal([]byte(listening), &fields)
	e.diameter, e.admin, e.n5g, e.dtls = fields.Diameter, fields.Admin, fields.N5g, fields.DiameterTLS
	if e.diameter == "" && e.dtls == "" {
		t.Fatalf("no diameter address in %q", listening)
	}
	return e
}

func (e *eird) log() string {
	b, _ := os.ReadFile(e.logPath)
	return string(b)
}

// waitLog polls the log for a line containing s and returns it; it fails
// at once when eird exits first.
func (e *eird) waitLog(t *testing.T, s string, timeout time.Duration) string {
	t.Helper()
	var line string
	testenv.Eventually(t, fmt.Sprintf("eird to log %q", s), timeout, func() bool {
		sc := bufio.NewScanner(strings.NewReader(e.log()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), s) {
				line = sc.Text()
				return true
			}
		}
		select {
		case <-e.exited:
			t.Fatalf("eird exited (%v) before logging %q:\n%s", e.exitErr, s, e.log())
		default:
		}
		return false
	})
	return line
}

func (e *eird) hasLog(s string) bool { return strings.Contains(e.log(), s) }

// metric returns the value of one series of eird's /metrics, or -1.
func (e *eird) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + e.admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// waitMetric polls /metrics until series reaches at least min.
func (e *eird) waitMetric(t *testing.T, series string, min float64, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%s to reach %v", series, min), timeout, func() bool { return e.metric(t, series) >= min })
}

// storeState reads GET /v1/store (no token: the test configurations
// without admin tokens).
func (e *eird) storeState(t *testing.T) (state string, held bool) {
	t.Helper()
	resp, err := http.Get("http://" + e.admin + "/v1/store")
	if err != nil {
		t.Fatalf("GET /v1/store: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		State   string `json:"state"`
		Replica bool   `json:"replica"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	return st.State, st.Replica
}

// waitHeld polls until eird holds every list in force and Redis confirms
// them: a fault injected afterwards finds the lists in its memory.
func (e *eird) waitHeld(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, "eird to hold the lists in force, confirmed by Redis", 20*time.Second, func() bool {
		state, held := e.storeState(t)
		return state == "ok" && held
	})
}

// stop sends SIGTERM and waits for the exit; it returns the exit error.
func (e *eird) stop(t *testing.T) error {
	e.stopOnce.Do(func() {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(20 * time.Second):
			e.cmd.Process.Kill()
			<-e.exited
			t.Errorf("eird did not exit within 20s of SIGTERM")
		}
	})
	return e.exitErr
}

// eirctl runs the eirctl binary against e's admin API.
func (e *eird) eirctl(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "eirctl"), append([]string{"-server", "http://" + e.admin}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	cmd.Env = append(os.Environ(), noRaceExitSleep)
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("eirctl: %v", err)
	}
	return out.String(), errb.String(), code
}

// eirctlAsync starts eirctl without waiting for it.
func (e *eird) eirctlAsync(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "eirctl"), append([]string{"-server", "http://" + e.admin, "-timeout", "5m"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}
