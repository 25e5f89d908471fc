package redisstore

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// nameHook records the names of the commands a client sends.
type nameHook struct {
	mu    sync.Mutex
	names map[string]int
}

func (h *nameHook) note(c redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names == nil {
		h.names = map[string]int{}
	}
	h.names[strings.ToLower(c.Name())]++
}

func (h *nameHook) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names[name]
}

// foldHook sees one client's commands on fold locks and folds; each
// callback runs after Redis answered (or, for before, before it is sent).
type foldHook struct {
	lockTry func(ctx context.Context, taken bool) // SET NX of a fold lock
	waiting func()                                // EXISTS of a fold lock found it held
	copying func(ctx context.Context)             // a pipeline with a COPY, before it is sent
}

func isFoldLock(c redis.Cmder) bool {
	args := c.Args()
	if len(args) < 2 {
		return false
	}
	key, _ := args[1].(string)
	return strings.Contains(key, "lock:fold:")
}

func (h *foldHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *foldHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		switch name := strings.ToLower(cmd.Name()); {
		case !isFoldLock(cmd):
		case name == "set" && h.lockTry != nil:
			h.lockTry(ctx, cmd.(*redis.BoolCmd).Val())
		case name == "exists" && h.waiting != nil && cmd.(*redis.IntCmd).Val() > 0:
			h.waiting()
		}
		return err
	}
}
func (h *foldHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if strings.EqualFold(c.Name(), "copy") && h.copying != nil {
				h.copying(ctx)
				break
			}
		}
		return next(ctx, cmds)
	}
}

// imeiRange returns n IMEIs from first.
func imeiRange(first eir.IMEI, n int) []eir.Entry {
	out := make([]eir.Entry, n)
	for i := range out {
		out[i] = eir.Entry{IMEI: first + eir.IMEI(i)}
	}
	return out
}

// TestFoldsOfTwoDatasetsDoNotDeadlock: two writes that both fold datasets
// x and y, their changes in opposite orders, each holding its first fold
// lock before the other tries its own: both complete (the locks are taken
// in the order of the datasets' names, before any build).
func TestFoldsOfTwoDatasetsDoNotDeadlock(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	mod := func(o *Options) { o.OverlayMax = 2 }
	x, y := black("x"), black("y")
	setup := newStore(t, srv.Client(t), prefix, mod)
	if _, err := setup.Apply(ctxT(t), []eir.Change{{Dataset: x, Add: imeiRange(1000, 10)}, {Dataset: y, Add: imeiRange(2000, 10)}}); err != nil {
		t.Fatal(err)
	}
	// Each write's first try at a fold lock, taken or not, is announced;
	// a write that took its first lock waits for the other's first try.
	tried := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	stores := [2]*Store{}
	for i := range stores {
		rdb := srv.Client(t)
		var once sync.Once
		rdb.AddHook(&foldHook{lockTry: func(ctx context.Context, taken bool) {
			first := false
			once.Do(func() { first = true; close(tried[i]) })
			if first && taken {
				select {
				case <-tried[1-i]:
				case <-ctx.Done():
				}
			}
		}})
		stores[i] = newStore(t, rdb, prefix, mod)
	}
	// More than 4 × overlay_max changes each: folds, not overlay edits.
	xs, ys := eir.Change{Dataset: x, Add: imeiRange(1100, 9)}, eir.Change{Dataset: y, Add: imeiRange(2100, 9)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for i, changes := range [][]eir.Change{{xs, ys}, {ys, xs}} {
		go func() {
			_, err := stores[i].Apply(ctx, changes)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a write folding x and y: %v", err)
		}
	}
	for _, imei := range []eir.IMEI{1000, 1108, 2000, 2108} {
		if !listed(t, setup, imei) {
			t.Fatalf("%d not listed", imei)
		}
	}
}

// TestEditDuringFoldWaits: an edit into the overlay of a dataset being
// folded waits for the fold's switch and is then applied on the folded
// version: the fold is not made to start over, and the edit is not lost.
func TestEditDuringFoldWaits(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	mod := func(o *Options) { o.OverlayMax = 2 }
	d := black("national")
	editWaiting, editDone := make(chan struct{}), make(chan struct{})
	var once sync.Once
	editRDB := srv.Client(t)
	editRDB.AddHook(&foldHook{waiting: func() { once.Do(func() { close(editWaiting) }) }})
	editor := newStore(t, editRDB, prefix, mod)
	janitorRDB := srv.Client(t)
	janitorRDB.AddHook(&foldHook{copying: func(ctx context.Context) {
		select { // the fold holds its lock: let the edit come
		case <-editWaiting:
		case <-editDone:
		case <-ctx.Done():
		}
	}})
	janitor := newStore(t, janitorRDB, prefix, mod)
	if _, err := editor.Apply(ctxT(t), []eir.Change{{Dataset: d, Add: imeiRange(1000, 20)}}); err != nil {
		t.Fatal(err)
	}
	for _, imei := range []eir.IMEI{2000, 2001} {
		if _, err := editor.Apply(ctxT(t), []eir.Change{{Dataset: d, Add: entries(imei)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := janitor.refreshPlan(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	compacted := make(chan result, 1)
	go func() {
		n, err := janitor.Compact(ctxT(t))
		compacted <- result{n, err}
	}()
	testenv.Eventually(t, "the fold's lock", 10*time.Second, func() bool {
		n, err := srv.Client(t).Exists(ctxT(t), janitor.k.lockKey(foldLock(d.String()))).Result()
		return err == nil && n == 1
	})
	_, err := editor.Apply(ctxT(t), []eir.Change{{Dataset: d, Add: entries(3000)}})
	close(editDone)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-compacted; r.err != nil || r.n != 1 {
		t.Fatalf("compaction: %d folded, %v; want the fold switched in", r.n, r.err)
	}
	fresh := newStore(t, srv.Client(t), prefix, nil)
	for _, imei := range []eir.IMEI{1000, 1019, 2000, 2001, 3000} {
		if !listed(t, fresh, imei) {
			t.Fatalf("%d not listed after the fold and the edit", imei)
		}
	}
	e, _ := fresh.plan.Load().find(d.String())
	if e.OCount != 1 || e.Count != 23 {
		t.Fatalf("after the fold and the edit: %d entries, overlay of %d; want 23 and the edit alone", e.Count, e.OCount)
	}
	if e.From != 0 || e.FromOverlay != 0 {
		t.Fatalf("an edit's manifest entry says it was compacted from %d.%d", e.From, e.FromOverlay)
	}
}

// TestCompactSkipsAFold: a compaction does not wait for the fold of another
// process, nor fold again what another process folded meanwhile.
func TestCompactSkipsAFold(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	mod := func(o *Options) { o.OverlayMax = 2 }
	d := black("national")
	rdb := srv.Client(t)
	hook := &nameHook{}
	rdb.AddHook(observeHook(hook.note))
	s, other := newStore(t, rdb, prefix, mod), newStore(t, srv.Client(t), prefix, mod)
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: d, Add: imeiRange(1000, 20)}}); err != nil {
		t.Fatal(err)
	}
	for _, imei := range []eir.IMEI{2000, 2001} {
		if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: d, Add: entries(imei)}}); err != nil {
			t.Fatal(err)
		}
	}
	version := func() string {
		p, err := other.refreshPlan(ctxT(t), "")
		if err != nil {
			t.Fatal(err)
		}
		e, _ := p.find(d.String())
		return e.tag()
	}
	before := version()

	// Another process is folding: skipped at once.
	l, err := other.TryLock(ctxT(t), foldLock(d.String()), time.Minute)
	if err != nil || l == nil {
		t.Fatalf("fold lock: %v %v", l, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := s.Compact(ctx); n != 0 || err != nil {
		t.Fatalf("compaction while another process folds: %d, %v; want it skipped", n, err)
	}
	if err := l.Unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// Another process folded meanwhile (s's plan is stale): nothing to do.
	if n, err := other.Compact(ctxT(t)); n != 1 || err != nil {
		t.Fatalf("other's compaction: %d, %v", n, err)
	}
	folded := version()
	if folded == before {
		t.Fatal("other's compaction switched nothing")
	}
	if e, _ := s.plan.Load().find(d.String()); e.tag() != before {
		t.Fatalf("s's plan moved to %s; the test needs it stale", e.tag())
	}
	copies := hook.count("copy")
	if n, err := s.Compact(ctxT(t)); n != 0 || err != nil {
		t.Fatalf("compaction of a dataset folded meanwhile: %d, %v", n, err)
	}
	if n := hook.count("copy") - copies; n != 0 || version() != folded {
		t.Fatalf("compaction of a dataset folded meanwhile copied %d keys, switched %s → %s", n, folded, version())
	}
}
