package test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

const systemdDir = "../deploy/systemd"

// systemdAnalyze is systemd-analyze, which make test installs
// (scripts/deps.sh systemd-analyze: Debian package systemd).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (%v): install it with scripts/deps.sh systemd-analyze (Debian package systemd); make test does", err)
	}
	return p
}

// unitCopy writes deploy/systemd/eird.service, with ExecStart naming the
// eird built by the tests and the changes given (old, new pairs), into a
// temp dir as eird.service, and returns its path.
func unitCopy(t *testing.T, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(systemdDir, "eird.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	if !strings.Contains(unit, "\nExecStart=/usr/local/bin/eird ") {
		t.Fatalf("eird.service does not run /usr/local/bin/eird")
	}
	replace = append([]string{"ExecStart=/usr/local/bin/eird ", "ExecStart=" + filepath.Join(binDir, "eird") + " "}, replace...)
	unit = strings.NewReplacer(replace...).Replace(unit)
	path := filepath.Join(t.TempDir(), "eird.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSystemdUnitVerify: systemd-analyze verify accepts the unit without
// a word (it warns on standard error with exit 0 about an unknown key or
// a bad value: any output fails), and the check does catch a bad key.
func TestSystemdUnitVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	verify := func(path string) (string, error) {
		cmd := exec.Command(analyze, "verify", "--man=no", path)
		cmd.Dir = filepath.Dir(path)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(unitCopy(t)); err != nil || out != "" {
		t.Errorf("systemd-analyze verify eird.service: %v\n%s", err, out)
	}
	out, _ := verify(unitCopy(t, "NoNewPrivileges=yes\n", "NoNewPrivileges=yes\nNoNewPrivilege=yes\n"))
	if !strings.Contains(out, "Unknown key") || !strings.Contains(out, "NoNewPrivilege") {
		t.Errorf("systemd-analyze verify does not report an unknown key; its output:\n%s", out)
	}
}

// TestSystemdUnitHardening: the unit keeps its readiness, reload, restart
// and sandboxing settings, and systemd-analyze security rates it well
// (the score is logged; the bound is loose on purpose).
func TestSystemdUnitHardening(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(systemdDir, "eird.service"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for k, want := range map[string]string{
		"Type":                    "notify",
		"User":                    "eird",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"Restart":                 "on-failure",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter":        "@system-service",
		"StateDirectory":          "eird",
	} {
		if got, ok := keys[k]; !ok || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"LimitNOFILE", "RestartSec", "TimeoutStopSec", "TimeoutStartSec"} {
		if len(keys[k]) == 0 {
			t.Errorf("%s is not set", k)
		}
	}
	// TimeoutStopSec covers the Diameter disconnect (5s), a request (1s),
	// the NRF deregistration (2s) and the events written (10s).
	if stop, err := time.ParseDuration(strings.Join(keys["TimeoutStopSec"], "")); err != nil || stop < 20*time.Second {
		t.Errorf("TimeoutStopSec=%q: want at least 20s", keys["TimeoutStopSec"])
	}

	cmd := exec.Command(systemdAnalyze(t), "security", "--offline=yes", "--no-pager", unitCopy(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for eird\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f (0 best, 10 worst)", score)
	if score > 3 {
		t.Errorf("exposure %.1f, want at most 3 (was 1.4):\n%s", score, out)
	}
}

// TestSystemdLayout: sysusers.d creates the eird user, tmpfiles.d the
// /etc/eird folders owned by root and readable by the group eird only (in
// a temp root), and the example /etc/eird/eird.yaml passes -check-config
// with the token and TLS files its header lists, created beside it.
func TestSystemdLayout(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(systemdDir) // not taken relative to --root
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"systemd-sysusers", "--root=" + root, filepath.Join(dir, "eird.sysusers")},
		{"systemd-tmpfiles", "--root=" + root, "--create", filepath.Join(dir, "eird.tmpfiles")},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	if err != nil {
		t.Fatal(err)
	}
	gm := regexp.MustCompile(`(?m)^eird:x:(\d+):`).FindSubmatch(group)
	if gm == nil {
		t.Fatalf("no group eird in:\n%s", group)
	}
	gid, _ := strconv.Atoi(string(gm[1]))
	for _, d := range []string{"etc/eird", "etc/eird/tokens", "etc/eird/tls"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || fi.Mode().Perm() != 0o750 || st.Uid != 0 || int(st.Gid) != gid {
			t.Errorf("/%s: %v uid %d gid %d, want a folder 0750 owned by root, group eird (%d)", d, fi.Mode(), st.Uid, st.Gid, gid)
		}
	}

	etc := filepath.Join(root, "etc", "eird")
	example, err := os.ReadFile(filepath.Join(systemdDir, "eird.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "eird.yaml"), example, 0o640); err != nil {
		t.Fatal(err)
	}
	files := regexp.MustCompile(`(?m)^#   /etc/eird/((?:tokens|tls)/\S+)`).FindAllSubmatch(example, -1)
	if len(files) != 4 {
		t.Fatalf("the example's header lists %d token and TLS files, want 4", len(files))
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(etc, string(f[1])), []byte("FAKE\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if stdout, stderr, code := checkConfig(t, filepath.Join(etc, "eird.yaml")); code != 0 || stdout != "configuration ok\n" {
		t.Errorf("eird -check-config of the example: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
}

// notifySocket is a systemd notification socket ($NOTIFY_SOCKET): it
// keeps every datagram received.
type notifySocket struct {
	path string
	conn *net.UnixConn
	done chan struct{}
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock"), done: make(chan struct{})}
	var err error
	if n.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(n.done)
		buf := make([]byte, 4096)
		for {
			k, err := n.conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		n.conn.Close()
		<-n.done
	})
	return n
}

func (n *notifySocket) received() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// waitFor waits for a datagram at index from or later that match accepts
// and returns its index.
func (n *notifySocket) waitFor(t *testing.T, from int, what string, match func(string) bool) int {
	t.Helper()
	at := -1
	testenv.EventuallyShow(t, 10*time.Second, func() bool {
		msgs := n.received()
		for i := from; i < len(msgs); i++ {
			if match(msgs[i]) {
				at = i
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("a notification %s from #%d; received %q", what, from, n.received()) })
	return at
}

// TestSystemdReadiness: eird logs "eird listening" with its addresses at
// once, but says it is ready (the log line "eird ready", systemd's READY=1)
// only once /readyz answers 200, that is once a list version is loaded;
// a SIGHUP reload is framed by RELOADING=1 and READY=1; SIGTERM sends
// STOPPING=1.
func TestSystemdReadiness(t *testing.T) {
	rds := redistest.Start(t)
	sock := listenNotify(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()), "NOTIFY_SOCKET="+sock.path)
	readyz := func() int {
		t.Helper()
		resp, err := http.Get("http://" + e.admin + "/readyz")
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Listening, no list: not ready, and systemd is told why.
	const notReady = "STATUS=not ready: no_lists: no list version is loaded (load lists: eirctl import, a sync source or bootstrap.files)"
	i := sock.waitFor(t, 0, "saying no list is loaded", func(m string) bool { return m == notReady })
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without lists: %d, want 503", code)
	}
	if e.hasLog(`"eird ready"`) || slices.ContainsFunc(sock.received(), func(m string) bool { return strings.Contains(m, "READY=1") }) {
		t.Fatalf("eird says it is ready without lists; notifications %q; log:\n%s", sock.received(), e.log())
	}

	if out, errOut, code := e.eirctl(t, demoLists, "import", "-reason", "first lists", "-"); code != 0 {
		t.Fatalf("eirctl import: exit %d\n%s%s", code, out, errOut)
	}
	i = sock.waitFor(t, i+1, "READY=1", func(m string) bool { return strings.HasPrefix(m, "READY=1\n") })
	if got := sock.received()[i]; got != "READY=1\nSTATUS=ready: answering checks from the lists in force" {
		t.Fatalf("notification after the import: %q", got)
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz after READY=1: %d, want 200", code)
	}
	log := e.log()
	listening, ready := strings.Index(log, `"msg":"eird listening"`), strings.Index(log, `"msg":"eird ready"`)
	if listening < 0 || ready < listening {
		t.Fatalf(`want "eird listening" then "eird ready" in the log:\n%s`, log)
	}

	e.cmd.Process.Signal(syscall.SIGHUP)
	i = sock.waitFor(t, i+1, "RELOADING=1", func(m string) bool { return strings.HasPrefix(m, "RELOADING=1") })
	if got := sock.received()[i]; !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=\d+\n$`).MatchString(got) {
		t.Fatalf("notification on SIGHUP: %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	i = sock.waitFor(t, i+1, "READY=1 after the reload", func(m string) bool { return m == "READY=1" })
	e.waitLog(t, `"actor":"SIGHUP"`, 10*time.Second)

	if err := e.stop(t); err != nil {
		t.Fatalf("eird exit: %v", err)
	}
	sock.waitFor(t, i+1, "STOPPING=1", func(m string) bool { return m == "STOPPING=1\nSTATUS=shutting down" })
	if n := strings.Count(e.log(), `"msg":"eird ready"`); n != 1 {
		t.Errorf(`"eird ready" logged %d times, want once`, n)
	}
}
