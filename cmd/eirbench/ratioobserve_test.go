package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
)

func TestMetricSum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`# HELP eir_check_decisions_total x
eir_check_decisions_total{interface="admin",status="unknown"} 7
eir_check_decisions_total{interface="s13",status="blacklisted"} 10
eir_check_decisions_total{interface="s13",status="unknown"} 1.5e+06
eir_check_decisions_total_other 99
eir_sighting_dropped_total 3
`))
	}))
	defer srv.Close()
	if got := metricSum(srv.URL, "eir_check_decisions_total", `interface="s13"`); got != 1_500_010 {
		t.Errorf("s13 decisions: %v", got)
	}
	if got := metricSum(srv.URL, "eir_sighting_dropped_total", ""); got != 3 {
		t.Errorf("dropped: %v", got)
	}
	if got := metricSum(srv.URL, "eir_missing_total", ""); got != 0 {
		t.Errorf("missing: %v", got)
	}
}

func TestMarkdownObserve(t *testing.T) {
	res := &ratioResult{Scenario: scenario{IMSIShare: 1}, Summary: &ratioSummary{Ratio: spread{Median: 2.7}}}
	res.Observe = &observeResult{Checks: 1_000_000, Written: 400_000, Deduplicated: 600_000, Commands: 800_000, CommandsPer1000: 800,
		Summary: &ratioSummary{Ratio: spread{Median: 0.9, Min: 0.85, Max: 0.95}}, Rounds: []ratioRound{{Round: 1, Order: "on,off"}}, Effect: 0.9,
		Open: &openLoopResult{Rate: 20_000, EIRD: &measurement{Report: &loadgen.Report{Throughput: 19_990}}}}
	var b bytes.Buffer
	writeMarkdown(&b, res, time.Now())
	for _, want := range []string{"## Observations (observe.enabled)", "| 1,000,000 | 400,000 | 600,000 | 0 | 800,000 | 800.0 |", "**0.900** (0.850–0.950)", "Then an open loop at 20,000 requests/s", "| observation on | 19,990 |", "| 1 | on,off |", "| Round | Order | Off answers/s | p50 ms | p99 ms | On answers/s | p50 ms | p99 ms | On / off | Errors off/on | Server CPU % off/on | Client CPU % |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
