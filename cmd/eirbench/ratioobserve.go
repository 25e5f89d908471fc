package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// observeResult is what eird's observations (issue 14: every check with an
// IMSI recorded in Redis, off the answer path) cost in a ratio run: the
// Redis write load of the measured eird, and rounds against a second eird
// with observe.enabled: false, so that the ratio with observation on is
// compared with the ratio without it in the same run.
type observeResult struct {
	Checks       float64 `json:"checks"`         // S13 checks eird answered (eir_check_decisions_total{interface="s13"})
	Written      float64 `json:"written"`        // observations written to Redis
	Deduplicated float64 `json:"deduplicated"`   // not written: the same pair within observe.min_interval
	Dropped      float64 `json:"dropped"`        // the queue was full
	Commands     float64 `json:"redis_commands"` // eir_sighting_redis_commands_total
	// CommandsPer1000 is Commands per 1,000 Checks.
	CommandsPer1000 float64       `json:"redis_commands_per_1000_checks"`
	OffRounds       []ratioRound  `json:"off_rounds,omitempty"`
	OffSummary      *ratioSummary `json:"off_summary,omitempty"`
	// Effect is the median ratio with observation on over the median
	// ratio with it off (each against the reference of its own rounds).
	Effect float64 `json:"effect,omitempty"`
}

// measureObserveOff reads the observation figures of the running eird,
// then replaces it by one with observe.enabled: false and runs
// -observe-off-rounds rounds against the reference.
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
	r.stopEIRD()
	env := append(append([]string(nil), r.f.eirdEnv...), "EIR_OBSERVE_ENABLED=false")
	var err error
	if r.eird, err = startEIRD(ctx, r.f.eird, dir, redisAddr, r.f.logLevel, r.f.events, env); err != nil {
		return fmt.Errorf("eird with observe.enabled false: %w", err)
	}
	fmt.Fprintf(r.stderr, "eird with observe.enabled false on %s (pid %d)\n", r.eird.diameter, r.eird.pid())
	closed := r.f.load
	closed.rate = 0
	o.OffRounds, err = r.rounds(ctx, "observe off ", r.f.observeOffRounds, func(label, target string) (*measurement, error) {
		return r.measure(ctx, label, target, closed)
	})
	if len(o.OffRounds) > 0 {
		o.OffSummary = summarise(o.OffRounds)
		if on := r.res.Summary; on != nil && o.OffSummary.Ratio.Median > 0 {
			o.Effect = on.Ratio.Median / o.OffSummary.Ratio.Median
		}
	}
	return err
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
	if o.OffSummary == nil {
		return
	}
	p("")
	p("The same closed-loop rounds against a second eird with `observe.enabled: false` (same Redis and lists), right after:")
	p("")
	markdownRounds(p, o.OffRounds, o.OffSummary)
	p("")
	p("**Observation on / off**: median ratio %.3f with observation on, %.3f with it off: **%.3f** (the throughput kept with observation on, each against the reference of its own rounds).",
		res.Summary.Ratio.Median, o.OffSummary.Ratio.Median, o.Effect)
}
