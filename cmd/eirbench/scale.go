package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/regsync"
)

// scaleFlags configures `eirbench scale`.
type scaleFlags struct {
	imeis, tacs, ranges, pairs uint64
	base                       uint64
	rounds                     int
	load                       loadFlags
	dir                        string
	eird                       string
	self                       string
	within                     time.Duration
	markdown                   string
	profile                    string
	eirdProfile                time.Duration
}

// scaleCommand runs `eirbench scale`.
func scaleCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f scaleFlags
	fs.Uint64Var(&f.imeis, "imeis", 100_000_000, "IMEIs of the DIRBS full blacklist")
	fs.Uint64Var(&f.tacs, "tacs", 9_000_000, "TACs of the barred TAC list")
	fs.Uint64Var(&f.ranges, "ranges", 1_000_000, "ranges of the IMEI range list (1,000 IMEIs each)")
	fs.Uint64Var(&f.pairs, "pairs", 10_000_000, "IMEI–IMSI pairs of the DIRBS exceptions list (1 to 10 IMSIs per IMEI)")
	fs.Uint64Var(&f.base, "base", 1_000_000, "IMEIs of the first phase's blacklist (the other lists scaled alike), the size the throughput is compared with")
	fs.IntVar(&f.rounds, "rounds", 3, "closed-loop rounds against eird and the reference, at each size")
	f.load.register(fs, false)
	fs.StringVar(&f.dir, "dir", "", "work directory for the generated files (default: a temporary directory, removed afterwards); needs about 60 bytes per row")
	fs.StringVar(&f.eird, "eird", "", "eird binary (default: eird next to the eirbench binary)")
	fs.StringVar(&f.self, "eirbench", "", "eirbench binary that runs the reference server (default: this one)")
	fs.DurationVar(&f.within, "start-timeout", 10*time.Minute, "how long an eird may take to start and hold every list")
	fs.StringVar(&f.markdown, "markdown", "", "also write the results as a markdown section to this file")
	fs.StringVar(&f.profile, "profile", "", "write a CPU profile of each sync pass, and a heap profile (allocations) after it, to this directory")
	fs.DurationVar(&f.eirdProfile, "eird-profile", 0, "with -profile: also a CPU profile of each eird, this long from when it listens (its cold start)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench scale [flags]

Carrier scale through the real sync path, at two sizes (-base IMEIs, then
-imeis), each on a redis-server of its own (free loopback port, no
persistence) holding the load generator's lists (source "bench"). At each
size it generates registry files on disk a row at a time (a DIRBS full
blacklist, a DIRBS exceptions list of operator "op1", a barred TAC list, an
IMEI range list) and applies each by one pass of the sync engine (sources
"national", "tacs", "ranges"; guards opened, as an approval would): the
generation and apply time, Go heap peak and Redis used_memory growth of
each. Then an eird with an empty local copy starts on that Redis (cold
start from Redis), and again from the local copy it wrote: seconds until it
is ready and holds every list in its replica, its Go heap after a GC; that
eird keeps running. Last, -rounds closed-loop rounds against the reference
server (as eirbench ratio) and the eird of each size, the order rotating.
The large lists use TACs below 10000000, which the load generator's lists
never use: answers stay comparable.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := f.validate(); err != nil {
		fmt.Fprintf(stderr, "eirbench: scale: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s := &scaleRun{f: f, stderr: stderr}
	res, err := s.run(ctx)
	if res != nil {
		res.writeText(stdout)
		if f.markdown != "" {
			if werr := os.WriteFile(f.markdown, []byte(res.markdown(&f)), 0o644); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: scale: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func (f *scaleFlags) validate() error {
	var errs []error
	if f.imeis < 1 || f.imeis > scaleMaxIMEIs {
		errs = append(errs, fmt.Errorf("-imeis %d: want 1 to %d", f.imeis, scaleMaxIMEIs))
	}
	if f.tacs > scaleMaxTACs || f.ranges > scaleMaxRanges {
		errs = append(errs, fmt.Errorf("-tacs at most %d, -ranges at most %d", scaleMaxTACs, scaleMaxRanges))
	}
	if f.base < 1 || f.base > f.imeis {
		errs = append(errs, fmt.Errorf("-base %d: want 1 to -imeis", f.base))
	}
	if f.rounds < 1 {
		errs = append(errs, fmt.Errorf("-rounds %d: must be >= 1", f.rounds))
	}
	if _, err := loadgen.ParseMix(f.load.mix); err != nil {
		errs = append(errs, err)
	}
	if f.load.duration <= 0 || f.load.warmup < 0 || f.load.timeout <= 0 || f.load.conns < 1 || f.load.window < 1 || f.load.entries < 1 {
		errs = append(errs, errors.New("-duration, -timeout, -conns, -window and -entries must be > 0, -warmup >= 0"))
	}
	return errors.Join(errs...)
}

// scaleRun is the state of one `eirbench scale`.
type scaleRun struct {
	f      scaleFlags
	stderr io.Writer
	work   string
	data   *loadgen.Dataset
	ref    *child
	refAt  refAddrs
	res    *scaleResult
	passes int // profiled
	// Of the phase being applied: its Redis, store and sync engine.
	redis  string
	store  *redisstore.Store
	engine *regsync.Engine
	// The eird of each phase, kept running for the rounds.
	eirds []*eirdProc
}

// The sources the lists are applied under, and the exceptions' operator.
const (
	scaleSourceDIRBS  = "national"
	scaleSourceTACs   = "tacs"
	scaleSourceRanges = "ranges"
	scaleOperator     = "op1"
)

// run starts Redis and the reference, measures both phases, and stops
// everything it started.
func (s *scaleRun) run(ctx context.Context) (*scaleResult, error) {
	f := &s.f
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own binary: %w", err)
	}
	if f.eird == "" {
		f.eird = filepath.Join(filepath.Dir(self), "eird")
	}
	if f.self == "" {
		f.self = self
	}
	if _, err := os.Stat(f.eird); err != nil {
		return nil, fmt.Errorf("eird binary: %w (build it with make build, or give -eird)", err)
	}
	s.work = f.dir
	if s.work == "" {
		if s.work, err = os.MkdirTemp("", "eirbench-scale"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(s.work)
	} else if err := os.MkdirAll(s.work, 0o750); err != nil {
		return nil, fmt.Errorf("-dir: %w", err)
	}
	s.res = &scaleResult{Started: time.Now().UTC(), Machine: describeMachine(redisVersion(commandOutput("redis-server", "--version"))),
		EIRDVersion: commandOutput(f.eird, "-version"), LoadBefore: loadAverage()}
	s.data = loadgen.Generate(f.load.seed, f.load.entries)
	if s.ref, s.refAt, err = startRef(ctx, f.self, s.work, f.load.entries, f.load.seed); err != nil {
		return nil, err
	}
	defer s.ref.stop()
	defer func() {
		for _, e := range s.eirds {
			e.stop()
		}
	}()
	for i, n := range []uint64{f.base, f.imeis} {
		p := &scalePhase{IMEIs: n}
		s.res.Phases = append(s.res.Phases, p)
		stopRedis, err := s.phase(ctx, i+1, p)
		if stopRedis != nil {
			defer stopRedis()
		}
		if err != nil {
			return s.res, err
		}
	}
	err = s.measureRounds(ctx)
	s.res.LoadAfter = loadAverage()
	return s.res, err
}

// loadBench loads the load generator's lists (source "bench"), which the
// reference server answers from too.
func (s *scaleRun) loadBench(ctx context.Context) error {
	if _, err := s.store.Apply(ctx, listChanges(s.data, benchSource)); err != nil {
		return fmt.Errorf("load generator's lists: %w", err)
	}
	return nil
}

// newEngine creates the sync engine with one source per format, each on
// its own drop directory. The guards are opened (a list that grows a
// hundredfold, or adds millions of exceptions, is held by default for an
// approval), and the file size limit raised for a 100-million-row file.
func (s *scaleRun) newEngine(drop string) error {
	open := guard.Guards{MaxUnblocks: math.MaxInt, MaxUnblockRatio: 1e9, MinSnapshotRatio: 1e-9}
	limits := regsync.Limits{MaxFileBytes: 1 << 40, MaxUncompressedBytes: 1 << 40, MaxRows: 2 * scaleMaxIMEIs}
	var srcs []regsync.SourceConfig
	for _, c := range []struct{ name, format, op string }{
		{scaleSourceDIRBS, "dirbs", scaleOperator}, {scaleSourceTACs, "tac", ""}, {scaleSourceRanges, "ranges", ""},
	} {
		dir := filepath.Join(drop, c.name)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		srcs = append(srcs, regsync.SourceConfig{Name: c.name, Format: c.format, Operator: c.op, Dir: dir,
			Settle: time.Millisecond, Guards: open, Limits: limits})
	}
	e, err := regsync.New(regsync.Options{}, srcs, s.store, regsync.CoordinatorFor(s.store), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		return fmt.Errorf("sync engine: %w", err)
	}
	s.engine = e
	return nil
}

// scaled returns v scaled to a phase of n IMEIs (at least 1 if v > 0).
func (s *scaleRun) scaled(v, n uint64) uint64 {
	if v == 0 || n == s.f.imeis {
		return v
	}
	return max(1, uint64(math.Round(float64(v)*float64(n)/float64(s.f.imeis))))
}

// phase starts a Redis of its own for the phase (what stops it is
// returned), loads the load generator's lists, applies the generated lists
// at p.IMEIs through the sync engine, and starts eird twice (from Redis,
// from its local copy); the second keeps running for the rounds.
func (s *scaleRun) phase(ctx context.Context, num int, p *scalePhase) (func(), error) {
	n := p.IMEIs
	fmt.Fprintf(s.stderr, "phase %d: %s IMEIs\n", num, thousandsf(float64(n)))
	addr, stopRedis, err := startRedis(s.stderr)
	if err != nil {
		return nil, err
	}
	s.redis = addr
	store, closeStore, err := benchStore(ctx, addr, redisstore.Options{Prefix: "eir:", Grace: time.Millisecond}, s.stderr)
	if err != nil {
		return stopRedis, err
	}
	defer closeStore()
	s.store = store
	if err := s.loadBench(ctx); err != nil {
		return stopRedis, err
	}
	drop := filepath.Join(s.work, fmt.Sprintf("phase%d", num), "drop")
	if err := s.newEngine(drop); err != nil {
		return stopRedis, err
	}
	defer s.engine.Close()
	if err := s.applyAll(ctx, p, drop); err != nil {
		return stopRedis, err
	}
	return stopRedis, s.eirdPhase(ctx, num, p)
}

// applyAll writes and applies the phase's lists, then reads Redis's
// memory and the entries in force.
func (s *scaleRun) applyAll(ctx context.Context, p *scalePhase, drop string) error {
	n := p.IMEIs
	const ts = "20260101_000000"
	lists := []struct {
		list, source, file string
		count              uint64
		write              func(path string, n uint64) (uint64, int64, error)
	}{
		{"blacklist", scaleSourceDIRBS, ts + "_blacklist.csv", n, writeScaleBlacklist},
		{"exceptions", scaleSourceDIRBS, ts + "_exceptions_" + scaleOperator + ".csv", s.scaled(s.f.pairs, n), writeScaleExceptions},
		{"tacs", scaleSourceTACs, ts + "_tacs.csv", s.scaled(s.f.tacs, n), func(path string, n uint64) (uint64, int64, error) {
			return writeScaleTACs(path, n, benchTACs(s.data))
		}},
		{"ranges", scaleSourceRanges, ts + "_ranges.csv", s.scaled(s.f.ranges, n), writeScaleRanges},
	}
	for _, l := range lists {
		if l.count == 0 {
			continue
		}
		r, err := s.applyList(ctx, l.list, l.source, filepath.Join(drop, l.source, l.file), l.count, l.write)
		if r != nil {
			p.Lists = append(p.Lists, *r)
		}
		if err != nil {
			return err
		}
	}
	used, err := s.store.UsedMemory(ctx)
	if err != nil {
		return err
	}
	p.RedisUsed = used
	infos, err := s.store.Datasets(ctx)
	if err != nil {
		return err
	}
	for _, d := range infos {
		p.Entries += d.Count
	}
	return nil
}

// applyList writes one list file and applies it by a pass of its source.
func (s *scaleRun) applyList(ctx context.Context, list, source, path string, count uint64,
	write func(string, uint64) (uint64, int64, error)) (*scaleList, error) {
	r := &scaleList{List: list}
	start := time.Now()
	rows, size, err := write(path, count)
	if err != nil {
		return nil, fmt.Errorf("%s: write: %w", list, err)
	}
	old := time.Now().Add(-time.Minute)
	os.Chtimes(path, old, old)
	r.Rows, r.FileBytes, r.GenSeconds = rows, size, time.Since(start).Seconds()
	before, err := s.store.UsedMemory(ctx)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	peak := startHeapPeak()
	stopProfile := s.startProfile(list)
	start = time.Now()
	rep, err := s.engine.Pass(ctx, source)
	r.ApplySeconds = time.Since(start).Seconds()
	r.HeapPeak = peak()
	stopProfile()
	if err != nil {
		return r, fmt.Errorf("%s: pass: %w", list, err)
	}
	if len(rep.Files) != 1 || rep.Files[0].Result != "applied" || len(rep.Files[0].Lists) == 0 {
		return r, fmt.Errorf("%s: not applied: %+v", list, rep.Files)
	}
	r.Entries = rep.Files[0].Lists[0].Count
	r.Added = rep.Files[0].Lists[0].Added
	if _, err := s.store.Collect(ctx); err != nil { // the version replaced: gone from used_memory
		return r, err
	}
	after, err := s.store.UsedMemory(ctx)
	if err != nil {
		return r, err
	}
	r.RedisDelta = after - before
	fmt.Fprintf(s.stderr, "  %s: %s rows (%d MB) written in %.1fs, applied in %.1fs, %s entries, Go heap peak %d MB, Redis %+d MB\n",
		list, thousandsf(float64(rows)), size>>20, r.GenSeconds, r.ApplySeconds, thousandsf(float64(r.Entries)), r.HeapPeak>>20, r.RedisDelta>>20)
	os.RemoveAll(filepath.Join(filepath.Dir(path), "done")) // the applied file, kept by the engine
	os.Remove(path)
	return r, nil
}

// startProfile starts a CPU profile of a pass when -profile is set; what
// it returns stops it and writes the heap profile.
func (s *scaleRun) startProfile(list string) func() {
	if s.f.profile == "" {
		return func() {}
	}
	s.passes++
	base := filepath.Join(s.f.profile, fmt.Sprintf("%02d-%s", s.passes, list))
	if err := os.MkdirAll(s.f.profile, 0o755); err != nil {
		fmt.Fprintf(s.stderr, "profile: %v\n", err)
		return func() {}
	}
	cpu, err := os.Create(base + ".cpu.pprof")
	if err == nil {
		err = pprof.StartCPUProfile(cpu)
	}
	if err != nil {
		fmt.Fprintf(s.stderr, "profile: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		if h, err := os.Create(base + ".heap.pprof"); err == nil {
			pprof.Lookup("allocs").WriteTo(h, 0)
			h.Close()
		}
	}
}

// startHeapPeak samples the Go heap (bytes of heap objects, live or not
// yet swept) every 20 ms until the returned function is called, which
// returns the largest sample.
func startHeapPeak() func() uint64 {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			peak = max(peak, sample[0].Value.Uint64())
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		read()
		return peak
	}
}

// eirdPhase starts an eird with an empty local copy (cold start from
// Redis), then another from the copy it wrote, which keeps running for
// the rounds.
func (s *scaleRun) eirdPhase(ctx context.Context, num int, p *scalePhase) error {
	dir := filepath.Join(s.work, fmt.Sprintf("eird%d", num))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	env := []string{"EIR_STORE_REPLICA_MAX_ENTRIES=" + strconv.FormatUint(max(2*p.Entries, 50_000_000), 10), "EIR_ADMIN_PPROF=true"}
	var e *eirdProc
	for _, from := range []string{"Redis", "local copy"} {
		if e != nil {
			e.stop()
		}
		st, proc, err := s.coldStart(ctx, dir, env, p.Entries)
		if proc == nil {
			return err
		}
		e = proc
		st.From = from
		p.Starts = append(p.Starts, st)
		if err != nil {
			e.stop()
			return err
		}
		fmt.Fprintf(s.stderr, "  eird from %s: ready %.1fs, every list held %.1fs, Go heap after GC %d MB (%d entries)\n",
			from, st.Ready, st.Full, st.HeapAfterGC>>20, st.Entries)
	}
	s.eirds = append(s.eirds, e)
	return nil
}

// measureRounds runs the closed-loop rounds against the reference and the
// eird of every phase, rotating the order each round, so that every size
// meets the same load of the machine.
func (s *scaleRun) measureRounds(ctx context.Context) error {
	closed := s.f.load
	closed.rate = 0
	runs := make([]*ratioRun, len(s.eirds))
	for i, e := range s.eirds {
		runs[i] = &ratioRun{f: ratioFlags{load: s.f.load}, stderr: s.stderr, data: s.data, ref: s.ref, refAt: s.refAt, eird: e,
			ready: time.Now(), res: &ratioResult{}}
	}
	defer func() {
		for i, r := range runs {
			s.res.Phases[i].Problems = r.res.Problems
			s.res.Phases[i].Summary = summarise(s.res.Phases[i].Rounds)
		}
	}()
	targets := len(runs) + 1 // the reference, then each phase's eird
	for k := 1; k <= s.f.rounds; k++ {
		ms := make([]*measurement, targets)
		var order []string
		for j := range targets {
			t := (k - 1 + j) % targets
			label := fmt.Sprintf("round %d/%d ", k, s.f.rounds)
			var err error
			if t == 0 {
				order = append(order, "reference")
				ms[0], err = runs[0].measure(ctx, label+"reference", targetReference, closed)
			} else {
				order = append(order, fmt.Sprintf("eird %s", thousandsf(float64(s.res.Phases[t-1].IMEIs))))
				ms[t], err = runs[t-1].measure(ctx, label+"eird at "+thousandsf(float64(s.res.Phases[t-1].IMEIs)), targetEIRD, closed)
			}
			if err != nil || ctx.Err() != nil {
				return err
			}
		}
		for i := range runs {
			round := ratioRound{Round: k, Order: strings.Join(order, ","), Reference: ms[0], EIRD: ms[i+1]}
			if t := ms[0].throughput(); t > 0 {
				round.Ratio = ms[i+1].throughput() / t
			}
			s.res.Phases[i].Rounds = append(s.res.Phases[i].Rounds, round)
		}
		fmt.Fprintf(s.stderr, "round %d/%d: reference %s, eird at each size %s answers/s\n", k, s.f.rounds,
			thousandsf(ms[0].throughput()), throughputs(ms[1:]))
	}
	return nil
}

// throughputs lists the measurements' throughputs.
func throughputs(ms []*measurement) string {
	var out []string
	for _, m := range ms {
		out = append(out, thousandsf(m.throughput()))
	}
	return strings.Join(out, ", ")
}

// coldStart starts eird in dir and waits until it holds want entries in
// its replica and has written its local copy; it returns the times from
// the start and the Go heap after a GC.
func (s *scaleRun) coldStart(ctx context.Context, dir string, env []string, want uint64) (scaleStart, *eirdProc, error) {
	var st scaleStart
	t0 := time.Now()
	e, err := startEIRDWithin(ctx, s.f.eird, dir, s.redis, "info", false, env, s.f.within)
	if err != nil {
		return st, nil, err
	}
	st.Ready = time.Since(t0).Seconds()
	if s.f.profile != "" && s.f.eirdProfile > 0 {
		stop := s.profileEIRD(e.admin)
		defer stop()
	}
	metricsURL := "http://" + e.admin + "/metrics"
	deadline := t0.Add(s.f.within)
	for {
		v, err := metricValue(metricsURL, "eir_store_replica_entries")
		if err == nil && uint64(v) >= want {
			st.Entries = uint64(v)
			st.Full = time.Since(t0).Seconds()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return st, e, fmt.Errorf("eird held %.0f of %d entries after %v", v, want, s.f.within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		if v, err := metricValue(metricsURL, "eir_store_snapshot_bytes"); err == nil && v > 0 {
			st.CopyBytes = int64(v)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return st, e, fmt.Errorf("eird wrote no local copy within %v", s.f.within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.HeapAfterGC, err = heapAfterGC(e.admin); err != nil {
		return st, e, err
	}
	st.RSS, _ = procRSS(e.pid())
	return st, e, nil
}

// profileEIRD fetches a CPU profile of the eird at admin, -eird-profile
// long, into the profile directory; what it returns waits for it.
func (s *scaleRun) profileEIRD(admin string) func() {
	s.passes++
	path := filepath.Join(s.f.profile, fmt.Sprintf("%02d-eird.cpu.pprof", s.passes))
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: s.f.eirdProfile + time.Minute}
		resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, int(s.f.eirdProfile.Seconds())))
		if err != nil {
			fmt.Fprintf(s.stderr, "eird profile: %v\n", err)
			return
		}
		defer resp.Body.Close()
		if f, err := os.Create(path); err == nil {
			io.Copy(f, resp.Body)
			f.Close()
		}
	}()
	return func() { <-done }
}

// heapAfterGC makes eird collect its garbage (the profiler's heap profile
// with gc=1) and returns its Go heap in use then.
func heapAfterGC(admin string) (int64, error) {
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Get("http://" + admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, fmt.Errorf("eird heap profile: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	v, err := metricValue("http://"+admin+"/metrics", "go_memstats_heap_alloc_bytes")
	return int64(v), err
}

// loadAverage returns the 1-, 5- and 15-minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// benchTACs returns the TACs of the load generator's IMEIs, which the
// generated TAC list leaves out.
func benchTACs(d *loadgen.Dataset) map[uint64]bool {
	out := map[uint64]bool{}
	for _, l := range [][]eir.IMEI{d.Black, d.Grey, d.White, d.Unknown} {
		for _, v := range l {
			out[uint64(v)/1_000_000] = true
		}
	}
	return out
}
