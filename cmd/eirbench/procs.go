package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a process eirbench started; its output goes to a log file.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	exitErr error
}

// startChild starts bin with args, output appended to logPath.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &child{name: name, logPath: logPath, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.SysProcAttr = childAttr()
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.exitErr = c.cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// log returns what the child wrote so far.
func (c *child) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// waitLine polls the child's output for a JSON line containing marker
// and decodes it into v.
func (c *child) waitLine(ctx context.Context, marker string, timeout time.Duration, v any) error {
	deadline := time.Now().Add(timeout)
	for {
		sc := bufio.NewScanner(strings.NewReader(c.log()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, marker) {
				if err := json.Unmarshal([]byte(line), v); err != nil {
					return fmt.Errorf("%s: ready line %q: %w", c.name, line, err)
				}
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited (%v) before it was ready:\n%s", c.name, c.exitErr, tail(c.log(), 20))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v:\n%s", c.name, timeout, tail(c.log(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the exit, then SIGKILL after 15s.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eirdConfig is the configuration file ratio gives eird. The same keys are
// also set through EIR_* variables (eirdEnv), which win over the file and
// over any EIR_* variable of eirbench's own environment.
func eirdConfig(redisAddr, logLevel string, events bool) string {
	return fmt.Sprintf(`# written by eirbench ratio
diameter:
  listen: 127.0.0.1:0
  allow_any_peer: true
redis:
  addresses: [%q]
store:
  key_prefix: "eir:"
admin:
  listen: 127.0.0.1:0
n5g:
  listen: 127.0.0.1:0
log:
  level: %s
  format: json
events:
  enabled: %t
`, redisAddr, logLevel, events)
}

func eirdEnv(dir, redisAddr, logLevel string, events bool) []string {
	return []string{
		"EIR_STORE_SNAPSHOT_DIR=" + filepath.Join(dir, "snapshot"),
		"EIR_DIAMETER_LISTEN=127.0.0.1:0",
		"EIR_DIAMETER_ALLOW_ANY_PEER=true",
		"EIR_REDIS_MODE=standalone",
		"EIR_REDIS_ADDRESSES=" + redisAddr,
		"EIR_STORE_KEY_PREFIX=eir:",
		"EIR_ADMIN_LISTEN=127.0.0.1:0",
		"EIR_N5G_LISTEN=127.0.0.1:0",
		"EIR_LOG_LEVEL=" + logLevel,
		"EIR_LOG_FORMAT=json",
		"EIR_EVENTS_ENABLED=" + strconv.FormatBool(events),
		"EIR_BOOTSTRAP_FILES=",
	}
}

// eirdProc is a running eird.
type eirdProc struct {
	*child
	diameter string
	admin    string
	n5g      string
}

// startEIRD writes the configuration in dir, starts bin, waits for the
// "eird listening" log line (its addresses) and for /readyz (the lists
// are loaded before eird starts).
func startEIRD(ctx context.Context, bin, dir, redisAddr, logLevel string, events bool, extraEnv []string) (*eirdProc, error) {
	return startEIRDWithin(ctx, bin, dir, redisAddr, logLevel, events, extraEnv, 30*time.Second)
}

// startEIRDWithin is startEIRD waiting up to within for each step.
func startEIRDWithin(ctx context.Context, bin, dir, redisAddr, logLevel string, events bool, extraEnv []string, within time.Duration) (*eirdProc, error) {
	cfg := filepath.Join(dir, "eird.yaml")
	if err := os.WriteFile(cfg, []byte(eirdConfig(redisAddr, logLevel, events)), 0o600); err != nil {
		return nil, fmt.Errorf("eird config: %w", err)
	}
	// The keys ratio depends on come last: they win over -eird-env and
	// over the EIR_* variables eird inherits.
	env := append(append([]string(nil), extraEnv...), eirdEnv(dir, redisAddr, logLevel, events)...)
	c, err := startChild("eird", bin, []string{"-config", cfg}, env, filepath.Join(dir, "eird.log"))
	if err != nil {
		return nil, err
	}
	e := &eirdProc{child: c}
	var listening struct{ Diameter, Admin, N5g string }
	if err := c.waitLine(ctx, `"eird listening"`, within, &listening); err != nil {
		c.stop()
		return nil, err
	}
	e.diameter, e.admin, e.n5g = listening.Diameter, listening.Admin, listening.N5g
	if e.diameter == "" || e.admin == "" || e.n5g == "" {
		c.stop()
		return nil, fmt.Errorf("eird listening line without diameter, admin or n5g address")
	}
	if err := waitReady(ctx, "http://"+e.admin+"/readyz", within, c.exited); err != nil {
		c.stop()
		return nil, fmt.Errorf("eird: %w\n%s", err, tail(c.log(), 20))
	}
	return e, nil
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-exited:
			return errors.New("exited before /readyz answered 200")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %w", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refAddrs are the listeners of a reference server.
type refAddrs struct{ Diameter, N5g string }

// startRef starts `self ref` (S13 and N5g-eir) on free loopback ports and
// returns it with its addresses.
func startRef(ctx context.Context, self, dir string, entries int, seed uint64) (*child, refAddrs, error) {
	args := []string{"ref", "-listen", "127.0.0.1:0", "-n5g-listen", "127.0.0.1:0", "-entries", strconv.Itoa(entries), "-seed", strconv.FormatUint(seed, 10)}
	c, err := startChild("reference server", self, args, nil, filepath.Join(dir, "ref.log"))
	if err != nil {
		return nil, refAddrs{}, err
	}
	var ready refAddrs
	if err := c.waitLine(ctx, `"`+refReadyMsg+`"`, 60*time.Second, &ready); err != nil {
		c.stop()
		return nil, refAddrs{}, err
	}
	return c, ready, nil
}

// commandOutput runs bin with args and returns its first output line.
func commandOutput(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// procRSS returns the resident set size of pid in bytes (VmRSS).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("vmrss %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// procCPU returns the user+system CPU time of pid ("self" for this
// process).
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// metricValue scrapes one unlabelled series from a Prometheus endpoint.
func metricValue(url, series string) (float64, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not found", series)
}
