package redistest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestMain checks that neither the harness nor the clients it hands out
// leave goroutines behind once every test's cleanup has run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartSetGet(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t)
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || srv.Addr() == "127.0.0.1:6379" {
		t.Fatalf("Addr() = %q, want 127.0.0.1 with a non-default port", srv.Addr())
	}
	if srv.Pid() <= 0 {
		t.Fatalf("Pid() = %d, want > 0", srv.Pid())
	}
	rdb := srv.Client(t)
	if err := rdb.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := rdb.Get(ctx, "greeting").Result()
	if err != nil || got != "hello" {
		t.Fatalf("GET = %q, %v; want \"hello\"", got, err)
	}
	mem, err := srv.UsedMemory(ctx)
	if err != nil || mem <= 0 {
		t.Fatalf("UsedMemory() = %d, %v; want > 0", mem, err)
	}
	// No persistence by default.
	cfg, err := rdb.ConfigGet(ctx, "appendonly").Result()
	if err != nil || cfg["appendonly"] != "no" {
		t.Fatalf("CONFIG GET appendonly = %v, %v; want no", cfg, err)
	}
	cfg, err = rdb.ConfigGet(ctx, "save").Result()
	if err != nil || cfg["save"] != "" {
		t.Fatalf("CONFIG GET save = %v, %v; want empty", cfg, err)
	}
}

func TestStopRestartWithPersistence(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t, WithPersistence())
	addr, pid := srv.Addr(), srv.Pid()
	rdb := srv.Client(t)
	if err := rdb.Set(ctx, "survivor", "still here", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	srv.Stop()
	srv.Stop() // idempotent
	if got := srv.Pid(); got != 0 {
		t.Fatalf("Pid() after Stop = %d, want 0", got)
	}
	probe := redis.NewClient(adminOptions(addr, "")) // no retries: fail fast
	defer probe.Close()
	if err := probe.Ping(ctx).Err(); err == nil {
		t.Fatalf("PING after Stop succeeded, want an error")
	}

	srv.Restart(t)
	if srv.Addr() != addr {
		t.Fatalf("Addr() after Restart = %q, want %q", srv.Addr(), addr)
	}
	if srv.Pid() == 0 || srv.Pid() == pid {
		t.Fatalf("Pid() after Restart = %d, want a new process (old %d)", srv.Pid(), pid)
	}
	got, err := rdb.Get(ctx, "survivor").Result()
	if err != nil || got != "still here" {
		t.Fatalf("GET after Restart = %q, %v; want \"still here\"", got, err)
	}
}

func TestRestartWithoutPersistenceLosesData(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t)
	rdb := srv.Client(t)
	if err := rdb.Set(ctx, "ephemeral", "x", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	srv.Restart(t) // Restart of a running server stops it first
	if err := rdb.Get(ctx, "ephemeral").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after Restart: err = %v, want redis.Nil", err)
	}
}

func TestWithConfig(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t, WithConfig("set-max-intset-entries", "1024"))
	cfg, err := srv.Client(t).ConfigGet(ctx, "set-max-intset-entries").Result()
	if err != nil {
		t.Fatalf("CONFIG GET: %v", err)
	}
	if got := cfg["set-max-intset-entries"]; got != "1024" {
		t.Fatalf("set-max-intset-entries = %q, want 1024", got)
	}
}

func TestWithPassword(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := Start(t, WithPassword("s3cret"))
	if err := srv.Client(t).Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
	anon := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without password: err = %v, want NOAUTH", err)
	}
	if _, err := srv.UsedMemory(ctx); err != nil {
		t.Fatalf("UsedMemory with password: %v", err)
	}
}

// TestPortTakenIsDetected launches a second redis-server on a port that a
// running one holds: the harness must not mistake the other server's answer
// for its own, and must report the bind failure as errPortInUse (which makes
// Start retry with a new port).
func TestPortTakenIsDetected(t *testing.T) {
	t.Parallel()
	holder := Start(t)
	dir := t.TempDir()
	s := &Server{
		name:       "intruder",
		bin:        holder.bin,
		dir:        dir,
		logPath:    filepath.Join(dir, "redis.log"),
		stdoutPath: filepath.Join(dir, "redis.stdout"),
		port:       holder.port,
	}
	s.mu.Lock()
	err := s.launchLocked(true)
	s.mu.Unlock()
	if !errors.Is(err, errPortInUse) {
		t.Fatalf("launch on a taken port: err = %v, want errPortInUse", err)
	}
	if s.proc != nil {
		t.Fatalf("failed launch left a process behind")
	}
	if holder.Pid() == 0 {
		t.Fatalf("holder stopped")
	}
}

func TestFreePortsDistinct(t *testing.T) {
	t.Parallel()
	ports, err := freePorts("127.0.0.1", 8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p == 6379 || p <= 0 || seen[p] {
			t.Fatalf("freePorts = %v: bad or duplicate port %d", ports, p)
		}
		seen[p] = true
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cl := StartCluster(t, 3)
	if n := len(cl.Addrs()); n != 3 {
		t.Fatalf("Addrs() has %d entries, want 3", n)
	}
	rdb := cl.Client(t)
	for i := range 100 {
		if err := rdb.Set(ctx, fmt.Sprintf("key:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET key:%d: %v", i, err)
		}
	}
	for i := range 100 {
		got, err := rdb.Get(ctx, fmt.Sprintf("key:%d", i)).Int()
		if err != nil || got != i {
			t.Fatalf("GET key:%d = %d, %v", i, got, err)
		}
	}
	// The keys must really be spread over the masters.
	for _, n := range cl.Nodes() {
		size, err := n.Client(t).DBSize(ctx).Result()
		if err != nil {
			t.Fatalf("DBSIZE on %s: %v", n.Addr(), err)
		}
		if size == 0 || size == 100 {
			t.Fatalf("node %s holds %d of 100 keys; want them spread over the nodes", n.Addr(), size)
		}
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	sen := StartSentinel(t)
	if sen.MasterName() != "mymaster" {
		t.Fatalf("MasterName() = %q", sen.MasterName())
	}
	if len(sen.SentinelAddrs()) != 1 {
		t.Fatalf("SentinelAddrs() = %v", sen.SentinelAddrs())
	}
	rdb := sen.Client(t)
	if err := rdb.Set(ctx, "via", "sentinel", 0).Err(); err != nil {
		t.Fatalf("SET through failover client: %v", err)
	}
	got, err := rdb.Get(ctx, "via").Result()
	if err != nil || got != "sentinel" {
		t.Fatalf("GET through failover client = %q, %v", got, err)
	}
	// The write went to the master the harness started.
	got, err = sen.Master().Client(t).Get(ctx, "via").Result()
	if err != nil || got != "sentinel" {
		t.Fatalf("GET on master directly = %q, %v", got, err)
	}
}

func BenchmarkSetGet(b *testing.B) {
	ctx := context.Background()
	rdb := Start(b).Client(b)
	for b.Loop() {
		if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
