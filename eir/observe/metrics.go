// Package observe is what happens after a decision, whatever the
// interface that asked (S13, N5g-eir, the admin API): one Observer is
// told of every check answered. It counts the decisions in one series:
//
//	eir_check_decisions_total{interface, status, rule, list_source}
//
// status is whitelisted, blacklisted, greylisted, unknown (no list and the
// default unknown-equipment policy) or error (the store failed and the
// policy rejects); rule is the eir.Rule that decided (exception, override,
// imei, range, tac, unknown_policy, store_fallback) or none; list_source is
// the source of the deciding entry, empty for policy answers. Verdicts of
// sources in shadow mode, computed but not enforced, are counted apart:
//
//	eir_check_shadow_decisions_total{interface, status, rule, list_source}
package observe

import (
	"errors"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eir-sidecar/eir/eir"
)

// Recorder records decisions. It is safe for concurrent use.
type Recorder struct {
	decisions *prometheus.CounterVec
	shadow    *prometheus.CounterVec
	// children caches the counters by key: resolving labels (and
	// lower-casing the status) costs more than counting.
	children sync.Map // key → prometheus.Counter
}

// key selects one series.
type key struct {
	shadow bool
	iface  string
	status string // "unknown" and "error" for those errors
	st     eir.Status
	rule   eir.Rule
	source string
}

func (r *Recorder) inc(k key) {
	c, ok := r.children.Load(k)
	if !ok {
		vec, status, rule := r.decisions, k.status, "none"
		if k.shadow {
			vec = r.shadow
		}
		if status == "" {
			status, rule = strings.ToLower(k.st.String()), k.rule.String()
		}
		c, _ = r.children.LoadOrStore(k, vec.WithLabelValues(k.iface, status, rule, k.source))
	}
	c.(prometheus.Counter).Inc()
}

// NewRecorder registers the decision counters on reg.
func NewRecorder(reg prometheus.Registerer) (*Recorder, error) {
	r := &Recorder{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "eir", Subsystem: "check", Name: "decisions_total",
		Help: "Equipment checks decided, by interface (s13, n5g, admin), status, deciding rule and source of the deciding entry.",
	}, []string{"interface", "status", "rule", "list_source"}),
		shadow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "check", Name: "shadow_decisions_total",
			Help: "Verdicts of sources in shadow mode, computed but not enforced, by interface, status, rule and source.",
		}, []string{"interface", "status", "rule", "list_source"})}
	for _, c := range []prometheus.Collector{r.decisions, r.shadow} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Record counts one decision, or one decision error.
func (r *Recorder) Record(iface string, d eir.Decision, err error) {
	switch {
	case errors.Is(err, eir.ErrUnknown):
		r.inc(key{iface: iface, status: "unknown"})
	case err != nil:
		r.inc(key{iface: iface, status: "error"})
	default:
		r.inc(key{iface: iface, st: d.Status, rule: d.Rule, source: d.Source})
		if sh := d.Shadow; sh != nil {
			r.inc(key{shadow: true, iface: iface, st: sh.Status, rule: sh.Rule, source: sh.Source})
		}
	}
}
