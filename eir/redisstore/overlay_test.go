package redisstore

import (
	"context"
	"errors"
	"math/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// cmdHook counts the commands sent to Redis by name, pipelines included.
type cmdHook struct {
	counts  [8]atomic.Int64 // by kind: see kindOf
	touched atomic.Int64    // keys named by data commands
}

const (
	kCopy = iota
	kSetRead
	kSetWrite
	kOther
)

func kindOf(name string) int {
	switch strings.ToLower(name) {
	case "copy":
		return kCopy
	case "smembers", "hgetall":
		return kSetRead
	case "sadd", "srem", "hset", "hdel":
		return kSetWrite
	}
	return kOther
}

func (h *cmdHook) note(c redis.Cmder) {
	k := kindOf(c.Name())
	if args := c.Args(); k == kSetRead && (len(args) < 2 || !strings.Contains(args[1].(string), "d:{")) {
		k = kOther // metadata (the manifest, the identity), not list data
	}
	h.counts[k].Add(1)
	if strings.Contains(strings.ToLower(c.Name()), "copy") || kindOf(c.Name()) == kSetWrite {
		h.touched.Add(1)
	}
}

// observeHook is a go-redis hook calling itself with every command a
// client sends, alone or in a pipeline.
type observeHook func(redis.Cmder)

func (f observeHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f observeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f(cmd)
		return next(ctx, cmd)
	}
}
func (f observeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			f(c)
		}
		return next(ctx, cmds)
	}
}

func (h *cmdHook) reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.touched.Store(0)
}

// TestEditsCostAnEdit: single edits into a large dataset touch a few keys
// (no copy of the dataset), keep Redis's memory flat once the janitor ran,
// make the replica reload only the overlay, and a compaction is derived by
// the replica without reading the dataset back.
func TestEditsCostAnEdit(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	hook := &cmdHook{}
	rdb.AddHook(observeHook(hook.note))
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := trustStore(t, rdb, freshPrefix(), func(o *Options) { o.OverlayMax, o.Now, o.Grace = 500, clock, time.Second })
	list := SyntheticIMEIs(300_000, 7)
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Replace: true, Add: list}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the replica", 20*time.Second, func() bool { return s.replicaComplete(s.plan.Load()) })
	e, _ := s.plan.Load().find(black("national").String())
	base, _ := s.local(e)
	buckets := e.Buckets
	collect := func() {
		now.Add(int64(2 * time.Second)) // past the grace period
		for {
			n, err := s.Collect(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	collect()
	before, _ := srv.UsedMemory(ctxT(t))

	rng := rand.New(rand.NewSource(1))
	hook.reset()
	const edits = 400
	for i := range edits {
		var ch eir.Change
		if i%4 == 3 {
			ch = eir.Change{Dataset: black("national"), Remove: []eir.Entry{list[rng.Intn(len(list))]}}
		} else {
			ch = eir.Change{Dataset: black("national"), Add: []eir.Entry{{IMEI: eir.IMEI(86000000000000 + uint64(rng.Int63n(1e12)))}}}
		}
		if _, err := s.Apply(ctxT(t), []eir.Change{ch}); err != nil {
			t.Fatal(err)
		}
	}
	if n := hook.counts[kCopy].Load(); n > edits {
		t.Fatalf("%d COPY commands for %d edits: an edit copied the dataset's %d buckets", n, edits, buckets)
	}
	if n := hook.counts[kSetWrite].Load(); n > 2*edits {
		t.Fatalf("%d writes for %d edits", n, edits)
	}
	testenv.Eventually(t, "the replica", 10*time.Second, func() bool { return s.replicaComplete(s.plan.Load()) })
	e, _ = s.plan.Load().find(black("national").String())
	if e.Overlay == 0 || e.Version != base.base.version {
		t.Fatalf("after %d edits: version %d overlay %d; want the version of the list with an overlay", edits, e.Version, e.Overlay)
	}
	if d, _ := s.local(e); d.base != base.base {
		d, _ := s.local(e)
		t.Fatalf("the replica reloaded the dataset for edits of its overlay: %p v%d → %p v%d (loads %v)", base.base, base.base.version, d.base, d.base.version, s.m.replicaLoads)
	}
	collect()
	after, _ := srv.UsedMemory(ctxT(t))
	t.Logf("%d edits on %d entries: Redis memory %+d bytes after the janitor; %d COPY, %d writes",
		edits, len(list), after-before, hook.counts[kCopy].Load(), hook.counts[kSetWrite].Load())
	if after-before > 1<<20 {
		t.Fatalf("Redis memory grew by %d bytes for %d edits", after-before, edits)
	}

	// The overlay reaches OverlayMax: the janitor folds it. The replica
	// derives the new version from the copies it holds.
	for e.OCount < 500 {
		ch := eir.Change{Dataset: black("national"), Add: []eir.Entry{{IMEI: eir.IMEI(87000000000000 + uint64(rng.Int63n(1e12)))}}}
		if _, err := s.Apply(ctxT(t), []eir.Change{ch}); err != nil {
			t.Fatal(err)
		}
		e, _ = s.plan.Load().find(black("national").String())
	}
	testenv.Eventually(t, "the replica", 10*time.Second, func() bool { return s.replicaComplete(s.plan.Load()) })
	hook.reset()
	if n, err := s.Compact(ctxT(t)); err != nil || n != 1 {
		t.Fatalf("compact: %d %v", n, err)
	}
	testenv.Eventually(t, "the replica", 10*time.Second, func() bool { return s.replicaComplete(s.plan.Load()) })
	if n := hook.counts[kSetRead].Load(); n > 1 { // the fold reads the overlay
		t.Fatalf("%d reads of list data during a compaction: the replica read the dataset back", n)
	}
	compacted, _ := s.plan.Load().find(black("national").String())
	if compacted.Overlay != 0 || compacted.Count != e.Count || compacted.Hash != e.Hash {
		t.Fatalf("compaction changed the content: %+v → %+v", e.manifestEntry, compacted.manifestEntry)
	}
	for i := range 200 {
		if x := list[i*len(list)/200]; listed(t, s, x.IMEI) != slicesHas(s, x.IMEI) {
			t.Fatal("the replica and Redis disagree after the compaction")
		}
	}
}

// slicesHas answers a query through Redis alone (the exact path).
func slicesHas(s *Store, imei eir.IMEI) bool {
	hits, err := s.matchExact(context.Background(), s.plan.Load(), eir.Query{IMEI: imei}, nil)
	return err == nil && len(hits) > 0
}

// TestEditStormWithCompaction: two processes edit one large dataset at
// once while their janitors compact it: every acknowledged edit is in
// force at the end, the overlay stays bounded, nothing livelocks.
func TestEditStormWithCompaction(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	mod := func(o *Options) { o.OverlayMax = 100 }
	a := trustStore(t, srv.Client(t), prefix, mod)
	b := trustStore(t, srv.Client(t), prefix, mod)
	list := SyntheticIMEIs(20_000, 3)
	if _, err := a.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Replace: true, Add: list}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var compactions atomic.Int64
	for _, s := range []*Store{a, b} {
		go func() {
			for ctx.Err() == nil {
				if n, err := s.Compact(ctx); err == nil {
					compactions.Add(int64(n))
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	type result struct {
		added   []eir.IMEI
		removed []eir.IMEI
		err     error
	}
	results := make(chan result, 2)
	for i, s := range []*Store{a, b} {
		go func() {
			var r result
			rng := rand.New(rand.NewSource(int64(i)))
			for j := range 300 {
				ch := eir.Change{Dataset: black("national")}
				var x eir.IMEI
				if j%4 == 3 {
					x = list[rng.Intn(len(list))].IMEI
					ch.Remove = []eir.Entry{{IMEI: x}}
				} else {
					x = eir.IMEI(96000000000000 + uint64(i)*1e9 + uint64(j))
					ch.Add = []eir.Entry{{IMEI: x}}
				}
				var err error
				for attempt := 0; attempt < 20; attempt++ {
					if _, err = s.Apply(ctxT(t), []eir.Change{ch}); !errors.Is(err, eir.ErrConflict) {
						break
					}
				}
				if err != nil {
					r.err = err
					break
				}
				if ch.Add != nil {
					r.added = append(r.added, x)
				} else {
					r.removed = append(r.removed, x)
				}
			}
			results <- r
		}()
	}
	var added, removed []eir.IMEI
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("edit failed: %v", r.err)
		}
		added, removed = append(added, r.added...), append(removed, r.removed...)
	}
	cancel()
	if compactions.Load() == 0 {
		t.Fatal("no compaction ran during the storm")
	}
	gone := map[eir.IMEI]bool{}
	for _, x := range removed {
		gone[x] = true
	}
	fresh := newStore(t, srv.Client(t), prefix, nil)
	for _, x := range added {
		if !listed(t, fresh, x) {
			t.Fatalf("acknowledged addition %s is not in force", x)
		}
	}
	for x := range gone {
		if listed(t, fresh, x) {
			t.Fatalf("acknowledged removal %s is in force", x)
		}
	}
	e, _ := fresh.refreshPlan(ctxT(t), "")
	ds, _ := e.find(black("national").String())
	if ds.OCount > 4*100 {
		t.Fatalf("overlay of %d entries, beyond 4 × overlay_max", ds.OCount)
	}
	t.Logf("%d additions, %d removals, %d compactions; overlay %d entries", len(added), len(removed), compactions.Load(), ds.OCount)
}
