package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// stopGrace is how long a process gets to exit after SIGTERM before it
	// is sent SIGKILL.
	stopGrace = 10 * time.Second
	// killWait bounds the wait after SIGKILL.
	killWait = 10 * time.Second
	// logTailLines is how many lines of a log are shown on failure.
	logTailLines = 40
)

// errPortInUse reports that redis could not bind its port because another
// process took it between our probe and redis' own bind.
var errPortInUse = errors.New("port already in use")

// process is one running child process. Its Wait goroutine ends as soon as
// the process exits; stop makes sure that happens.
type process struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd.Wait has returned
	waitErr error         // valid after done is closed
	logs    []logFile     // where to look for errors of this run
}

// logFile is a log file plus the size it had when the process was launched,
// so that only this run's lines are inspected.
type logFile struct {
	path   string
	offset int64
}

func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("redistest: %s not found in PATH: run `make test`, which installs it (%v)", name, err)
	}
	return p
}

// freePorts returns n distinct TCP ports on host that were free a moment
// ago. All listeners are held open until every port is chosen, so the ports
// differ from each other.
func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// launch starts bin with args in dir. Stdout and stderr go to stdoutPath
// (redis writes early start-up errors there, before its logfile is open);
// logPath is the process' own logfile.
func launch(bin string, args []string, dir, stdoutPath, logPath string) (*process, error) {
	out, err := os.OpenFile(stdoutPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child gets its own copy of the descriptor; ours is not needed
	// after Start. Using an *os.File means exec starts no copying goroutine.
	defer out.Close()

	p := &process{
		done: make(chan struct{}),
		logs: []logFile{
			{path: logPath, offset: fileSize(logPath)},
			{path: stdoutPath, offset: fileSize(stdoutPath)},
		},
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGCONT (a process paused with SIGSTOP would otherwise leave
// SIGTERM pending until SIGKILL), then SIGTERM, waits up to stopGrace, then
// SIGKILLs. It returns once the process is gone (and so the Wait goroutine
// has ended), or with an error if even SIGKILL did not end it within
// killWait.
func (p *process) stop() error {
	if p.exited() {
		return nil
	}
	if sigCont != nil {
		_ = p.cmd.Process.Signal(sigCont)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-p.done:
		return nil
	case <-grace.C:
	}
	return p.kill()
}

// kill sends SIGKILL (which also ends a paused process) and returns once
// the process is gone, or with an error if it did not exit within killWait.
func (p *process) kill() error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Kill()
	kill := time.NewTimer(killWait)
	defer kill.Stop()
	select {
	case <-p.done:
		return nil
	case <-kill.C:
		return fmt.Errorf("process %d did not exit %v after SIGKILL", p.pid(), killWait)
	}
}

// signal sends sig to the process. It fails if the process has exited or
// sig is nil (not supported on this platform).
func (p *process) signal(sig os.Signal) error {
	if sig == nil {
		return fmt.Errorf("signal not supported on %s", runtime.GOOS)
	}
	if p.exited() {
		return fmt.Errorf("process %d has exited (%v)", p.pid(), p.waitErr)
	}
	return p.cmd.Process.Signal(sig)
}

// output returns what this run wrote to its log files.
func (p *process) output() string {
	var b strings.Builder
	for _, lf := range p.logs {
		data, err := os.ReadFile(lf.path)
		if err != nil || int64(len(data)) <= lf.offset {
			continue
		}
		b.Write(data[lf.offset:])
	}
	return b.String()
}

// bindFailed reports whether the process exited because its port was taken.
func (p *process) bindFailed() bool {
	return p.exited() && strings.Contains(p.output(), "Address already in use")
}

// tail returns the last n lines of the files, each introduced by its name;
// empty files are left out.
func tail(n int, paths ...string) string {
	var b strings.Builder
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		var lines []string
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "--- last %d lines of %s ---\n%s\n", len(lines), filepath.Base(path), strings.Join(lines, "\n"))
	}
	return b.String()
}
