package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	// readyTimeout bounds the wait for a started process to answer PING.
	readyTimeout = 10 * time.Second
	// bindAttempts is how many fresh ports are tried when the chosen one is
	// taken by someone else before redis binds it.
	bindAttempts = 5
	// pollInterval is the pause between two readiness probes.
	pollInterval = 10 * time.Millisecond
)

// Option changes how Start configures redis-server.
type Option func(*config)

type config struct {
	extra       [][2]string
	persistence bool
	password    string
}

// WithConfig passes `--key value` to redis-server, e.g.
// WithConfig("set-max-intset-entries", "1024"). It is applied after the
// harness' own settings, so it can override them.
func WithConfig(key, value string) Option {
	return func(c *config) { c.extra = append(c.extra, [2]string{key, value}) }
}

// WithPersistence turns on the append-only file (appendfsync everysec), so
// that data written before Stop or Kill survives Restart (see Restart for
// exactly what survives).
func WithPersistence() Option {
	return func(c *config) { c.persistence = true }
}

// WithPassword sets requirepass; clients from Server.Client authenticate
// with it.
func WithPassword(pw string) Option {
	return func(c *config) { c.password = pw }
}

type mode int

const (
	modeStandalone mode = iota
	modeCluster
	modeSentinel
)

// Server is one redis-server process (or, internally, a sentinel process)
// owned by a test. It is stopped at the test's cleanup.
type Server struct {
	name       string // for messages: "redis-server", "cluster node 2", ...
	bin        string
	dir        string
	logPath    string
	stdoutPath string
	cfg        config
	mode       mode

	// host is the address the process binds and announces; "" is
	// 127.0.0.1.
	host string
	// extraArgs are appended to the command line before cfg.extra (e.g.
	// --replicaof HOST PORT).
	extraArgs []string

	// sentinel mode only
	sentinelConf string
	masterHost   string // "" is host
	masterPort   int
	quorum       int           // 0 is 1
	downAfter    time.Duration // 0 is 2s

	mu      sync.Mutex
	port    int
	busPort int      // cluster bus port (cluster mode only)
	proc    *process // nil while stopped
	paused  bool     // proc was SIGSTOPped by Pause and not yet resumed
}

// Start starts a standalone redis-server on 127.0.0.1 with a free port, no
// RDB snapshots, no AOF (unless WithPersistence) and its data and log in a
// fresh temporary directory. It returns once the server answers PING, and
// registers a cleanup that stops it and, if the test failed, logs the tail
// of its log. Start fails the test (never skips) if redis-server is missing
// or does not come up.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return startServer(tb, &Server{name: "redis-server", cfg: cfg, mode: modeStandalone})
}

// startServer fills in the common fields of s, registers its cleanup and
// launches it on a free port, retrying with new ports if the port was taken
// between picking and binding.
func startServer(tb testing.TB, s *Server) *Server {
	tb.Helper()
	s.bin = lookPath(tb, "redis-server")
	s.dir = tb.TempDir() // registered before our cleanup, so removed after it
	base := "redis"
	if s.mode == modeSentinel {
		base = "sentinel"
		s.sentinelConf = filepath.Join(s.dir, "sentinel.conf")
	}
	s.logPath = filepath.Join(s.dir, base+".log")
	s.stdoutPath = filepath.Join(s.dir, base+".stdout")

	var startFailed bool
	tb.Cleanup(func() {
		err := s.stop()
		if err != nil {
			tb.Errorf("redistest: stopping %s: %v", s.name, err)
		}
		if tb.Failed() && !startFailed {
			tb.Logf("redistest: %s %s (dir %s)\n%s", s.name, s.Addr(), s.dir, s.Tail())
		}
	})

	nports := 1
	if s.mode == modeCluster {
		nports = 2
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(s.hostLocked(), nports)
		if err != nil {
			startFailed = true
			tb.Fatalf("redistest: %v", err)
		}
		s.port = ports[0]
		if nports > 1 {
			s.busPort = ports[1]
		}
		err = s.launchLocked(true)
		if err == nil {
			return s
		}
		if errors.Is(err, errPortInUse) && attempt < bindAttempts {
			tb.Logf("redistest: %s: port %d was taken before redis bound it, retrying with a new port", s.name, s.port)
			continue
		}
		startFailed = true
		tb.Fatalf("redistest: starting %s on %s (attempt %d of %d) failed: %v\n%s",
			s.name, s.addrLocked(), attempt, bindAttempts, err, s.Tail())
	}
}

// args builds the command line for the current port. fresh is true for the
// first launch on a port (sentinel then writes a new config file; a restart
// reuses the file sentinel has rewritten).
func (s *Server) args(fresh bool) ([]string, error) {
	if s.mode == modeSentinel {
		if fresh {
			conf := strings.Join(s.sentinelLines(), "\n")
			if err := os.WriteFile(s.sentinelConf, []byte(conf), 0o644); err != nil {
				return nil, fmt.Errorf("writing sentinel config: %w", err)
			}
		}
		return []string{s.sentinelConf, "--sentinel"}, nil
	}

	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", s.hostLocked(),
		"--save", "",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", s.logPath,
		"--enable-debug-command", "local",
	}
	if s.cfg.persistence {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.cfg.password != "" {
		args = append(args, "--requirepass", s.cfg.password)
	}
	if s.mode == modeCluster {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
			"--cluster-port", strconv.Itoa(s.busPort),
		)
	}
	if s.host != "" {
		// Clients come from the host's address, not from loopback.
		args = append(args, "--protected-mode", "no")
	}
	args = append(args, s.extraArgs...)
	for _, kv := range s.cfg.extra {
		args = append(args, "--"+kv[0], kv[1])
	}
	return args, nil
}

// sentinelLines is the configuration of a sentinel process.
func (s *Server) sentinelLines() []string {
	mhost, quorum, down := s.masterHost, s.quorum, s.downAfter
	if mhost == "" {
		mhost = s.hostLocked()
	}
	if quorum == 0 {
		quorum = 1
	}
	if down == 0 {
		down = 2 * time.Second
	}
	lines := []string{
		"port " + strconv.Itoa(s.port),
		"bind " + s.hostLocked(),
		"daemonize no",
		"dir " + strconv.Quote(s.dir),
		"logfile " + strconv.Quote(s.logPath),
		fmt.Sprintf("sentinel monitor %s %s %d %d", masterName, mhost, s.masterPort, quorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", masterName, down.Milliseconds()),
	}
	if s.host != "" {
		lines = append(lines, "protected-mode no")
	}
	if s.downAfter > 0 {
		// A failover retried after a few down periods, not the default 3
		// minutes.
		lines = append(lines, fmt.Sprintf("sentinel failover-timeout %s %d", masterName, 5*down.Milliseconds()))
	}
	return append(lines, "")
}

// hostLocked is the address the process binds.
func (s *Server) hostLocked() string {
	if s.host == "" {
		return "127.0.0.1"
	}
	return s.host
}

// launchLocked starts the process on s.port and waits until it answers.
// override is appended after every other argument, so it wins over the
// harness' settings and WithConfig alike. On failure nothing is left
// running. s.mu must be held.
func (s *Server) launchLocked(fresh bool, override ...string) error {
	args, err := s.args(fresh)
	if err != nil {
		return err
	}
	args = append(args, override...)
	p, err := launch(s.bin, args, s.dir, s.stdoutPath, s.logPath)
	if err != nil {
		return err
	}
	if err := waitReady(p, s.addrLocked(), s.cfg.password); err != nil {
		stopErr := p.stop()
		if p.bindFailed() {
			return fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return errors.Join(err, stopErr)
	}
	s.proc = p
	return nil
}

// adminOptions are client options for the harness' own short-lived probes:
// no retries, short timeouts, RESP2 and no optional handshakes, so that a
// probe fails fast and quietly.
func adminOptions(addr, password string) *redis.Options {
	return &redis.Options{
		Addr:                     addr,
		Password:                 password,
		Protocol:                 2,
		DisableIdentity:          true,
		MaxRetries:               -1,
		DialerRetries:            1,
		DialTimeout:              time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
		PoolSize:                 2,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// waitReady polls until the process answers PING on addr and INFO shows it
// is really this process (not another server that grabbed the port), or
// until readyTimeout, or until the process exits. A plain TCP connect is
// tried first, so that go-redis (which retries and logs failed dials) is
// only used once something listens on addr.
func waitReady(p *process, addr, password string) error {
	deadline := time.Now().Add(readyTimeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	want := strconv.Itoa(p.pid())
	var lastErr error
	for {
		if p.exited() {
			return fmt.Errorf("process exited before answering PING (%v)", p.waitErr)
		}
		lastErr = probe(addr, password, want, deadline)
		if lastErr == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("no answer to PING on %s within %v: %v", addr, readyTimeout, lastErr)
		}
		select {
		case <-p.done:
		case <-ticker.C:
		}
	}
}

// probe makes one readiness check of the server on addr whose process id
// should be wantPid. Each probe uses a fresh client, so no failed dial of an
// earlier probe is remembered by a connection pool.
func probe(addr, password, wantPid string, deadline time.Time) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	_ = conn.Close()

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c := redis.NewClient(adminOptions(addr, password))
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("PING: %w", err)
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("INFO server: %w", err)
	}
	if got := infoField(info, "process_id"); got != wantPid {
		return fmt.Errorf("%s is answered by process %s, not by ours (%s)", addr, got, wantPid)
	}
	return nil
}

// infoField returns the value of key in an INFO reply, or "".
func infoField(info, key string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

func (s *Server) addrLocked() string {
	return net.JoinHostPort(s.hostLocked(), strconv.Itoa(s.port))
}

// Addr returns "127.0.0.1:port" (or the host given to a group started with
// GroupOptions.Host). The address stays the same across Stop,
// Kill, Pause and every Restart variant, so clients reconnect to it.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrLocked()
}

// Pid returns the process id of the running redis-server, or 0 while it is
// stopped (after Stop or Kill). A paused server keeps its pid; every
// Restart variant starts a new process with a new pid.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid()
}

// Client returns a new go-redis client for the server (authenticated if
// WithPassword was given). It is closed at the cleanup of tb, before the
// server is stopped.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.cfg.password})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server: SIGCONT (in case it is paused), SIGTERM, then
// SIGKILL if it has not exited within 10 seconds. It returns once the
// process is gone. Stop is idempotent and safe to call concurrently; it is
// also called at cleanup.
func (s *Server) Stop() {
	_ = s.stop()
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	s.paused = false
	return p.stop()
}

// Restart stops the server if it is running (as Stop does; a paused server
// is resumed first) and starts it again on the same port and directory,
// with the same options, and waits until it answers. It also works after
// Stop and after Kill.
//
// Restart loads whatever the data directory holds, and touches none of it:
//   - With WithPersistence, what the AOF had when the process ended: after
//     Stop (SIGTERM, which flushes the AOF) every acknowledged write; after
//     Kill, every write Redis had written to the AOF, which with appendfsync
//     everysec is every acknowledged write unless Redis had postponed the
//     write behind a slow background fsync.
//   - Without it, nothing: the server comes back empty. The harness leaves
//     no dump file behind (SaveRDB and RestartFromRDB remove theirs), so
//     only a test that runs SAVE or BGSAVE itself, or configures save
//     points with WithConfig, leaves an RDB for Restart to load.
//
// It fails the test if the server cannot be started again, e.g. because
// another process took the port meanwhile.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatalf("redistest: restarting %s %s: stopping: %v", s.name, s.Addr(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.launchLocked(false); err != nil {
		tb.Fatalf("redistest: restarting %s on %s failed: %v\n%s", s.name, s.addrLocked(), err, s.Tail())
	}
}

// UsedMemory returns used_memory from INFO memory, in bytes.
func (s *Server) UsedMemory(ctx context.Context) (int64, error) {
	c := redis.NewClient(adminOptions(s.Addr(), s.cfg.password))
	defer c.Close()
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redistest: INFO memory on %s: %w", s.Addr(), err)
	}
	v := infoField(info, "used_memory")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redistest: parsing used_memory %q from %s: %w", v, s.Addr(), err)
	}
	return n, nil
}

// Dir returns the server's data directory (a tb.TempDir).
func (s *Server) Dir() string { return s.dir }

// Tail returns the last lines of the server's log (and of its stdout/stderr,
// if it wrote anything there), for failure messages.
func (s *Server) Tail() string {
	return tail(logTailLines, s.logPath, s.stdoutPath)
}
