package redisstore

import (
	"context"
	"errors"
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

// TestContractBatched runs the contract with Run running and no replica:
// every check's reads go through the batcher.
func TestContractBatched(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s := newStore(t, rdb, freshPrefix(), nil)
		runReplica(t, s)
		return s
	})
}

// TestContractBatchedCluster: the same on a 3-node Cluster, where a
// batch's pipeline is split between the nodes.
func TestContractBatchedCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	rdb := c.Client(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s := newStore(t, rdb, freshPrefix(), func(o *Options) { o.OverlayMax = 1 })
		runReplica(t, s)
		return s
	})
}

// gateHook holds every pipeline that reads lookups (one with a SISMEMBER)
// while the gate is closed, and counts those pipelines and the checks they
// carry.
type gateHook struct {
	mu        sync.Mutex
	open      chan struct{} // closed: pipelines pass
	pipelines atomic.Int64
	held      atomic.Int64 // lookups inside held pipelines
	inside    atomic.Int64 // pipelines held
}

func newGateHook() *gateHook { return &gateHook{open: make(chan struct{})} }

// close makes the pipelines sent from now on wait again.
func (h *gateHook) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = make(chan struct{})
}

func (h *gateHook) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.open:
	default:
		close(h.open)
	}
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var n int64
		for _, c := range cmds {
			if c.Name() == "sismember" {
				n++
			}
		}
		if n > 0 {
			h.pipelines.Add(1)
			h.held.Add(n)
			h.inside.Add(1)
			h.mu.Lock()
			open := h.open
			h.mu.Unlock()
			<-open
			h.inside.Add(-1)
			h.held.Add(-n)
		}
		return next(ctx, cmds)
	}
}

// batchStore returns a store on a fresh Redis holding black list entries
// 1000..1000+n-1 (4 per bucket), with Run running, and its gate hook.
func batchStore(t *testing.T, n int) (*Store, *gateHook, context.CancelFunc, chan struct{}) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := newStore(t, rdb, freshPrefix(), func(o *Options) { o.BucketFill = 4 })
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("n"), Add: imeiRange(1000, n)}}); err != nil {
		t.Fatal(err)
	}
	h := newGateHook()
	rdb.AddHook(h)
	t.Cleanup(h.release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		h.release()
		cancel()
		<-done
	})
	testenv.Eventually(t, "the batcher to run", 10*time.Second, func() bool { return s.batch.Load() != nil })
	return s, h, cancel, done
}

// queued is the number of lookups waiting in the batcher's queue.
func queued(s *Store) int {
	if b := s.batch.Load(); b != nil {
		return len(b.queue)
	}
	return 0
}

type checkResult struct {
	imei eir.IMEI
	hits []eir.Hit
	err  error
}

// checkAll checks every IMEI in its own goroutine; the results come on
// the channel returned.
func checkAll(s *Store, ctx context.Context, imeis []eir.IMEI) chan checkResult {
	out := make(chan checkResult, len(imeis))
	for _, imei := range imeis {
		go func() {
			hits, err := s.Match(ctx, eir.Query{IMEI: imei}, nil)
			out <- checkResult{imei, hits, err}
		}()
	}
	return out
}

// occupySenders sends checks of listed IMEIs from 1000 up, one at a time,
// until every sender holds a pipeline at the gate; the results come on
// the channel returned, with their number.
func occupySenders(t *testing.T, s *Store, h *gateHook) (chan checkResult, int) {
	t.Helper()
	res := make(chan checkResult, 64)
	n := 0
	for h.inside.Load() < batchSenders {
		imei := eir.IMEI(1000 + n)
		go func() {
			hits, err := s.Match(context.Background(), eir.Query{IMEI: imei}, nil)
			res <- checkResult{imei, hits, err}
		}()
		n++
		testenv.Eventually(t, "the check to reach the batcher", 20*time.Second, func() bool {
			return int(h.held.Load())+queued(s) == n
		})
		if n > 32 {
			t.Fatal("the senders do not take the checks queued")
		}
	}
	return res, n
}

// expectListed reads n results, each listed.
func expectListed(t *testing.T, res chan checkResult, n int) {
	t.Helper()
	for range n {
		if r := <-res; r.err != nil || len(r.hits) != 1 {
			t.Fatalf("%d: %v %v; want listed", r.imei, r.hits, r.err)
		}
	}
}

// TestBatchFewPipelines: N concurrent checks go to Redis in far fewer
// than N pipelines, and each gets its own answer.
func TestBatchFewPipelines(t *testing.T) {
	const n = 300
	s, h, _, _ := batchStore(t, 200)
	imeis := make([]eir.IMEI, n)
	for i := range imeis {
		imeis[i] = eir.IMEI(900 + i) // 900..1199: 1000..1199 are listed
	}
	res := checkAll(s, ctxT(t), imeis)
	// Every check is either inside a held pipeline or queued.
	testenv.Eventually(t, "every check to reach the batcher", 20*time.Second, func() bool {
		return int(h.held.Load())+queued(s) == n
	})
	h.release()
	for range n {
		r := <-res
		if r.err != nil {
			t.Fatalf("%d: %v", r.imei, r.err)
		}
		if want := r.imei >= 1000; (len(r.hits) == 1) != want {
			t.Errorf("%d: hits %v, want listed %v", r.imei, r.hits, want)
		}
	}
	// Both senders hold one batch each, the rest go maxBatch at a time.
	if got, most := h.pipelines.Load(), int64(batchSenders+(n+maxBatch-1)/maxBatch); got > most {
		t.Fatalf("%d checks sent in %d pipelines; want at most %d", n, got, most)
	}
	t.Logf("%d checks in %d pipelines", n, h.pipelines.Load())
}

// TestBatchErrorPerCheck: a command failing (a bucket that is not a set)
// fails its own check, not the others sent in the same pipeline.
func TestBatchErrorPerCheck(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Client(t), freshPrefix(), func(o *Options) { o.BucketFill = 4 })
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("n"), Add: imeiRange(1000, 40)}}); err != nil {
		t.Fatal(err)
	}
	p := s.plan.Load()
	e, _ := p.find(black("n").String())
	if e.Buckets < 2 {
		t.Fatalf("%d buckets; want several", e.Buckets)
	}
	bad := eir.IMEI(1000)
	if err := s.rdb.Set(ctxT(t), s.k.bucketKey(e.name, uint64(bad)%e.Buckets, e.Version), "not a set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var ls []*lookup
	for imei := eir.IMEI(999); imei < 1040; imei++ {
		l := s.getLookup()
		l.ctx, l.q, l.p, l.entries, l.exact = ctxT(t), eir.Query{IMEI: imei}, p, p.entries, true
		s.queueAll(l.ctx, l)
		ls = append(ls, l)
	}
	s.lookUp(ctxT(t), ls, nil) // one pipeline
	for _, l := range ls {
		imei := l.q.IMEI
		hits, err := l.result(s, nil)
		switch {
		case uint64(imei)%e.Buckets == uint64(bad)%e.Buckets:
			var re redis.Error
			if !errors.Is(err, eir.ErrUnavailable) || !errors.As(err, &re) || !strings.HasPrefix(re.Error(), "WRONGTYPE") {
				t.Errorf("%d: %v; want unavailable (WRONGTYPE)", imei, err)
			}
		case err != nil || (len(hits) == 1) != (imei >= 1000):
			t.Errorf("%d: %v %v; want listed %v", imei, hits, err, imei >= 1000)
		}
	}
}

// TestBatchDeadline: a check whose deadline passes while its lookup waits
// (queued, or sent in a pipeline that does not return) fails with
// ErrUnavailable at its deadline; the others are answered.
func TestBatchDeadline(t *testing.T) {
	s, h, _, _ := batchStore(t, 40)
	for _, what := range []string{"queued", "sent"} {
		t.Run(what, func(t *testing.T) {
			h.close()
			var res chan checkResult
			var n int
			if what == "queued" {
				res, n = occupySenders(t, s, h) // nothing takes the next check
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := s.Match(ctx, eir.Query{IMEI: 1039}, nil)
			if !errors.Is(err, eir.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v; want unavailable, deadline exceeded", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("answered after %s; want at its deadline", took)
			}
			h.release()
			if res != nil {
				expectListed(t, res, n)
			}
		})
	}
	// The lookups withdrawn or abandoned disturb nothing after.
	if hits, err := s.Match(ctxT(t), eir.Query{IMEI: 1038}, nil); err != nil || len(hits) != 1 {
		t.Fatalf("after: %v %v", hits, err)
	}
}

// TestBatchStop: when Run ends, the checks queued read alone, those sent
// are answered, and the later ones read alone.
func TestBatchStop(t *testing.T) {
	s, h, cancel, done := batchStore(t, 40)
	res, n := occupySenders(t, s, h)
	later := checkAll(s, context.Background(), []eir.IMEI{1030, 1031, 5})
	testenv.Eventually(t, "three checks queued", 20*time.Second, func() bool { return queued(s) == 3 })
	cancel()
	testenv.Eventually(t, "the queued checks to be withdrawn and read alone", 20*time.Second, func() bool {
		return h.inside.Load() == batchSenders+3
	})
	h.release()
	<-done
	expectListed(t, res, n)
	for range 3 {
		r := <-later
		if want := r.imei >= 1000; r.err != nil || (len(r.hits) == 1) != want {
			t.Errorf("%d: %v %v; want listed %v", r.imei, r.hits, r.err, want)
		}
	}
	if s.batch.Load() != nil {
		t.Fatal("batcher still installed after Run")
	}
	if hits, err := s.Match(ctxT(t), eir.Query{IMEI: 1032}, nil); err != nil || len(hits) != 1 {
		t.Fatalf("after Run: %v %v", hits, err)
	}
}

// TestBatchConcurrent checks many IMEIs from many goroutines, with a
// version switch in the middle (run with -race).
func TestBatchConcurrent(t *testing.T) {
	s, h, _, _ := batchStore(t, 500)
	h.release()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	ctx := ctxT(t)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				imei := eir.IMEI(1000 + (g*200+i)%500)
				hits, err := s.Match(ctx, eir.Query{IMEI: imei}, nil)
				if err != nil || len(hits) != 1 {
					fail(errors.Join(err, errors.New("not listed")))
					return
				}
			}
		}()
	}
	// A switch while checks run: they reread the manifest and stay right.
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("m"), Add: imeiRange(5000, 10)}}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if hits, err := s.Match(ctxT(t), eir.Query{IMEI: 5001}, nil); err != nil || len(hits) != 1 {
		t.Fatalf("after the switch: %v %v", hits, err)
	}
}

func TestBucketKeyParts(t *testing.T) {
	s := newStore(t, nil, "p:", nil)
	e := s.planEntry(black("n"), black("n").String(), manifestEntry{Version: 12345, Buckets: 7})
	for _, b := range []uint64{0, 6, 1 << 40} {
		if got, want := e.bucket(&s.k, b), s.k.bucketKey(e.name, b, e.Version); got != want {
			t.Errorf("bucket %d: %q; want %q", b, got, want)
		}
	}
}
