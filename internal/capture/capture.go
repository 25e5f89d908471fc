// Package capture records the real loopback traffic of a test session with
// dumpcap and has Wireshark's dissector (tshark) check it independently.
//
// Typical use in a Diameter test:
//
//	c := capture.Start(t, port)           // capture is running when it returns
//	... run the Diameter exchange, close every connection ...
//	pcap := c.Stop(t)                      // every packet so far is in the file
//	rep := capture.Analyze(t, pcap, port)  // tshark decodes it as Diameter
//	rep.AssertClean(t)                     // no malformed packets, no expert warnings
//	cea := rep.Messages(257)               // decoded fields, as Wireshark sees them
//
// Linux only: it captures on the loopback interface "lo" and needs the
// privileges to do so (root or CAP_NET_RAW/CAP_NET_ADMIN on dumpcap).
package capture

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// iface is the interface every test talks over.
	iface = "lo"
	// startTimeout bounds how long Start waits for the capture to be live.
	startTimeout = 10 * time.Second
	// stopTimeout bounds each phase of Stop (flush wait, process exit).
	stopTimeout = 10 * time.Second
	// pollInterval is the polling period of every wait loop in the package.
	pollInterval = 25 * time.Millisecond
	// probeInterval is how often a probe/marker datagram is (re)sent.
	probeInterval = 50 * time.Millisecond
	// quietPeriod: Stop waits until the file has not grown for this long.
	// dumpcap flushes its output when a packet arrives and at least 100 ms
	// passed since the previous flush, and otherwise on its next wake-up
	// (select timeout 250 ms), so a straggler packet reaches the file within
	// ~350 ms at worst; 400 ms of no growth means nothing is pending.
	quietPeriod = 400 * time.Millisecond

	notFoundMsg = "tshark not found: run `make test`, which installs it"
)

// Capture is a running dumpcap process writing a pcapng file.
type Capture struct {
	path   string
	port   int
	filter string

	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{} // closed once the dumpcap process has exited
	err    error         // result of cmd.Wait, valid after exited is closed

	// probe is a UDP socket owned by the capture; datagrams sent to it are
	// in the capture filter and are used to prove that the capture is live
	// (Start) and that everything up to a point has been flushed (Stop).
	// They never touch the Diameter port, so they cannot disturb the server
	// or the analysis (Analyze only looks at tcp.port == port).
	probe *net.UDPConn

	mu      sync.Mutex
	stopped bool
}

// Path returns the pcapng file the capture writes to.
func (c *Capture) Path() string { return c.path }

// Start captures TCP traffic to or from port on the loopback interface into
// <tb.TempDir()>/capture.pcapng and returns only once the capture is provably
// running: a probe datagram sent after dumpcap started has been seen in the
// output file (polled with a 10 s deadline, no fixed sleeps). Any failure is
// fatal for the test. A cleanup stops dumpcap if Stop was not called.
func Start(tb testing.TB, port int) *Capture {
	tb.Helper()
	if port <= 0 || port > 65535 {
		tb.Fatalf("capture: invalid port %d", port)
	}
	dumpcap := lookTool(tb, "dumpcap")
	lookTool(tb, "tshark") // Analyze needs it; fail early and loudly.

	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("capture: probe socket: %v", err)
	}
	probePort := probe.LocalAddr().(*net.UDPAddr).Port

	c := &Capture{
		path:   filepath.Join(tb.TempDir(), "capture.pcapng"),
		port:   port,
		filter: fmt.Sprintf("tcp port %d or (udp port %d and host 127.0.0.1)", port, probePort),
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
		probe:  probe,
	}
	// -q: no packet counts on stderr. Output format is pcapng (the default).
	c.cmd = exec.Command(dumpcap, "-i", iface, "-f", c.filter, "-w", c.path, "-q")
	c.cmd.Stdout = io.Discard
	c.cmd.Stderr = c.stderr
	// If the test binary dies, take dumpcap down with it. Pdeathsig fires
	// when the *thread* that forked exits, so fork from a goroutine that
	// stays locked to its thread for the whole lifetime of the process.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			close(c.exited)
			return
		}
		started <- nil
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		probe.Close()
		tb.Fatalf("capture: cannot start %s: %v", dumpcap, err)
	}
	tb.Cleanup(func() {
		c.mu.Lock()
		stopped := c.stopped
		c.stopped = true
		c.mu.Unlock()
		if !stopped {
			if err := c.terminate(); err != nil {
				tb.Errorf("capture: cleanup: %v", err)
			}
		}
		c.probe.Close()
	})

	if err := c.waitForProbe(0, "start"); err != nil {
		tb.Fatalf("capture: dumpcap did not start capturing on %s within %v: %v\ncommand: %s\nstderr:\n%s",
			iface, startTimeout, err, c.cmd.String(), c.stderr.String())
	}
	return c
}

// Stop stops the capture and returns the path of the complete pcapng file.
//
// Callers close their connections before calling Stop. To make sure the last
// packets (FIN/ACK of those connections) are in the file, Stop
//  1. sends a marker datagram with a random nonce (re-sent while waiting) and
//     polls the file until the marker is in it: dumpcap writes packets in
//     arrival order, so everything sent before Stop was called is now on disk;
//  2. polls the file size until it has not changed for 400 ms, to pick up
//     stragglers (e.g. the peer's FIN sent asynchronously by a server
//     goroutine) — see quietPeriod;
//  3. sends SIGTERM, on which dumpcap flushes and closes the file, and waits
//     (10 s deadline; SIGKILL and a test failure after that).
//
// Stop is idempotent; calling it again returns the same path.
func (c *Capture) Stop(tb testing.TB) string {
	tb.Helper()
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return c.path
	}
	c.stopped = true
	c.mu.Unlock()

	var errs []error
	if off, err := fileSize(c.path); err != nil {
		errs = append(errs, err)
	} else if err := c.waitForProbe(off, "stop"); err != nil {
		errs = append(errs, fmt.Errorf("marker never reached the file, capture may be incomplete: %w", err))
	} else if err := c.waitQuiet(); err != nil {
		errs = append(errs, err)
	}
	if err := c.terminate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("capture: stop: %v\nstderr:\n%s", err, c.stderr.String())
	}
	return c.path
}

// waitForProbe sends a datagram carrying a fresh nonce to the probe socket
// every probeInterval and polls the capture file (from byte offset off) until
// the nonce shows up in it, dumpcap exits, or startTimeout passes.
func (c *Capture) waitForProbe(off int64, what string) error {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	payload := append([]byte("eir-capture-"+what+"-"), []byte(hex.EncodeToString(nonce))...)
	dst := c.probe.LocalAddr()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	var lastSend time.Time
	for {
		if time.Since(lastSend) >= probeInterval {
			if _, err := c.probe.WriteTo(payload, dst); err != nil {
				return fmt.Errorf("send probe: %w", err)
			}
			lastSend = time.Now()
		}
		found, err := fileContains(c.path, off, payload)
		if err != nil {
			return err
		}
		if found {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("dumpcap exited: %v", c.err)
		case <-deadline.C:
			return fmt.Errorf("timed out waiting for %s probe in %s", what, c.path)
		case <-poll.C:
		}
	}
}

// waitQuiet polls the file size until it has not changed for quietPeriod.
func (c *Capture) waitQuiet() error {
	deadline := time.Now().Add(stopTimeout)
	last, err := fileSize(c.path)
	if err != nil {
		return err
	}
	since := time.Now()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for time.Since(since) < quietPeriod {
		if time.Now().After(deadline) {
			return fmt.Errorf("capture file %s kept growing for %v", c.path, stopTimeout)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("dumpcap exited early: %v", c.err)
		case <-poll.C:
		}
		n, err := fileSize(c.path)
		if err != nil {
			return err
		}
		if n != last {
			last, since = n, time.Now()
		}
	}
	return nil
}

// terminate asks dumpcap to finish (SIGTERM: it stops capturing, flushes and
// closes the file), waits up to stopTimeout, then kills it. It always returns
// with the process reaped and the waiting goroutine finished.
func (c *Capture) terminate() error {
	select {
	case <-c.exited:
		return fmt.Errorf("dumpcap exited before Stop: %v\nstderr:\n%s", c.err, c.stderr.String())
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal dumpcap: %w", err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("dumpcap did not exit within %v of SIGTERM; killed", stopTimeout)
	}
	if c.err != nil {
		return fmt.Errorf("dumpcap: %v\nstderr:\n%s", c.err, c.stderr.String())
	}
	return nil
}

func lookTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// Debian puts them in /usr/bin, but PATH may be minimal in CI.
		for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/usr/sbin"} {
			cand := filepath.Join(dir, name)
			if st, e := os.Stat(cand); e == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return cand
			}
		}
		tb.Fatalf("%s (%s: %v)", notFoundMsg, name, err)
	}
	return p
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // dumpcap has not created it yet
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// fileContains reports whether the file contains needle at or after off.
func fileContains(path string, off int64, needle []byte) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return false, err
	}
	return bytes.Contains(data, needle), nil
}

// lockedBuffer is an io.Writer safe for concurrent Write/String; exec copies
// the child's stderr into it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
