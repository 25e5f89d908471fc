package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/storetest"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis's pools and the sentinel client keep background workers
		// that end shortly after Close.
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9.(*sentinelFailover).listen"),
		// After a failed dial (tests that stop Redis) the pool retries in
		// the background, once a second.
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
		// A connection the pool began to dial for a caller that gave up
		// (queued dials) finishes, or fails and logs, after Close.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).queuedNewConn.func2"),
	)
}

func newStore(t testing.TB, rdb redis.UniversalClient, prefix string, mod func(*Options)) *Store {
	t.Helper()
	o := Options{Prefix: prefix}
	if mod != nil {
		mod(&o)
	}
	s, err := New(context.Background(), rdb, o, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var prefixSeq atomic.Int64

// freshPrefix gives each store of a shared server its own key space.
func freshPrefix() string { return fmt.Sprintf("t%d:", prefixSeq.Add(1)) }

func TestContractStandalone(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store { return newStore(t, rdb, freshPrefix(), nil) })
}

func TestContractSmallBuckets(t *testing.T) {
	// Tiny buckets force rebucketing on growth and many keys per dataset.
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return newStore(t, rdb, freshPrefix(), func(o *Options) { o.BucketFill = 4 })
	})
}

// TestContractOverlay makes almost every delta go into an overlay, and the
// janitor's compaction fold them, so that both paths meet the contract.
func TestContractOverlay(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return newStore(t, rdb, freshPrefix(), func(o *Options) { o.OverlayMax, o.BucketFill = 1, 4 })
	})
}

func TestContractCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	rdb := c.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		// Overlays on: their keys must share slots with their copies.
		return newStore(t, rdb, freshPrefix(), func(o *Options) { o.OverlayMax = 1 })
	})
}

func TestContractSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t)
	rdb := sn.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store { return newStore(t, rdb, freshPrefix(), nil) })
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func black(source string) eir.Dataset {
	return eir.Dataset{Source: source, Target: eir.TargetIMEI, List: eir.ListBlack}
}

func entries(vs ...eir.IMEI) []eir.Entry {
	out := make([]eir.Entry, len(vs))
	for i, v := range vs {
		out[i] = eir.Entry{IMEI: v}
	}
	return out
}

func listed(t *testing.T, s *Store, imei eir.IMEI) bool {
	t.Helper()
	hits, err := s.Match(ctxT(t), eir.Query{IMEI: imei}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(hits) > 0
}

// TestOtherInstanceSeesSwitch checks that a process whose manifest is cached
// answers from a new version on its very next check after another process
// switched it (the epoch in every lookup pipeline).
func TestOtherInstanceSeesSwitch(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	prefix := freshPrefix()
	a, b := newStore(t, rdb, prefix, nil), newStore(t, rdb, prefix, nil)
	if listed(t, a, 35209900176148) { // caches an empty manifest
		t.Fatal("listed in an empty store")
	}
	if _, err := b.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Add: entries(35209900176148)}}); err != nil {
		t.Fatal(err)
	}
	if !listed(t, a, 35209900176148) {
		t.Fatal("the other instance answered from its stale manifest")
	}
	if _, err := b.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Replace: true}}); err != nil {
		t.Fatal(err)
	}
	if listed(t, a, 35209900176148) {
		t.Fatal("the other instance still sees the replaced version")
	}
}

// TestJanitor checks that replaced versions are deleted after the grace
// period, and not before, and that nothing else is left behind.
func TestJanitor(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	prefix := freshPrefix()
	s := newStore(t, rdb, prefix, func(o *Options) { o.Now = clock; o.Grace = time.Minute; o.BucketFill = 8 })
	d := black("national")
	var list []eir.Entry
	for i := 0; i < 200; i++ {
		list = append(list, eir.Entry{IMEI: eir.IMEI(35209900000000 + i*7919)})
	}
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: d, Replace: true, Add: list}}); err != nil {
		t.Fatal(err)
	}
	before := countKeys(t, rdb, prefix+"d:")
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: d, Add: entries(1)}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Collect(ctxT(t)); n != 0 {
		t.Fatalf("deleted %d versions inside the grace period", n)
	}
	now.Add(int64(2 * time.Minute))
	if n, err := s.Collect(ctxT(t)); n != 1 || err != nil {
		t.Fatalf("collect: %d, %v; want 1 version deleted", n, err)
	}
	after := countKeys(t, rdb, prefix+"d:")
	if after != before+1 { // the new version has one more bucket key at most
		if after > before+1 || after < before {
			t.Fatalf("data keys before %d, after %d", before, after)
		}
	}
	if !listed(t, s, 1) || !listed(t, s, list[0].IMEI) {
		t.Fatal("version in force damaged by the janitor")
	}
}

// TestAbandonedBuildCollected simulates a writer killed in the middle of a
// build: its keys are deleted once its lease expires and the version in
// force keeps serving.
func TestAbandonedBuildCollected(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	prefix := freshPrefix()
	s := newStore(t, rdb, prefix, func(o *Options) { o.Now = clock; o.BuildLease = time.Minute })
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Add: entries(7)}}); err != nil {
		t.Fatal(err)
	}
	// A build that never commits: cancel its context in the middle.
	w := groupChanges([]eir.Change{{Dataset: black("national"), Replace: true, Add: entries(8, 9)}})[0]
	b, err := s.build(ctxT(t), w, planEntry{}, false)
	if err != nil || b == nil {
		t.Fatalf("build: %v", err)
	}
	if n := countKeys(t, rdb, prefix+"d:"); n < 2 {
		t.Fatalf("%d data keys; the abandoned build wrote nothing", n)
	}
	now.Add(int64(2 * time.Minute))
	if n, err := s.Collect(ctxT(t)); n != 1 || err != nil {
		t.Fatalf("collect: %d, %v; want the abandoned build deleted", n, err)
	}
	if _, err := s.commit(ctxT(t), s.plan.Load(), []*built{b}, eir.ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "reclaimed") {
		t.Fatalf("commit of a reclaimed build: %v", err)
	}
	if !listed(t, s, 7) || listed(t, s, 8) {
		t.Fatal("the version in force changed")
	}
	if n := countKeys(t, rdb, prefix+"d:"); n != 1 {
		t.Fatalf("%d data keys left, want the 1 bucket in force", n)
	}
}

func countKeys(t *testing.T, rdb redis.UniversalClient, prefix string) int {
	t.Helper()
	n := 0
	iter := rdb.Scan(ctxT(t), 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctxT(t)) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRedisDown checks that checks fail fast with ErrUnavailable while Redis
// is down and work again once it is back.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	s := newStore(t, rdb, freshPrefix(), nil)
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Add: entries(7)}}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Match(ctx, eir.Query{IMEI: 7}, nil)
	if !errors.Is(err, eir.ErrUnavailable) {
		t.Fatalf("match with redis down: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("match took %v with a 300ms deadline", d)
	}
	srv.Restart(t)
	testenv.Eventually(t, "recovery after the restart", 10*time.Second, func() bool {
		hits, err := s.Match(ctxT(t), eir.Query{IMEI: 7}, nil)
		return err == nil && len(hits) == 1
	})
}

// TestBytesPerIMEI measures Redis memory per listed IMEI for a realistic
// list of 200k IMEIs and guards the compact layout.
func TestBytesPerIMEI(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := newStore(t, rdb, "eir:", nil)
	before, err := srv.UsedMemory(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	list := SyntheticIMEIs(200_000, 1)
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Replace: true, Add: list}}); err != nil {
		t.Fatal(err)
	}
	after, _ := srv.UsedMemory(ctxT(t))
	perIMEI := float64(after-before) / float64(len(list))
	t.Logf("%.1f bytes per IMEI at %d IMEIs", perIMEI, len(list))
	if perIMEI > 16 {
		t.Fatalf("%.1f bytes per IMEI: the compact encoding was lost", perIMEI)
	}
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 200; i++ {
		if e := list[rng.Intn(len(list))]; !listed(t, s, e.IMEI) {
			t.Fatalf("%s missing", e.IMEI)
		}
	}
}

// BenchmarkMatch measures one check against a real redis-server holding
// 100k IMEIs in 4 datasets, from parallel callers: "exact" sends one
// pipeline per check (no Run), "batched" sends the reads of the checks in
// flight together (Run, no replica), "replica" answers from the in-process
// copy.
func BenchmarkMatch(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	list := SyntheticIMEIs(100_000, 3)
	changes := []eir.Change{
		{Dataset: black("national"), Add: list[:50_000]},
		{Dataset: black("gsma"), Add: list[50_000:]},
		{Dataset: eir.Dataset{Source: "national", Target: eir.TargetTAC, List: eir.ListBlack}, Add: []eir.Entry{{TAC: 1001001}}},
		{Dataset: eir.Dataset{Source: "gsma", Target: eir.TargetRange, List: eir.ListGrey}, Add: []eir.Entry{{From: 86000000000000, To: 86000000999999}}},
	}
	for _, mode := range []string{"exact", "batched", "replica"} {
		b.Run(mode, func(b *testing.B) {
			s := newStore(b, rdb, "bench-"+mode+":", func(o *Options) { o.Replica = mode == "replica" })
			if _, err := s.Apply(context.Background(), changes); err != nil {
				b.Fatal(err)
			}
			if mode == "batched" {
				runReplica(b, s)
			}
			if s.o.Replica {
				runReplica(b, s)
				testenv.Eventually(b, "the replica to load", 30*time.Second, func() bool {
					rs := s.replica.Load()
					return s.replicaServes() && rs != nil && len(*rs) == 4
				})
			}
			b.ReportAllocs()
			b.SetParallelism(32)
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := s.Match(context.Background(), eir.Query{IMEI: list[i%len(list)].IMEI}, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
			// On a shared machine the CPU this process spent per check is
			// steadier than the time per check.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestLock(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := newStore(t, rdb, freshPrefix(), nil)
	l, err := s.TryLock(ctxT(t), "sync:national", time.Minute)
	if err != nil || l == nil {
		t.Fatalf("first lock: %v %v", l, err)
	}
	if l2, err := s.TryLock(ctxT(t), "sync:national", time.Minute); l2 != nil || err != nil {
		t.Fatalf("second holder got the lock: %v %v", l2, err)
	}
	if err := l.Refresh(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := l.Refresh(ctxT(t)); !errors.Is(err, ErrLockLost) {
		t.Fatalf("refresh after unlock: %v", err)
	}
	l3, err := s.TryLock(ctxT(t), "sync:national", time.Minute)
	if err != nil || l3 == nil {
		t.Fatalf("lock after unlock: %v %v", l3, err)
	}
	// An expired lock can be taken over; the old holder learns it lost it.
	rdb.PExpire(ctxT(t), s.k.meta+"lock:sync:national", time.Millisecond)
	testenv.Eventually(t, "the expired lock to be taken over", 5*time.Second, func() bool {
		l4, _ := s.TryLock(ctxT(t), "sync:national", time.Minute)
		return l4 != nil
	})
	if err := l3.Refresh(ctxT(t)); !errors.Is(err, ErrLockLost) {
		t.Fatalf("old holder: %v", err)
	}
}

func TestDatasetMetrics(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	s, err := New(context.Background(), srv.Client(t), Options{Prefix: freshPrefix()}, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	black := eir.Dataset{Source: "ceir", Target: eir.TargetIMEI, List: eir.ListBlack}
	if _, err := s.Apply(ctx, []eir.Change{{Dataset: black, Add: []eir.Entry{{IMEI: 1}, {IMEI: 2}, {IMEI: 3}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Datasets(ctx); err != nil { // reads the plan, as any check does
		t.Fatal(err)
	}
	want := `
# HELP eir_store_dataset_entries Entries of each dataset in force, as last read by this process.
# TYPE eir_store_dataset_entries gauge
eir_store_dataset_entries{expiring="false",list="black",source="ceir",target="imei"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "eir_store_dataset_entries"); err != nil {
		t.Fatal(err)
	}
}
