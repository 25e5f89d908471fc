package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// The tests of several eird on one replicated Redis, each eird a separate
// host: its own network namespace and address on a private bridge the test
// creates, Redis on the bridge's address in the root namespace, the MME
// simulators and the admin clients in the test process (root namespace).
const (
	hostsDiameterPort = "3868" // inside each eird's own namespace: nothing else listens there
	hostsAdminPort    = "9090"
	hostsToken        = "cluster-test-token"
	// replicaRefresh is store.replica_refresh and readTimeout
	// redis.read_timeout of the eirds.
	replicaRefresh = 100 * time.Millisecond
	readTimeout    = 300 * time.Millisecond
	// stalenessBound is the documented bound (README, Redis layout:
	// "within store.replica_refresh plus one Redis round trip"), the round
	// trip bounded by redis.read_timeout.
	stalenessBound = replicaRefresh + readTimeout
	// nodeTimeout is cluster-node-timeout and the sentinels'
	// down-after-milliseconds.
	nodeTimeout = time.Second
)

const hostsConfig = `
diameter:
  listen: %[1]s:` + hostsDiameterPort + `
  origin_host: eir%[2]d.e2e.test
  origin_realm: e2e.test
  request_timeout: 500ms
  peers:
    - origin_host: "mme*.e2e.test"
      addresses: ["%[3]s0/24"]
redis:
%[4]s
  dial_timeout: 200ms
  read_timeout: 300ms
  write_timeout: 300ms
store:
  version_grace: 5s
  replica_refresh: 100ms
admin:
  listen: %[1]s:` + hostsAdminPort + `
  tokens:
    - name: ops
      token: ` + hostsToken + `
      role: write
sync:
  sources:
    - name: national
      format: stolen
      interval: 500ms
      settle: 1ms
      dir: "%[5]s"
`

// eirHost is one eird in its namespace, with its admin client.
type eirHost struct {
	*eird
	host  netHost
	admin *adminClient
}

// hostsRig is the whole deployment of one test.
type hostsRig struct {
	t      *testing.T
	net    *testNet
	drop   string // the registry drop directory all eirds share
	eirds  []*eirHost
	writes int // IMEIs added by the writers so far
}

// startHosts starts one eird per host of tn, with the redis: section
// redisYAML, and waits until each listens.
func startHosts(t *testing.T, tn *testNet, redisYAML string) *hostsRig {
	t.Helper()
	r := &hostsRig{t: t, net: tn, drop: filepath.Join(t.TempDir(), "national")}
	if err := os.MkdirAll(r.drop, 0o750); err != nil {
		t.Fatal(err)
	}
	for i, h := range tn.hosts {
		cfg := fmt.Sprintf(hostsConfig, h.addr, i+1, tn.subnet, redisYAML, r.drop)
		e := startEIRDWith(t, t.TempDir(), cfg, h.inNS())
		if e.diameter != net.JoinHostPort(h.addr, hostsDiameterPort) {
			t.Fatalf("eird %d listens on %s, want %s:%s", i+1, e.diameter, h.addr, hostsDiameterPort)
		}
		r.eirds = append(r.eirds, &eirHost{eird: e, host: h, admin: newAdmin(e.admin, hostsToken)})
	}
	return r
}

// dropFile puts a registry file into the shared drop directory the way an
// upload lands: written aside, renamed when complete.
func (r *hostsRig) dropFile(name, content string) {
	r.t.Helper()
	tmp := filepath.Join(r.drop, name+".part")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.drop, name)); err != nil {
		r.t.Fatal(err)
	}
}

// stolenIMEIs returns n IMEIs of the registry's list.
func stolenIMEIs(from, n int) []string {
	var imeis []string
	for i := from; i < from+n; i++ {
		imeis = append(imeis, eir.IMEI(35209900600000+uint64(i)*37).String())
	}
	return imeis
}

// writeIMEI is the IMEI of the i-th add of a writer.
func writeIMEI(i int) string { return eir.IMEI(35922200000000 + uint64(i)).String() }

func stolenFile(imeis []string) string {
	return "imei,reporting_date,status\n" + strings.Join(imeis, ",20260101,\n") + ",20260101,\n"
}

// status asks eird over a fresh S13 connection; -1 is no Equipment-Status.
func status(t *testing.T, c *s13client.Client, imei string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a, err := c.Check(ctx, imei, "")
	if err != nil {
		t.Fatalf("check %s: %v", imei, err)
	}
	return s13client.EquipmentStatus(a.Msg)
}

// dialMME connects an MME to one eird for the test's own checks.
func dialMME(t *testing.T, addr, name string) *s13client.Client {
	t.Helper()
	c, err := s13client.Dial(ctxT(t), addr, s13client.Options{OriginHost: name, OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatalf("MME %s to %s: %v", name, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// lagToAll checks imei on every eird without pause until each answers
// BLACKLISTED, and returns, for each, when that first happened.
func (r *hostsRig) lagToAll(imei string, timeout time.Duration) []time.Time {
	r.t.Helper()
	seen := make([]time.Time, len(r.eirds))
	var wg sync.WaitGroup
	errs := make([]error, len(r.eirds))
	for i, e := range r.eirds {
		c := dialMME(r.t, e.diameter, fmt.Sprintf("mme-lag%d.e2e.test", i+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			deadline := time.Now().Add(timeout)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				a, err := c.Check(ctx, imei, "")
				cancel()
				if err != nil {
					errs[i] = err
					return
				}
				if s13client.EquipmentStatus(a.Msg) == 1 {
					seen[i] = time.Now()
					return
				}
			}
			errs[i] = fmt.Errorf("not BLACKLISTED after %v", timeout)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			r.t.Fatalf("eird %d, %s: %v", i+1, imei, err)
		}
	}
	return seen
}

// syncApplies counts, over every eird's log, the lists applied by a sync
// pass, and the sync.apply records of the audit trail.
func (r *hostsRig) syncApplies() (logged, audited int) {
	r.t.Helper()
	for _, e := range r.eirds {
		logged += strings.Count(e.log(), `"sync list applied"`)
	}
	var page struct {
		Records []struct{ Action, Target string }
	}
	for _, e := range r.eirds {
		if !e.alive() {
			continue
		}
		e.admin.get(r.t, "/v1/audit?action=sync.apply&limit=100", &page)
		return logged, len(page.Records)
	}
	return logged, -1
}

// waitStore polls GET /v1/store until the state is want and, with held,
// the lists in force are held in memory.
func (e *eirHost) waitStore(t *testing.T, want string, held bool, timeout time.Duration) {
	t.Helper()
	last := ""
	testenv.Eventually(t, fmt.Sprintf("eird on %s: store %s", e.host.addr, want), timeout, func() bool {
		var st struct {
			State   string `json:"state"`
			Reason  string `json:"reason"`
			Replica bool   `json:"replica"`
		}
		e.admin.get(t, "/v1/store", &st)
		if st.State != last {
			t.Logf("eird on %s: store %s %s", e.host.addr, st.State, st.Reason)
			last = st.State
		}
		return st.State == want && (!held || st.Replica)
	})
}

func (e *eird) alive() bool {
	select {
	case <-e.exited:
		return false
	default:
		return true
	}
}

// checkSyncOnce drops two registry files, one after the other, and shows
// each applied once by the three eirds together, and every eird answering
// from the new version within the staleness bound of the switch.
func (r *hostsRig) checkSyncOnce() (list []string) {
	t := r.t
	t.Helper()
	list = stolenIMEIs(0, 200)
	r.dropFile("StolenFullList_20260101.csv", stolenFile(list))
	seen := r.lagToAll(list[len(list)-1], 30*time.Second)
	t.Logf("first list (200 IMEIs) answered by every eird, spread %v", spread(seen))
	for _, e := range r.eirds {
		e.waitStore(t, "ok", true, 20*time.Second)
	}

	// The second list: 50 more. Every eird checks a new IMEI without
	// pause; the eird that applied it answers from its next check, the
	// others within the bound.
	list = append(list, stolenIMEIs(200, 50)...)
	r.dropFile("StolenFullList_20260102.csv", stolenFile(list))
	seen = r.lagToAll(list[len(list)-1], 30*time.Second)
	if s := spread(seen); s > stalenessBound {
		t.Errorf("a sync's switch reached the eirds %v apart (%v): want within %v (store.replica_refresh %v + redis.read_timeout %v)", s, seen, stalenessBound, replicaRefresh, readTimeout)
	} else {
		t.Logf("second list answered by every eird within %v of the first (bound %v)", s, stalenessBound)
	}
	testenv.Eventually(t, "both files filed in done/", 10*time.Second, func() bool {
		done, _ := filepath.Glob(filepath.Join(r.drop, "done", "StolenFullList_*.csv"))
		return len(done) == 2
	})
	logged, audited := r.syncApplies()
	if logged != 2 || audited != 2 {
		t.Fatalf("2 files dropped once each: %d lists applied in the logs of the eirds, %d sync.apply audit records; want 2 and 2", logged, audited)
	}
	if rej, _ := filepath.Glob(filepath.Join(r.drop, "rejected", "*")); len(rej) > 0 {
		t.Fatalf("files rejected: %v", rej)
	}
	t.Logf("2 files, 2 applies (logs and audit), by %s", r.appliers())
	return list
}

// appliers names which eird applied each list.
func (r *hostsRig) appliers() string {
	var who []string
	for i, e := range r.eirds {
		if n := strings.Count(e.log(), `"sync list applied"`); n > 0 {
			who = append(who, fmt.Sprintf("eird %d: %d", i+1, n))
		}
	}
	return strings.Join(who, ", ")
}

func spread(ts []time.Time) time.Duration {
	lo, hi := ts[0], ts[0]
	for _, x := range ts {
		if x.Before(lo) {
			lo = x
		}
		if x.After(hi) {
			hi = x
		}
	}
	return hi.Sub(lo)
}

// checkManualEntry adds an IMEI through the first eird's admin API; each
// eird answers it BLACKLISTED within the bound of the acknowledgement.
func (r *hostsRig) checkManualEntry() string {
	t := r.t
	t.Helper()
	imei := "35911100000007"
	if err := r.eirds[0].admin.addBlack(imei, "stolen, reported at the counter"); err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	seen := r.lagToAll(imei, 10*time.Second)
	for _, e := range r.eirds {
		e.waitStore(t, "ok", true, 10*time.Second) // the replica holds it: the lists in force are held
	}
	for i, s := range seen {
		if lag := s.Sub(acked); lag > stalenessBound {
			t.Errorf("eird %d answered the entry added through eird 1 %v after the acknowledgement: want within %v", i+1, lag, stalenessBound)
		} else {
			t.Logf("eird %d answers the manual entry %v after the acknowledgement", i+1, lag)
		}
	}
	return imei
}

// failover runs MMEs on every eird and a writer through the second eird,
// kills a Redis master with kill(), and checks that no MME saw anything
// but BLACKLISTED, that writes failed with a clear error or were
// acknowledged, and that every acknowledged add is answered by every eird.
func (r *hostsRig) failover(blacklisted []string, kill func() string, healed func() time.Duration) []*mmeSim {
	t := r.t
	t.Helper()
	mmes := r.startMMEs(blacklisted)
	w := startWriter(r.eirds[1].admin, r.writes)
	defer func() { w.close(); r.writes = w.next }()
	w.waitAcked(t, 10, 10*time.Second)
	for _, m := range mmes {
		m.waitAnswers(50, 10*time.Second)
	}
	// Redis replicates asynchronously: a write the master acknowledged in
	// the instant before it died may never reach the replica that replaces
	// it. So the kill comes between two writes, once the replicas have
	// every write (checkLostWrite shows what eird does when one is lost);
	// the writes go on at once, through the failover.
	what := func() string {
		w.gate.Lock()
		defer w.gate.Unlock()
		return kill()
	}()
	took := healed()
	t.Logf("killed %s (kill -9); Redis failed over in %v", what, took)
	w.waitAcked(t, 20, 30*time.Second) // writes go on after the failover
	for _, m := range mmes {
		m.waitAnswers(200, 10*time.Second)
	}
	acked, failed := w.close()
	r.checkMMEs(mmes, "Redis master killed", true)
	t.Logf("writes during the failover: %d acknowledged, %d failed; the slowest took %v", len(acked), len(failed), w.slowest())
	for _, f := range failed {
		if strings.Contains(f, "no answer") || !strings.Contains(f, `"code"`) {
			t.Errorf("a write failed without a clear error: %s", f)
		}
	}
	if len(failed) > 0 {
		t.Logf("e.g. %s", failed[0])
	}
	r.checkAcked(acked)
	return mmes
}

// startMMEs connects one MME to each eird, the others as its fallbacks.
func (r *hostsRig) startMMEs(imeis []string) []*mmeSim {
	var mmes []*mmeSim
	for i := range r.eirds {
		var peers []string
		for j := range r.eirds {
			peers = append(peers, r.eirds[(i+j)%len(r.eirds)].diameter)
		}
		mmes = append(mmes, startMME(r.t, fmt.Sprintf("mme%d.e2e.test", i+1), peers, imeis))
	}
	return mmes
}

// checkMMEs fails on any flip; with noErrors, on any check left without an
// answer too.
func (r *hostsRig) checkMMEs(mmes []*mmeSim, phase string, noErrors bool) {
	r.t.Helper()
	for _, m := range mmes {
		if m.flips.Load() > 0 || (noErrors && m.errs.Load() > 0) {
			r.t.Fatalf("%s: %s: %d of %d answers not BLACKLISTED, %d checks without an answer:\n%s",
				phase, m.name, m.flips.Load(), m.answers.Load(), m.errs.Load(), m.notes())
		}
		r.t.Logf("%s: %s: %d answers, all BLACKLISTED; %d without an answer (sent again)", phase, m.name, m.answers.Load(), m.errs.Load())
	}
}

// checkAcked checks that every acknowledged add is held by Redis (the
// admin API reads the entry) and answered BLACKLISTED by every eird.
func (r *hostsRig) checkAcked(acked []string) {
	t := r.t
	t.Helper()
	for _, e := range r.eirds {
		if e.alive() {
			e.waitStore(t, "ok", true, 20*time.Second)
		}
	}
	var lost []string
	for _, imei := range acked {
		var page struct {
			Entries []struct{ Source, List string }
		}
		r.eirds[0].admin.get(t, "/v1/entries?imei="+imei, &page)
		if len(page.Entries) == 0 {
			lost = append(lost, imei)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged adds are not in the store after the failover: %v", len(lost), len(acked), lost)
	}
	for i, e := range r.eirds {
		c := dialMME(t, e.diameter, fmt.Sprintf("mme-after%d.e2e.test", i+1))
		for _, imei := range acked {
			if got := status(t, c, imei); got != 1 {
				t.Fatalf("eird %d answers the acknowledged add %s with equipment status %d, not BLACKLISTED", i+1, imei, got)
			}
		}
	}
	t.Logf("all %d acknowledged adds are in the store and answered BLACKLISTED by every eird", len(acked))
}

// checkLostWrite makes Redis lose an add it acknowledged: the replicas of
// the {eir:meta} master stop receiving its writes, an IMEI is added through
// eird 1 (acknowledged, answered by every eird), then the master is killed
// and a replica without the add replaces it. No eird takes the older Redis
// for the truth: each reports the store diverged and goes on answering the
// add, writes are refused with a clear error, and `store restore` through
// eird 1 puts the add back into Redis for all.
func (r *hostsRig) checkLostWrite(cl *redistest.Cluster) {
	t := r.t
	t.Helper()
	ctx := ctxT(t)
	m, err := cl.MasterOf(ctx, "{eir:meta}")
	if err != nil {
		t.Fatal(err)
	}
	reps, err := cl.ReplicasOf(ctx, m)
	if err != nil || len(reps) == 0 {
		t.Fatalf("replicas of %s: %v %v", m.Addr(), reps, err)
	}
	for _, rep := range reps {
		if err := rep.CutReplication(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rep.RestoreReplication(context.Background()) })
	}
	imei := "35944400000003"
	if err := r.eirds[0].admin.addBlack(imei, "stolen, acknowledged by a master about to die"); err != nil {
		t.Fatal(err)
	}
	r.lagToAll(imei, 10*time.Second)
	m.Kill(t)
	for _, rep := range reps {
		if err := rep.RestoreReplication(ctx); err != nil {
			t.Fatal(err)
		}
	}
	took := cl.WaitHealed(t, 30*time.Second)
	t.Logf("lost write: %s acknowledged by %s, which was killed before its replicas had it; failed over in %v", imei, m.Addr(), took)
	for _, e := range r.eirds {
		e.waitStore(t, "diverged", false, 20*time.Second)
	}
	r.lagToAll(imei, 5*time.Second) // still answered, from the lists held
	err = r.eirds[1].admin.addBlack("35944400000011", "a write while Redis lost the lists in force")
	if err == nil || !strings.Contains(err.Error(), `"code"`) {
		t.Fatalf("a write while the store is diverged: %v; want a clear refusal", err)
	}
	t.Logf("a write while diverged is refused: %v", err)
	code, body, err := r.eirds[0].admin.do("POST", "/v1/store/restore?reason=redis+lost+an+acknowledged+add", nil)
	if err != nil || code != 200 {
		t.Fatalf("store restore: %d %v %s", code, err, body)
	}
	for _, e := range r.eirds {
		e.waitStore(t, "ok", true, 20*time.Second)
	}
	r.checkAcked([]string{imei})
}

// checkEIRDKilled kills the third eird: its MME connects to another eird
// and goes on; the MMEs of the others see nothing of it.
func (r *hostsRig) checkEIRDKilled(mmes []*mmeSim) {
	t := r.t
	t.Helper()
	victim := r.eirds[2]
	errsBefore := []int64{mmes[0].errs.Load(), mmes[1].errs.Load()}
	if got := mmes[2].peer.Load(); got != 0 {
		t.Fatalf("mme3 is connected to peer %d, want its own eird", got)
	}
	victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	mmes[2].waitAnswers(200, 20*time.Second)
	if mmes[2].reconnects.Load() == 0 || mmes[2].peer.Load() == 0 {
		t.Fatalf("mme3 did not move to another eird:\n%s", mmes[2].notes())
	}
	for _, m := range mmes[:2] {
		m.waitAnswers(200, 10*time.Second)
	}
	for i, m := range mmes[:2] {
		if m.errs.Load() != errsBefore[i] || m.peer.Load() != 0 {
			t.Fatalf("%s was disturbed by the kill of eird 3:\n%s", m.name, m.notes())
		}
	}
	r.checkMMEs(mmes, "eird 3 killed", false)
	t.Logf("eird 3 killed: mme3 moved to %s after %d checks without an answer", mmes[2].peers[mmes[2].peer.Load()], mmes[2].errs.Load())
}

// TestHostsRedisCluster: three eird, each in its own network namespace,
// on a Redis Cluster of 3 masters and 3 replicas. A registry file dropped
// once is applied once and answered by all within the staleness bound; a
// manual entry too; a master killed under load flips no answer and loses
// no acknowledged write; an eird killed moves its MME to another.
func TestHostsRedisCluster(t *testing.T) {
	tn := newTestNet(t, 3)
	cl := redistest.StartClusterWith(t, redistest.ClusterOptions{
		Masters: 3, Replicas: 1,
		GroupOptions: redistest.GroupOptions{Host: tn.hostAddr, NodeTimeout: nodeTimeout},
	})
	r := startHosts(t, tn, fmt.Sprintf("  mode: cluster\n  addresses: [%s]", strings.Join(cl.Addrs(), ", ")))
	list := r.checkSyncOnce()
	manual := r.checkManualEntry()

	var killed *redistest.Server
	kill := func() string {
		m, err := cl.MasterOf(context.Background(), "{eir:meta}")
		if err != nil {
			t.Fatal(err)
		}
		m.WaitReplicated(t, 10*time.Second)
		m.Kill(t)
		killed = m
		return "the master of the {eir:meta} slot " + m.Addr()
	}
	healed := func() time.Duration { return cl.WaitHealed(t, 30*time.Second) }
	mmes := r.failover(append(list, manual), kill, healed)
	heal := func() {
		killed.Restart(t) // it rejoins as a replica of the node that replaced it
		cl.WaitLinked(t, 30*time.Second)
	}
	mmes = r.soak(mmes, heal, func() []*mmeSim { return r.failover(append(list, manual), kill, healed) })
	heal()
	r.checkLostWrite(cl)
	r.checkEIRDKilled(mmes)
	logged, audited := r.syncApplies()
	if logged != 2 || audited != 2 {
		t.Fatalf("at the end: %d lists applied in the logs, %d sync.apply audit records; want 2 and 2", logged, audited)
	}
}

// TestHostsRedisSentinel: the same deployment on Redis Sentinel (a master,
// 2 replicas, 3 sentinels): the master killed under load flips no answer
// and loses no acknowledged write.
func TestHostsRedisSentinel(t *testing.T) {
	tn := newTestNet(t, 3)
	g := redistest.StartSentinelGroup(t, 2, 3, redistest.GroupOptions{Host: tn.hostAddr, NodeTimeout: nodeTimeout})
	r := startHosts(t, tn, fmt.Sprintf("  mode: sentinel\n  master_name: %s\n  addresses: [%s]", g.MasterName(), strings.Join(g.SentinelAddrs(), ", ")))
	list := r.checkSyncOnce()
	manual := r.checkManualEntry()

	var old *redistest.Server
	kill := func() string {
		var err error
		old, err = g.Master(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		old.WaitReplicated(t, 10*time.Second)
		old.Kill(t)
		return "the master " + old.Addr()
	}
	healed := func() time.Duration {
		_, took := g.WaitFailover(t, old, 30*time.Second)
		return took
	}
	mmes := r.failover(append(list, manual), kill, healed)
	r.soak(mmes, func() {
		old.Restart(t) // the sentinels make it a replica of the new master
		g.WaitLinked(t, 30*time.Second)
	}, func() []*mmeSim { return r.failover(append(list, manual), kill, healed) })
}

// hostsSoak is TEST_HOSTS_SOAK, a duration (e.g. 10m): how long the
// failovers go on after the first. Unset in make test: one failover.
func hostsSoak(t *testing.T) time.Duration {
	v := os.Getenv("TEST_HOSTS_SOAK")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("TEST_HOSTS_SOAK=%q: want a duration such as 10m", v)
	}
	return d
}

// soak repeats the failover for TEST_HOSTS_SOAK: the killed Redis comes
// back as a replica, then the next master is killed under load. mmes are
// the MMEs of the last failover; they run on, the others are stopped.
func (r *hostsRig) soak(mmes []*mmeSim, heal func(), again func() []*mmeSim) []*mmeSim {
	d := hostsSoak(r.t)
	if d == 0 {
		return mmes
	}
	end := time.Now().Add(d)
	round := 1
	for ; time.Now().Before(end); round++ {
		for _, m := range mmes {
			m.close()
		}
		heal()
		mmes = again()
	}
	r.t.Logf("soak: %d failovers in %v, each without a flip, an unanswered check or a lost acknowledged add", round, d)
	return mmes
}
