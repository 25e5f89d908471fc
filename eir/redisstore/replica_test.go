package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/storetest"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// withReplica turns the replica on and runs it until the test ends.
func withReplica(t *testing.T, refresh time.Duration) func(*Options) {
	return func(o *Options) { o.Replica, o.ReplicaRefresh = true, refresh }
}

// runReplica starts Run for the life of the test.
func runReplica(t testing.TB, s *Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// waitReplicated polls until every dataset in force is copied.
func waitReplicated(t *testing.T, s *Store) {
	t.Helper()
	testenv.Eventually(t, "the replica to load every dataset in force", 10*time.Second, func() bool {
		p := s.plan.Load()
		all := p != nil && s.replicaServes()
		for _, e := range p.entriesOrNil() {
			_, held := s.local(e)
			all = all && (held || s.filtered(e))
		}
		return all
	})
}

func (p *plan) entriesOrNil() []planEntry {
	if p == nil {
		return nil
	}
	return p.entries
}

func TestContractReplica(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s := newStore(t, rdb, freshPrefix(), withReplica(t, 10*time.Millisecond))
		runReplica(t, s)
		return s
	})
}

// countHook counts the round trips to Redis (a pipeline or transaction is
// one).
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

func everyKind(t *testing.T, s *Store) {
	t.Helper()
	exp := time.Now().Add(time.Hour).UnixMilli()
	_, err := s.Apply(ctxT(t), []eir.Change{
		{Dataset: eir.Dataset{Source: "n", Target: eir.TargetIMEI, List: eir.ListBlack}, Add: []eir.Entry{{IMEI: 35209900176148}, {IMEI: 1}}},
		{Dataset: eir.Dataset{Source: "n", Target: eir.TargetTAC, List: eir.ListGrey}, Add: []eir.Entry{{TAC: 49015420}}},
		{Dataset: eir.Dataset{Source: "n", Target: eir.TargetRange, List: eir.ListGrey}, Add: []eir.Entry{{From: 86000000000000, To: 86000000999999}}},
		{Dataset: eir.Dataset{Source: "n", Target: eir.TargetPair, List: eir.ListException}, Add: []eir.Entry{{IMEI: 35209900176148, IMSI: "001010000000001"}}},
		{Dataset: eir.Dataset{Source: "m", Target: eir.TargetIMEI, List: eir.ListWhite, Expiring: true}, Add: []eir.Entry{{IMEI: 26053179311383, Expires: exp}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReplicaAnswersWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	hook := &countHook{}
	rdb.AddHook(hook)
	s := newStore(t, rdb, freshPrefix(), withReplica(t, 20*time.Millisecond))
	runReplica(t, s)
	everyKind(t, s)
	waitReplicated(t, s)
	checker := eir.NewDecider(s, eir.Policy{})
	want := map[[2]string]string{
		{"35209900176148", ""}:                "BLACKLISTED",
		{"35209900176148", "001010000000001"}: "WHITELISTED",
		{"49015420000000", ""}:                "GREYLISTED",
		{"86000000500000", ""}:                "GREYLISTED",
		{"86000001000000", ""}:                "UNKNOWN",
		{"26053179311383", ""}:                "WHITELISTED",
		{"00000000000001", ""}:                "BLACKLISTED",
	}
	before := hook.n.Load()
	start := time.Now()
	for range 200 {
		for k, w := range want {
			imei, _ := eir.ParseIMEI(k[0])
			d, err := checker.Check(ctxT(t), eir.Query{IMEI: imei, IMSI: eir.IMSI(k[1])})
			got := d.Status.String()
			if errors.Is(err, eir.ErrUnknown) {
				got = "UNKNOWN"
			} else if err != nil {
				t.Fatal(err)
			}
			if got != w {
				t.Fatalf("%v: %s, want %s", k, got, w)
			}
		}
	}
	// Only the state reads of the replica went to Redis: one round trip
	// per refresh.
	elapsed := time.Since(start)
	if n, most := hook.n.Load()-before, int64(elapsed/(20*time.Millisecond))+3; n > most {
		t.Fatalf("%d Redis round trips during %d checks in %v; the replica should make at most %d state reads", n, 200*len(want), elapsed, most)
	}
}

func TestReplicaStalenessBound(t *testing.T) {
	// Another process switches versions; this one must answer from the new
	// ones within the refresh interval (plus scheduling slack), and never
	// from a mix of old and new (the write moves an IMEI from one dataset
	// to another).
	const refresh = 50 * time.Millisecond
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	prefix := freshPrefix()
	reader := newStore(t, rdb, prefix, withReplica(t, refresh))
	writer := newStore(t, rdb, prefix, nil)
	runReplica(t, reader)
	black := eir.Dataset{Source: "n", Target: eir.TargetIMEI, List: eir.ListBlack}
	grey := eir.Dataset{Source: "n", Target: eir.TargetIMEI, List: eir.ListGrey}
	const imei = eir.IMEI(35209900176148)
	if _, err := writer.Apply(ctxT(t), []eir.Change{{Dataset: black, Add: []eir.Entry{{IMEI: imei}, {IMEI: 2}}}, {Dataset: grey, Add: []eir.Entry{{IMEI: 3}}}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the first write to be seen", 5*time.Second, func() bool {
		hits, _ := reader.Match(ctxT(t), eir.Query{IMEI: imei}, nil)
		return len(hits) == 1
	})
	waitReplicated(t, reader)
	// Checks run all the time in the background.
	var torn atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			hits, err := reader.Match(context.Background(), eir.Query{IMEI: imei}, nil)
			if err == nil && len(hits) != 1 {
				if torn.Add(1) == 1 {
					t.Logf("torn: %v (plan %+v)", hits, reader.plan.Load())
				}
			}
		}
	}()
	for round := range 5 {
		from, to := black, grey
		if round%2 == 1 {
			from, to = grey, black
		}
		if _, err := writer.Apply(ctxT(t), []eir.Change{{Dataset: from, Remove: []eir.Entry{{IMEI: imei}}}, {Dataset: to, Add: []eir.Entry{{IMEI: imei}}}}); err != nil {
			t.Fatal(err)
		}
		bound := refresh + 500*time.Millisecond
		testenv.Eventually(t, fmt.Sprintf("round %d: the switch to be seen (bound %v)", round, bound), bound, func() bool {
			hits, err := reader.Match(ctxT(t), eir.Query{IMEI: imei}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return len(hits) == 1 && hits[0].Dataset == to
		})
	}
	close(stop)
	wg.Wait()
	if n := torn.Load(); n != 0 {
		t.Fatalf("%d checks saw the IMEI on no list or on both", n)
	}
}

func TestReplicaRedisDown(t *testing.T) {
	// The replica does not hide an outage for longer than 3 refreshes:
	// then checks take the exact path and fail, as without a replica.
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	s := newStore(t, rdb, freshPrefix(), withReplica(t, 20*time.Millisecond))
	runReplica(t, s)
	everyKind(t, s)
	waitReplicated(t, s)
	srv.Stop()
	if _, err := net.DialTimeout("tcp", srv.Addr(), 100*time.Millisecond); err == nil {
		t.Fatal("redis still answers")
	}
	testenv.Eventually(t, "checks to fail (not answered from the replica) in a Redis outage", 5*time.Second, func() bool {
		_, err := s.Match(context.Background(), eir.Query{IMEI: 35209900176148}, nil)
		return errors.Is(err, eir.ErrUnavailable)
	})
}

func TestReplicaMatchesRedis(t *testing.T) {
	// The copies must decide exactly as Redis does, for every kind of
	// dataset, at the edges: range bounds, notifications, exceptions with
	// and without an IMSI, expired and live entries.
	replicaVsRedis(t, func(*Options) {})
}

// replicaVsRedis compares the answers of the replica (configured by opt)
// with Redis's on lists of every kind, then after edits into overlays and
// after their compaction.
func replicaVsRedis(t *testing.T, opt func(*Options)) *Store {
	srv := redistest.Start(t)
	s := newStore(t, srv.Client(t), freshPrefix(), func(o *Options) {
		withReplica(t, 20*time.Millisecond)(o)
		// A poller late under load (the checks below are many, under
		// -race) must not send them to Redis: the replica answers while
		// Redis is not known to disagree.
		o.MaxStale = time.Hour
		o.OverlayMax = 50 // the edits below go into overlays, then are compacted
		opt(o)
	})
	runReplica(t, s)
	now := time.Now()
	past, future := now.Add(-time.Hour).UnixMilli(), now.Add(time.Hour).UnixMilli()
	rng := rand.New(rand.NewSource(1))
	imei := func() eir.IMEI { return eir.IMEI(35209900000000 + rng.Int63n(2000)) }
	imsi := func() eir.IMSI { return eir.IMSI(fmt.Sprintf("0010%d", 1+rng.Intn(3))) }
	var changes []eir.Change
	add := func(ds eir.Dataset, es ...eir.Entry) { changes = append(changes, eir.Change{Dataset: ds, Add: es}) }
	var blacks, exps, pairs, notes, expPairs []eir.Entry
	for range 300 {
		blacks = append(blacks, eir.Entry{IMEI: imei()})
		exps = append(exps, eir.Entry{IMEI: imei(), Expires: []int64{0, past, future}[rng.Intn(3)]})
		pairs = append(pairs, eir.Entry{IMEI: imei(), IMSI: imsi()})
		notes = append(notes, eir.Entry{IMEI: imei(), IMSI: "00101"})
		expPairs = append(expPairs, eir.Entry{IMEI: imei(), IMSI: imsi(), Expires: []int64{0, past, future}[rng.Intn(3)]})
	}
	add(eir.Dataset{Source: "a", Target: eir.TargetIMEI, List: eir.ListBlack}, blacks...)
	add(eir.Dataset{Source: "a", Target: eir.TargetIMEI, List: eir.ListGrey, Expiring: true}, exps...)
	add(eir.Dataset{Source: "a", Target: eir.TargetPair, List: eir.ListException}, pairs...)
	add(eir.Dataset{Source: "a", Target: eir.TargetPair, List: eir.ListGrey}, notes...)
	add(eir.Dataset{Source: "b", Target: eir.TargetPair, List: eir.ListException, Expiring: true}, expPairs...)
	add(eir.Dataset{Source: "a", Target: eir.TargetTAC, List: eir.ListWhite}, eir.Entry{TAC: 35209900}, eir.Entry{TAC: 1})
	add(eir.Dataset{Source: "a", Target: eir.TargetRange, List: eir.ListBlack},
		eir.Entry{From: 35209900000100, To: 35209900000199}, eir.Entry{From: 35209900000150, To: 35209900000300},
		eir.Entry{From: 35209900000500, To: 35209900000500}, eir.Entry{From: 35209900001999, To: 35209900002100})
	if _, err := s.Apply(ctxT(t), changes); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, s)
	compareReplica(t, s)

	// Single edits into overlays, on every kind that has one.
	edits := []eir.Dataset{changes[0].Dataset, changes[2].Dataset, changes[3].Dataset}
	for i := range 300 {
		d := edits[i%len(edits)]
		e := eir.Entry{IMEI: imei()}
		if d.Target == eir.TargetPair {
			e.IMSI = imsi()
		}
		ch := eir.Change{Dataset: d, Add: []eir.Entry{e}}
		if i%3 == 0 {
			ch = eir.Change{Dataset: d, Remove: []eir.Entry{e}}
		}
		if _, err := s.Apply(ctxT(t), []eir.Change{ch}); err != nil {
			t.Fatal(err)
		}
	}
	overlays := 0
	for _, e := range s.plan.Load().all {
		if e.Overlay != 0 {
			overlays++
		}
	}
	if overlays != len(edits) {
		t.Fatalf("%d datasets have an overlay, want %d", overlays, len(edits))
	}
	waitReplicated(t, s)
	compareReplica(t, s)
	if n, err := s.Compact(ctxT(t)); err != nil || n == 0 {
		t.Fatalf("compact: %d, %v", n, err)
	}
	waitReplicated(t, s)
	compareReplica(t, s)
	return s
}

// compareReplica compares the replica's answers with Redis's around every
// entry of the test's lists.
func compareReplica(t *testing.T, s *Store) {
	t.Helper()
	p := s.plan.Load()
	filters := false
	for _, e := range p.entries {
		filters = filters || s.filtered(e)
	}
	checked := 0
	for x := eir.IMEI(35209899999990); x < 35209900002110; x++ {
		for _, imsi := range []eir.IMSI{"", "00101", "00102", "00103"} {
			q := eir.Query{IMEI: x, IMSI: imsi}
			local, err1 := s.matchReplica(ctxT(t), p, q, nil)
			exact, err2 := s.matchExact(ctxT(t), p, q, nil)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if hitSet(local) != hitSet(exact) {
				t.Fatalf("%v: replica %v, Redis %v", q, local, exact)
			}
			// With filters, MatchLocal declines what they may hold.
			if fast, ok := s.MatchLocal(q, nil); (!ok && !filters) || (ok && hitSet(fast) != hitSet(exact)) {
				t.Fatalf("%v: MatchLocal %v (%v), Redis %v", q, fast, ok, exact)
			}
			if len(exact) > 0 {
				checked++
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d queries matched anything", checked)
	}
}

// hitSet is hits in a canonical order: the decision does not depend on it
// (eir.Decide), and the datasets read from Redis come after the others.
func hitSet(hits []eir.Hit) string {
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = h.Dataset.String()
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}
