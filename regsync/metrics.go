package regsync

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	passes        *prometheus.CounterVec
	files         *prometheus.CounterVec
	rejectedFiles *prometheus.CounterVec
	rejectedRows  *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	run           *prometheus.GaugeVec
	entries       *prometheus.GaugeVec
	duration      *prometheus.HistogramVec
	held          *prometheus.GaugeVec
	resync        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "sync", Name: "passes_total",
			Help: "Sync passes, by source and result (ok, error, locked: another eird ran it)."}, []string{"source", "result"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "sync", Name: "files_total",
			Help: "Files and packages handled, by source and result (applied, rejected, held, already_applied, ignored)."}, []string{"source", "result"}),
		rejectedFiles: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "sync", Name: "rejected_files_total",
			Help: "Files rejected, by source and reason code."}, []string{"source", "reason"}),
		rejectedRows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eir", Subsystem: "sync", Name: "rejected_rows_total",
			Help: "Rows quarantined (unparseable) in applied files, by source and list."}, []string{"source", "list"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "eir", Subsystem: "sync", Name: "last_success_timestamp_seconds",
			Help: "Start time of the last pass that ended without error, by source."}, []string{"source"}),
		run: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "eir", Subsystem: "sync", Name: "list_run",
			Help: "Registry run id of the list in force, by source and list (0 when the registry gives none)."}, []string{"source", "list"}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "eir", Subsystem: "sync", Name: "entries",
			Help: "Entries of the list in force, by source and list, as of the last apply by this eird."}, []string{"source", "list"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "eir", Subsystem: "sync", Name: "pass_duration_seconds",
			Help: "Duration of sync passes, by source.", Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300}}, []string{"source"}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "eir", Subsystem: "sync", Name: "held_files",
			Help: "Files held by a guard until an operator approves them, by source."}, []string{"source"}),
		resync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "eir", Subsystem: "sync", Name: "resync_needed",
			Help: "1 while a list's deltas cannot be applied (base mismatch) and a full file is awaited, by source and list."}, []string{"source", "list"}),
	}
	for _, c := range []prometheus.Collector{m.passes, m.files, m.rejectedFiles, m.rejectedRows, m.lastSuccess, m.run, m.entries, m.duration, m.held, m.resync} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
