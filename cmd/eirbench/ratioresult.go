package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
)

// Targets of a ratio run.
const (
	targetReference = "reference"
	targetEIRD      = "eird"
)

// ratioResult is the outcome of `eirbench ratio` (its -json output).
type ratioResult struct {
	Machine     machineInfo     `json:"machine"`
	EIRDVersion string          `json:"eird_version"`
	Scenario    scenario        `json:"scenario"`
	LoadSeconds float64         `json:"lists_load_s"` // loading the lists into Redis
	Rounds      []ratioRound    `json:"rounds"`
	Summary     *ratioSummary   `json:"summary,omitempty"`
	OpenLoop    *openLoopResult `json:"open_loop,omitempty"`
	Memory      memorySummary   `json:"memory"`
	Soak        *soakResult     `json:"soak,omitempty"`
	N5g         *n5gResult      `json:"n5g,omitempty"`
	Observe     *observeResult  `json:"observe,omitempty"`
	Problems    []string        `json:"problems,omitempty"`
	Interrupted bool            `json:"interrupted,omitempty"`
}

// scenario records every parameter of a ratio run.
type scenario struct {
	Conns     int      `json:"conns"`
	Window    int      `json:"window"`
	Duration  float64  `json:"duration_s"`
	Warmup    float64  `json:"warmup_s"`
	Timeout   float64  `json:"timeout_s"`
	Mix       string   `json:"mix"`
	Entries   int      `json:"entries"`
	Seed      uint64   `json:"seed"`
	IMSIShare float64  `json:"imsi_share"`
	Rounds    int      `json:"rounds"`
	OpenRate  float64  `json:"open_rate"`
	Soak      float64  `json:"soak_s,omitempty"`
	Events    bool     `json:"events"`
	LogLevel  string   `json:"eird_log_level"`
	EIRD      string   `json:"eird_binary"`
	EIRDEnv   []string `json:"eird_env,omitempty"`
	Reference string   `json:"reference"`
	// N5g-eir rounds.
	N5gRounds    int    `json:"n5g_rounds"`
	N5gStreams   int    `json:"n5g_streams"`
	N5gReference string `json:"n5g_reference"`
}

// n5gResult is the N5g-eir rounds: eirbench amf's load against eird and
// the reference.
type n5gResult struct {
	Rounds  []ratioRound  `json:"rounds"`
	Summary *ratioSummary `json:"summary,omitempty"`
}

// rounds returns the rounds of n, none when n is nil.
func (n *n5gResult) rounds() []ratioRound {
	if n == nil {
		return nil
	}
	return n.Rounds
}

// measurement is one load run against one server: S13 (Report) or
// N5g-eir (SBI).
type measurement struct {
	Target    string             `json:"target"`
	Report    *loadgen.Report    `json:"report,omitempty"`
	SBI       *loadgen.SBIReport `json:"n5g_report,omitempty"`
	ServerCPU float64            `json:"server_cpu_percent"` // of one core, over the measured window
	ClientCPU float64            `json:"client_cpu_percent"` // eirbench itself
	MemStart  *memSample         `json:"memory_start,omitempty"`
	MemEnd    *memSample         `json:"memory_end,omitempty"`
}

// measured reports whether m holds a report.
func (m *measurement) measured() bool { return m != nil && (m.Report != nil || m.SBI != nil) }

func (m *measurement) throughput() float64 {
	if m.SBI != nil {
		return m.SBI.Throughput
	}
	return m.Report.Throughput
}

func (m *measurement) latency() loadgen.Latency {
	if m.SBI != nil {
		return m.SBI.Latency
	}
	return m.Report.Latency
}

func (m *measurement) interrupted() bool {
	if m.SBI != nil {
		return m.SBI.Interrupted
	}
	return m.Report.Interrupted
}

// exit is the exit status m calls for (as load's or amf's).
func (m *measurement) exit(strict bool) int {
	if r := m.SBI; r != nil {
		switch {
		case r.ConnErrors > 0:
			return exitFailure
		case strict && r.Mismatches+r.Timeouts+r.Errors > 0:
			return exitMismatch
		}
		return exitOK
	}
	return loadExit(m.Report, strict)
}

// memSample is eird's memory at one moment.
type memSample struct {
	At        float64 `json:"t_s"` // seconds since eird was ready
	Phase     string  `json:"phase,omitempty"`
	RSS       int64   `json:"rss_bytes"`
	HeapInuse int64   `json:"heap_inuse_bytes,omitempty"` // go_memstats_heap_inuse_bytes; 0 when not scraped
}

// ratioRound is one round: the same load against both servers.
type ratioRound struct {
	Round     int          `json:"round"`
	Order     string       `json:"order"`
	Reference *measurement `json:"reference"`
	EIRD      *measurement `json:"eird"`
	Ratio     float64      `json:"ratio"` // eird throughput / reference throughput
}

// spread is the median and range of a value over the rounds.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// ratioSummary is the medians over the rounds.
type ratioSummary struct {
	ReferenceThroughput spread `json:"reference_throughput"`
	EIRDThroughput      spread `json:"eird_throughput"`
	Ratio               spread `json:"ratio"`
	ReferenceP50        spread `json:"reference_p50_ms"`
	ReferenceP99        spread `json:"reference_p99_ms"`
	EIRDP50             spread `json:"eird_p50_ms"`
	EIRDP99             spread `json:"eird_p99_ms"`
}

func summarise(rounds []ratioRound) *ratioSummary {
	var rt, et, ratio, rp50, rp99, ep50, ep99 []float64
	for _, r := range rounds {
		if ratioCell(r) == "-" {
			continue // partial round
		}
		rl, el := r.Reference.latency(), r.EIRD.latency()
		rt, et, ratio = append(rt, r.Reference.throughput()), append(et, r.EIRD.throughput()), append(ratio, r.Ratio)
		rp50, rp99 = append(rp50, rl.P50), append(rp99, rl.P99)
		ep50, ep99 = append(ep50, el.P50), append(ep99, el.P99)
	}
	if len(rt) == 0 {
		return nil
	}
	return &ratioSummary{
		ReferenceThroughput: spreadOf(rt), EIRDThroughput: spreadOf(et), Ratio: spreadOf(ratio),
		ReferenceP50: spreadOf(rp50), ReferenceP99: spreadOf(rp99), EIRDP50: spreadOf(ep50), EIRDP99: spreadOf(ep99),
	}
}

// openLoopResult is the fixed-rate phase.
type openLoopResult struct {
	Rate      float64      `json:"rate"`
	EIRD      *measurement `json:"eird"`
	Reference *measurement `json:"reference,omitempty"`
}

// memorySummary is eird's memory over the measured phases.
type memorySummary struct {
	Start   *memSample  `json:"start,omitempty"` // before the first round
	End     *memSample  `json:"end,omitempty"`   // after the last measured phase
	MaxRSS  int64       `json:"max_rss_bytes"`
	Samples []memSample `json:"samples,omitempty"` // at the start and end of every measured phase against eird
}

// soakResult is the long open-loop run against eird.
type soakResult struct {
	Duration       float64      `json:"duration_s"`
	Rate           float64      `json:"rate"`
	Run            *measurement `json:"run"`
	Samples        []memSample  `json:"samples"` // every 10 s; t_s counts from the start of the soak
	FirstMinuteRSS int64        `json:"first_minute_rss_bytes"`
	LastMinuteRSS  int64        `json:"last_minute_rss_bytes"`
	GrowthBytes    int64        `json:"rss_growth_bytes"` // last minute − first minute (mean of the samples in each)
}

// problems lists what went wrong in a measurement, for people.
func problems(label string, m *measurement) []string {
	if !m.measured() {
		return nil
	}
	if m.SBI != nil {
		return sbiProblems(label, m.SBI)
	}
	r := m.Report
	var out []string
	for _, e := range r.ConnErrorText {
		out = append(out, fmt.Sprintf("%s: connection error: %s", label, e))
	}
	if r.Mismatches > 0 {
		out = append(out, fmt.Sprintf("%s: %d mismatches", label, r.Mismatches))
	}
	for _, s := range r.MismatchExamples {
		out = append(out, label+": "+s.Describe("IMEI ", "User-Name "))
	}
	if r.Timeouts+r.Lost > 0 {
		out = append(out, fmt.Sprintf("%s: %d timeouts, %d lost", label, r.Timeouts, r.Lost))
	}
	if n := r.Results.Invalid + r.Results.Unable + r.Results.Other; n > 0 {
		out = append(out, fmt.Sprintf("%s: %d answers 5004, %d 5012, %d other %v", label, r.Results.Invalid, r.Results.Unable, r.Results.Other, r.Results.OtherCodes))
	}
	if r.Malformed > 0 {
		out = append(out, fmt.Sprintf("%s: %d malformed answers", label, r.Malformed))
	}
	return out
}

// sbiProblems lists what went wrong in an N5g-eir measurement.
func sbiProblems(label string, r *loadgen.SBIReport) []string {
	var out []string
	for _, e := range r.ErrorText {
		out = append(out, fmt.Sprintf("%s: error: %s", label, e))
	}
	if r.Mismatches > 0 {
		out = append(out, fmt.Sprintf("%s: %d mismatches", label, r.Mismatches))
	}
	for _, s := range r.MismatchExamples {
		out = append(out, label+": "+s.Describe("pei imei-", "supi imsi-"))
	}
	if r.Timeouts+r.Errors > 0 {
		out = append(out, fmt.Sprintf("%s: %d timeouts, %d without an answer", label, r.Timeouts, r.Errors))
	}
	return out
}

// errorCount is what the per-round table shows as errors.
func errorCount(m *measurement) uint64 {
	if !m.measured() {
		return 0
	}
	if r := m.SBI; r != nil {
		return r.Mismatches + r.Timeouts + r.Errors + uint64(r.ConnErrors)
	}
	r := m.Report
	return r.Mismatches + r.Timeouts + r.Lost + r.Malformed + uint64(r.ConnErrors)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// writeTable writes res for people.
func (res *ratioResult) writeTable(w io.Writer) error {
	m := res.Machine
	sc := res.Scenario
	fmt.Fprintf(w, "machine   %s, %d cores, %s, %s, %s; a 250 µs Go timer fires %.2f ms late (p50), %.2f ms (p99)\n",
		m.CPU, m.Cores, m.Kernel, m.Go, m.Redis, m.TimerLateness[0], m.TimerLateness[1])
	fmt.Fprintf(w, "eird      %s (%s)\n", res.EIRDVersion, sc.EIRD)
	fmt.Fprintf(w, "scenario  closed loop, %d connections × %d in flight, %gs measured after %gs warm-up, timeout %gs; mix %s; %s entries per list, seed %d; User-Name on %g %%; hit events %s; eird log level %s\n",
		sc.Conns, sc.Window, sc.Duration, sc.Warmup, sc.Timeout, sc.Mix, thousandsf(float64(sc.Entries)), sc.Seed, sc.IMSIShare*100, onOff(sc.Events), sc.LogLevel)
	if len(sc.EIRDEnv) > 0 {
		fmt.Fprintf(w, "eird env  %s\n", strings.Join(sc.EIRDEnv, " "))
	}
	fmt.Fprintf(w, "lists     loaded into Redis in %.2fs\n\n", res.LoadSeconds)

	if err := writeRounds(w, res.Rounds, res.Summary); err != nil {
		return err
	}
	if o := res.OpenLoop; o != nil {
		fmt.Fprintf(w, "\nopen loop at %s requests/s (%d connections, window %d):\n", thousandsf(o.Rate), sc.Conns, sc.Window)
		for _, m := range []*measurement{o.EIRD, o.Reference} {
			if m == nil {
				continue
			}
			r := m.Report
			fmt.Fprintf(w, "  %-9s %s answers/s  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms  timeouts %d  mismatches %d  server CPU %.0f%%\n",
				m.Target, thousandsf(r.Throughput), r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Timeouts, r.Mismatches, m.ServerCPU)
			fmt.Fprintf(w, "  %-9s from send:         p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n",
				"", r.ServiceLatency.P50, r.ServiceLatency.P99, r.ServiceLatency.P999, r.ServiceLatency.Max)
		}
	}
	if n := res.N5g; n != nil {
		fmt.Fprintf(w, "\nN5g-eir (HTTP/2, h2c), closed loop, %d connections × %d streams, same lists and mix:\n", sc.Conns, sc.N5gStreams)
		if err := writeRounds(w, n.Rounds, n.Summary); err != nil {
			return err
		}
	}
	mem := res.Memory
	if mem.Start != nil && mem.End != nil {
		fmt.Fprintf(w, "\neird memory: RSS %s before the first round, %s after the last measured phase (max %s); Go heap in use %s → %s\n",
			mib(mem.Start.RSS), mib(mem.End.RSS), mib(mem.MaxRSS), mib(mem.Start.HeapInuse), mib(mem.End.HeapInuse))
	}
	if s := res.Soak; s != nil {
		fmt.Fprintf(w, "\nsoak: %gs open loop at %s requests/s: RSS first minute %s, last minute %s, growth %+.1f MiB; p99 %.2f ms, timeouts %d, mismatches %d\n",
			s.Duration, thousandsf(s.Rate), mib(s.FirstMinuteRSS), mib(s.LastMinuteRSS), float64(s.GrowthBytes)/(1<<20),
			s.Run.Report.Latency.P99, s.Run.Report.Timeouts, s.Run.Report.Mismatches)
		for _, smp := range s.Samples {
			fmt.Fprintf(w, "  t=%4.0fs  RSS %s  heap in use %s\n", smp.At, mib(smp.RSS), mib(smp.HeapInuse))
		}
	}
	if len(res.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		for _, p := range res.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	if res.Interrupted {
		fmt.Fprintln(w, "\ninterrupted: the results are partial")
	}
	return nil
}

// writeRounds writes the per-round table of a closed-loop comparison, its
// medians and the ratio.
func writeRounds(w io.Writer, rounds []ratioRound, s *ratioSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\torder\tref answers/s\tref p50 ms\tref p99 ms\teird answers/s\teird p50 ms\teird p99 ms\tratio\terrors ref/eird\tCPU% ref/eird\tCPU% client\t")
	for _, r := range rounds {
		ref, eird := roundCells(r.Reference), roundCells(r.EIRD)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s/%s\t%s/%s\t\n",
			r.Round, r.Order, ref.throughput, ref.p50, ref.p99, eird.throughput, eird.p50, eird.p99, ratioCell(r),
			ref.errors, eird.errors, ref.serverCPU, eird.serverCPU, ref.clientCPU, eird.clientCPU)
	}
	if s != nil {
		fmt.Fprintf(tw, "median\t\t%s\t%.2f\t%.2f\t%s\t%.2f\t%.2f\t%.3f\t\t\t\t\n",
			thousandsf(s.ReferenceThroughput.Median), s.ReferenceP50.Median, s.ReferenceP99.Median,
			thousandsf(s.EIRDThroughput.Median), s.EIRDP50.Median, s.EIRDP99.Median, s.Ratio.Median)
		fmt.Fprintf(tw, "min–max\t\t%s–%s\t\t%.2f–%.2f\t%s–%s\t\t%.2f–%.2f\t%.3f–%.3f\t\t\t\t\n",
			thousandsf(s.ReferenceThroughput.Min), thousandsf(s.ReferenceThroughput.Max), s.ReferenceP99.Min, s.ReferenceP99.Max,
			thousandsf(s.EIRDThroughput.Min), thousandsf(s.EIRDThroughput.Max), s.EIRDP99.Min, s.EIRDP99.Max, s.Ratio.Min, s.Ratio.Max)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s != nil {
		fmt.Fprintf(w, "\nratio eird/reference: median %.3f (min %.3f, max %.3f) over %d rounds\n", s.Ratio.Median, s.Ratio.Min, s.Ratio.Max, len(rounds))
	}
	return nil
}

// cells are one side of a round, formatted; "-" when not measured.
type cells struct{ throughput, p50, p99, errors, serverCPU, clientCPU string }

func roundCells(m *measurement) cells {
	if !m.measured() {
		return cells{"-", "-", "-", "-", "-", "-"}
	}
	l := m.latency()
	return cells{thousandsf(m.throughput()), fmt.Sprintf("%.2f", l.P50), fmt.Sprintf("%.2f", l.P99),
		fmt.Sprint(errorCount(m)), fmt.Sprintf("%.0f", m.ServerCPU), fmt.Sprintf("%.0f", m.ClientCPU)}
}

// ratioCell is the round's ratio, "-" for a partial round.
func ratioCell(r ratioRound) string {
	if !r.Reference.measured() || !r.EIRD.measured() || r.Reference.interrupted() || r.EIRD.interrupted() {
		return "-"
	}
	return fmt.Sprintf("%.3f", r.Ratio)
}

// thousandsf formats v as an integer with thousands separators.
func thousandsf(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
