package test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// stolenList lists n stolen IMEIs for the national source.
func stolenList(n int) (csv string, imeis []string) {
	var b strings.Builder
	b.WriteString("imei,status,source\n")
	for i := range n {
		imei := eir.IMEI(35209900500000 + uint64(i)*37).String()
		imeis = append(imeis, imei)
		fmt.Fprintf(&b, "%s,black,national\n", imei)
	}
	return b.String(), imeis
}

// importStolen lists n stolen IMEIs through eirctl and waits until eird
// holds them.
func importStolen(t *testing.T, e *eird, n int) []string {
	t.Helper()
	list, imeis := stolenList(n)
	if out, errOut, code := e.eirctl(t, list, "import", "-reason", "chaos test lists", "-"); code != 0 {
		t.Fatalf("import: %d %s%s", code, out, errOut)
	}
	e.waitHeld(t)
	return imeis
}

// prober checks blacklisted IMEIs over S13 without a pause, from several
// connections, and counts every answer that is not BLACKLISTED.
type prober struct {
	t       *testing.T
	total   atomic.Int64
	bad     atomic.Int64
	mu      sync.Mutex
	samples []string // the first bad answers
	imeis   atomic.Pointer[[]string]
	stop    chan struct{}
	wg      sync.WaitGroup
	slowest atomic.Int64 // ns
}

func startProber(t *testing.T, diameterAddr string, imeis []string, conns int) *prober {
	p := &prober{t: t, stop: make(chan struct{})}
	p.imeis.Store(&imeis)
	for i := range conns {
		c, err := s13client.Dial(ctxT(t), diameterAddr, s13client.Options{OriginHost: fmt.Sprintf("mme%d.e2e.test", 10+i), OriginRealm: "e2e.test"})
		if err != nil {
			t.Fatal(err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			for n := i; ; n++ {
				select {
				case <-p.stop:
					return
				default:
				}
				list := *p.imeis.Load()
				imei := list[n%len(list)]
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				start := time.Now()
				a, err := c.Check(ctx, imei, "")
				cancel()
				d := time.Since(start)
				for {
					old := p.slowest.Load()
					if int64(d) <= old || p.slowest.CompareAndSwap(old, int64(d)) {
						break
					}
				}
				p.total.Add(1)
				switch {
				case err != nil:
					p.fail(fmt.Sprintf("%s: %v", imei, err))
				case s13client.ResultCode(a.Msg) != 2001 || s13client.EquipmentStatus(a.Msg) != 1:
					p.fail(fmt.Sprintf("%s: result %d equipment status %d", imei, s13client.ResultCode(a.Msg), s13client.EquipmentStatus(a.Msg)))
				}
				time.Sleep(2 * time.Millisecond) // a probe every few milliseconds per connection
			}
		}()
	}
	return p
}

func (p *prober) fail(s string) {
	p.bad.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.samples) < 10 {
		p.samples = append(p.samples, time.Now().Format("15:04:05.000")+" "+s)
	}
}

// check fails the test if any probe so far was not BLACKLISTED.
func (p *prober) check(phase string) {
	p.t.Helper()
	if n := p.bad.Load(); n > 0 {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.t.Fatalf("%s: %d of %d probes were not BLACKLISTED, e.g.:\n%s", phase, n, p.total.Load(), strings.Join(p.samples, "\n"))
	}
	p.t.Logf("%s: %d probes, all BLACKLISTED; slowest %v", phase, p.total.Load(), time.Duration(p.slowest.Load()))
}

// waitProbes polls until n more probes have been answered (whatever the
// answer): the probes ran through the phase being checked.
func (p *prober) waitProbes(n int64) {
	p.t.Helper()
	want := p.total.Load() + n
	testenv.Eventually(p.t, fmt.Sprintf("%d more probes answered", n), 10*time.Second, func() bool { return p.total.Load() >= want })
}

func (p *prober) close() {
	close(p.stop)
	p.wg.Wait()
}

// waitState polls GET /v1/store until it reports state; the states seen on
// the way are logged.
func (e *eird) waitState(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	last := ""
	testenv.Eventually(t, "the store to become "+want, timeout, func() bool {
		state, _ := e.storeState(t)
		if state != last && state != want {
			t.Logf("store %s, waiting for %s", state, want)
		}
		last = state
		return state == want
	})
}

// ctl runs eirctl and fails the test unless it exits with want.
func (e *eird) ctl(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, errOut, code := e.eirctl(t, "", args...)
	if code != want {
		t.Fatalf("eirctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out + errOut
}

// TestChaosListsInForce faults Redis the ways operators' Redis fail —
// emptied, rolled back to an older snapshot, frozen, killed — while MMEs
// check blacklisted IMEIs every few milliseconds: no probe may be answered
// anything but BLACKLISTED (no 5012 either: the outages are shorter than
// store.max_stale), and each fault is reported and repaired.
func TestChaosListsInForce(t *testing.T) {
	rds := redistest.Start(t, redistest.WithPersistence())
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()))
	imeis := importStolen(t, e, 200)
	p := startProber(t, e.diameter, imeis, 3)
	defer p.close()
	p.waitProbes(50)
	p.check("before the faults")

	// 1. Redis restarts with an empty database.
	rds.RestartEmpty(t)
	e.waitState(t, "diverged", 10*time.Second)
	out := e.ctl(t, 1, "store", "status")
	if !strings.Contains(out, "DIVERGED") || !strings.Contains(out, "lost its data") {
		t.Fatalf("store status after an empty restart:\n%s", out)
	}
	if out := e.ctl(t, 1, "add", "-reason", "write while diverged", "35911111111111"); !strings.Contains(out, "restore") {
		t.Fatalf("a write while diverged must be refused, naming the repair:\n%s", out)
	}
	p.check("Redis emptied")
	out = e.ctl(t, 0, "store", "restore", "-reason", "redis restarted empty")
	if !strings.Contains(out, "national/imei/black") {
		t.Fatalf("restore:\n%s", out)
	}
	e.waitState(t, "ok", 10*time.Second)
	e.waitHeld(t)
	p.check("after the restore")

	// 2. Redis restored from an older snapshot: an IMEI listed after the
	// snapshot stays listed.
	rdb := rds.SaveRDB(t)
	late := "35922222222222"
	e.ctl(t, 0, "add", "-list", "black", "-source", "manual", "-reason", "stolen after the snapshot", late)
	e.waitHeld(t)
	p.imeis.Store(ptr(append(append([]string{}, imeis...), late)))
	rds.RestartFromRDB(t, rdb)
	e.waitState(t, "diverged", 10*time.Second)
	if out := e.ctl(t, 1, "store", "status"); !strings.Contains(out, "backwards") {
		t.Fatalf("store status after a rollback:\n%s", out)
	}
	p.check("Redis rolled back")
	e.ctl(t, 0, "store", "restore", "-reason", "redis restored from an older snapshot")
	e.waitState(t, "ok", 10*time.Second)
	e.waitHeld(t)
	p.check("after the second restore")

	// 3. Redis frozen (SIGSTOP) for a thousand probes: checks do not wait for it;
	// writes fail at once with a clear error.
	rds.Pause(t)
	e.waitState(t, "stale", 5*time.Second)
	start := time.Now()
	out = e.ctl(t, 1, "add", "-reason", "write during an outage", "35933333333333")
	if time.Since(start) > 3*time.Second || !strings.Contains(out, "unreachable") {
		t.Fatalf("a write during the outage took %v:\n%s", time.Since(start), out)
	}
	p.waitProbes(1000) // the outage lasts while a thousand probes are answered
	rds.Resume(t)
	e.waitState(t, "ok", 10*time.Second)
	p.check("Redis frozen")
	if p.slowest.Load() > int64(200*time.Millisecond) {
		t.Fatalf("a check waited %v: checks must not wait for a frozen Redis", time.Duration(p.slowest.Load()))
	}

	// 4. Redis killed (kill -9) and restarted from its AOF.
	rds.Kill(t)
	e.waitState(t, "stale", 5*time.Second)
	p.waitProbes(100) // Redis stays dead while probes run
	rds.Restart(t)
	// The loop acts between polls: the AOF (fsync every second) may have
	// lost the last switch, which a restore repairs.
	testenv.Eventually(t, "recovery after the kill", 15*time.Second, func() bool {
		state, _ := e.storeState(t)
		if state == "diverged" {
			e.ctl(t, 0, "store", "restore", "-reason", "redis lost its last writes")
		}
		return state == "ok"
	})
	p.check("Redis killed and restarted")

	// 5. An operator's FLUSHALL, repaired by another eird restored from
	// its own copy: both answer throughout.
	rds.FlushAll(t)
	e.waitState(t, "diverged", 10*time.Second)
	p.check("FLUSHALL")
	e.ctl(t, 0, "store", "restore", "-reason", "an operator's FLUSHALL")
	e.waitState(t, "ok", 10*time.Second)
	p.check("after the last restore")
	if n := p.total.Load(); n < 1000 {
		t.Fatalf("only %d probes in the whole test", n)
	}
}

func ptr[T any](v T) *T { return &v }

// TestStartWhileRedisDown: an eird started while Redis is down answers
// from its local copy from its first check; when Redis comes back empty,
// it does not believe it, and the restore puts the lists back.
func TestStartWhileRedisDown(t *testing.T) {
	rds := redistest.Start(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(baseConfig, rds.Addr())
	e := startEIRDIn(t, dir, cfg)
	imeis := importStolen(t, e, 50)
	e.waitLog(t, "local copy", 10*time.Second)
	testenv.Eventually(t, "the local copy written", 10*time.Second, func() bool {
		entries, err := os.ReadDir(dir + "/snapshot")
		return err == nil && len(entries) >= 2
	})
	e.stop(t)
	rds.Kill(t)

	e2 := startEIRDIn(t, dir, cfg)
	p := startProber(t, e2.diameter, imeis, 2)
	defer p.close()
	p.waitProbes(100)
	p.check("eird started while Redis is down")
	// The outage is seen within three refreshes of the state (until then
	// the lists read from the copy are reported ok).
	e2.waitState(t, "stale", 5*time.Second)
	if out := e2.ctl(t, 1, "status"); !strings.Contains(out, "STALE") {
		t.Fatalf("status while Redis is down:\n%s", out)
	}

	rds.RestartEmpty(t)
	e2.waitState(t, "diverged", 10*time.Second)
	p.check("Redis back, empty")
	e2.ctl(t, 0, "store", "restore", "-reason", "redis came back empty")
	e2.waitState(t, "ok", 10*time.Second)
	p.check("after the restore")
	if n := rds.Client(t).Exists(context.Background(), "{eir:meta}:manifest").Val(); n != 1 {
		t.Fatal("the restore wrote no manifest into Redis")
	}
}

// TestAutoRestore: with store.auto_restore, an eird restores the lists in
// force by itself when Redis lost them, and audits it.
func TestAutoRestore(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()), "EIR_STORE_AUTO_RESTORE=true")
	imeis := importStolen(t, e, 50)
	p := startProber(t, e.diameter, imeis, 1)
	defer p.close()
	rds.FlushAll(t)
	rdb := rds.Client(t)
	testenv.Eventually(t, "the lists restored automatically", 15*time.Second, func() bool {
		return rdb.Exists(context.Background(), "{eir:meta}:manifest").Val() == 1
	})
	e.waitState(t, "ok", 10*time.Second)
	p.check("automatic restore")
	if out := e.ctl(t, 0, "audit", "-action", "store.restore"); !strings.Contains(out, "auto_restore") {
		t.Fatalf("the automatic restore is not in the audit trail:\n%s", out)
	}
}
