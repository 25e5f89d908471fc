package diameter

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	peers      *prometheus.GaugeVec
	inflight   prometheus.Gauge
	panics     prometheus.Counter
	transport  *prometheus.CounterVec
	sentDWR    prometheus.Counter
	unanswered *prometheus.CounterVec
	refused    *prometheus.CounterVec
	// tlsFailures counts failed TLS handshakes by reason.
	tlsFailures *prometheus.CounterVec

	// counters caches the children of requests, durations those of
	// duration: resolving labels costs more than counting.
	counters  sync.Map // requestKey → prometheus.Counter
	durations sync.Map // command → prometheus.Observer
}

type requestKey struct {
	cmd  string
	code uint32
}

// answered counts one answer and its time.
func (m *metrics) answered(cmd string, code uint32, seconds float64) {
	k := requestKey{cmd, code}
	c, ok := m.counters.Load(k)
	if !ok {
		c, _ = m.counters.LoadOrStore(k, m.requests.WithLabelValues(cmd, resultLabel(code)))
	}
	c.(prometheus.Counter).Inc()
	o, ok := m.durations.Load(cmd)
	if !ok {
		o, _ = m.durations.LoadOrStore(cmd, m.duration.WithLabelValues(cmd))
	}
	o.(prometheus.Observer).Observe(seconds)
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "requests_total",
			Help: "Diameter requests answered, by command (CER, DWR, DPR, ECR, other) and the answer's (Experimental-)Result-Code.",
		}, []string{"command", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "request_duration_seconds",
			Help:    "Time from a request's arrival to its answer being queued for writing, by command.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"command"}),
		peers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "peers",
			Help: "Transport connections by peer state (wait_cer, open, closing).",
		}, []string{"state"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "inflight_requests",
			Help: "ME-Identity-Check requests being processed.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "handler_panics_total",
			Help: "Requests whose handling panicked; each was answered with 5012.",
		}),
		transport: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "connections_closed_total",
			Help: "Transport connections closed, by reason.",
		}, []string{"reason"}),
		sentDWR: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "watchdog_requests_sent_total",
			Help: "Device-Watchdog-Requests sent to idle peers.",
		}),
		unanswered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "messages_dropped_total",
			Help: "Messages received and not answered, by reason (before_cer, unexpected_answer).",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "connections_refused_total",
			Help: "Transport connections closed at accept, before anything was read, by reason (max_connections, address).",
		}, []string{"reason"}),
		tlsFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "diameter", Name: "tls_handshake_failures_total",
			Help: "TLS handshakes that failed on the TLS listener, by reason (timeout, certificate, protocol).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.peers, m.inflight, m.panics, m.transport, m.sentDWR, m.unanswered, m.refused, m.tlsFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, s := range []string{stateWaitCER.String(), stateOpen.String(), stateClosing.String()} {
		m.peers.WithLabelValues(s)
	}
	for _, r := range []string{refusedMaxConnections, refusedAddress} {
		m.refused.WithLabelValues(r)
	}
	for _, r := range []string{tlsFailTimeout, tlsFailCertificate, tlsFailProtocol} {
		m.tlsFailures.WithLabelValues(r)
	}
	return m, nil
}
