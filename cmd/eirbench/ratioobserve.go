package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// observeResult is what eird's observations (issue 14: every check with an
// IMSI recorded in Redis, off the answer path) cost in a ratio run: the
// Redis write load of the measured eird, and rounds comparing it with a
// second eird with observe.enabled: false, both running, measured back to
// back in alternating order.
type observeResult struct {
	Checks       float64 `json:"checks"`         // S13 checks eird answered (eir_check_decisions_total{interface="s13"})
	Written      float64 `json:"written"`        // observations written to Redis
	Deduplicated float64 `json:"deduplicated"`   // not written: the same pair within observe.min_interval
	Dropped      float64 `json:"dropped"`        // the queue was full
	Commands     float64 `json:"redis_commands"` // eir_sighting_redis_commands_total
	// CommandsPer1000 is Commands per 1,000 Checks.
	CommandsPer1000 float64 `json:"redis_commands_per_1000_checks"`
	// Rounds compare the two eirds: in each, Reference is the eird with
	// observation off, EIRD the one with it on, Ratio on / off.
	Rounds  []ratioRound  `json:"on_off_rounds,omitempty"`
	Summary *ratioSummary `json:"on_off_summary,omitempty"`
	// Effect is the median of the rounds' on / off ratios: the throughput
	// kept with observation on.
	Effect float64 `json:"effect,omitempty"`
	// Open is an open-loop run at -open-rate against each, after the
	// rounds (Reference: off, EIRD: on): latency at a rate both sustain.
	Open *openLoopResult `json:"on_off_open_loop,omitempty"`
}

// measureObserveOff reads the observation figures of the running eird,
// then starts a second eird with observe.enabled: false beside it and runs
// -observe-off-rounds rounds, each measuring both back to back (the order
// alternating). Before each measurement the first eird's observation
// queue is left to drain, so that its writes of one round do not load the
// next.
func (r *ratioRun) measureObserveOff(ctx context.Context, dir, redisAddr string) error {
	url := "http://" + r.eird.admin + "/metrics"
	o := &observeResult{}
	r.res.Observe = o
	o.Checks = metricSum(url, "eir_check_decisions_total", `interface="s13"`)
	o.Written = metricSum(url, "eir_sighting_observations_total", `result="written"`)
	o.Deduplicated = metricSum(url, "eir_sighting_observations_total", `result="deduplicated"`)
	o.Dropped = metricSum(url, "eir_sighting_dropped_total", "")
	o.Commands = metricSum(url, "eir_sighting_redis_commands_total", "")
	if o.Checks > 0 {
		o.CommandsPer1000 = o.Commands / o.Checks * 1000
	}
	if r.f.observeOffRounds <= 0 {
		return nil
	}
	offDir := filepath.Join(dir, "observe-off")
	if err := os.MkdirAll(offDir, 0o700); err != nil {
		return err
	}
	env := append(append([]string(nil), r.f.eirdEnv...), "EIR_OBSERVE_ENABLED=false")
	off, err := startEIRD(ctx, r.f.eird, offDir, redisAddr, r.f.logLevel, r.f.events, env)
	if err != nil {
		return fmt.Errorf("eird with observe.enabled false: %w", err)
	}
	on := r.eird
	defer func() {
		r.eird = on
		off.stop()
	}()
	fmt.Fprintf(r.stderr, "eird with observe.enabled false on %s (pid %d), beside eird with it on\n", off.diameter, off.pid())
	closed := r.f.load
	closed.rate = 0
	n := r.f.observeOffRounds
	for i := 1; i <= n && ctx.Err() == nil; i++ {
		round := ratioRound{Round: i, Order: "on,off"}
		order := []*eirdProc{on, off}
		if i%2 == 0 {
			round.Order, order = "off,on", []*eirdProc{off, on}
		}
		for _, e := range order {
			name := "on"
			if e == off {
				name = "off"
			}
			m, err := r.measureSide(ctx, e, e == off, url, fmt.Sprintf("observe %s round %d/%d", name, i, n), closed)
			if e == off {
				round.Reference = m
			} else {
				round.EIRD = m
			}
			if err != nil {
				o.Rounds = append(o.Rounds, round)
				return err
			}
		}
		if t := round.Reference.throughput(); t > 0 {
			round.Ratio = round.EIRD.throughput() / t
		}
		o.Rounds = append(o.Rounds, round)
		fmt.Fprintf(r.stderr, "observe round %d/%d: on %s answers/s, off %s answers/s, on/off %.3f\n", i, n,
			thousandsf(round.EIRD.throughput()), thousandsf(round.Reference.throughput()), round.Ratio)
	}
	if o.Summary = summarise(o.Rounds); o.Summary != nil {
		o.Effect = o.Summary.Ratio.Median
	}
	if r.f.openRate <= 0 || ctx.Err() != nil {
		return nil
	}
	open := r.f.load
	open.rate = r.f.openRate
	o.Open = &openLoopResult{Rate: r.f.openRate}
	if o.Open.EIRD, err = r.measureSide(ctx, on, false, url, "observe on open loop", open); err != nil {
		return err
	}
	o.Open.Reference, err = r.measureSide(ctx, off, true, url, "observe off open loop", open)
	return err
}

// measureSide measures e once with lf, after the observation queue of the
// eird scraped at url has drained. The memory samples of the eird with
// observation off are not kept: eird's memory figures are those of the
// eird measured throughout.
func (r *ratioRun) measureSide(ctx context.Context, e *eirdProc, off bool, url, label string, lf loadFlags) (*measurement, error) {
	if err := drained(ctx, url, time.Minute); err != nil {
		return nil, err
	}
	r.eird = e
	samples := len(r.res.Memory.Samples)
	m, err := r.measure(ctx, label, targetEIRD, lf)
	if off {
		r.res.Memory.Samples = r.res.Memory.Samples[:samples]
	}
	return m, err
}

// drained waits until the eird scraped at url has no observation queued
// (eir_sighting_queue_length 0), polling, at most within.
func drained(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for metricSum(url, "eir_sighting_queue_length", "") > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("observation queue not drained within %v", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// metricSum scrapes a Prometheus endpoint and sums the series of a metric
// whose labels contain filter ("" for all). Errors read as 0: the figure
// is then missing from the report, not the run.
func metricSum(url, metric, filter string) float64 {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var sum float64
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') || !strings.Contains(rest, filter) {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if v, err := strconv.ParseFloat(rest[i+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// markdownObserve writes the observation section of the report.
func markdownObserve(p func(string, ...any), res *ratioResult) {
	o := res.Observe
	if o == nil {
		return
	}
	p("")
	p("## Observations (observe.enabled)")
	p("")
	p("eird records every check with an IMSI (the User-Name of %g %% of the requests: one subscriber per IMEI) in Redis, off the answer path. Over the whole run of the eird measured above:", res.Scenario.IMSIShare*100)
	p("")
	p("| S13 checks answered | Observations written | Deduplicated | Dropped (queue full) | Redis commands | Redis commands per 1,000 checks |")
	p("|---|---|---|---|---|---|")
	p("| %s | %s | %s | %s | %s | %.1f |", thousandsf(o.Checks), thousandsf(o.Written), thousandsf(o.Deduplicated), thousandsf(o.Dropped),
		thousandsf(o.Commands), o.CommandsPer1000)
	if o.Summary == nil {
		return
	}
	p("")
	p("Then a second eird with `observe.enabled: false` (same Redis and lists) ran beside it, and each round measured both with the same closed-loop load, back to back, in alternating order (the first eird's observation queue drained before each measurement). In this table \"off\" is the eird with observation off and \"on\" the one with it on:")
	p("")
	markdownPairs(p, o.Rounds, o.Summary, roundNames{ref: "Off", eird: "On", short: "off/on", col: "On / off", ratio: "On / off"})
	p("")
	p("**Observation on / off**: median of the rounds' ratios **%.3f** (%.3f–%.3f): the throughput kept with observation on; p99 %.2f ms on, %.2f ms off (medians).",
		o.Effect, o.Summary.Ratio.Min, o.Summary.Ratio.Max, o.Summary.EIRDP99.Median, o.Summary.ReferenceP99.Median)
	if o.Open == nil {
		return
	}
	p("")
	p("Then an open loop at %s requests/s against each, on first (closed-loop latency follows throughput; at a fixed rate both sustain, it shows what observing adds to an answer's latency):", thousandsf(o.Open.Rate))
	p("")
	markdownOpenHeader(p)
	markdownOpenRow(p, "observation on", o.Open.EIRD)
	markdownOpenRow(p, "observation off", o.Open.Reference)
}
