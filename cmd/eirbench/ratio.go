package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/eir/redisstore"
)

// ratioFlags configures `eirbench ratio`.
type ratioFlags struct {
	load     loadFlags
	eird     string
	rounds   int
	openRate float64
	soak     time.Duration
	events   bool
	logLevel string
	eirdEnv  envList
	asJSON   bool
	markdown string
	micro    string
	extra    string
	progress bool
	strict   bool
	// N5g-eir rounds (eirbench amf against eird and the reference).
	n5gRounds int
	// observeOffRounds: rounds against an eird with observe.enabled false
	// after the others (ratioobserve.go).
	observeOffRounds int
	n5gStreams       int
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (l *envList) String() string { return strings.Join(*l, " ") }

func (l *envList) Set(s string) error {
	k, _, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(k, "EIR_") {
		return fmt.Errorf("%q: want EIR_KEY=value", s)
	}
	*l = append(*l, s)
	return nil
}

// ratioCommand runs `eirbench ratio`.
func ratioCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ratio", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f ratioFlags
	f.load.register(fs, false)
	fs.StringVar(&f.eird, "eird", "", "eird binary (default: eird next to the eirbench binary)")
	fs.IntVar(&f.rounds, "rounds", 5, "rounds, each measuring the reference and eird with the same load (the order alternates)")
	fs.Float64Var(&f.openRate, "open-rate", 20000, "requests/s of the open-loop phase (0: skip it)")
	fs.DurationVar(&f.soak, "soak", 0, "also run an open loop against eird at -open-rate for this long, sampling its RSS every 10s (e.g. 5m)")
	fs.BoolVar(&f.events, "events", false, "run eird with hit events enabled (events.enabled)")
	fs.StringVar(&f.logLevel, "eird-log-level", "info", `eird's log.level ("eird listening", which eirbench waits for, is logged at info; per-request logs are debug)`)
	fs.Var(&f.eirdEnv, "eird-env", "extra eird setting as EIR_KEY=value (repeatable), e.g. -eird-env EIR_DIAMETER_MAX_INFLIGHT_PER_PEER=512")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as one JSON object")
	fs.StringVar(&f.markdown, "markdown", "", "also write a BENCHMARKS.md-style report to this file")
	fs.StringVar(&f.micro, "micro", "", "with -markdown: add this file's Go benchmark output (go test -bench -benchmem) to the report")
	fs.StringVar(&f.extra, "extra", "", "with -markdown: append this markdown file (eirbench edits -markdown) to the report")
	fs.BoolVar(&f.progress, "progress", false, "print a progress line on stderr every second (default: when stderr is a terminal)")
	fs.BoolVar(&f.strict, "strict", false, "exit 3 on any mismatch, timeout, lost or malformed answer")
	fs.IntVar(&f.n5gRounds, "n5g-rounds", 3, "N5g-eir rounds after the S13 ones: the same lists and mix over HTTP/2 (-conns connections × -n5g-streams), alternating the order (0: skip)")
	fs.IntVar(&f.n5gStreams, "n5g-streams", 64, "N5g-eir requests in flight per connection")
	fs.IntVar(&f.observeOffRounds, "observe-off-rounds", 0, "after the other phases, rounds measuring eird and a second eird with observe.enabled false side by side, back to back, for the same-run cost of observations (0: only report the observations' Redis load)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench ratio [flags]

Measures eird against a bare go-diameter reference server in the same run.
It starts its own redis-server, loads the generated lists into it (source
"bench", key prefix "eir:"), starts the reference server (eirbench ref) and
eird (listening on free loopback ports), then runs -rounds rounds of the same
closed-loop load against each, alternating the order, and reports both
throughputs, p50/p99, errors and the ratio eird/reference per round, and
their medians with min–max. An open-loop phase at -open-rate measures both
servers' latency at a fixed rate. Then -n5g-rounds rounds of N5g-eir load
(as eirbench amf, closed loop) against eird's N5g-eir listener and the
reference's bare net/http one report the same ratio for the 5G interface.
eird's resident memory (VmRSS) and Go heap are sampled at the start and end
of every measured S13 phase (-soak adds a long open-loop run with RSS every
10s). EIR_* variables of the environment reach
eird as configuration (-eird-env too), except the keys ratio sets itself.
Every process it starts is stopped on exit, also on error and Ctrl-C.

Exit status: 0 done; 1 a connection failed or a process could not start;
2 usage; 3 with -strict, a mismatch, timeout, lost or malformed answer.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := f.validate(); err != nil {
		fmt.Fprintf(stderr, "eirbench: ratio: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r := &ratioRun{f: f, stderr: stderr}
	res, err := r.run(ctx)
	if res != nil {
		if f.asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(res)
		} else {
			res.writeTable(stdout)
		}
		if f.markdown != "" {
			if werr := writeMarkdownFile(f.markdown, f.micro, f.extra, res); werr != nil {
				fmt.Fprintf(stderr, "eirbench: ratio: %v\n", werr)
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: ratio: %v\n", err)
		return exitFailure
	}
	return ratioExit(res, f.strict)
}

func (f *ratioFlags) validate() error {
	var errs []error
	if _, err := loadgen.ParseMix(f.load.mix); err != nil {
		errs = append(errs, err)
	}
	if f.rounds < 1 {
		errs = append(errs, fmt.Errorf("-rounds %d: must be >= 1", f.rounds))
	}
	if f.n5gRounds < 0 || f.n5gStreams < 1 || f.n5gStreams > 1000 {
		errs = append(errs, errors.New("-n5g-rounds must be >= 0, -n5g-streams 1 to 1000"))
	}
	if f.openRate < 0 {
		errs = append(errs, fmt.Errorf("-open-rate %g: must be >= 0", f.openRate))
	}
	if f.soak < 0 || f.soak > 0 && f.openRate <= 0 {
		errs = append(errs, errors.New("-soak: needs a duration > 0 and -open-rate > 0"))
	}
	if f.load.duration <= 0 || f.load.warmup < 0 || f.load.timeout <= 0 {
		errs = append(errs, errors.New("-duration and -timeout must be > 0, -warmup >= 0"))
	}
	if f.load.conns < 1 || f.load.window < 1 || f.load.entries < 1 {
		errs = append(errs, errors.New("-conns, -window and -entries must be >= 1"))
	}
	return errors.Join(errs...)
}

// ratioExit maps a result to the exit status.
func ratioExit(res *ratioResult, strict bool) int {
	code := exitOK
	for _, m := range res.measurements() {
		if c := m.exit(strict); c > code {
			code = c
		}
	}
	if res.Interrupted && code == exitOK {
		code = exitFailure
	}
	return code
}

// measurements returns every measurement of res.
func (res *ratioResult) measurements() []*measurement {
	var out []*measurement
	for _, r := range res.Rounds {
		out = append(out, r.Reference, r.EIRD)
	}
	if o := res.OpenLoop; o != nil {
		out = append(out, o.EIRD, o.Reference)
	}
	if s := res.Soak; s != nil {
		out = append(out, s.Run)
	}
	for _, r := range res.N5g.rounds() {
		out = append(out, r.Reference, r.EIRD)
	}
	var live []*measurement
	for _, m := range out {
		if m.measured() {
			live = append(live, m)
		}
	}
	return live
}

// ratioRun is the state of one `eirbench ratio`.
type ratioRun struct {
	f      ratioFlags
	stderr io.Writer
	data   *loadgen.Dataset
	ref    *child
	refAt  refAddrs
	eird   *eirdProc
	ready  time.Time // eird ready
	res    *ratioResult
}

// run starts everything, measures, and stops everything it started.
func (r *ratioRun) run(ctx context.Context) (*ratioResult, error) {
	f := &r.f
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own binary: %w", err)
	}
	if f.eird == "" {
		f.eird = filepath.Join(filepath.Dir(self), "eird")
	}
	if _, err := os.Stat(f.eird); err != nil {
		return nil, fmt.Errorf("eird binary: %w (build it with make build, or give -eird)", err)
	}
	dir, err := os.MkdirTemp("", "eirbench-ratio")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	res := &ratioResult{
		Machine:     describeMachine(redisVersion(commandOutput("redis-server", "--version"))),
		EIRDVersion: commandOutput(f.eird, "-version"),
		Scenario:    r.scenario(),
	}
	r.res = res
	redisAddr, stopRedis, err := startRedis(r.stderr)
	if err != nil {
		return nil, err
	}
	defer stopRedis()

	r.data = loadgen.Generate(f.load.seed, f.load.entries)
	if res.LoadSeconds, err = r.loadLists(ctx, redisAddr); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.stderr, "loaded %d IMEIs per list and %d exception pairs into Redis in %.2fs\n", f.load.entries, f.load.entries, res.LoadSeconds)

	r.ref, r.refAt, err = startRef(ctx, self, dir, f.load.entries, f.load.seed)
	if err != nil {
		return nil, err
	}
	defer r.ref.stop()
	fmt.Fprintf(r.stderr, "reference server on %s, N5g-eir %s (pid %d)\n", r.refAt.Diameter, r.refAt.N5g, r.ref.pid())

	r.eird, err = startEIRD(ctx, f.eird, dir, redisAddr, f.logLevel, f.events, f.eirdEnv)
	if err != nil {
		return nil, err
	}
	defer r.stopEIRD()
	r.ready = time.Now()
	fmt.Fprintf(r.stderr, "eird on %s, admin %s, N5g-eir %s (pid %d)\n", r.eird.diameter, r.eird.admin, r.eird.n5g, r.eird.pid())

	start := r.memSample("start")
	res.Memory.Start = &start
	err = r.measureAll(ctx)
	res.Summary = summarise(res.Rounds)
	if err == nil && ctx.Err() == nil {
		err = r.measureObserveOff(ctx, dir, redisAddr)
	}
	if res.N5g != nil {
		res.N5g.Summary = summarise(res.N5g.Rounds)
	}
	for _, m := range res.Memory.Samples {
		res.Memory.MaxRSS = max(res.Memory.MaxRSS, m.RSS)
	}
	if n := len(res.Memory.Samples); n > 0 {
		end := res.Memory.Samples[n-1]
		res.Memory.End = &end
	}
	if ctx.Err() != nil {
		res.Interrupted = true
		err = nil
	}
	return res, err
}

// envOverrides returns the EIR_* variables of this process's environment,
// which eird inherits; they are recorded in the scenario.
func envOverrides() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "EIR_") {
			out = append(out, kv)
		}
	}
	return out
}

func (r *ratioRun) scenario() scenario {
	f := &r.f
	mix, _ := loadgen.ParseMix(f.load.mix)
	return scenario{
		Conns: f.load.conns, Window: f.load.window, Duration: f.load.duration.Seconds(), Warmup: f.load.warmup.Seconds(),
		Timeout: f.load.timeout.Seconds(), Mix: mix.String(), Entries: f.load.entries, Seed: f.load.seed,
		IMSIShare: f.load.imsiShare, Rounds: f.rounds, OpenRate: f.openRate, Soak: f.soak.Seconds(),
		N5gRounds: f.n5gRounds, N5gStreams: f.n5gStreams,
		Events: f.events, LogLevel: f.logLevel, EIRD: f.eird, EIRDEnv: append(append([]string(nil), f.eirdEnv...), envOverrides()...),
		Reference:    "eirbench ref: go-diameter v4.3.0 diam.Server with default settings (sequential dispatch), sm state machine, map lookups",
		N5gReference: "eirbench ref -n5g-listen: net/http HTTP/2 server (h2c), one handler, the same map lookups",
	}
}

// stopEIRD stops eird and reports it if it did not exit cleanly.
func (r *ratioRun) stopEIRD() {
	r.eird.stop()
	if r.eird.exitErr != nil {
		fmt.Fprintf(r.stderr, "eird exited: %v\n%s\n", r.eird.exitErr, tail(r.eird.log(), 20))
	}
}

// loadLists writes the generated lists into the Redis at addr through
// redisstore, under source "bench" and eird's default key prefix.
func (r *ratioRun) loadLists(ctx context.Context, addr string) (float64, error) {
	s, closeStore, err := benchStore(ctx, addr, redisstore.Options{Prefix: "eir:", Grace: time.Millisecond}, r.stderr)
	if err != nil {
		return 0, fmt.Errorf("lists: %w", err)
	}
	defer closeStore()
	start := time.Now()
	if _, err := s.Apply(ctx, listChanges(r.data, benchSource)); err != nil {
		return 0, fmt.Errorf("lists: load: %w", err)
	}
	return time.Since(start).Seconds(), nil
}

// measureAll runs the rounds, the open loop and the soak.
func (r *ratioRun) measureAll(ctx context.Context) error {
	f := &r.f
	res := r.res
	closed := f.load
	closed.rate = 0
	var err error
	res.Rounds, err = r.rounds(ctx, "", f.rounds, func(label, target string) (*measurement, error) {
		return r.measure(ctx, label, target, closed)
	})
	if err != nil || ctx.Err() != nil {
		return err
	}
	if f.openRate > 0 {
		open := f.load
		open.rate = f.openRate
		res.OpenLoop = &openLoopResult{Rate: f.openRate}
		for _, target := range []string{targetEIRD, targetReference} {
			m, err := r.measure(ctx, "open loop "+target, target, open)
			if target == targetEIRD {
				res.OpenLoop.EIRD = m
			} else {
				res.OpenLoop.Reference = m
			}
			if err != nil || ctx.Err() != nil {
				return err
			}
		}
	}
	if f.n5gRounds > 0 {
		if err := r.measureN5g(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	if f.soak > 0 {
		return r.soak(ctx)
	}
	return nil
}

// measureN5g runs the N5g-eir rounds.
func (r *ratioRun) measureN5g(ctx context.Context) error {
	res := &n5gResult{}
	r.res.N5g = res
	var err error
	res.Rounds, err = r.rounds(ctx, "n5g ", r.f.n5gRounds, func(label, target string) (*measurement, error) {
		return r.measureSBI(ctx, label, target)
	})
	return err
}

// rounds runs n rounds of measure against both targets, alternating which
// goes first, and returns them with their ratios; a round cut short by an
// error or ctx is returned too (shown, not summarised).
func (r *ratioRun) rounds(ctx context.Context, prefix string, n int, measure func(label, target string) (*measurement, error)) ([]ratioRound, error) {
	var out []ratioRound
	for i := 1; i <= n; i++ {
		round := ratioRound{Round: i, Order: "reference,eird"}
		order := []string{targetReference, targetEIRD}
		if i%2 == 0 {
			round.Order = "eird,reference"
			order = []string{targetEIRD, targetReference}
		}
		for _, target := range order {
			m, err := measure(fmt.Sprintf("%sround %d/%d %s", prefix, i, n, target), target)
			if target == targetReference {
				round.Reference = m
			} else {
				round.EIRD = m
			}
			if err != nil || ctx.Err() != nil {
				return append(out, round), err
			}
		}
		if t := round.Reference.throughput(); t > 0 {
			round.Ratio = round.EIRD.throughput() / t
		}
		out = append(out, round)
		fmt.Fprintf(r.stderr, "%sround %d/%d: reference %s answers/s, eird %s answers/s, ratio %.3f\n", prefix, i, n,
			thousandsf(round.Reference.throughput()), thousandsf(round.EIRD.throughput()), round.Ratio)
	}
	return out, nil
}

// measureSBI runs one N5g-eir load against target, sampling CPU at the
// start and end of the measured window.
func (r *ratioRun) measureSBI(ctx context.Context, label, target string) (*measurement, error) {
	f := &r.f
	addr, pid := r.refAt.N5g, r.ref.pid()
	if target == targetEIRD {
		addr, pid = r.eird.n5g, r.eird.pid()
	}
	mix, err := loadgen.ParseMix(f.load.mix)
	if err != nil {
		return nil, err
	}
	m := &measurement{Target: target}
	o := loadgen.SBIOptions{APIRoot: "http://" + addr, Data: r.data, Mix: mix, Seed: f.load.seed, Conns: f.load.conns,
		Streams: f.n5gStreams, SUPIShare: f.load.imsiShare, Duration: f.load.duration, Warmup: f.load.warmup,
		Timeout: f.load.timeout, OnPhase: r.cpuSampler(m, strconv.Itoa(pid))}
	rep, err := loadgen.RunSBI(ctx, o)
	m.SBI = rep
	if rep != nil {
		r.res.Problems = append(r.res.Problems, problems(label, m)...)
		fmt.Fprintf(r.stderr, "%s: %s answers/s, p50 %.2f ms, p99 %.2f ms, %d errors\n", label, thousandsf(rep.Throughput),
			rep.Latency.P50, rep.Latency.P99, errorCount(m))
	}
	if err != nil {
		return m, fmt.Errorf("%s: %w", label, err)
	}
	return m, nil
}

// cpuSampler returns an OnPhase hook recording in m the CPU used by the
// server (pid) and by eirbench over the measured window, in % of one core.
func (r *ratioRun) cpuSampler(m *measurement, pid string) func(loadgen.Phase) {
	var t0 time.Time
	var srv0, self0 time.Duration
	return func(p loadgen.Phase) {
		switch p {
		case loadgen.PhaseMeasure:
			t0 = time.Now()
			srv0, _ = procCPU(pid)
			self0, _ = procCPU("self")
		case loadgen.PhaseDrain:
			wall := time.Since(t0).Seconds()
			srv1, _ := procCPU(pid)
			self1, _ := procCPU("self")
			if wall > 0 {
				m.ServerCPU = (srv1 - srv0).Seconds() / wall * 100
				m.ClientCPU = (self1 - self0).Seconds() / wall * 100
			}
		}
	}
}

// soak runs the long open loop against eird, sampling its memory every 10s.
func (r *ratioRun) soak(ctx context.Context) error {
	f := &r.f
	lf := f.load
	lf.rate, lf.duration = f.openRate, f.soak
	s := &soakResult{Duration: f.soak.Seconds(), Rate: f.openRate}
	r.res.Soak = s
	stop := make(chan struct{})
	sampled := make(chan []memSample)
	start := time.Since(r.ready).Seconds()
	sample := func() memSample {
		m := r.memSample("soak")
		m.At -= start
		return m
	}
	go func() {
		samples := []memSample{sample()}
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				sampled <- append(samples, sample())
				return
			case <-t.C:
				samples = append(samples, sample())
			}
		}
	}()
	m, err := r.measure(ctx, "soak", targetEIRD, lf)
	close(stop)
	s.Samples = <-sampled
	s.Run = m
	if len(s.Samples) > 0 {
		first, last := s.Samples[0].At, s.Samples[len(s.Samples)-1].At
		s.FirstMinuteRSS = meanRSS(s.Samples, first, first+60)
		s.LastMinuteRSS = meanRSS(s.Samples, last-60, last)
		s.GrowthBytes = s.LastMinuteRSS - s.FirstMinuteRSS
	}
	return err
}

// meanRSS is the mean RSS of the samples taken from..to seconds.
func meanRSS(samples []memSample, from, to float64) int64 {
	var sum, n int64
	for _, s := range samples {
		if s.At >= from && s.At <= to {
			sum += s.RSS
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// measure runs one load against target, sampling CPU (and eird's memory)
// at the start and end of the measured window.
func (r *ratioRun) measure(ctx context.Context, label, target string, lf loadFlags) (*measurement, error) {
	addr, pid := r.refAt.Diameter, r.ref.pid()
	if target == targetEIRD {
		addr, pid = r.eird.diameter, r.eird.pid()
	}
	o, err := lf.options(addr, r.data)
	if err != nil {
		return nil, err
	}
	m := &measurement{Target: target}
	cpu := r.cpuSampler(m, strconv.Itoa(pid))
	o.OnPhase = func(p loadgen.Phase) {
		cpu(p)
		if target != targetEIRD {
			return
		}
		switch p {
		case loadgen.PhaseMeasure:
			s := r.memSample(label + " start")
			m.MemStart = &s
		case loadgen.PhaseDrain:
			s := r.memSample(label + " end")
			m.MemEnd = &s
		}
	}
	tty := isTerminal(r.stderr)
	if r.f.progress || tty {
		print := progressPrinter(r.stderr, tty)
		o.Progress = func(p loadgen.Progress) { print(prefixedProgress{label, p}) }
	}
	rep, err := loadgen.Run(ctx, o)
	if tty && o.Progress != nil {
		fmt.Fprint(r.stderr, "\r\033[K")
	}
	m.Report = rep
	if rep != nil {
		r.res.Problems = append(r.res.Problems, problems(label, m)...)
		for _, s := range []*memSample{m.MemStart, m.MemEnd} {
			if s != nil {
				r.res.Memory.Samples = append(r.res.Memory.Samples, *s)
			}
		}
		fmt.Fprintf(r.stderr, "%s: %s answers/s, p50 %.2f ms, p99 %.2f ms, %d errors\n", label, thousandsf(rep.Throughput),
			rep.Latency.P50, rep.Latency.P99, errorCount(m))
	}
	if err != nil {
		return m, fmt.Errorf("%s: %w", label, err)
	}
	return m, nil
}

// prefixedProgress is a progress line with a label.
type prefixedProgress struct {
	label string
	p     loadgen.Progress
}

func (p prefixedProgress) String() string { return p.label + ": " + p.p.String() }

// memSample reads eird's RSS and Go heap in use.
func (r *ratioRun) memSample(phase string) memSample {
	s := memSample{At: time.Since(r.ready).Seconds(), Phase: phase}
	s.RSS, _ = procRSS(r.eird.pid())
	if v, err := metricValue("http://"+r.eird.admin+"/metrics", "go_memstats_heap_inuse_bytes"); err == nil {
		s.HeapInuse = int64(v)
	}
	return s
}
