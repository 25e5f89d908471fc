package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// Options configures a run. Zero values take the defaults noted.
type Options struct {
	Addr  string   // host:port of the EIR (TCP); required
	Codec Codec    // required
	Data  *Dataset // the lists requests draw from; required
	Mix   Mix      // weights of the categories; required
	Seed  uint64   // seeds the request draws (each connection its own stream)
	Realm string   // Origin-Realm; default "eirbench.localdomain"; Origin-Host is mme<i>.<realm>
	Conns int      // connections; default 1
	// Window is the number of requests in flight per connection; default
	// 128. In closed loop every answer is replaced at once by a new
	// request; in open loop a request due while the window is full waits,
	// and the wait counts in its latency.
	Window int
	// Rate, when > 0, runs an open loop: requests are scheduled at Rate per
	// second in total (spread evenly over the connections) and latency is
	// measured from the scheduled time. 0 runs a closed loop at the
	// window's maximum.
	Rate     float64
	Duration time.Duration // measured window; required
	Warmup   time.Duration // before the window; its results are discarded
	Timeout  time.Duration // an unanswered request counts as a timeout after this; default 5s
	// ConnectTimeout bounds the connection and the capabilities
	// exchange; default 10s.
	ConnectTimeout time.Duration
	// IMSIShare is the fraction (0 to 1) of requests other than exceptions
	// that carry a User-Name (a random IMSI that is on no exception).
	// Exception requests always carry theirs.
	IMSIShare float64

	// Progress, when set, is called about once per ProgressEvery (default
	// 1s) while the run lasts.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// OnPhase, when set, is called as the measured window starts
	// (PhaseMeasure) and ends (PhaseDrain), e.g. to sample the server's
	// memory. It runs on the run's control goroutine: keep it short.
	OnPhase func(Phase)
}

func (o *Options) setDefaults() error {
	if o.Realm == "" {
		o.Realm = "eirbench.localdomain"
	}
	if o.Conns == 0 {
		o.Conns = 1
	}
	if o.Window == 0 {
		o.Window = 128
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	var errs []error
	if o.Addr == "" {
		errs = append(errs, errors.New("addr: required"))
	}
	if o.Codec == nil {
		errs = append(errs, errors.New("codec: required"))
	}
	if o.Data == nil {
		errs = append(errs, errors.New("data: required"))
	}
	if err := o.Mix.check(); err != nil {
		errs = append(errs, err)
	}
	if o.Conns < 1 {
		errs = append(errs, fmt.Errorf("conns: %d: must be >= 1", o.Conns))
	}
	if o.Window < 1 || o.Window > 1<<20 {
		errs = append(errs, fmt.Errorf("window: %d: must be 1 to 1048576", o.Window))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate: %g: must be >= 0", o.Rate))
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration: %v: must be > 0", o.Duration))
	}
	if o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup: %v: must be >= 0", o.Warmup))
	}
	if o.Timeout < 0 || o.ConnectTimeout < 0 {
		errs = append(errs, errors.New("timeout: must be > 0"))
	}
	if o.IMSIShare < 0 || o.IMSIShare > 1 {
		errs = append(errs, fmt.Errorf("imsi share: %g: must be 0 to 1", o.IMSIShare))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("loadgen: options: %w", err)
	}
	return nil
}

// Phase is a stage of a run.
type Phase string

// Phases.
const (
	PhaseWarmup  Phase = "warmup"
	PhaseMeasure Phase = "measure"
	PhaseDrain   Phase = "drain" // waiting for the last answers
)

// Progress is a snapshot of a run in progress; counts cover the whole run
// so far, warm-up included.
type Progress struct {
	Elapsed    time.Duration
	Phase      Phase
	Sent       uint64
	Answers    uint64
	Rate       float64 // answers/s since the previous snapshot
	Inflight   int64
	Timeouts   uint64 // measured requests only
	Mismatches uint64 // measured requests only
	ConnErrors int
}

// String formats p as one status line.
func (p Progress) String() string {
	return fmt.Sprintf("%5.1fs %-7s %9s answers/s  sent %d  answers %d  in flight %d  timeouts %d  mismatches %d  conn errors %d",
		p.Elapsed.Seconds(), p.Phase, thousands(p.Rate), p.Sent, p.Answers, p.Inflight, p.Timeouts, p.Mismatches, p.ConnErrors)
}

// engine is the state shared by the connections of a run.
type engine struct {
	o            Options
	base         time.Time
	picker       picker
	lists        [numCategories][]eir.IMEI
	start        int64        // ns since base: the schedule starts
	measureStart int64        // ns since base
	stopAt       atomic.Int64 // ns since base: no request is sent from then on
}

// now returns the monotonic time in ns since the run's base.
func (e *engine) now() int64 { return int64(time.Since(e.base)) }

// Run connects, sends the load and returns the report. It returns an
// error when the options are invalid or no connection could be set up
// (the report then lists the connection errors); a connection failing
// later is reported in Report.ConnErrors. Cancelling ctx cuts the measured
// window short (Report.Interrupted); the answers in flight are still
// awaited, up to the timeout.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	e := &engine{o: o, base: time.Now(), picker: newPicker(o.Mix)}
	for c := range numCategories {
		e.lists[c] = o.Data.list(c)
	}
	rep := e.newReport()

	conns := make([]*conn, o.Conns)
	errs := make([]error, o.Conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { conns[i], errs[i] = e.dial(ctx, i) })
	}
	wg.Wait()
	var live []*conn
	for i, c := range conns {
		if errs[i] != nil {
			rep.ConnErrors++
			rep.ConnErrorText = append(rep.ConnErrorText, errs[i].Error())
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return rep, fmt.Errorf("loadgen: no connection to %s: %w", o.Addr, errors.Join(errs...))
	}
	rep.Server = live[0].peer.ServerHost

	e.start = e.now()
	e.measureStart = e.start + o.Warmup.Nanoseconds()
	e.stopAt.Store(e.measureStart + o.Duration.Nanoseconds())
	done := make(chan struct{})
	var writers sync.WaitGroup
	for _, c := range live {
		go c.readLoop()
		writers.Go(c.writeLoop)
	}
	go func() { writers.Wait(); close(done) }()
	e.control(ctx, live, done, rep)

	e.merge(rep, live)
	return rep, nil
}

// control runs the phases and the progress reports until every
// connection is done.
func (e *engine) control(ctx context.Context, conns []*conn, done <-chan struct{}, rep *Report) {
	o := &e.o
	phase := PhaseWarmup
	next := func() time.Duration {
		switch phase {
		case PhaseWarmup:
			return time.Duration(e.measureStart - e.now())
		case PhaseMeasure:
			return time.Duration(e.stopAt.Load() - e.now())
		}
		return time.Hour
	}
	phaseTimer := time.NewTimer(max(next(), 0))
	defer phaseTimer.Stop()
	var tick <-chan time.Time
	if o.Progress != nil {
		t := time.NewTicker(o.ProgressEvery)
		defer t.Stop()
		tick = t.C
	}
	advance := func() {
		for phase != PhaseDrain && next() <= 0 {
			if phase == PhaseWarmup {
				phase = PhaseMeasure
			} else {
				phase = PhaseDrain
			}
			if o.OnPhase != nil {
				o.OnPhase(phase)
			}
		}
		phaseTimer.Reset(max(next(), 0))
	}
	cancelled := ctx.Done()
	var lastAnswers uint64
	lastTime := e.now()
	for {
		select {
		case <-done:
			// The connections may drain before the phase timer fires:
			// report the phases due, so that OnPhase always sees the
			// end of the measure.
			advance()
			return
		case <-cancelled:
			cancelled = nil
			now := e.now()
			if now < e.stopAt.Load() {
				e.stopAt.Store(now)
				rep.Interrupted = true
			}
			for _, c := range conns {
				c.signal()
			}
			advance()
		case <-phaseTimer.C:
			advance()
		case <-tick:
			p := e.progress(conns, phase)
			now := e.now()
			p.Rate = float64(p.Answers-lastAnswers) / (float64(now-lastTime) / 1e9)
			lastAnswers, lastTime = p.Answers, now
			o.Progress(p)
		}
	}
}

func (e *engine) progress(conns []*conn, phase Phase) Progress {
	p := Progress{Elapsed: time.Duration(e.now() - e.start), Phase: phase}
	for _, c := range conns {
		p.Sent += c.nSent.Load()
		p.Answers += c.nAnswers.Load()
		p.Inflight += c.nInflight.Load()
		p.Timeouts += c.nTimeouts.Load()
		p.Mismatches += c.nMismatches.Load()
		c.mu.Lock()
		if c.err != nil {
			p.ConnErrors++
		}
		c.mu.Unlock()
	}
	return p
}

func (e *engine) newReport() *Report {
	o := &e.o
	mode := "closed"
	if o.Rate > 0 {
		mode = "open"
	}
	return &Report{
		Target: o.Addr, Mode: mode, Conns: o.Conns, Window: o.Window, Rate: o.Rate,
		Duration: o.Duration.Seconds(), Warmup: o.Warmup.Seconds(), Timeout: o.Timeout.Seconds(),
		Mix: o.Mix.String(), Entries: o.Data.N, Seed: o.Seed, IMSIShare: o.IMSIShare,
		Categories: map[string]CategoryStats{},
	}
}

// merge adds the connections' counts to rep; the connections are done.
func (e *engine) merge(rep *Report, conns []*conn) {
	hist, service := NewHistogram(), NewHistogram()
	var cats [numCategories]CategoryStats
	for _, c := range conns {
		hist.Merge(c.rs.hist)
		service.Merge(c.rs.service)
		rep.Results.merge(c.rs.results)
		rep.Answers += c.rs.answers
		rep.AnswersInWindow += c.rs.inWindow
		rep.Unmatched += c.rs.unmatched
		rep.Malformed += c.rs.malformed
		rep.Lost += c.ws.lost
		for cat := range numCategories {
			cats[cat].Sent += c.ws.sent[cat]
			cats[cat].Answered += c.rs.answered[cat]
			cats[cat].Mismatches += c.rs.mismatch[cat]
			cats[cat].Timeouts += c.ws.timeouts[cat]
		}
		for _, s := range c.rs.samples {
			if len(rep.MismatchExamples) < maxSamples {
				rep.MismatchExamples = append(rep.MismatchExamples, s)
			}
		}
		if c.err != nil {
			rep.ConnErrors++
			rep.ConnErrorText = append(rep.ConnErrorText, c.err.Error())
		}
	}
	for cat := range numCategories {
		s := cats[cat]
		rep.Sent += s.Sent
		rep.Mismatches += s.Mismatches
		rep.Timeouts += s.Timeouts
		if e.o.Mix[cat] > 0 || s.Sent > 0 {
			rep.Categories[cat.String()] = s
		}
	}
	window := time.Duration(e.stopAt.Load() - e.measureStart)
	rep.Duration = max(window, 0).Seconds()
	if rep.Duration > 0 {
		rep.Throughput = float64(rep.AnswersInWindow) / rep.Duration
	}
	rep.Latency = hist.Summary()
	rep.ServiceLatency = service.Summary()
}
