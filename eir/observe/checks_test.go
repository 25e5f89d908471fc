package observe

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe/redact"
)

// sink records the events published.
type sink struct{ got []string }

func (s *sink) Decision(iface, peer, peerAddr string, q eir.Query, d eir.Decision, err error) {
	s.got = append(s.got, fmt.Sprintf("%s %s %s %v %v %v", iface, peer, peerAddr, q.IMEI, d.Status, err))
}

func TestChecks(t *testing.T) {
	storeDown := fmt.Errorf("test: %w", eir.ErrUnavailable)
	black := eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "national"}
	shadowed := eir.Decision{Status: eir.Whitelisted, Rule: eir.RuleShadow, Source: "trial",
		Shadow: &eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "trial"}}
	fallback := eir.Decision{Status: eir.Whitelisted, Rule: eir.RuleStoreFallback, Cause: storeDown}
	const imei = eir.IMEI(35209900176148)
	red := redact.New([]byte("key"))
	tests := []struct {
		name    string
		a       Answer
		metric  string // the series counted, "" for none
		shadow  string // the shadow series counted, "" for none
		events  []string
		logs    []string // "level message" of each line
		logKeys map[string]any
	}{
		{"s13 black", Answer{Interface: S13, Peer: "mme1", PeerAddr: "10.0.0.1", Query: eir.Query{IMEI: imei}, Decision: black},
			`interface="s13",list_source="national",rule="imei",status="blacklisted"`, "",
			[]string{"s13 mme1 10.0.0.1 35209900176148 BLACKLISTED <nil>"}, nil, nil},
		{"n5g unknown", Answer{Interface: N5g, Peer: "amf", Query: eir.Query{IMEI: imei, Kind: eir.PEIIMEI}, Err: eir.ErrUnknown},
			`interface="n5g",list_source="",rule="none",status="unknown"`, "",
			[]string{"n5g amf  35209900176148 WHITELISTED eir: equipment unknown"}, nil, nil},
		{"s13 shadow verdict", Answer{Interface: S13, Peer: "mme1", Query: eir.Query{IMEI: imei}, Decision: shadowed},
			`interface="s13",list_source="trial",rule="shadow",status="whitelisted"`, `interface="s13",list_source="trial",rule="imei",status="blacklisted"`,
			[]string{"s13 mme1  35209900176148 WHITELISTED <nil>"}, []string{"info shadow verdict not enforced"},
			map[string]any{"origin_host": "mme1", "verdict": "BLACKLISTED", "rule": "imei", "source": "trial", "answered": "WHITELISTED",
				"imei": red.IMEI(imei).String}},
		{"n5g shadow verdict", Answer{Interface: N5g, Peer: "amf-1", Query: eir.Query{IMEI: imei, Kind: eir.PEIIMEISV}, Decision: shadowed},
			`interface="n5g",list_source="trial",rule="shadow",status="whitelisted"`, `interface="n5g",list_source="trial",rule="imei",status="blacklisted"`,
			[]string{"n5g amf-1  35209900176148 WHITELISTED <nil>"}, []string{"info shadow verdict not enforced"},
			map[string]any{"consumer": "amf-1", "verdict": "BLACKLISTED"}},
		{"n5g store fallback", Answer{Interface: N5g, Query: eir.Query{IMEI: imei}, Decision: fallback},
			`interface="n5g",list_source="",rule="store_fallback",status="whitelisted"`, "",
			[]string{"n5g   35209900176148 WHITELISTED <nil>"}, []string{"warn store unavailable; answered by policy"},
			map[string]any{"error": storeDown.Error()}},
		{"s13 store failed", Answer{Interface: S13, Peer: "mme1", Query: eir.Query{IMEI: imei}, Err: storeDown},
			`interface="s13",list_source="",rule="none",status="error"`, "",
			[]string{"s13 mme1  35209900176148 WHITELISTED test: eir: list store unavailable"}, []string{"warn check failed"},
			map[string]any{"error": storeDown.Error(), "interface": "s13"}},
		{"admin: counted only", Answer{Interface: Admin, Peer: "ops", Query: eir.Query{IMEI: imei}, Decision: shadowed, Err: nil},
			`interface="admin",list_source="trial",rule="shadow",status="whitelisted"`, `interface="admin",list_source="trial",rule="imei",status="blacklisted"`,
			nil, nil, nil},
		{"admin error: counted only", Answer{Interface: Admin, Query: eir.Query{IMEI: imei}, Err: errors.New("boom")},
			`interface="admin",list_source="",rule="none",status="error"`, "", nil, nil, nil},
		{"mac pei: not observed", Answer{Interface: N5g, Query: eir.Query{Kind: eir.PEIMAC}, Decision: eir.Decision{Status: eir.Greylisted, Rule: eir.RuleUnknownPolicy}},
			"", "", nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			core, logs := observer.New(zapcore.DebugLevel)
			ev := &sink{}
			c, err := New(Options{Registerer: reg, Logger: zap.New(core), Redactor: red, Events: ev})
			if err != nil {
				t.Fatal(err)
			}
			c.Answered(tc.a)
			want := "# HELP eir_check_decisions_total Equipment checks decided, by interface (s13, n5g, admin), status, deciding rule and source of the deciding entry.\n" +
				"# TYPE eir_check_decisions_total counter\n"
			if tc.metric == "" {
				want = ""
			} else {
				want += "eir_check_decisions_total{" + tc.metric + "} 1\n"
			}
			if tc.shadow != "" {
				want += "# HELP eir_check_shadow_decisions_total Verdicts of sources in shadow mode, computed but not enforced, by interface, status, rule and source.\n" +
					"# TYPE eir_check_shadow_decisions_total counter\n" +
					"eir_check_shadow_decisions_total{" + tc.shadow + "} 1\n"
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
			if fmt.Sprint(ev.got) != fmt.Sprint(tc.events) {
				t.Errorf("events %q, want %q", ev.got, tc.events)
			}
			var got []string
			for _, e := range logs.All() {
				got = append(got, e.Level.String()+" "+e.Message)
				fields := e.ContextMap()
				for k, v := range tc.logKeys {
					if fields[k] != v {
						t.Errorf("%s: field %s = %v, want %v (all: %v)", e.Message, k, fields[k], v, fields)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.logs) {
				t.Errorf("logs %q, want %q", got, tc.logs)
			}
		})
	}
}

// TestChecksDefaults: without a logger, a redactor or an event sink, the
// decisions are still counted.
func TestChecksDefaults(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	c.Answered(Answer{Interface: S13, Query: eir.Query{IMEI: 1}, Err: errors.New("boom"),
		Decision: eir.Decision{Shadow: &eir.Decision{}}})
	if n := testutil.CollectAndCount(reg, "eir_check_decisions_total"); n != 1 {
		t.Fatalf("%d series", n)
	}
	if _, err := New(Options{Registerer: reg}); err == nil {
		t.Fatal("registered twice")
	}
}

// BenchmarkAnswered is the observer's cost for a decision that logs
// nothing: counting, and the event sink's call.
func BenchmarkAnswered(b *testing.B) {
	c, err := New(Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), Events: &nopSink{}})
	if err != nil {
		b.Fatal(err)
	}
	a := Answer{Interface: S13, Peer: "mme1", Query: eir.Query{IMEI: 35209900176148},
		Decision: eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "national"}}
	b.ReportAllocs()
	for b.Loop() {
		c.Answered(a)
	}
}

type nopSink struct{}

func (nopSink) Decision(string, string, string, eir.Query, eir.Decision, error) {}

// TestAnsweredAllocs: a decision that logs nothing costs no allocation.
func TestAnsweredAllocs(t *testing.T) {
	c, err := New(Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), Events: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	a := Answer{Interface: N5g, Query: eir.Query{IMEI: 35209900176148}, Err: eir.ErrUnknown}
	c.Answered(a)
	if n := testing.AllocsPerRun(100, func() { c.Answered(a) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// TestPeerIP: the event carries the peer's IP, whatever form of address
// the interface gave.
func TestPeerIP(t *testing.T) {
	for addr, want := range map[string]string{
		"10.0.0.7:41234":         "10.0.0.7",
		"[::ffff:10.0.0.7]:3868": "10.0.0.7",
		"[2001:db8::1]:443":      "2001:db8::1",
		"10.0.0.7":               "10.0.0.7",
		"not an address":         "not an address",
		"mme.example.org:3868":   "mme.example.org",
	} {
		ev := &sink{}
		c, err := New(Options{Registerer: prometheus.NewRegistry(), Events: ev})
		if err != nil {
			t.Fatal(err)
		}
		c.Answered(Answer{Interface: N5g, PeerAddr: addr, Query: eir.Query{IMEI: 1}, Decision: eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI}})
		if len(ev.got) != 1 || !strings.Contains(ev.got[0], " "+want+" ") {
			t.Errorf("%q: event %q, want the address %q", addr, ev.got, want)
		}
	}
}
