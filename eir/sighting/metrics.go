package sighting

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	observations *prometheus.CounterVec // result: written, deduplicated, invalid, failed
	commands     prometheus.Counter
	errors       *prometheus.CounterVec // op
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		observations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "sighting", Name: "observations_total",
			Help: "Observations given to the store, by result (written; deduplicated: the pair was written with the same day, peer and answer within min_interval; invalid; failed: the Redis write failed).",
		}, []string{"result"}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "sighting", Name: "redis_commands_total",
			Help: "Redis commands sent by the sighting store (writes, reads and peer interning).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "sighting", Name: "errors_total",
			Help: "Sighting store operations that failed, by operation (write, peer, pairs, devices, forget, day, claim).",
		}, []string{"op"}),
	}
	for _, r := range []string{"written", "deduplicated", "invalid", "failed"} {
		m.observations.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.observations, m.commands, m.errors} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
