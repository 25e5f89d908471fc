package redistest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Faults a chaos test can inject into a running Server, the way operators'
// failures happen: a frozen process (Pause), a crash (Kill), a restart that
// lost its data (RestartEmpty), a restore from an older snapshot
// (SaveRDB, RestartFromRDB) and a FLUSHALL by mistake. Each keeps the
// server's port, so clients reconnect to the same address, and each fails
// the test with a message naming the server and what went wrong.

const (
	// pauseTimeout bounds the wait for a SIGSTOP to take effect.
	pauseTimeout = 5 * time.Second
	// commandTimeout bounds SAVE, FLUSHALL and the AOF rewrite after
	// RestartFromRDB; they take longer than a probe on a big dataset.
	commandTimeout = 30 * time.Second
)

// Pause freezes the server with SIGSTOP and returns once the process is
// stopped. Its port stays bound: TCP connects still succeed (the kernel
// completes them into the listen backlog) but nothing answers until Resume.
// Pausing a paused server does nothing. Stop, Kill, every Restart variant
// and the test's cleanup end a paused server without a Resume. Pause fails
// the test if the server is not running.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		return
	}
	p := s.proc
	if p == nil {
		tb.Fatalf("redistest: pausing %s %s: it is stopped", s.name, s.addrLocked())
	}
	if err := p.signal(sigStop); err != nil {
		tb.Fatalf("redistest: pausing %s %s: SIGSTOP: %v\n%s", s.name, s.addrLocked(), err, s.Tail())
	}
	s.paused = true
	if err := waitStopped(p); err != nil {
		tb.Fatalf("redistest: pausing %s %s: %v", s.name, s.addrLocked(), err)
	}
}

// waitStopped polls until the process is in the stopped state, or until
// pauseTimeout.
func waitStopped(p *process) error {
	deadline := time.Now().Add(pauseTimeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		stopped, err := processStopped(p.pid())
		if err == nil && stopped {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("process %d exited (%v)", p.pid(), p.waitErr)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("process %d not stopped %v after SIGSTOP (last error: %v)", p.pid(), pauseTimeout, err)
		}
		<-ticker.C
	}
}

// Resume sends SIGCONT and returns once the server answers PING again. It is
// safe to call on a server that is not paused (it then only checks that the
// server answers) and does nothing on a stopped server. It fails the test if
// the server does not answer.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		s.paused = false
		return
	}
	if err := p.signal(sigCont); err != nil {
		tb.Fatalf("redistest: resuming %s %s: SIGCONT: %v\n%s", s.name, s.addrLocked(), err, s.Tail())
	}
	s.paused = false
	if err := waitReady(p, s.addrLocked(), s.cfg.password); err != nil {
		tb.Fatalf("redistest: resuming %s %s: %v\n%s", s.name, s.addrLocked(), err, s.Tail())
	}
}

// Kill ends the server with SIGKILL, as a crash or the OOM killer would: no
// SHUTDOWN, no final save or AOF flush. It returns once the process is gone;
// Pid then returns 0. A paused server is killed too. Killing a stopped
// server does nothing. Restart brings it back with what its AOF had (see
// Restart). Kill fails the test if the process does not exit.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.killLocked(); err != nil {
		tb.Fatalf("redistest: killing %s %s: %v", s.name, s.addrLocked(), err)
	}
}

func (s *Server) killLocked() error {
	p := s.proc
	if p == nil {
		s.paused = false
		return nil
	}
	if err := p.kill(); err != nil {
		return err // s.proc is kept, so that cleanup tries again
	}
	s.proc = nil
	s.paused = false
	return nil
}

// RestartEmpty kills the server (as Kill does), removes its data files (the
// RDB dump file, the append-only file or directory and any temporary files
// of an unfinished save or rewrite) and starts it again on the same port
// with the same options: "Redis restarted with an empty database". With
// WithPersistence the new server writes a new, empty AOF. Cluster nodes keep
// their nodes.conf (their identity and slots), only their keys are gone. It
// fails the test if a file cannot be removed or the server does not come
// back.
func (s *Server) RestartEmpty(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.killLocked(); err != nil {
		tb.Fatalf("redistest: restarting %s %s empty: killing: %v", s.name, s.addrLocked(), err)
	}
	if err := s.removeDataFiles(); err != nil {
		tb.Fatalf("redistest: restarting %s %s empty: %v", s.name, s.addrLocked(), err)
	}
	if err := s.launchLocked(false); err != nil {
		tb.Fatalf("redistest: restarting %s on %s empty failed: %v\n%s", s.name, s.addrLocked(), err, s.Tail())
	}
}

// SaveRDB runs SAVE (a synchronous RDB snapshot of the current data) and
// copies the dump file to a new file in a tb.TempDir, whose path it returns
// for RestartFromRDB. Unless the server saves snapshots itself (save points
// set with WithConfig), the dump file is then removed from the server's
// directory, so that Restart without WithPersistence still comes back
// empty. SaveRDB fails the test if the server is stopped or paused or SAVE
// fails.
func (s *Server) SaveRDB(tb testing.TB) string {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.answeringLocked(); err != nil {
		tb.Fatalf("redistest: saving an RDB snapshot of %s %s: %v", s.name, s.addrLocked(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c := s.adminClientLocked()
	defer c.Close()
	if err := c.Save(ctx).Err(); err != nil {
		tb.Fatalf("redistest: SAVE on %s %s: %v\n%s", s.name, s.addrLocked(), err, s.Tail())
	}
	dump := s.dumpPath()
	snap := filepath.Join(tb.TempDir(), "snapshot.rdb")
	if err := copyFile(snap, dump); err != nil {
		tb.Fatalf("redistest: saving an RDB snapshot of %s %s: %v", s.name, s.addrLocked(), err)
	}
	if !s.savesSnapshots() {
		if err := os.Remove(dump); err != nil {
			tb.Fatalf("redistest: saving an RDB snapshot of %s %s: %v", s.name, s.addrLocked(), err)
		}
	}
	return snap
}

// RestartFromRDB kills the server (as Kill does), removes its data files (as
// RestartEmpty does), puts a copy of the RDB file at path in place as its
// dump file and starts it again on the same port, so that it holds exactly
// the data of that snapshot: what was written after the snapshot is gone,
// what was deleted since is back. path is typically from SaveRDB.
//
// Redis loads the AOF instead of the dump file when appendonly is yes, so
// the server is started with appendonly no to load the dump. With
// WithPersistence (or appendonly yes set through WithConfig), RestartFromRDB
// then turns the AOF back on and waits until Redis has rewritten it from
// the loaded data, so that a later Kill or Restart keeps that data. Unless
// the server saves snapshots itself, the dump file is removed once loaded
// (as SaveRDB does). RestartFromRDB fails the test if path cannot be read,
// the server does not load it or does not come back.
func (s *Server) RestartFromRDB(tb testing.TB, path string) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	what := fmt.Sprintf("restarting %s %s from RDB %s", s.name, s.addrLocked(), path)
	if fi, err := os.Stat(path); err != nil {
		tb.Fatalf("redistest: %s: %v", what, err)
	} else if !fi.Mode().IsRegular() {
		tb.Fatalf("redistest: %s: not a regular file", what)
	}
	if err := s.killLocked(); err != nil {
		tb.Fatalf("redistest: %s: killing: %v", what, err)
	}
	if err := s.removeDataFiles(); err != nil {
		tb.Fatalf("redistest: %s: %v", what, err)
	}
	dump := s.dumpPath()
	if err := copyFile(dump, path); err != nil {
		tb.Fatalf("redistest: %s: %v", what, err)
	}
	if err := s.launchLocked(false, "--appendonly", "no"); err != nil {
		tb.Fatalf("redistest: %s failed: %v\n%s", what, err, s.Tail())
	}
	if s.appendOnly() {
		if err := s.enableAOFLocked(); err != nil {
			tb.Fatalf("redistest: %s: turning the AOF back on: %v\n%s", what, err, s.Tail())
		}
	}
	if !s.savesSnapshots() {
		if err := os.Remove(dump); err != nil {
			tb.Fatalf("redistest: %s: %v", what, err)
		}
	}
}

// enableAOFLocked runs CONFIG SET appendonly yes and waits until the AOF
// rewrite it starts has finished, so that the AOF holds the whole dataset.
func (s *Server) enableAOFLocked() error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c := s.adminClientLocked()
	defer c.Close()
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		return fmt.Errorf("CONFIG SET appendonly yes: %w", err)
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		lastErr := aofRewritten(ctx, c)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("AOF rewrite not done within %v: %v", commandTimeout, lastErr)
		case <-ticker.C:
		}
	}
}

// aofRewritten returns nil once INFO persistence shows the AOF on and no
// rewrite running, scheduled or failed.
func aofRewritten(ctx context.Context, c *redis.Client) error {
	info, err := c.Info(ctx, "persistence").Result()
	if err != nil {
		return fmt.Errorf("INFO persistence: %w", err)
	}
	want := [][2]string{
		{"aof_enabled", "1"},
		{"aof_rewrite_in_progress", "0"},
		{"aof_rewrite_scheduled", "0"},
		{"aof_last_bgrewrite_status", "ok"},
	}
	for _, kv := range want {
		if got := infoField(info, kv[0]); got != kv[1] {
			return fmt.Errorf("%s is %q, want %q", kv[0], got, kv[1])
		}
	}
	return nil
}

// FlushAll runs FLUSHALL (synchronously) on the server: every key of every
// database is gone, as after an operator's mistake. With WithPersistence the
// FLUSHALL is in the AOF too, so Restart does not bring the keys back. It
// fails the test if the server is stopped or paused or FLUSHALL fails.
func (s *Server) FlushAll(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.answeringLocked(); err != nil {
		tb.Fatalf("redistest: FLUSHALL on %s %s: %v", s.name, s.addrLocked(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c := s.adminClientLocked()
	defer c.Close()
	if err := c.FlushAll(ctx).Err(); err != nil {
		tb.Fatalf("redistest: FLUSHALL on %s %s: %v\n%s", s.name, s.addrLocked(), err, s.Tail())
	}
}

// answeringLocked returns an error that says why the server cannot answer a
// command now, or nil.
func (s *Server) answeringLocked() error {
	switch {
	case s.proc == nil:
		return errors.New("it is stopped")
	case s.paused:
		return errors.New("it is paused (call Resume first)")
	case s.proc.exited():
		return fmt.Errorf("its process %d has exited (%v)", s.proc.pid(), s.proc.waitErr)
	}
	return nil
}

// adminClientLocked returns a client for one harness command that may take
// up to commandTimeout.
func (s *Server) adminClientLocked() *redis.Client {
	o := adminOptions(s.addrLocked(), s.cfg.password)
	o.ReadTimeout = commandTimeout
	o.WriteTimeout = commandTimeout
	return redis.NewClient(o)
}

// setting returns the value WithConfig gave key (the last one wins, as on
// redis-server's command line), or def.
func (c config) setting(key, def string) string {
	v := def
	for _, kv := range c.extra {
		if strings.EqualFold(kv[0], key) {
			v = kv[1]
		}
	}
	return v
}

// appendOnly reports whether the server runs with appendonly yes.
func (s *Server) appendOnly() bool {
	def := "no"
	if s.cfg.persistence {
		def = "yes"
	}
	return strings.EqualFold(s.cfg.setting("appendonly", def), "yes")
}

// savesSnapshots reports whether save points were set with WithConfig (the
// harness itself runs with save "").
func (s *Server) savesSnapshots() bool {
	return strings.TrimSpace(s.cfg.setting("save", "")) != ""
}

// dataDir is the directory redis keeps its data files in.
func (s *Server) dataDir() string {
	d := s.cfg.setting("dir", s.dir)
	if !filepath.IsAbs(d) {
		d = filepath.Join(s.dir, d) // redis is started in s.dir
	}
	return d
}

// dumpPath is the path of the server's RDB dump file.
func (s *Server) dumpPath() string {
	return filepath.Join(s.dataDir(), s.cfg.setting("dbfilename", "dump.rdb"))
}

// removeDataFiles removes the RDB dump file, the AOF directory (Redis 7) or
// file (older Redis) and temporary files of unfinished saves and rewrites.
// The server must not be running.
func (s *Server) removeDataFiles() error {
	dir := s.dataDir()
	var paths []string
	for _, kv := range [][2]string{
		{"dbfilename", "dump.rdb"},
		{"appenddirname", "appendonlydir"},
		{"appendfilename", "appendonly.aof"},
	} {
		name := s.cfg.setting(kv[0], kv[1])
		if name == "" || name == "." || name == ".." || strings.ContainsRune(name, filepath.Separator) {
			return fmt.Errorf("refusing to remove data file %s %q", kv[0], name)
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	for _, pattern := range []string{"temp-*.rdb", "temp-rewriteaof-*.aof"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		paths = append(paths, m...)
	}
	var errs []error
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("removing data file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// copyFile copies src to a new or truncated file dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying RDB file: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copying RDB file: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copying RDB file %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copying RDB file %s to %s: %w", src, dst, err)
	}
	return nil
}
