package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// SBIOptions configures an N5g-eir run: AMFs asking GetEquipmentStatus
// (TS 29.511) over HTTP/2, in a closed loop. Zero values take the defaults
// noted.
type SBIOptions struct {
	// APIRoot is the scheme, authority and API prefix the service is under,
	// e.g. http://127.0.0.1:7777 (h2c, prior knowledge) or
	// https://eir.example:443/eir (h2 over TLS); required.
	APIRoot string
	TLS     *tls.Config // for https; nil: the system's roots
	Token   string      // bearer access token sent with every request, if set
	Data    *Dataset    // the lists requests draw from; required
	Mix     Mix         // weights of the categories; required
	Seed    uint64      // seeds the request draws (each stream its own)
	Conns   int         // HTTP/2 connections, each an AMF; default 2
	Streams int         // requests in flight per connection; default 64
	// SUPIShare is the fraction (0 to 1) of requests other than exceptions
	// that carry a supi (a random IMSI on no exception). Exception requests
	// always carry theirs.
	SUPIShare float64
	Duration  time.Duration // measured window; required
	Warmup    time.Duration // before the window; its results are discarded
	Timeout   time.Duration // per request; default 5s
	// OnPhase, when set, is called as the measured window starts
	// (PhaseMeasure) and ends (PhaseDrain), e.g. to sample the server's
	// CPU time.
	OnPhase func(Phase)
}

func (o *SBIOptions) setDefaults() error {
	if o.Conns == 0 {
		o.Conns = 2
	}
	if o.Streams == 0 {
		o.Streams = 64
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	var errs []error
	if !strings.HasPrefix(o.APIRoot, "http://") && !strings.HasPrefix(o.APIRoot, "https://") {
		errs = append(errs, fmt.Errorf("api root %q: want http:// or https://", o.APIRoot))
	}
	if o.Data == nil {
		errs = append(errs, errors.New("data: required"))
	}
	if err := o.Mix.check(); err != nil {
		errs = append(errs, err)
	}
	if o.Conns < 1 || o.Conns > 1024 {
		errs = append(errs, fmt.Errorf("conns: %d: must be 1 to 1024", o.Conns))
	}
	if o.Streams < 1 || o.Streams > 1000 {
		errs = append(errs, fmt.Errorf("streams: %d: must be 1 to 1000", o.Streams))
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration: %v: must be > 0", o.Duration))
	}
	if o.Warmup < 0 || o.Timeout < 0 {
		errs = append(errs, errors.New("warmup and timeout: must not be negative"))
	}
	if o.SUPIShare < 0 || o.SUPIShare > 1 {
		errs = append(errs, fmt.Errorf("supi share: %g: must be 0 to 1", o.SUPIShare))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("loadgen: options: %w", err)
	}
	o.APIRoot = strings.TrimSuffix(o.APIRoot, "/")
	return nil
}

// SBIReport is the result of an N5g-eir run. Counts cover the requests
// sent in the measured window; Throughput counts the answers that arrived
// in it.
type SBIReport struct {
	Target    string  `json:"target"`
	Conns     int     `json:"conns"`
	Streams   int     `json:"streams"`
	Duration  float64 `json:"duration_s"`
	Warmup    float64 `json:"warmup_s"`
	Timeout   float64 `json:"timeout_s"`
	Mix       string  `json:"mix"`
	Entries   int     `json:"entries"`
	Seed      uint64  `json:"seed"`
	SUPIShare float64 `json:"supi_share"`

	Sent            uint64  `json:"sent"`              // requests sent
	Answers         uint64  `json:"answers"`           // answers to them
	AnswersInWindow uint64  `json:"answers_in_window"` // answers that arrived in the window
	Throughput      float64 `json:"throughput"`
	Latency         Latency `json:"latency"`
	// Codes counts answers by HTTP status and status or cause:
	// "200 BLACKLISTED", "404 ERROR_EQUIPMENT_UNKNOWN", "503 NF_CONGESTION".
	Codes      map[string]uint64        `json:"answers_by_code"`
	Categories map[string]CategoryStats `json:"categories"`

	Mismatches       uint64           `json:"mismatches"` // answers other than the category expects
	Timeouts         uint64           `json:"timeouts"`
	Errors           uint64           `json:"errors"` // requests that got no HTTP answer (other than timeouts)
	ErrorText        []string         `json:"error_messages,omitempty"`
	ConnErrors       int              `json:"conn_errors"` // connections that could not be set up
	MismatchExamples []MismatchSample `json:"mismatch_examples,omitempty"`
	Interrupted      bool             `json:"interrupted,omitempty"`
}

// sbiPath is the resource of GetEquipmentStatus below the API root.
const sbiPath = "/n5g-eir-eic/v1/equipment-status"

// sbiExpect is the answer each category must get, as do names it.
var sbiExpect = [numCategories]struct {
	key  string
	body []byte // the 200 body as eird writes it; nil for a problem
}{
	Black:     {"200 BLACKLISTED", []byte(`{"status":"BLACKLISTED"}`)},
	Grey:      {"200 GREYLISTED", []byte(`{"status":"GREYLISTED"}`)},
	White:     {"200 WHITELISTED", []byte(`{"status":"WHITELISTED"}`)},
	Unknown:   {"404 ERROR_EQUIPMENT_UNKNOWN", nil},
	Exception: {"200 WHITELISTED", []byte(`{"status":"WHITELISTED"}`)},
}

// sbiRun is the state shared by the streams of a run.
type sbiRun struct {
	o            SBIOptions
	picker       picker
	lists        [numCategories][]string // IMEIs as sent: 15 digits
	base         time.Time
	measureStart time.Duration
	stopAt       time.Duration
}

// sbiStream is what one stream saw; it is merged at the end.
type sbiStream struct {
	hist                          *Histogram
	sent, answered, mismatch, tmo [numCategories]uint64
	answers, inWindow, errs       uint64
	codes                         map[string]uint64
	samples                       []MismatchSample
	errText                       []string
	buf                           bytes.Buffer
	url                           []byte
	rng                           *rand.Rand
	supiLimit                     uint64
	client                        *http.Client
	token                         string
}

// RunSBI sends the load and returns the report. It returns an error when
// the options are invalid or no connection answered its first request.
// Cancelling ctx cuts the measured window short.
func RunSBI(ctx context.Context, o SBIOptions) (*SBIReport, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	r := &sbiRun{o: o, picker: newPicker(o.Mix)}
	for c := range numCategories {
		for _, imei := range o.Data.list(c) {
			r.lists[c] = append(r.lists[c], IMEIString(imei))
		}
	}
	rep := &SBIReport{
		Target: o.APIRoot, Conns: o.Conns, Streams: o.Streams, Duration: o.Duration.Seconds(),
		Warmup: o.Warmup.Seconds(), Timeout: o.Timeout.Seconds(), Mix: o.Mix.String(), Entries: o.Data.N,
		Seed: o.Seed, SUPIShare: o.SUPIShare, Codes: map[string]uint64{}, Categories: map[string]CategoryStats{},
	}

	// One transport per connection: Go's HTTP/2 client puts every stream of
	// a transport on one connection.
	clients := make([]*http.Client, o.Conns)
	errs := make([]error, o.Conns)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = r.client()
		defer clients[i].CloseIdleConnections()
		wg.Go(func() { errs[i] = r.probe(ctx, clients[i]) })
	}
	wg.Wait()
	var live []*http.Client
	for i, c := range clients {
		if errs[i] != nil {
			rep.ConnErrors++
			rep.ErrorText = append(rep.ErrorText, errs[i].Error())
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return rep, fmt.Errorf("loadgen: no answer from %s: %w", o.APIRoot, errors.Join(errs...))
	}

	r.base = time.Now()
	r.measureStart = o.Warmup
	r.stopAt = o.Warmup + o.Duration
	ctx, cancel := context.WithDeadline(ctx, r.base.Add(r.stopAt))
	defer cancel()
	streams := make([]*sbiStream, 0, len(live)*o.Streams)
	for ci, c := range live {
		for si := range o.Streams {
			streams = append(streams, &sbiStream{
				hist: NewHistogram(), codes: map[string]uint64{}, client: c, token: o.Token,
				rng:       rand.New(rand.NewPCG(o.Seed, uint64(ci)<<32|uint64(si))),
				supiLimit: uint64(o.SUPIShare * (1 << 32)),
			})
		}
	}
	for _, s := range streams {
		wg.Go(func() { r.stream(ctx, s) })
	}
	if o.OnPhase != nil {
		r.phases(ctx)
	}
	wg.Wait()
	if elapsed := time.Since(r.base); elapsed < r.stopAt {
		rep.Interrupted = true
		r.stopAt = max(elapsed, r.measureStart)
	}
	r.merge(rep, streams)
	return rep, nil
}

// phases calls OnPhase as the measured window starts and ends (or is cut
// short).
func (r *sbiRun) phases(ctx context.Context) {
	t := time.NewTimer(time.Until(r.base.Add(r.measureStart)))
	defer t.Stop()
	select {
	case <-t.C:
		r.o.OnPhase(PhaseMeasure)
	case <-ctx.Done():
		return
	}
	<-ctx.Done() // the window's deadline, or cancelled
	r.o.OnPhase(PhaseDrain)
}

// client returns an HTTP/2-only client for the API root's scheme.
func (r *sbiRun) client() *http.Client {
	p := new(http.Protocols)
	if strings.HasPrefix(r.o.APIRoot, "https://") {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	// Each transport its own TLS config: the transport sets NextProtos in it.
	t := &http.Transport{Protocols: p, TLSClientConfig: r.o.TLS.Clone(), HTTP2: &http.HTTP2Config{StrictMaxConcurrentRequests: true}}
	return &http.Client{Transport: t, Timeout: r.o.Timeout}
}

// probe sets up the connection with one request, which must be answered
// over HTTP/2 (any status).
func (r *sbiRun) probe(ctx context.Context, c *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.o.APIRoot+sbiPath+"?pei=imei-"+r.lists[White][0], nil)
	if err != nil {
		return err
	}
	if r.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.o.Token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		return fmt.Errorf("%s answered over HTTP/%d.%d", r.o.APIRoot, resp.ProtoMajor, resp.ProtoMinor)
	}
	return nil
}

// stream sends one request after the other until the window closes.
func (r *sbiRun) stream(ctx context.Context, s *sbiStream) {
	for {
		start := time.Since(r.base)
		if start >= r.stopAt || ctx.Err() != nil {
			return
		}
		x := s.rng.Uint64()
		cat := r.picker.pick(uint32(x))
		lo, n := r.o.Data.span(cat)
		idx := lo + s.rng.IntN(n)
		imei := r.lists[cat][idx]
		var imsi string
		switch {
		case cat == Exception:
			imsi = r.o.Data.Exceptions[idx].IMSIString()
		case x>>32 < s.supiLimit:
			imsi = IMSIString(subscriberIMSI(cat, idx))
		}
		s.url = append(append(append(s.url[:0], r.o.APIRoot...), sbiPath+"?pei=imei-"...), imei...)
		if imsi != "" {
			s.url = append(append(s.url, "&supi=imsi-"...), imsi...)
		}
		measured := start >= r.measureStart
		if measured {
			s.sent[cat]++
		}
		got, err := s.do(ctx)
		end := time.Since(r.base)
		switch {
		case err != nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
			if ctx.Err() != nil && end >= r.stopAt {
				// Cut at the end of the window: neither sent nor lost.
				if measured {
					s.sent[cat]--
				}
				return
			}
			if measured {
				s.tmo[cat]++
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				if measured {
					s.sent[cat]--
				}
				return
			}
			if measured {
				s.errs++
				if len(s.errText) < maxSamples {
					s.errText = append(s.errText, err.Error())
				}
			}
			continue
		}
		if end >= r.measureStart && end < r.stopAt {
			s.inWindow++
		}
		if !measured {
			continue
		}
		s.answers++
		s.answered[cat]++
		s.hist.Record(end - start)
		s.codes[got]++
		if want := sbiExpect[cat].key; got != want {
			s.mismatch[cat]++
			if len(s.samples) < maxSamples {
				s.samples = append(s.samples, MismatchSample{Category: cat.String(), IMEI: imei, IMSI: imsi, Got: got, Want: want})
			}
		}
	}
}

// do sends the request in s.url and returns what the answer says: the
// status code and the status or the cause ("200 BLACKLISTED",
// "404 ERROR_EQUIPMENT_UNKNOWN", "503 NF_CONGESTION").
func (s *sbiStream) do(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, string(s.url), nil)
	if err != nil {
		return "", err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	s.buf.Reset()
	_, err = s.buf.ReadFrom(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	code := resp.StatusCode
	for _, e := range sbiExpect {
		if e.body != nil && code == 200 && bytes.Equal(s.buf.Bytes(), e.body) {
			return e.key, nil // the usual answers, without a JSON decode
		}
	}
	var b struct{ Status, Cause string }
	json.Unmarshal(s.buf.Bytes(), &b)
	key := strconv.Itoa(code)
	switch {
	case code == 200 && b.Status != "":
		key += " " + b.Status
	case b.Cause != "":
		key += " " + b.Cause
	}
	return key, nil
}

// isTimeout reports whether err is a client timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// merge adds the streams' counts to rep.
func (r *sbiRun) merge(rep *SBIReport, streams []*sbiStream) {
	hist := NewHistogram()
	var cats [numCategories]CategoryStats
	for _, s := range streams {
		hist.Merge(s.hist)
		rep.Answers += s.answers
		rep.AnswersInWindow += s.inWindow
		rep.Errors += s.errs
		for k, v := range s.codes {
			rep.Codes[k] += v
		}
		for c := range numCategories {
			cats[c].Sent += s.sent[c]
			cats[c].Answered += s.answered[c]
			cats[c].Mismatches += s.mismatch[c]
			cats[c].Timeouts += s.tmo[c]
		}
		for _, m := range s.samples {
			if len(rep.MismatchExamples) < maxSamples {
				rep.MismatchExamples = append(rep.MismatchExamples, m)
			}
		}
		for _, e := range s.errText {
			if len(rep.ErrorText) < maxSamples {
				rep.ErrorText = append(rep.ErrorText, e)
			}
		}
	}
	for c := range numCategories {
		st := cats[c]
		rep.Sent += st.Sent
		rep.Mismatches += st.Mismatches
		rep.Timeouts += st.Timeouts
		if r.o.Mix[c] > 0 || st.Sent > 0 {
			rep.Categories[c.String()] = st
		}
	}
	rep.Duration = (r.stopAt - r.measureStart).Seconds()
	if rep.Duration > 0 {
		rep.Throughput = float64(rep.AnswersInWindow) / rep.Duration
	}
	rep.Latency = hist.Summary()
}

// WriteTable writes r for people.
func (r *SBIReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	p("target\t%s%s", r.Target, sbiPath)
	p("load\tclosed loop, %d HTTP/2 connection(s) × %d streams; %gs measured after %gs warm-up; timeout %gs",
		r.Conns, r.Streams, r.Duration, r.Warmup, r.Timeout)
	p("mix\t%s (%d entries per list, seed %d, supi on %g %% of requests)", r.Mix, r.Entries, r.Seed, r.SUPIShare*100)
	p("throughput\t%s answers/s (%d answers in %gs)", thousands(r.Throughput), r.AnswersInWindow, r.Duration)
	l := r.Latency
	p("latency ms\tp50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	p("answers\t%s", countsText(r.Codes))
	p("sent/answered\t%d / %d", r.Sent, r.Answers)
	p("errors\tmismatches %d  timeouts %d  no answer %d  connection errors %d", r.Mismatches, r.Timeouts, r.Errors, r.ConnErrors)
	if r.Interrupted {
		p("interrupted\tyes: the measured window was cut short")
	}
	tw.Flush()
	fmt.Fprintln(tw)
	if err := writeCategories(tw, r.Categories); err != nil {
		return err
	}
	for _, e := range r.ErrorText {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	writeMismatches(w, r.MismatchExamples, "pei imei-", "supi imsi-")
	return nil
}
