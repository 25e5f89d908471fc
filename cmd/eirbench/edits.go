package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/redisstore"
)

// editsBench measures what manual edits cost on a large list: single
// edits into an n-entry dataset through the store, as eirctl add/remove
// make them, while checks run; and the local copy of the list (size, time
// to write, time for a new eird to read it).
func editsBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edits", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := redisFlag(fs)
	n := fs.Int("n", 10_000_000, "entries of the list edited")
	edits := fs.Int("edits", 1000, "single edits (3 additions for 1 removal)")
	overlayMax := fs.Int("overlay-max", 10_000, "store.overlay_max")
	compare := fs.Int("compare", 0, "then this many edits with overlays off, as eird did before them (every edit copies the list)")
	markdown := fs.String("markdown", "", "also write the results as a markdown section to this file")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench edits [flags]

Single edits into an N-entry list while checks run: Redis memory, edit and
replica costs, check latency; the local copy's size and load time.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	resolved, stop, err := resolveRedis(*addr, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	defer stop()
	snapDir, err := os.MkdirTemp("", "eirbench-snapshot")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer os.RemoveAll(snapDir)
	e := &editsRun{ctx: context.Background(), addr: resolved, snapDir: snapDir, n: *n, stderr: stderr,
		prefix: fmt.Sprintf("eirbench%d:", time.Now().UnixNano())}
	r, err := e.run(*edits, *overlayMax, *compare)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	r.print(stdout)
	if *markdown != "" {
		var buf strings.Builder
		r.markdown(&buf)
		if err := os.WriteFile(*markdown, []byte(buf.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "eirbench: %v\n", err)
			return 1
		}
	}
	return 0
}

// editsRun is one run of eirbench edits: a list of n IMEIs under prefix in
// the Redis at addr, with its local copy in snapDir.
type editsRun struct {
	ctx     context.Context
	addr    string
	prefix  string
	snapDir string
	n       int
	stderr  io.Writer
}

// open opens the store with its replica, local copy and janitor running;
// what it returns closes it, once.
func (e *editsRun) open(overlayMax int) (*redisstore.Store, func(), error) {
	s, closeStore, err := benchStore(e.ctx, e.addr, redisstore.Options{Prefix: e.prefix, Grace: time.Second, Replica: true,
		MaxStale: time.Hour, SnapshotDir: e.snapDir, OverlayMax: overlayMax, ReplicaMaxEntries: int64(2 * e.n)}, e.stderr)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(rctx) }()
	return s, sync.OnceFunc(func() { cancel(); <-done; closeStore() }), nil
}

// run loads the list, starts a second store from its local copy, makes
// edits single edits with overlays of up to overlayMax entries, then
// compare edits with overlays off (none when compare is 0), and purges
// what it wrote.
func (e *editsRun) run(edits, overlayMax, compare int) (*editsReport, error) {
	s, closeStore, err := e.open(overlayMax)
	if err != nil {
		return nil, err
	}
	defer func() { closeStore() }()

	fmt.Fprintf(e.stderr, "generating %d IMEIs\n", e.n)
	list := redisstore.SyntheticIMEIs(e.n, 1)
	ds := eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListBlack}
	r := &editsReport{Entries: e.n, OverlayMax: overlayMax}
	if err := e.load(s, ds, list, r); err != nil {
		return nil, err
	}
	if r.SnapshotStart, err = e.startFromCopy(list); err != nil {
		return nil, err
	}
	a, err := measureEdits(e.ctx, s, ds, list, edits, 2, e.stderr)
	if err != nil {
		return nil, err
	}
	r.WithOverlay = *a
	// The same edits without overlays (as eird did before them): every
	// edit copies the list, inside Redis and into every replica.
	if compare > 0 {
		closeStore()
		if s, closeStore, err = e.open(2 * e.n); err != nil {
			return nil, err
		}
		if _, err := waitHeld(s, "the list", waitLimit); err != nil {
			return nil, err
		}
		if r.WithoutOverlay, err = measureEdits(e.ctx, s, ds, list, compare, 3, e.stderr); err != nil {
			return nil, err
		}
	}
	if err := s.Purge(e.ctx); err != nil {
		fmt.Fprintf(e.stderr, "eirbench: clean-up: %v\n", err)
	}
	return r, nil
}

// load writes list as ds into s and waits until the replica holds it and
// its local copy is written, recording how long each took in r.
func (e *editsRun) load(s *redisstore.Store, ds eir.Dataset, list []eir.Entry, r *editsReport) error {
	start := time.Now()
	if _, err := s.Apply(e.ctx, []eir.Change{{Dataset: ds, Replace: true, Add: list}}); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	loaded := time.Since(start)
	replicated, err := waitHeld(s, "the list", waitLimit)
	if err != nil {
		return err
	}
	var snapBytes int64
	var snapTook time.Duration
	if _, err := waitUntil("local copy written", waitLimit, func() bool {
		b, took, _, ok := s.SnapshotWritten()
		snapBytes, snapTook = b, took
		return ok
	}); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "loaded in %s, replicated in %s, local copy %d MB in %s\n", loaded.Round(time.Millisecond),
		replicated.Round(time.Millisecond), snapBytes>>20, snapTook.Round(time.Millisecond))
	r.LoadSeconds, r.ReplicaSeconds, r.SnapshotBytes, r.SnapshotWrite = loaded.Seconds(), replicated.Seconds(), snapBytes, snapTook
	return nil
}

// startFromCopy starts a second eird's store from the local copy alone (its
// Redis client points nowhere) and returns how long it took until it
// answered.
func (e *editsRun) startFromCopy(list []eir.Entry) (time.Duration, error) {
	start := time.Now()
	rdb2, _ := redisstore.NewClient(redisstore.ClientOptions{Addresses: []string{"127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond})
	defer rdb2.Close()
	s2, err := redisstore.New(e.ctx, rdb2, redisstore.Options{Prefix: e.prefix, Replica: true, MaxStale: time.Hour, SnapshotDir: e.snapDir,
		ReplicaMaxEntries: int64(2 * e.n)}, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		return 0, fmt.Errorf("start from the copy: %w", err)
	}
	took := time.Since(start)
	if _, ok := s2.MatchLocal(eir.Query{IMEI: list[0].IMEI}, nil); !ok {
		return 0, errors.New("the eird started from the copy does not answer")
	}
	return took, nil
}

// waitLimit bounds each wait of eirbench edits for the store.
const waitLimit = 10 * time.Minute

// waitHeld waits up to limit until the replica of s holds every list in
// force (what names what it waits for), and returns how long it took.
func waitHeld(s *redisstore.Store, what string, limit time.Duration) (time.Duration, error) {
	took, err := waitUntil("the replica to hold "+what, limit, func() bool { return s.Health().Replica })
	if err != nil {
		return 0, fmt.Errorf("the replica did not hold %s within %v", what, limit)
	}
	return took, nil
}

// waitUntil calls cond every millisecond until it reports true and returns
// how long that took, or fails, naming what it waited for, once limit
// passes. (eirbench measures that time, so it is not a test's
// testenv.Eventually.)
func waitUntil(what string, limit time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			return 0, fmt.Errorf("no %s within %v", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start), nil
}

// editStats is what single edits cost.
type editStats struct {
	Edits                      int
	Seconds                    float64
	EditP50, EditP99           time.Duration
	ReplicaP50, ReplicaP99     time.Duration
	MemDuring, MemAfter        int64 // Redis used_memory growth, during the edits and after the janitor
	ChecksBefore, ChecksDuring int
	CheckBefore, CheckDuring   [2]time.Duration // p50, p99
}

// measureEdits makes edits single edits (3 additions for 1 removal) while
// checks run in a loop, and measures them.
func measureEdits(ctx context.Context, s *redisstore.Store, ds eir.Dataset, list []eir.Entry, edits int, seed int64,
	stderr io.Writer) (*editStats, error) {
	collect := func() {
		time.Sleep(1100 * time.Millisecond) // past the grace period
		for {
			if k, err := s.Collect(ctx); err != nil || k == 0 {
				return
			}
		}
	}
	collect()
	memBefore, _ := s.UsedMemory(ctx)
	rng := rand.New(rand.NewSource(seed)) // each run edits other entries
	probes := make([]eir.IMEI, 4096)
	for i := range probes {
		if i%2 == 0 {
			probes[i] = list[rng.Intn(len(list))].IMEI
		} else {
			probes[i] = eir.IMEI(35000000000000 + uint64(rng.Int63n(6e13)))
		}
	}
	// Checks as the Diameter read loop makes them: from the replica, from
	// Redis when the replica cannot answer.
	measure := func(d time.Duration) []time.Duration {
		var lat []time.Duration
		for end, i := time.Now().Add(d), 0; time.Now().Before(end); i++ {
			t0 := time.Now()
			q := eir.Query{IMEI: probes[i%len(probes)]}
			if _, ok := s.MatchLocal(q, nil); !ok {
				if _, err := s.Match(ctx, q, nil); err != nil {
					fmt.Fprintf(stderr, "eirbench: check: %v\n", err)
				}
			}
			lat = append(lat, time.Since(t0))
		}
		return lat
	}
	st := &editStats{Edits: edits}
	before := measure(3 * time.Second)
	var during []time.Duration
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			during = append(during, measure(100*time.Millisecond)...)
		}
	}()
	var editLat, replicaLat []time.Duration
	start := time.Now()
	for i := range edits {
		// Additions outside the list's TACs (35000000-95000000): new.
		ch := eir.Change{Dataset: ds, Add: []eir.Entry{{IMEI: eir.IMEI(96000000000000 + uint64(rng.Int63n(1e12)))}}}
		if i%4 == 3 {
			ch = eir.Change{Dataset: ds, Remove: []eir.Entry{list[rng.Intn(len(list))]}}
		}
		t0 := time.Now()
		if _, err := s.Apply(ctx, []eir.Change{ch}); err != nil {
			stop.Store(true)
			<-done
			return nil, fmt.Errorf("edit: %w", err)
		}
		editLat = append(editLat, time.Since(t0))
		held, err := waitHeld(s, "an edit", waitLimit)
		if err != nil {
			stop.Store(true)
			<-done
			return nil, err
		}
		replicaLat = append(replicaLat, held)
	}
	st.Seconds = time.Since(start).Seconds()
	stop.Store(true)
	<-done
	memEdits, _ := s.UsedMemory(ctx)
	collect()
	memAfter, _ := s.UsedMemory(ctx)
	st.EditP50, st.EditP99 = pct(editLat, 0.5), pct(editLat, 0.99)
	st.ReplicaP50, st.ReplicaP99 = pct(replicaLat, 0.5), pct(replicaLat, 0.99)
	st.MemDuring, st.MemAfter = memEdits-memBefore, memAfter-memBefore
	st.ChecksBefore, st.ChecksDuring = len(before), len(during)
	st.CheckBefore = [2]time.Duration{pct(before, 0.5), pct(before, 0.99)}
	st.CheckDuring = [2]time.Duration{pct(during, 0.5), pct(during, 0.99)}
	return st, nil
}

func pct(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	c := slices.Clone(l)
	slices.Sort(c)
	return c[min(len(c)-1, int(p*float64(len(c))))]
}

// editsReport is the result of eirbench edits.
type editsReport struct {
	Entries                      int
	LoadSeconds, ReplicaSeconds  float64
	SnapshotBytes                int64
	SnapshotWrite, SnapshotStart time.Duration
	OverlayMax                   int
	WithOverlay                  editStats
	WithoutOverlay               *editStats
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (r editsReport) print(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("entries\t%d", r.Entries)
	p("load_seconds\t%.2f\nreplica_load_seconds\t%.2f", r.LoadSeconds, r.ReplicaSeconds)
	p("snapshot_bytes\t%d\nsnapshot_bytes_per_entry\t%.2f", r.SnapshotBytes, float64(r.SnapshotBytes)/float64(r.Entries))
	p("snapshot_write_seconds\t%.3f\nsnapshot_start_seconds\t%.3f", r.SnapshotWrite.Seconds(), r.SnapshotStart.Seconds())
	for _, x := range []struct {
		name string
		st   *editStats
	}{{"overlay", &r.WithOverlay}, {"no_overlay", r.WithoutOverlay}} {
		if x.st == nil {
			continue
		}
		st := x.st
		p("%s_edits\t%d\n%s_edits_seconds\t%.2f", x.name, st.Edits, x.name, st.Seconds)
		p("%s_edit_p50_ms\t%.3f\n%s_edit_p99_ms\t%.3f", x.name, ms(st.EditP50), x.name, ms(st.EditP99))
		p("%s_replica_update_p50_ms\t%.3f\n%s_replica_update_p99_ms\t%.3f", x.name, ms(st.ReplicaP50), x.name, ms(st.ReplicaP99))
		p("%s_redis_memory_growth_during_bytes\t%d\n%s_redis_memory_growth_after_janitor_bytes\t%d", x.name, st.MemDuring, x.name, st.MemAfter)
		p("%s_check_p50_us_before\t%.2f\n%s_check_p99_us_before\t%.2f", x.name, us(st.CheckBefore[0]), x.name, us(st.CheckBefore[1]))
		p("%s_check_p50_us_during\t%.2f\n%s_check_p99_us_during\t%.2f", x.name, us(st.CheckDuring[0]), x.name, us(st.CheckDuring[1]))
	}
}

func (r editsReport) markdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	mb := func(b int64) string { return fmt.Sprintf("%+.1f MB", float64(b)/1e6) }
	p("## Edits on a large list, and the local copy")
	p("")
	p("`eirbench edits -n %d`: one list of %s synthetic IMEIs (`manual/imei/black`) loaded through the store with its replica and local copy (own redis-server), then single edits (3 additions for 1 removal, as `eirctl add`/`remove` make them) while checks run in a loop as the Diameter read loop makes them (from the replica; from Redis when it cannot answer). Redis memory is `used_memory` growth; \"after the janitor\" is after the grace period and the janitor's pass. The replica update is the time from an edit's return until the replica holds it.", r.Entries, thousandsf(float64(r.Entries)))
	p("")
	p("| | Overlays (`store.overlay_max` %d) |%s", r.OverlayMax, map[bool]string{true: " Overlays off (every edit copies the list) |", false: ""}[r.WithoutOverlay != nil])
	p("|---|---|%s", map[bool]string{true: "---|", false: ""}[r.WithoutOverlay != nil])
	row := func(name string, f func(*editStats) string) {
		line := "| " + name + " | " + f(&r.WithOverlay) + " |"
		if r.WithoutOverlay != nil {
			line += " " + f(r.WithoutOverlay) + " |"
		}
		p("%s", line)
	}
	row("Edits", func(s *editStats) string { return fmt.Sprintf("%d in %.1f s", s.Edits, s.Seconds) })
	row("Edit p50 / p99", func(s *editStats) string { return fmt.Sprintf("%.2f / %.2f ms", ms(s.EditP50), ms(s.EditP99)) })
	row("Replica update p50 / p99", func(s *editStats) string { return fmt.Sprintf("%.1f / %.1f ms", ms(s.ReplicaP50), ms(s.ReplicaP99)) })
	row("Redis memory during the edits", func(s *editStats) string { return mb(s.MemDuring) })
	row("Redis memory after the janitor", func(s *editStats) string { return mb(s.MemAfter) })
	row("Check p50 / p99 before", func(s *editStats) string {
		return fmt.Sprintf("%.2f / %.2f µs", us(s.CheckBefore[0]), us(s.CheckBefore[1]))
	})
	row("Check p50 / p99 during the edits", func(s *editStats) string {
		return fmt.Sprintf("%.2f / %.2f µs", us(s.CheckDuring[0]), us(s.CheckDuring[1]))
	})
	p("")
	p("Local copy of the list (`store.snapshot_dir`): %.1f MB, %.2f bytes per entry, written in %.0f ms after the replica loaded the list (%.1f s from Redis); an eird started from it alone (Redis unreachable) answers its first check %.0f ms after it starts reading it.",
		float64(r.SnapshotBytes)/1e6, float64(r.SnapshotBytes)/float64(r.Entries), ms(r.SnapshotWrite), r.ReplicaSeconds, ms(r.SnapshotStart))
}
