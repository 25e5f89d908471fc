//go:build linux

package fdtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts used by the harness. They are upper bounds of polling loops, never
// fixed sleeps.
const (
	startTimeout = 20 * time.Second // config parse + listen
	stopTimeout  = 20 * time.Second // SIGTERM -> DPR/DPA -> exit, then SIGKILL
	pollInterval = 20 * time.Millisecond
	startRetries = 3 // when the auto-picked port was stolen before freeDiameterd bound it
)

// BinaryEnv names an environment variable that, when set, overrides the path
// of the freeDiameterd binary.
const BinaryEnv = "FDTEST_FREEDIAMETERD"

// PeerOpt declares a Diameter peer of the daemon.
type PeerOpt struct {
	// Identity is the peer's Diameter identity (Origin-Host it sends in
	// CER/CEA). It must match exactly, freeDiameter aborts the connection
	// otherwise.
	Identity string
	// Realm is the peer's realm. Used for ConnectPeer entries only (the
	// realm of incoming peers is learnt from their CER).
	Realm string
	// Addr is the address to connect to; default "127.0.0.1".
	Addr string
	// Port is the port to connect to (Connect peers only).
	Port int
	// Connect: freeDiameter initiates and maintains the connection
	// (ConnectPeer directive, No_TLS, No_SCTP). When false the peer is only
	// allowed to connect in: its identity is whitelisted through acl_wl.fdx
	// with ALLOW_IPSEC (= accepted without TLS).
	Connect bool
	// TLS (Connect peers only): connect with TLS from the first byte (RFC
	// 6733 §13.1, freeDiameter's default "new method": no No_TLS, no
	// TLS_old_method) to Port. freeDiameter checks the peer's certificate
	// against Options.TLS.CA and Identity. Needs Options.TLS.
	TLS bool
}

// TLSCred is the TLS identity of the daemon: TLS_Cred = Cert, Key and one
// TLS_CA line per file of CAs (each file is one chain, sorted from
// subject to issuer: 1.2.1 refuses a file of unrelated CAs with "The
// provided X.509 certificate list is not sorted"; several TLS_CA lines add
// up). freeDiameter refuses to start unless its own certificate chains to
// these CAs and names Identity (gnutls_x509_crt_check_hostname: a dNSName,
// else the CN; wildcards match), so CAs must hold the issuer of Cert as
// well as the CAs of the peers.
type TLSCred struct {
	Cert, Key string
	CAs       []string
	// KeyLogFile, when set, is where GnuTLS writes the session secrets
	// (SSLKEYLOGFILE, NSS key log format), for Wireshark to decrypt a
	// capture. Tests only.
	KeyLogFile string
}

// Options configures a freeDiameterd instance.
type Options struct {
	// Identity and Realm of the daemon. Defaults: "fd.test" and the part of
	// Identity after its first dot ("test").
	Identity, Realm string
	// ListenPort is the TCP port freeDiameterd listens on; 0 picks a free
	// port.
	ListenPort int
	// Peers are declared with ConnectPeer (Connect) or whitelisted in
	// acl_wl (incoming only).
	Peers []PeerOpt
	// AllowIncoming lists additional identities allowed to connect in
	// without being in Peers (acl_wl syntax: an FQDN, or "*.domain" for any
	// host of the domain). Use it for test clients.
	AllowIncoming []string
	// Relay keeps freeDiameter's relay function on: it then advertises the
	// Relay application (Auth-Application-Id 0xffffffff) in CER/CEA and
	// forwards requests it does not handle itself. When false the
	// configuration contains NoRelay; with no application extension loaded
	// the daemon then advertises no application at all.
	Relay bool
	// TwSeconds is the watchdog timer (DWR interval), minimum 6 (enforced
	// by freeDiameter's parser); 0 keeps freeDiameter's default of 30.
	TwSeconds int
	// TcSeconds is the reconnection timer for Connect peers; 0 means 2.
	TcSeconds int
	// Extensions are extra extensions to load, e.g. "dict_dcca_3gpp.fdx" or
	// "dbg_msg_dumps.fdx". A relative name is looked up in freeDiameter's
	// extension directory. An optional configuration argument follows a
	// colon: "dbg_msg_dumps.fdx:0x4444" (one-line dumps of every message
	// sent/received, routing decisions and errors). Known dependencies
	// (dict_dcca_3gpp needs dict_dcca, which needs dict_nasreq) are inserted
	// before the extension that needs them.
	Extensions []string
	// Debug passes -d to freeDiameterd (more verbose log).
	Debug bool
	// TLS replaces the self-signed certificate written by the harness.
	TLS *TLSCred
}

// Daemon is a running freeDiameterd.
type Daemon struct {
	identity string
	realm    string
	port     int
	dir      string
	confPath string
	logPath  string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	werr error         // Wait error, valid once done is closed

	stopOnce sync.Once
}

// Start writes a configuration into tb.TempDir(), starts freeDiameterd and
// waits (polling, at most 20 s) until it has logged "daemon initialized" and
// its port is in LISTEN state. It does not wait for Connect peers: use
// WaitPeerOpen. A cleanup stops it (SIGTERM, then SIGKILL after a deadline)
// and logs the end of its log if the test failed. Any problem, including a
// missing freeDiameterd binary, is a tb.Fatalf; Start never skips.
func Start(tb testing.TB, o Options) *Daemon {
	tb.Helper()
	bin := findBinary(tb)
	if o.Identity == "" {
		o.Identity = "fd.test"
	}
	if o.Realm == "" {
		if i := strings.IndexByte(o.Identity, '.'); i >= 0 && i+1 < len(o.Identity) {
			o.Realm = o.Identity[i+1:]
		} else {
			tb.Fatalf("fdtest: Options.Realm is required when Identity %q has no domain part", o.Identity)
		}
	}
	if o.TwSeconds != 0 && o.TwSeconds < 6 {
		tb.Fatalf("fdtest: TwSeconds=%d: freeDiameter requires at least 6", o.TwSeconds)
	}
	if o.TcSeconds == 0 {
		o.TcSeconds = 2
	}
	for _, p := range o.Peers {
		if p.Identity == "" {
			tb.Fatalf("fdtest: peer without Identity: %+v", p)
		}
		if p.Connect && (p.Port <= 0 || p.Port > 65535) {
			tb.Fatalf("fdtest: Connect peer %q needs a Port, got %d", p.Identity, p.Port)
		}
	}

	dir := tb.TempDir()
	extDir := extensionDir(bin)
	var certPath, keyPath string
	var caPaths []string
	if o.TLS != nil {
		certPath, keyPath, caPaths = o.TLS.Cert, o.TLS.Key, o.TLS.CAs
	} else {
		certPath, keyPath = writeSelfSigned(tb, dir, o.Identity)
		caPaths = []string{certPath}
	}

	var lastLog string
	for attempt := 1; attempt <= startRetries; attempt++ {
		port := o.ListenPort
		if port == 0 {
			port = freePort(tb)
		}
		d := &Daemon{
			identity: o.Identity,
			realm:    o.Realm,
			port:     port,
			dir:      dir,
			confPath: filepath.Join(dir, "freeDiameter.conf"),
			logPath:  filepath.Join(dir, fmt.Sprintf("freeDiameterd.%d.log", attempt)),
			done:     make(chan struct{}),
		}
		conf := buildConfig(tb, o, port, dir, extDir, certPath, keyPath, caPaths)
		if err := os.WriteFile(d.confPath, []byte(conf), 0o600); err != nil {
			tb.Fatalf("fdtest: write config: %v", err)
		}
		d.launch(tb, bin, o)
		err := d.waitReady()
		if err == nil {
			tb.Cleanup(func() {
				d.Stop(tb)
				if tb.Failed() {
					tb.Logf("fdtest: freeDiameterd %s log (%s), last lines:\n%s", d.identity, d.logPath, tail(d.Log(), 80))
				}
			})
			return d
		}
		d.kill()
		lastLog = d.Log()
		if o.ListenPort == 0 && strings.Contains(lastLog, "Address already in use") {
			continue // port stolen between freePort and bind; try another one
		}
		tb.Fatalf("fdtest: freeDiameterd did not start: %v\nconfig %s:\n%s\nlog:\n%s", err, d.confPath, conf, tail(lastLog, 80))
	}
	tb.Fatalf("fdtest: freeDiameterd did not start after %d attempts, last log:\n%s", startRetries, tail(lastLog, 80))
	return nil
}

func findBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
		tb.Fatalf("freeDiameterd not found: run `make test`, which installs it (%s=%q does not exist)", BinaryEnv, p)
	}
	if p, err := exec.LookPath("freeDiameterd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/freeDiameterd", "/usr/sbin/freeDiameterd", "/usr/local/bin/freeDiameterd"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	tb.Fatalf("freeDiameterd not found: run `make test`, which installs it")
	return ""
}

// extensionDir returns the directory holding the *.fdx extensions.
func extensionDir(bin string) string {
	prefix := filepath.Dir(filepath.Dir(bin)) // /usr/bin/freeDiameterd -> /usr
	cands := []string{
		filepath.Join(prefix, "lib", "freeDiameter"),
		filepath.Join(prefix, "lib", "x86_64-linux-gnu", "freeDiameter"),
		filepath.Join(prefix, "lib64", "freeDiameter"),
		"/usr/lib/freeDiameter",
		"/usr/local/lib/freeDiameter",
	}
	for _, c := range cands {
		if _, err := os.Stat(filepath.Join(c, "acl_wl.fdx")); err == nil {
			return c
		}
	}
	return cands[0]
}

// extensionDeps lists, for the dictionary extensions shipped with
// freeDiameter 1.2.1, the extensions that must be loaded before them
// (freeDiameter refuses to start otherwise: "extension [dict_dcca_3gpp]
// depends on [dict_dcca] which was not loaded first").
var extensionDeps = map[string][]string{
	"dict_dcca":         {"dict_nasreq"},
	"dict_dcca_3gpp":    {"dict_dcca"},
	"dict_dcca_starent": {"dict_dcca_3gpp"},
	"dict_eap":          {"dict_nasreq"},
	"dict_mip6a":        {"dict_rfc5777"},
	"dict_mip6i":        {"dict_rfc5777"},
}

func extBase(e string) string {
	name, _, _ := strings.Cut(e, ":")
	return strings.TrimSuffix(filepath.Base(name), ".fdx")
}

// withDependencies returns exts with the missing dependencies of each
// extension inserted before it, without duplicates.
func withDependencies(exts []string) []string {
	var out []string
	seen := map[string]bool{}
	var add func(e string)
	add = func(e string) {
		b := extBase(e)
		if seen[b] {
			return
		}
		seen[b] = true
		for _, dep := range extensionDeps[b] {
			explicit := false
			for _, x := range exts {
				if extBase(x) == dep {
					add(x) // keep the caller's argument, if any
					explicit = true
					break
				}
			}
			if !explicit {
				add(dep + ".fdx")
			}
		}
		out = append(out, e)
	}
	for _, e := range exts {
		add(e)
	}
	return out
}

func resolveExtension(tb testing.TB, extDir, name string) string {
	tb.Helper()
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(extDir, name)
	}
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("fdtest: freeDiameter extension %q not found (%v); is the freediameter-extensions package installed? run `make test`", name, err)
	}
	return p
}

// freePort returns a TCP port that was free on all IPv4 addresses
// (freeDiameter 1.2.1 ignores ListenOn for loopback addresses and binds
// 0.0.0.0).
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		tb.Fatalf("fdtest: pick a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		tb.Fatalf("fdtest: close port probe: %v", err)
	}
	return port
}

func (d *Daemon) launch(tb testing.TB, bin string, o Options) {
	tb.Helper()
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatalf("fdtest: create log: %v", err)
	}
	args := []string{"-c", d.confPath}
	if o.Debug {
		args = append(args, "-d")
	}
	cmd := exec.Command(bin, args...)
	if o.TLS != nil && o.TLS.KeyLogFile != "" {
		cmd.Env = append(os.Environ(), "SSLKEYLOGFILE="+o.TLS.KeyLogFile)
	}
	cmd.Dir = d.dir
	cmd.Stdout = logf // an *os.File: no copying goroutine
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		tb.Fatalf("fdtest: start %s: %v", bin, err)
	}
	_ = logf.Close() // the child keeps its own descriptor
	d.cmd = cmd
	go func() {
		d.werr = cmd.Wait()
		close(d.done)
	}()
}

// waitReady polls until the log says the daemon is initialised and its port
// accepts TCP connections, or the process exits, or startTimeout passes.
func (d *Daemon) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	initialised := false
	for {
		select {
		case <-d.done:
			return fmt.Errorf("freeDiameterd exited during startup: %v", d.werr)
		default:
		}
		if !initialised {
			initialised = strings.Contains(d.Log(), "daemon initialized")
		}
		if initialised && d.listening() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v", d.Addr(), startTimeout)
		}
		time.Sleep(pollInterval)
	}
}

// listening reports whether a socket is in LISTEN state on the daemon's
// port. It reads /proc/net/tcp rather than connecting: a probe connection
// that closes before sending a CER makes freeDiameter log an ERROR line
// ("fd_cnx_receive ... Transport endpoint is not connected") and a CONNECT
// FAILED event, which would mislead whoever reads the log of a failed test.
// freeDiameterd only logs "daemon initialized" after its server sockets are
// bound, and exits if binding fails, so the LISTEN socket is its own. When
// /proc is unavailable it falls back to a TCP connection.
func (d *Daemon) listening() bool {
	found, ok := procListening(d.port)
	if ok {
		return found
	}
	c, err := net.DialTimeout("tcp", d.Addr(), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// procListening scans /proc/net/tcp{,6}; ok is false if neither is readable.
func procListening(port int) (found, ok bool) {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		ok = true
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			// sl local_address rem_address st ...; st 0A = TCP_LISTEN
			if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
				return true, true
			}
		}
	}
	return false, ok
}

func (d *Daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// Addr returns "127.0.0.1:<port>".
func (d *Daemon) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

// Port returns the TCP port the daemon listens on.
func (d *Daemon) Port() int { return d.port }

// Identity returns the daemon's Diameter identity (Origin-Host).
func (d *Daemon) Identity() string { return d.identity }

// Realm returns the daemon's Diameter realm (Origin-Realm).
func (d *Daemon) Realm() string { return d.realm }

// ConfigPath returns the path of the generated freeDiameter.conf.
func (d *Daemon) ConfigPath() string { return d.confPath }

// LogPath returns the path of the file receiving freeDiameterd's output.
func (d *Daemon) LogPath() string { return d.logPath }

// Log returns the daemon's output so far.
func (d *Daemon) Log() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return fmt.Sprintf("<fdtest: cannot read %s: %v>", d.logPath, err)
	}
	return string(b)
}

// Exited reports whether the process has exited.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Stop terminates the daemon gracefully: SIGTERM makes freeDiameter send a
// DPR to every open peer and wait for the DPA; if it has not exited within
// the deadline it is killed. Stop is idempotent and safe to call before the
// cleanup registered by Start.
func (d *Daemon) Stop(tb testing.TB) {
	tb.Helper()
	d.stopOnce.Do(func() {
		select {
		case <-d.done:
			return
		default:
		}
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			tb.Logf("fdtest: SIGTERM freeDiameterd: %v", err)
		}
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-d.done:
		case <-t.C:
			tb.Errorf("fdtest: freeDiameterd %s did not exit %v after SIGTERM, killing it", d.identity, stopTimeout)
			_ = d.cmd.Process.Signal(syscall.SIGKILL)
			<-d.done
		}
	})
}

// WaitLog polls the log until it contains substr, failing the test after
// timeout (or as soon as the daemon has exited without logging it).
func (d *Daemon) WaitLog(tb testing.TB, substr string, timeout time.Duration) {
	tb.Helper()
	d.WaitLogCount(tb, substr, 1, timeout)
}

// WaitLogCount polls the log until substr occurs at least n times. Use it
// for events that repeat, e.g. the second STATE_OPEN of a peer after a
// reconnection.
func (d *Daemon) WaitLogCount(tb testing.TB, substr string, n int, timeout time.Duration) {
	tb.Helper()
	d.waitFor(tb, fmt.Sprintf("%q (%d times)", substr, n), timeout, func(log string) bool {
		return strings.Count(log, substr) >= n
	})
}

// WaitLogMatch polls the log until re matches it.
func (d *Daemon) WaitLogMatch(tb testing.TB, re *regexp.Regexp, timeout time.Duration) {
	tb.Helper()
	d.waitFor(tb, "/"+re.String()+"/", timeout, re.MatchString)
}

func (d *Daemon) waitFor(tb testing.TB, what string, timeout time.Duration, cond func(string) bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		exited := d.Exited() // read before the log: no line can be missed
		if cond(d.Log()) {
			return
		}
		if exited {
			tb.Fatalf("fdtest: freeDiameterd %s exited (%v) before logging %s\nlog tail:\n%s", d.identity, d.werr, what, tail(d.Log(), 60))
		}
		if time.Now().After(deadline) {
			tb.Fatalf("fdtest: freeDiameterd %s did not log %s within %v\nlog tail:\n%s", d.identity, what, timeout, tail(d.Log(), 60))
		}
		time.Sleep(pollInterval)
	}
}

// PeerOpenLine returns the fragment of the line freeDiameter 1.2.1 logs at
// NOTI level when the state machine of peer identity enters STATE_OPEN
// (capabilities exchanged), whatever the previous state:
//
//	'STATE_WAITCEA'	-> 'STATE_OPEN'	'eir.server'   (we connected)
//	'STATE_CLOSED'	-> 'STATE_OPEN'	'client.test'  (it connected)
func PeerOpenLine(identity string) string { return "-> 'STATE_OPEN'\t'" + identity + "'" }

// PeerLeftOpen matches the line logged when peer identity leaves
// STATE_OPEN, e.g. "'STATE_OPEN'	-> 'STATE_CLOSING'	'client.test'" after
// it sent a DPR, or "-> 'STATE_CLOSING_GRACE'" when freeDiameter sends one.
func PeerLeftOpen(identity string) *regexp.Regexp {
	return regexp.MustCompile(`'STATE_OPEN'\t-> '[A-Z_]+'\t'` + regexp.QuoteMeta(identity) + `'`)
}

// WaitPeerOpen polls the log until the connection with identity reaches
// STATE_OPEN (CER/CEA done).
func (d *Daemon) WaitPeerOpen(tb testing.TB, identity string, timeout time.Duration) {
	tb.Helper()
	d.WaitLog(tb, PeerOpenLine(identity), timeout)
}

// WaitPeerClosed polls the log until the connection with identity has left
// STATE_OPEN.
func (d *Daemon) WaitPeerClosed(tb testing.TB, identity string, timeout time.Duration) {
	tb.Helper()
	d.WaitLogMatch(tb, PeerLeftOpen(identity), timeout)
}

func tail(s string, n int) string {
	lines := bytes.Split([]byte(strings.TrimRight(s, "\n")), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
