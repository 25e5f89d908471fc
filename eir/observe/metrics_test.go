package observe

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eir-sidecar/eir/eir"
)

func TestRecord(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	r.Record("s13", eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "manual"}, nil)
	r.Record("s13", eir.Decision{}, eir.ErrUnknown)
	r.Record("admin", eir.Decision{}, errors.New("store down"))
	// A shadowed verdict: answered whitelisted, the trial source said black.
	r.Record("s13", eir.Decision{Status: eir.Whitelisted, Rule: eir.RuleShadow, Source: "trial",
		Shadow: &eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "trial"}}, nil)
	want := `
# HELP eir_check_decisions_total Equipment checks decided, by interface (s13, n5g, admin), status, deciding rule and source of the deciding entry.
# TYPE eir_check_decisions_total counter
eir_check_decisions_total{interface="admin",list_source="",rule="none",status="error"} 1
eir_check_decisions_total{interface="s13",list_source="",rule="none",status="unknown"} 1
eir_check_decisions_total{interface="s13",list_source="trial",rule="shadow",status="whitelisted"} 1
eir_check_decisions_total{interface="s13",list_source="manual",rule="imei",status="blacklisted"} 1
# HELP eir_check_shadow_decisions_total Verdicts of sources in shadow mode, computed but not enforced, by interface, status, rule and source.
# TYPE eir_check_shadow_decisions_total counter
eir_check_shadow_decisions_total{interface="s13",list_source="trial",rule="imei",status="blacklisted"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
