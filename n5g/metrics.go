package n5g

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration prometheus.Histogram
	children sync.Map // answerKey → prometheus.Counter
}

type answerKey struct {
	code  int
	cause string
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "n5g", Name: "requests_total",
			Help: "N5g-eir requests answered, by HTTP status code and ProblemDetails cause (empty for 200 and errors without one).",
		}, []string{"code", "cause"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "eir", Subsystem: "n5g", Name: "request_duration_seconds",
			Help:    "Time from a request's headers being read to its answer being written.",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) answered(code int, cause string, seconds float64) {
	k := answerKey{code, cause}
	c, ok := m.children.Load(k)
	if !ok {
		c, _ = m.children.LoadOrStore(k, m.requests.WithLabelValues(strconv.Itoa(code), cause))
	}
	c.(prometheus.Counter).Inc()
	m.duration.Observe(seconds)
}
