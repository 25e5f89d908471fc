package redistest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// pingWithin sends one PING on a fresh connection that gives up after
// timeout, and returns its error.
func pingWithin(t *testing.T, srv *Server, timeout time.Duration) error {
	t.Helper()
	o := adminOptions(srv.Addr(), srv.cfg.password)
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

// wantRunning checks that srv is running on addr under a pid other than
// each of notPids.
func wantRunning(t *testing.T, srv *Server, addr string, notPids ...int) {
	t.Helper()
	if got := srv.Addr(); got != addr {
		t.Fatalf("Addr() = %q, want %q", got, addr)
	}
	pid := srv.Pid()
	if pid <= 0 {
		t.Fatalf("Pid() = %d, want > 0", pid)
	}
	for _, old := range notPids {
		if pid == old {
			t.Fatalf("Pid() = %d, want a new process", pid)
		}
	}
	if err := pingWithin(t, srv, time.Second); err != nil {
		t.Fatalf("PING on %s: %v", addr, err)
	}
}

// wantKeys checks that the server holds exactly want.
func wantKeys(t *testing.T, ctx context.Context, rdb *redis.Client, want map[string]string) {
	t.Helper()
	n, err := rdb.DBSize(ctx).Result()
	if err != nil {
		t.Fatalf("DBSIZE: %v", err)
	}
	for k, v := range want {
		got, err := rdb.Get(ctx, k).Result()
		if err != nil || got != v {
			t.Errorf("GET %s = %q, %v; want %q", k, got, err, v)
		}
	}
	if n != int64(len(want)) {
		keys, _ := rdb.Keys(ctx, "*").Result()
		t.Fatalf("DBSIZE = %d (keys %v), want %d", n, keys, len(want))
	}
}

func set(t *testing.T, ctx context.Context, rdb *redis.Client, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := rdb.Set(ctx, kv[i], kv[i+1], 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", kv[i], err)
		}
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t)
	addr, pid := srv.Addr(), srv.Pid()
	srv.Resume(t) // without Pause: a no-op that checks the server answers

	srv.Pause(t)
	srv.Pause(t) // idempotent
	if err := pingWithin(t, srv, 200*time.Millisecond); err == nil {
		t.Fatalf("PING on a paused server answered, want a timeout")
	}
	if got := srv.Pid(); got != pid {
		t.Fatalf("Pid() while paused = %d, want %d", got, pid)
	}

	srv.Resume(t)
	wantRunning(t, srv, addr)
	if got := srv.Pid(); got != pid {
		t.Fatalf("Pid() after Resume = %d, want the same process %d", got, pid)
	}
	// A client whose command was stuck during the pause works again.
	rdb := srv.Client(t)
	set(t, ctx, rdb, "after", "resume")
	wantKeys(t, ctx, rdb, map[string]string{"after": "resume"})
}

// TestPausedAtCleanup leaves a server paused at the end of a subtest: its
// cleanup must resume it, so that it exits on SIGTERM (status 0) rather than
// be SIGKILLed after the grace period.
func TestPausedAtCleanup(t *testing.T) {
	t.Parallel()
	var p *process
	t.Run("paused", func(t *testing.T) {
		srv := Start(t)
		srv.Pause(t)
		srv.mu.Lock()
		p = srv.proc
		srv.mu.Unlock()
	})
	if !p.exited() {
		t.Fatalf("process %d still running after cleanup", p.pid())
	}
	if p.waitErr != nil {
		t.Fatalf("paused process ended with %v, want a clean exit on SIGTERM", p.waitErr)
	}
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []Option
		pause    bool // kill a paused server
		wantKept bool
	}{
		{name: "no persistence", wantKept: false},
		// appendfsync always, so that every acknowledged write is in the
		// AOF when the process is killed (see Restart on everysec).
		{name: "persistence", opts: []Option{WithPersistence(), WithConfig("appendfsync", "always")}, wantKept: true},
		{name: "paused", pause: true, wantKept: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			srv := Start(t, tc.opts...)
			addr, pid := srv.Addr(), srv.Pid()
			rdb := srv.Client(t)
			set(t, ctx, rdb, "k", "v")
			if tc.pause {
				srv.Pause(t)
			}

			srv.Kill(t)
			srv.Kill(t) // a stopped server: no-op
			if got := srv.Pid(); got != 0 {
				t.Fatalf("Pid() after Kill = %d, want 0", got)
			}
			if err := pingWithin(t, srv, time.Second); err == nil {
				t.Fatalf("PING after Kill succeeded, want an error")
			}
			if got := srv.Addr(); got != addr {
				t.Fatalf("Addr() after Kill = %q, want %q", got, addr)
			}

			srv.Restart(t)
			wantRunning(t, srv, addr, pid)
			want := map[string]string{}
			if tc.wantKept {
				want["k"] = "v"
			}
			wantKeys(t, ctx, rdb, want)
		})
	}
}

// TestKilledServerWritesNoSnapshot checks that Kill saves nothing even when
// the server has save points: there is no dump file afterwards.
func TestKilledServerWritesNoSnapshot(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t, WithConfig("save", "3600 1"))
	set(t, ctx, srv.Client(t), "k", "v")
	srv.Kill(t)
	if _, err := os.Stat(filepath.Join(srv.Dir(), "dump.rdb")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dump.rdb after Kill: %v, want it absent", err)
	}
}

func TestRestartAfterStop(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t)
	addr, pid := srv.Addr(), srv.Pid()
	set(t, ctx, srv.Client(t), "k", "v")
	srv.Stop()
	srv.Restart(t)
	wantRunning(t, srv, addr, pid)
	wantKeys(t, ctx, srv.Client(t), map[string]string{})
}

func TestRestartEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []Option
	}{
		{name: "no persistence"},
		{name: "persistence", opts: []Option{WithPersistence()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			srv := Start(t, tc.opts...)
			addr, pid := srv.Addr(), srv.Pid()
			rdb := srv.Client(t)
			set(t, ctx, rdb, "a", "1", "b", "2")
			srv.SaveRDB(t) // an RDB must not bring the data back either

			srv.RestartEmpty(t)
			wantRunning(t, srv, addr, pid)
			wantKeys(t, ctx, rdb, map[string]string{})

			// The options still hold: with persistence, new writes
			// survive a restart; without, they do not.
			set(t, ctx, rdb, "c", "3")
			srv.Restart(t)
			want := map[string]string{}
			if srv.cfg.persistence {
				want["c"] = "3"
			}
			wantKeys(t, ctx, rdb, want)
		})
	}
}

func TestRestartEmptyWhilePaused(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t)
	addr, pid := srv.Addr(), srv.Pid()
	set(t, ctx, srv.Client(t), "a", "1")
	srv.Pause(t)
	srv.RestartEmpty(t)
	wantRunning(t, srv, addr, pid)
	wantKeys(t, ctx, srv.Client(t), map[string]string{})
}

func TestSaveRDBRestartFromRDB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []Option
	}{
		{name: "no persistence"},
		{name: "persistence", opts: []Option{WithPersistence()}},
		{name: "persistence and password", opts: []Option{WithPersistence(), WithPassword("s3cret")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			srv := Start(t, tc.opts...)
			addr, pid := srv.Addr(), srv.Pid()
			rdb := srv.Client(t)
			set(t, ctx, rdb, "kept", "1", "changed", "before", "deleted", "x")

			snap := srv.SaveRDB(t)
			if fi, err := os.Stat(snap); err != nil || fi.Size() == 0 {
				t.Fatalf("snapshot %s: %v, want a non-empty file", snap, err)
			}
			if filepath.Dir(snap) == srv.Dir() {
				t.Fatalf("snapshot %s is in the server's directory", snap)
			}
			if _, err := os.Stat(filepath.Join(srv.Dir(), "dump.rdb")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("dump.rdb left in the server's directory after SaveRDB: %v", err)
			}

			// Diverge from the snapshot.
			set(t, ctx, rdb, "changed", "after", "new", "y")
			if err := rdb.Del(ctx, "deleted").Err(); err != nil {
				t.Fatalf("DEL: %v", err)
			}

			srv.RestartFromRDB(t, snap)
			wantRunning(t, srv, addr, pid)
			saved := map[string]string{"kept": "1", "changed": "before", "deleted": "x"}
			wantKeys(t, ctx, rdb, saved)

			cfg, err := rdb.ConfigGet(ctx, "appendonly").Result()
			wantAOF := "no"
			if srv.cfg.persistence {
				wantAOF = "yes"
			}
			if err != nil || cfg["appendonly"] != wantAOF {
				t.Fatalf("CONFIG GET appendonly after RestartFromRDB = %v, %v; want %s", cfg, err, wantAOF)
			}

			// The loaded data is what the options say survives a crash:
			// with persistence it is in the AOF, without, nothing is.
			pid = srv.Pid()
			srv.Kill(t)
			srv.Restart(t)
			wantRunning(t, srv, addr, pid)
			if srv.cfg.persistence {
				wantKeys(t, ctx, rdb, saved)
			} else {
				wantKeys(t, ctx, rdb, map[string]string{})
			}

			// The same snapshot can be loaded again.
			srv.RestartFromRDB(t, snap)
			wantKeys(t, ctx, rdb, saved)
		})
	}
}

func TestFlushAll(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t, WithPersistence())
	addr, pid := srv.Addr(), srv.Pid()
	rdb := srv.Client(t)
	db1 := redis.NewClient(&redis.Options{Addr: srv.Addr(), DB: 1})
	defer db1.Close()
	set(t, ctx, rdb, "a", "1", "b", "2")
	set(t, ctx, db1, "c", "3")

	srv.FlushAll(t)
	wantRunning(t, srv, addr)
	if got := srv.Pid(); got != pid {
		t.Fatalf("Pid() after FlushAll = %d, want %d", got, pid)
	}
	wantKeys(t, ctx, rdb, map[string]string{})
	wantKeys(t, ctx, db1, map[string]string{})
	srv.Restart(t) // the FLUSHALL is in the AOF
	wantKeys(t, ctx, rdb, map[string]string{})
	wantKeys(t, ctx, db1, map[string]string{})
}
