package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/config"
)

// TestEIRDConfig checks that the configuration ratio writes, and the
// EIR_* variables it sets, are valid for eird.
func TestEIRDConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eird.yaml")
	if err := os.WriteFile(path, []byte(eirdConfig("127.0.0.1:6390", "info", true)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.LoadEnv(&cfg, eirdEnv(t.TempDir(), "127.0.0.1:6391", "warn", false)); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.Addresses[0] != "127.0.0.1:6391" || cfg.Events.Enabled || cfg.Log.Level != "warn" || !cfg.Diameter.AllowAnyPeer ||
		cfg.Diameter.Listen != "127.0.0.1:0" || cfg.Store.KeyPrefix != "eir:" || len(cfg.Bootstrap.Files) != 0 || cfg.N5g.Listen != "127.0.0.1:0" {
		t.Fatalf("config %+v", cfg)
	}
}

func TestSpreadAndSummary(t *testing.T) {
	if s := spreadOf([]float64{3, 1, 2}); s != (spread{Median: 2, Min: 1, Max: 3}) {
		t.Fatalf("odd: %+v", s)
	}
	if s := spreadOf([]float64{4, 1, 2, 3}); s != (spread{Median: 2.5, Min: 1, Max: 4}) {
		t.Fatalf("even: %+v", s)
	}
	rounds := []ratioRound{
		{Round: 1, Reference: meas(100, 1), EIRD: meas(50, 2), Ratio: 0.5},
		{Round: 2, Reference: meas(120, 1), EIRD: meas(72, 3), Ratio: 0.6},
		{Round: 3, Reference: meas(80, 1), EIRD: meas(56, 4), Ratio: 0.7},
	}
	s := summarise(rounds)
	if s.Ratio != (spread{0.6, 0.5, 0.7}) || s.EIRDThroughput.Median != 56 || s.ReferenceThroughput.Max != 120 || s.EIRDP99.Max != 4 {
		t.Fatalf("summary %+v", s)
	}
}

func meas(throughput, p99 float64) *measurement {
	return &measurement{Report: &loadgen.Report{Throughput: throughput, Latency: loadgen.Latency{P50: p99 / 2, P99: p99}, Categories: map[string]loadgen.CategoryStats{}}}
}

// TestRatioOutputs renders a result as a table and as markdown.
func TestRatioOutputs(t *testing.T) {
	bad := meas(70_000, 9)
	bad.Report.Mismatches = 1
	bad.Report.MismatchExamples = []loadgen.MismatchSample{{Category: "exception", IMEI: "352099001761481", IMSI: "001010000000001", Got: "Result-Code 5012", Want: "Result-Code 2001, Equipment-Status 0"}}
	res := &ratioResult{
		Machine:     machineInfo{CPU: "Test CPU", Cores: 2, Kernel: "linux 6", Go: "go1.26", Redis: "7.0.15"},
		EIRDVersion: "eird dev",
		Scenario:    scenario{Conns: 2, Window: 128, Duration: 10, Warmup: 2, Rounds: 2, Mix: loadgen.DefaultMix, OpenRate: 20000},
		Rounds:      []ratioRound{{Round: 1, Order: "reference,eird", Reference: meas(100_000, 5), EIRD: bad, Ratio: 0.7}},
		OpenLoop:    &openLoopResult{Rate: 20000, EIRD: meas(20000, 1.5)},
		Memory:      memorySummary{Start: &memSample{RSS: 30 << 20}, End: &memSample{RSS: 40 << 20}, MaxRSS: 41 << 20},
	}
	res.Summary = summarise(res.Rounds)
	res.Problems = problems("round 1/2 eird", bad)
	sbi := func(throughput float64) *measurement {
		return &measurement{SBI: &loadgen.SBIReport{Throughput: throughput, Latency: loadgen.Latency{P50: 2, P99: 8}}}
	}
	badSBI := sbi(30_000)
	badSBI.SBI.Mismatches = 2
	badSBI.SBI.MismatchExamples = []loadgen.MismatchSample{{Category: "grey", IMEI: "490154203237518", Got: "503 NF_CONGESTION", Want: "200 GREYLISTED"}}
	res.Scenario.N5gStreams = 64
	res.N5g = &n5gResult{Rounds: []ratioRound{{Round: 1, Order: "reference,eird", Reference: sbi(40_000), EIRD: badSBI, Ratio: 0.75}}}
	res.N5g.Summary = summarise(res.N5g.Rounds)
	res.Problems = append(res.Problems, problems("n5g round 1/1 eird", badSBI)...)
	var table bytes.Buffer
	if err := res.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	writeMarkdown(&md, res, time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	for _, want := range []string{"100,000", "70,000", "0.700", "open loop at 20,000", "30.0 MiB", "exception request (IMEI 352099001761481, User-Name 001010000000001): got Result-Code 5012",
		"N5g-eir (HTTP/2, h2c), closed loop, 2 connections × 64 streams", "40,000", "0.750", "grey request (pei imei-490154203237518): got 503 NF_CONGESTION, want 200 GREYLISTED"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	for _, want := range []string{"# eird against", "| CPU | Test CPU |", "## Scenario", "| 1 | reference,eird | 100,000 |", "**Ratio eird / reference** | **0.700**", "## Open loop at 20,000", "## eird memory", "## Problems seen", "## N5g-eir, closed loop, per round", "**Ratio eird / reference** | **0.750**"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(table.String()+md.String(), "%!") {
		t.Errorf("formatting error:\n%s\n%s", table.String(), md.String())
	}
	if code := ratioExit(res, false); code != exitOK {
		t.Errorf("exit %d without -strict", code)
	}
	if code := ratioExit(res, true); code != exitMismatch {
		t.Errorf("exit %d with -strict", code)
	}
}

func TestProcSamples(t *testing.T) {
	rss, err := procRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	if _, err := procCPU(strconv.Itoa(os.Getpid())); err != nil {
		t.Fatal(err)
	}
	if _, err := procCPU("self"); err != nil {
		t.Fatal(err)
	}
	if m := describeMachine("x"); m.Cores < 1 || m.Go == "" {
		t.Fatalf("machine %+v", m)
	}
	var l envList
	if err := l.Set("EIR_LOG_LEVEL=debug"); err != nil || l.Set("LOG=1") == nil {
		t.Fatalf("envList: %v %v", l, err)
	}
}
