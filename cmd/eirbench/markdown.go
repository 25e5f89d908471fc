package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// writeMarkdownFile writes res as a BENCHMARKS.md-style report to path.
func writeMarkdownFile(path, micro, extra string, res *ratioResult) error {
	var b bytes.Buffer
	writeMarkdown(&b, res, time.Now())
	if extra != "" {
		out, err := os.ReadFile(extra)
		if err != nil {
			return fmt.Errorf("markdown report: %w", err)
		}
		fmt.Fprintf(&b, "\n%s", out)
	}
	if micro != "" {
		out, err := os.ReadFile(micro)
		if err != nil {
			return fmt.Errorf("markdown report: %w", err)
		}
		fmt.Fprintf(&b, "\n## Micro-benchmarks\n\n`go test -run '^$' -bench . -benchmem` on the same machine, before the ratio run. ns/op is per call; B/op and allocs/op are what a call allocates.\n\n```\n%s```\n", benchLines(out))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// writeMarkdown writes the report: machine, versions, scenario, the
// per-round table, medians and ratio, open-loop latency, memory.
func writeMarkdown(w io.Writer, res *ratioResult, now time.Time) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	m, sc := res.Machine, res.Scenario
	p("# eird against a bare go-diameter S13 server")
	p("")
	p("Measured by `eirbench ratio` on %s.", now.UTC().Format("2006-01-02 15:04 MST"))
	if res.Interrupted {
		p("")
		p("**Interrupted: the results are partial.**")
	}
	p("")
	p("## Machine and versions")
	p("")
	p("| | |")
	p("|---|---|")
	p("| CPU | %s |", m.CPU)
	p("| Cores | %d |", m.Cores)
	p("| Kernel | %s |", m.Kernel)
	p("| Go | %s |", m.Go)
	p("| Redis | %s |", m.Redis)
	p("| eird | %s |", res.EIRDVersion)
	p("| Go timer lateness (250 µs timer, idle) | p50 %.2f ms, p99 %.2f ms |", m.TimerLateness[0], m.TimerLateness[1])
	p("")
	p("eird, the reference server, Redis and the load generator share the machine's cores; all traffic is loopback TCP.")
	p("")
	p("## Scenario")
	p("")
	p("| Parameter | Value |")
	p("|---|---|")
	p("| Load | closed loop, %d connections × %d requests in flight |", sc.Conns, sc.Window)
	p("| Measure | %gs after %gs warm-up, timeout %gs per request |", sc.Duration, sc.Warmup, sc.Timeout)
	p("| Rounds | %d, alternating which server goes first |", sc.Rounds)
	p("| Request mix | `%s` |", sc.Mix)
	n := thousandsf(float64(sc.Entries))
	p("| Lists | %s IMEIs each on black, grey, white; %s unknown IMEIs; %s IMEI–IMSI exceptions (on the black IMEIs: black requests draw the first half of them, exception requests the second); seed %d; loaded into Redis in %.2fs |",
		n, n, n, sc.Seed, res.LoadSeconds)
	p("| User-Name | on %g %% of the requests (always on exception requests): the IMSI of the device's subscriber, one per IMEI |", sc.IMSIShare*100)
	p("| Open loop | %s requests/s |", thousandsf(sc.OpenRate))
	if sc.Soak > 0 {
		p("| Soak | %gs at the open-loop rate |", sc.Soak)
	}
	p("| eird | `%s`, log level %s, hit events %s |", sc.EIRD, sc.LogLevel, onOff(sc.Events))
	if len(sc.EIRDEnv) > 0 {
		p("| eird environment | `%s` |", strings.Join(sc.EIRDEnv, " "))
	}
	p("| Reference | %s |", sc.Reference)
	p("")
	p("## S13, closed loop, per round")
	p("")
	markdownRounds(p, res.Rounds, res.Summary)
	if o := res.OpenLoop; o != nil {
		p("")
		p("## Open loop at %s requests/s", thousandsf(o.Rate))
		p("")
		p("Latency from each request's scheduled send time (no coordinated omission), and from the moment it was written. The difference is the generator's own lateness: it waits for each send time on a Go timer, which fires late on this machine (see Go timer lateness above); the reference pays it too.")
		p("")
		markdownOpenHeader(p)
		markdownOpenRow(p, targetEIRD, o.EIRD)
		markdownOpenRow(p, targetReference, o.Reference)
	}
	if n := res.N5g; n != nil {
		p("")
		p("## N5g-eir, closed loop, per round")
		p("")
		p("The same lists and mix as N5g-eir GetEquipmentStatus requests (`eirbench amf`: HTTP/2 with prior knowledge, %d connections × %d streams, `supi` where S13 carries a User-Name), against eird's N5g-eir listener and %s.", sc.Conns, sc.N5gStreams, sc.N5gReference)
		p("")
		markdownRounds(p, n.Rounds, n.Summary)
	}
	markdownObserve(p, res)
	mem := res.Memory
	if mem.Start != nil && mem.End != nil {
		p("")
		p("## eird memory")
		p("")
		p("| | RSS | Go heap in use |")
		p("|---|---|---|")
		p("| Before the first round | %s | %s |", mib(mem.Start.RSS), mib(mem.Start.HeapInuse))
		p("| After the last measured phase | %s | %s |", mib(mem.End.RSS), mib(mem.End.HeapInuse))
		p("| Largest sample | %s | |", mib(mem.MaxRSS))
	}
	if s := res.Soak; s != nil && s.Run != nil && s.Run.Report != nil {
		p("")
		p("## Soak: %gs at %s requests/s", s.Duration, thousandsf(s.Rate))
		p("")
		p("RSS first minute %s, last minute %s, growth %+.1f MiB; p99 %.2f ms from the scheduled send, %d timeouts, %d mismatches.",
			mib(s.FirstMinuteRSS), mib(s.LastMinuteRSS), float64(s.GrowthBytes)/(1<<20), s.Run.Report.Latency.P99,
			s.Run.Report.Timeouts, s.Run.Report.Mismatches)
		p("")
		p("| t since the soak started (s) | RSS | Go heap in use |")
		p("|---|---|---|")
		for _, smp := range s.Samples {
			p("| %.0f | %s | %s |", smp.At, mib(smp.RSS), mib(smp.HeapInuse))
		}
	}
	if len(res.Problems) > 0 {
		p("")
		p("## Problems seen")
		p("")
		for _, pr := range res.Problems {
			p("- %s", pr)
		}
	}
}

// markdownRounds writes the per-round table of a closed-loop comparison and
// its medians.
func markdownRounds(p func(string, ...any), rounds []ratioRound, s *ratioSummary) {
	markdownPairs(p, rounds, s, roundNames{ref: "Reference", eird: "eird", short: "ref/eird", col: "Ratio", ratio: "Ratio eird / reference"})
}

// roundNames name the two sides of a round's table: ref is the round's
// Reference, eird its EIRD.
type roundNames struct {
	ref, eird string
	short     string // "ref/eird": the columns giving both
	col       string // the ratio's column
	ratio     string // the ratio's line in the summary
}

// markdownPairs writes rounds and their summary with the sides named n.
func markdownPairs(p func(string, ...any), rounds []ratioRound, s *ratioSummary, n roundNames) {
	p("| Round | Order | %s answers/s | p50 ms | p99 ms | %s answers/s | p50 ms | p99 ms | %s | Errors %s | Server CPU %% %s | Client CPU %% |",
		n.ref, n.eird, n.col, n.short, n.short)
	p("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rounds {
		ref, eird := roundCells(r.Reference), roundCells(r.EIRD)
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s | %s/%s | %s/%s |", r.Round, r.Order,
			ref.throughput, ref.p50, ref.p99, eird.throughput, eird.p50, eird.p99, ratioCell(r),
			ref.errors, eird.errors, ref.serverCPU, eird.serverCPU, ref.clientCPU, eird.clientCPU)
	}
	if s == nil {
		return
	}
	p("")
	p("| | Median (min–max) |")
	p("|---|---|")
	p("| %s answers/s | %s (%s–%s) |", n.ref, thousandsf(s.ReferenceThroughput.Median), thousandsf(s.ReferenceThroughput.Min), thousandsf(s.ReferenceThroughput.Max))
	p("| %s answers/s | %s (%s–%s) |", n.eird, thousandsf(s.EIRDThroughput.Median), thousandsf(s.EIRDThroughput.Min), thousandsf(s.EIRDThroughput.Max))
	p("| **%s** | **%.3f** (%.3f–%.3f) |", n.ratio, s.Ratio.Median, s.Ratio.Min, s.Ratio.Max)
	p("| %s p50 / p99 ms | %.2f / %.2f (p99 %.2f–%.2f) |", n.ref, s.ReferenceP50.Median, s.ReferenceP99.Median, s.ReferenceP99.Min, s.ReferenceP99.Max)
	p("| %s p50 / p99 ms | %.2f / %.2f (p99 %.2f–%.2f) |", n.eird, s.EIRDP50.Median, s.EIRDP99.Median, s.EIRDP99.Min, s.EIRDP99.Max)
}

// markdownOpenHeader writes the header of an open-loop table.
func markdownOpenHeader(p func(string, ...any)) {
	p("| Server | Answers/s | From the scheduled send: p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | From the write: p50 / p99 / p99.9 ms | Timeouts | Mismatches | Server CPU %% |")
	p("|---|---|---|---|---|---|---|---|---|---|---|")
}

// markdownOpenRow writes the row of one open-loop measurement (none when
// it did not run).
func markdownOpenRow(p func(string, ...any), name string, m *measurement) {
	if m == nil || m.Report == nil {
		return
	}
	r := m.Report
	sl := r.ServiceLatency
	p("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f / %.2f | %d | %d | %.0f |", name, thousandsf(r.Throughput), r.Latency.P50,
		r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max, sl.P50, sl.P99, sl.P999, r.Timeouts, r.Mismatches, m.ServerCPU)
}

// benchLines keeps the lines of go test -bench output that matter: the
// environment and the benchmark results.
func benchLines(out []byte) string {
	var b strings.Builder
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "cpu:") || strings.HasPrefix(line, "pkg:") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
