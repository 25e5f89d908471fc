// Package capture records the real loopback traffic of a test session with
// dumpcap and has Wireshark's dissector (tshark) check it independently.
//
// Typical use in a Diameter test:
//
//	c := capture.Start(t, port)           // capture is live when it returns
//	... run the Diameter exchange, close every connection ...
//	pcap := c.Stop(t)                      // every packet so far is in the file
//	rep := capture.Analyze(t, pcap, port)  // tshark decodes it as Diameter
//	rep.AssertClean(t)                     // no malformed packets, no expert warnings
//	ceas := rep.Messages(257)              // decoded fields, as Wireshark sees them
//
// Linux only: it captures on the loopback interface "lo" and needs the
// privileges to do so (root, or CAP_NET_RAW+CAP_NET_ADMIN on dumpcap).
//
// # How Start and Stop know where the capture is
//
// dumpcap does not write a packet to its file immediately: libpcap hands
// packets over in blocks (TPACKET_V3, up to ~250 ms late), and dumpcap
// flushes a file given with -w only periodically (measured: packets reach
// it up to ~750 ms late). Start has dumpcap write to stdout instead, which is
// the capture file: it then flushes after every packet, leaving the ~250 ms.
// Still, neither "Capturing on" on stderr nor a non-empty file proves that
// traffic is being recorded, and "the file stopped growing" does not prove
// that nothing is pending. Instead, every Capture owns a UDP socket on
// 127.0.0.1 whose port is part of the capture filter, and sends itself
// datagrams carrying a random token (probes/markers). The package reads the
// pcapng file as dumpcap writes it (complete blocks only) and looks for them:
//
//   - Start returns once a probe sent after dumpcap was spawned is in the
//     file: the capture is live and flushing.
//   - Stop sends markers and waits until each one is in the file. dumpcap
//     writes packets in the order the kernel handed them over, so once a
//     marker is in the file, so is every packet sent before it (for example
//     the FIN/ACKs of connections the caller closed). Stop keeps doing this
//     until two markers at least minQuiet apart have no other packet between
//     them, so late packets (e.g. a server goroutine closing its side of a
//     connection a moment after the client) are recorded too. Only then is
//     dumpcap sent SIGTERM, on which it writes its buffers and closes the file.
//
// The probes never touch the Diameter port; Analyze only looks at frames with
// tcp.port == port, so they do not appear in the Report.
package capture

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	// startTimeout bounds how long Start waits for the capture to be live,
	// and how long Stop waits for any single marker.
	startTimeout = 10 * time.Second
	// quiesceTimeout bounds how long Stop waits for the port to go quiet
	// before stopping anyway (with a logged warning).
	quiesceTimeout = 5 * time.Second
	// exitTimeout bounds how long dumpcap may take to exit after SIGTERM.
	exitTimeout = 10 * time.Second
	// minQuiet is how long the port must have been silent, as bracketed by
	// two markers, for Stop to consider the capture complete.
	minQuiet = 100 * time.Millisecond
	// pollInterval is the period of every polling loop in the package.
	pollInterval = 10 * time.Millisecond
	// probeInterval is how often an unseen probe/marker is re-sent (in case
	// it was sent before the capture was live, or dropped).
	probeInterval = 50 * time.Millisecond

	notFoundMsg = "tshark not found: run `make test`, which installs it"
)

// Capture is a running dumpcap process writing a pcapng file.
type Capture struct {
	path string
	port int

	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{} // closed once the dumpcap process has been reaped
	err    error         // result of cmd.Wait; read only after exited is closed

	probe *net.UDPConn   // our own probe/marker socket (see package doc)
	scan  *pcapngScanner // incremental reader of the output file

	mu      sync.Mutex
	stopped bool
}

// Path returns the pcapng file the capture writes to.
func (c *Capture) Path() string { return c.path }

// Start captures TCP traffic to or from port on the loopback interface into
// <tb.TempDir()>/capture.pcapng with dumpcap, and returns once the capture is
// provably running (a probe sent after dumpcap started is in the file; polled
// with a 10 s deadline). Missing tools or a capture that cannot start fail the
// test immediately. A cleanup stops dumpcap if Stop is not called, and every
// goroutine the Capture started has ended when the cleanup returns.
func Start(tb testing.TB, port int) *Capture {
	tb.Helper()
	if port <= 0 || port > 65535 {
		tb.Fatalf("capture: invalid port %d", port)
	}
	dumpcap := lookTool(tb, "dumpcap")
	lookTool(tb, "tshark") // Analyze needs it: fail early and loudly.

	dir := tb.TempDir() // before tb.Cleanup below, so it is removed after it
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("capture: probe socket: %v", err)
	}
	probePort := probe.LocalAddr().(*net.UDPAddr).Port

	c := &Capture{
		path:   filepath.Join(dir, "capture.pcapng"),
		port:   port,
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
		probe:  probe,
	}
	c.scan = newScanner(c.path)
	out, err := os.Create(c.path)
	if err != nil {
		probe.Close()
		tb.Fatalf("capture: %v", err)
	}
	// "-w -" makes dumpcap write pcapng to stdout, which is our file, and
	// flush after every packet (see the package doc). -q: no packet counts
	// on stderr.
	filter := fmt.Sprintf("tcp port %d or (udp port %d and host 127.0.0.1)", port, probePort)
	c.cmd = exec.Command(dumpcap, "-i", iface, "-f", filter, "-q", "-w", "-")
	c.cmd.Stdout = out // an *os.File: handed to dumpcap as is, no copying goroutine
	c.cmd.Stderr = c.stderr
	// If the test binary dies, take dumpcap down with it. Pdeathsig fires
	// when the *thread* that forked exits, so fork from a goroutine locked to
	// its thread for the whole lifetime of the child.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := c.cmd.Start()
		out.Close() // dumpcap has its own copy of the descriptor now
		if err != nil {
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
		if c.markStopped() {
			// Not stopped by the test (it failed or forgot): just end dumpcap.
			if err := c.terminate(); err != nil && !tb.Failed() {
				tb.Errorf("capture: cleanup: %v", err)
			}
		}
		c.probe.Close()
	})

	deadline := time.Now().Add(startTimeout)
	if _, err := c.sendMarker(deadline); err != nil {
		tb.Fatalf("capture: dumpcap is not capturing on %s: %v\ncommand: %s\nstderr:\n%s",
			iface, err, c.cmd.String(), c.stderr.String())
	}
	return c
}

// Stop stops the capture and returns the path of the complete pcapng file.
//
// Callers close their connections before calling Stop. Stop then makes sure
// the last packets are in the file with markers (see the package doc): it
// returns only once every packet sent before Stop was called, and any packet
// sent until the port had been silent for minQuiet (100 ms), is on disk; then
// it sends dumpcap SIGTERM and waits for it to exit (10 s deadline, SIGKILL
// and a test failure after that). If traffic on the port never pauses within
// 5 s, Stop logs a warning and stops anyway. Stop is idempotent.
func (c *Capture) Stop(tb testing.TB) string {
	tb.Helper()
	if !c.markStopped() {
		return c.path
	}
	var errs []error
	if err := c.quiesce(tb); err != nil {
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

// markStopped reports whether this call is the one that stops the capture.
func (c *Capture) markStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return false
	}
	c.stopped = true
	return true
}

// quiesce sends markers until two of them, sent at least minQuiet apart, have
// no non-probe packet between them in the file.
func (c *Capture) quiesce(tb testing.TB) error {
	giveUp := time.Now().Add(quiesceTimeout)
	base, baseSent := -1, time.Time{}
	for {
		sent := time.Now()
		n, err := c.sendMarker(sent.Add(startTimeout))
		if err != nil {
			return fmt.Errorf("marker never reached the file, capture may be incomplete: %w", err)
		}
		if n != base {
			base, baseSent = n, sent // traffic since the previous marker
		} else if sent.Sub(baseSent) >= minQuiet {
			return nil
		}
		if time.Now().After(giveUp) {
			tb.Logf("capture: warning: traffic on port %d did not pause for %v within %v; "+
				"stopping anyway (packets sent after %v may be missing)",
				c.port, minQuiet, quiesceTimeout, baseSent.Format(time.StampMicro))
			return nil
		}
	}
}

// sendMarker sends a datagram carrying a fresh random token to the probe
// socket (re-sending it every probeInterval) and polls the capture file until
// the token is in it. It returns how many non-probe packets precede it.
func (c *Capture) sendMarker(deadline time.Time) (int, error) {
	raw := make([]byte, probeTokenLen/2)
	if _, err := rand.Read(raw); err != nil {
		return 0, err
	}
	tok := hex.EncodeToString(raw)
	payload := []byte(probeMagic + tok)
	dst := c.probe.LocalAddr()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	var lastSend time.Time
	for {
		if time.Since(lastSend) >= probeInterval {
			if _, err := c.probe.WriteTo(payload, dst); err != nil {
				return 0, fmt.Errorf("send probe: %w", err)
			}
			lastSend = time.Now()
		}
		if err := c.scan.update(); err != nil {
			return 0, err
		}
		if n, ok := c.scan.seen[tok]; ok {
			return n, nil
		}
		select {
		case <-c.exited:
			return 0, fmt.Errorf("dumpcap exited: %v", c.err)
		case <-timer.C:
			return 0, fmt.Errorf("probe not in %s after %v", c.path, startTimeout)
		case <-poll.C:
		}
	}
}

// terminate asks dumpcap to finish (SIGTERM: it stops capturing, writes its
// buffers and the closing statistics block, and closes the file), waits up to
// exitTimeout, then kills it. It always returns with the process reaped and
// the goroutine waiting for it finished.
func (c *Capture) terminate() error {
	select {
	case <-c.exited:
		return fmt.Errorf("dumpcap exited before Stop: %v\nstderr:\n%s", c.err, c.stderr.String())
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal dumpcap: %w", err)
	}
	timer := time.NewTimer(exitTimeout)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("dumpcap did not exit within %v of SIGTERM; killed", exitTimeout)
	}
	if c.err != nil {
		return fmt.Errorf("dumpcap: %v\nstderr:\n%s", c.err, c.stderr.String())
	}
	return nil
}

// lookTool finds a Wireshark tool or fails the test.
func lookTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := findTool(name)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// findTool looks name up in PATH, then in the usual directories (Debian
// installs the tools in /usr/bin, but PATH may be minimal in CI).
func findTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/usr/sbin"} {
		cand := filepath.Join(dir, name)
		if st, e := os.Stat(cand); e == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%s (%s: %v)", notFoundMsg, name, err)
}

// lockedBuffer is an io.Writer safe for concurrent Write/String; exec copies
// the child's stderr into it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
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
