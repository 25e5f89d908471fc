package nrf

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations, the values of the operation label.
const (
	opRegister   = "register"
	opHeartbeat  = "heartbeat"
	opDeregister = "deregister"
)

// codeError is the code label of a request that got no HTTP answer
// (connection refused or reset, TLS failure, timeout).
const codeError = "error"

type metrics struct {
	requests   *prometheus.CounterVec
	registered prometheus.Gauge
	interval   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "nrf", Name: "requests_total",
			Help: "Requests to the NRF, by operation (register, heartbeat, deregister) and HTTP status code (\"error\": no answer).",
		}, []string{"operation", "code"}),
		registered: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "eir", Subsystem: "nrf", Name: "registered",
			Help: "1 while the NRF's last answer confirmed the 5G-EIR's registration, else 0.",
		}),
		interval: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "eir", Subsystem: "nrf", Name: "heartbeat_interval_seconds",
			Help: "Heartbeat interval granted by the NRF (heartBeatTimer); 0 before the first registration.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.registered, m.interval} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// answered counts one request; code is 0 when no answer came.
func (m *metrics) answered(op string, code int) {
	label := codeError
	if code != 0 {
		label = strconv.Itoa(code)
	}
	m.requests.WithLabelValues(op, label).Inc()
}
