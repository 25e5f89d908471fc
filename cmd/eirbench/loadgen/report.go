package loadgen

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is the result of a run. Every count covers the requests whose
// intended send time falls in the measured window (after the warm-up);
// Throughput counts the answers that arrived in that window.
type Report struct {
	Target    string  `json:"target"`
	Server    string  `json:"server_origin_host,omitempty"`
	Mode      string  `json:"mode"` // closed | open
	Conns     int     `json:"conns"`
	Window    int     `json:"window"`
	Rate      float64 `json:"rate,omitempty"` // open loop: requests/s, all connections
	Duration  float64 `json:"duration_s"`     // measured window (shorter when interrupted)
	Warmup    float64 `json:"warmup_s"`
	Timeout   float64 `json:"timeout_s"`
	Mix       string  `json:"mix"`
	Entries   int     `json:"entries"`
	Seed      uint64  `json:"seed"`
	IMSIShare float64 `json:"imsi_share"`

	Sent            uint64  `json:"sent"`              // requests sent
	Answers         uint64  `json:"answers"`           // answers to them
	AnswersInWindow uint64  `json:"answers_in_window"` // answers that arrived in the window
	Throughput      float64 `json:"throughput"`        // answers_in_window / duration_s
	Latency         Latency `json:"latency"`           // from the intended send time to the answer
	// ServiceLatency is from the moment the request was written to the
	// answer: Latency without the generator's own lateness in sending
	// (they differ in open loop, when a timer fires late).
	ServiceLatency Latency `json:"service_latency"`

	Results    Results                  `json:"results"`
	Categories map[string]CategoryStats `json:"categories"`

	Mismatches       uint64           `json:"mismatches"` // answers other than the category expects (or with another End-to-End id)
	Timeouts         uint64           `json:"timeouts"`   // not answered within the timeout
	Lost             uint64           `json:"lost"`       // in flight on a connection that failed
	Unmatched        uint64           `json:"unmatched"`  // answers to no request in flight (late, after a timeout), whole run
	Malformed        uint64           `json:"malformed"`  // answers the AVP walk could not read
	ConnErrors       int              `json:"conn_errors"`
	ConnErrorText    []string         `json:"conn_error_messages,omitempty"`
	MismatchExamples []MismatchSample `json:"mismatch_examples,omitempty"`
	Interrupted      bool             `json:"interrupted,omitempty"`
}

// Results counts answers by result.
type Results struct {
	Status0    uint64            `json:"2001_es0"` // 2001, Equipment-Status 0 (WHITELISTED)
	Status1    uint64            `json:"2001_es1"` // 2001, Equipment-Status 1 (BLACKLISTED)
	Status2    uint64            `json:"2001_es2"` // 2001, Equipment-Status 2 (GREYLISTED)
	Unknown    uint64            `json:"5422"`     // Experimental-Result-Code 5422
	Invalid    uint64            `json:"5004"`     // Result-Code 5004
	Unable     uint64            `json:"5012"`     // Result-Code 5012
	Other      uint64            `json:"other"`    // anything else
	OtherCodes map[string]uint64 `json:"other_codes,omitempty"`
}

// add counts a.
func (r *Results) add(a Answer) {
	switch {
	case a.ResultCode == resultSuccess && a.EquipmentStatus == 0:
		r.Status0++
	case a.ResultCode == resultSuccess && a.EquipmentStatus == 1:
		r.Status1++
	case a.ResultCode == resultSuccess && a.EquipmentStatus == 2:
		r.Status2++
	case a.ResultCode == 0 && a.ExperimentalResultCode == resultUnknownEq:
		r.Unknown++
	case a.ResultCode == 5004:
		r.Invalid++
	case a.ResultCode == 5012:
		r.Unable++
	default:
		r.Other++
		if r.OtherCodes == nil {
			r.OtherCodes = map[string]uint64{}
		}
		r.OtherCodes[describeCode(a)]++
	}
}

func (r *Results) merge(o Results) {
	r.Status0 += o.Status0
	r.Status1 += o.Status1
	r.Status2 += o.Status2
	r.Unknown += o.Unknown
	r.Invalid += o.Invalid
	r.Unable += o.Unable
	r.Other += o.Other
	for k, v := range o.OtherCodes {
		if r.OtherCodes == nil {
			r.OtherCodes = map[string]uint64{}
		}
		r.OtherCodes[k] += v
	}
}

// describeCode names an unusual answer: "3002", "3002 E-bit",
// "exp 5420", "2001 es 7", "none".
func describeCode(a Answer) string {
	var s string
	switch {
	case a.ResultCode != 0:
		s = strconv.FormatUint(uint64(a.ResultCode), 10)
		if a.ExperimentalResultCode != 0 {
			s += "+exp " + strconv.FormatUint(uint64(a.ExperimentalResultCode), 10)
		}
	case a.ExperimentalResultCode != 0:
		s = "exp " + strconv.FormatUint(uint64(a.ExperimentalResultCode), 10)
	default:
		s = "none"
	}
	if a.EquipmentStatus >= 0 && !(a.ResultCode == resultSuccess && a.EquipmentStatus <= 2) {
		s += " es " + strconv.Itoa(a.EquipmentStatus)
	}
	if a.ErrorBit {
		s += " E-bit"
	}
	return s
}

// describeAnswer says what an answer carries, as an MME sees it.
func describeAnswer(a Answer) string {
	var parts []string
	if a.ResultCode != 0 {
		parts = append(parts, fmt.Sprintf("Result-Code %d", a.ResultCode))
	}
	if a.ExperimentalResultCode != 0 {
		parts = append(parts, fmt.Sprintf("Experimental-Result-Code %d", a.ExperimentalResultCode))
	}
	if a.EquipmentStatus >= 0 {
		parts = append(parts, fmt.Sprintf("Equipment-Status %d", a.EquipmentStatus))
	}
	if a.ErrorBit {
		parts = append(parts, "E-bit")
	}
	if len(parts) == 0 {
		return "no result"
	}
	return strings.Join(parts, ", ")
}

// describeExpected says what category c must get.
func describeExpected(c Category) string {
	status, exp := c.Expect()
	if exp != 0 {
		return fmt.Sprintf("Experimental-Result-Code %d", exp)
	}
	return fmt.Sprintf("Result-Code 2001, Equipment-Status %d", status)
}

// CategoryStats counts the requests of one category.
type CategoryStats struct {
	Sent       uint64 `json:"sent"`
	Answered   uint64 `json:"answered"`
	Mismatches uint64 `json:"mismatches"`
	Timeouts   uint64 `json:"timeouts"`
}

// MismatchSample is one request whose answer was not what its category
// expects: the request's IMEI (15 digits as sent) and IMSI (User-Name, when
// sent), what came back and what was expected.
type MismatchSample struct {
	Category string `json:"category"`
	IMEI     string `json:"imei"`
	IMSI     string `json:"imsi,omitempty"`
	Got      string `json:"got"`
	Want     string `json:"want"`
}

// maxSamples bounds the mismatch examples kept per connection and per run.
const maxSamples = 5

// WriteTable writes r for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	target := r.Target
	if r.Server != "" {
		target += " (" + r.Server + ")"
	}
	p("target\t%s", target)
	load := fmt.Sprintf("closed loop, %d connection(s) × %d in flight", r.Conns, r.Window)
	if r.Mode == "open" {
		load = fmt.Sprintf("open loop at %s requests/s, %d connection(s), window %d", thousands(r.Rate), r.Conns, r.Window)
	}
	p("load\t%s; %gs measured after %gs warm-up; timeout %gs", load, r.Duration, r.Warmup, r.Timeout)
	p("mix\t%s (%d entries per list, seed %d, User-Name on %g %% of requests)", r.Mix, r.Entries, r.Seed, r.IMSIShare*100)
	p("throughput\t%s answers/s (%d answers in %gs)", thousands(r.Throughput), r.AnswersInWindow, r.Duration)
	l := r.Latency
	p("latency ms\tp50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	sl := r.ServiceLatency
	p("  from send\tp50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f)", sl.P50, sl.P90, sl.P99, sl.P999, sl.Max, sl.Mean)
	res := r.Results
	p("results\t2001/ES0 %d  2001/ES1 %d  2001/ES2 %d  5422 %d  5004 %d  5012 %d  other %d",
		res.Status0, res.Status1, res.Status2, res.Unknown, res.Invalid, res.Unable, res.Other)
	if len(res.OtherCodes) > 0 {
		p("other results\t%s", countsText(res.OtherCodes))
	}
	p("sent/answered\t%d / %d", r.Sent, r.Answers)
	p("errors\tmismatches %d  timeouts %d  lost %d  unmatched answers %d  malformed %d  connection errors %d",
		r.Mismatches, r.Timeouts, r.Lost, r.Unmatched, r.Malformed, r.ConnErrors)
	if r.Interrupted {
		p("interrupted\tyes: the measured window was cut short")
	}
	tw.Flush()
	fmt.Fprintln(tw)
	if err := writeCategories(tw, r.Categories); err != nil {
		return err
	}
	for _, e := range r.ConnErrorText {
		fmt.Fprintf(w, "connection error: %s\n", e)
	}
	writeMismatches(w, r.MismatchExamples, "IMEI ", "User-Name ")
	return nil
}

// writeCategories writes the per-category counts to tw and flushes it.
func writeCategories(tw *tabwriter.Writer, cats map[string]CategoryStats) error {
	fmt.Fprintln(tw, "category\tsent\tanswered\tmismatches\ttimeouts")
	for c := Category(0); c < numCategories; c++ {
		if s, ok := cats[c.String()]; ok {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", c, s.Sent, s.Answered, s.Mismatches, s.Timeouts)
		}
	}
	return tw.Flush()
}

// writeMismatches writes the mismatch examples, naming the IMEI and IMSI
// as the interface does (see MismatchSample.Describe).
func writeMismatches(w io.Writer, samples []MismatchSample, imei, imsi string) {
	for _, m := range samples {
		fmt.Fprintf(w, "mismatch: %s\n", m.Describe(imei, imsi))
	}
}

// Describe says what went wrong, naming the IMEI and the IMSI with the
// prefixes of the interface: "IMEI ", "User-Name " on S13; "pei imei-",
// "supi imsi-" on N5g-eir.
func (m MismatchSample) Describe(imei, imsi string) string {
	req := imei + m.IMEI
	if m.IMSI != "" {
		req += ", " + imsi + m.IMSI
	}
	return fmt.Sprintf("%s request (%s): got %s, want %s", m.Category, req, m.Got, m.Want)
}

// countsText is "key: count" for every key of counts, sorted, comma-separated.
func countsText(counts map[string]uint64) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// thousands formats v rounded to an integer with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
