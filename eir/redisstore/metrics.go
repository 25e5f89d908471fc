package redisstore

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	errors          *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	manifestReloads prometheus.Counter
	switches        prometheus.Counter
	deleted         *prometheus.CounterVec
	matchDuration   prometheus.Observer
	batchSize       prometheus.Histogram
	replicaLoads    prometheus.Counter
	replicaEntries  prometheus.Gauge
	diverged        prometheus.Gauge
	reachable       prometheus.Gauge
	restores        *prometheus.CounterVec
	snapshotWrites  *prometheus.CounterVec
	snapshotBytes   prometheus.Gauge
	compactions     prometheus.Counter
	filterAbsent    prometheus.Counter // keys a filter ruled out
	filterMaybe     prometheus.Counter // keys a filter may hold: read from Redis
	filterBytes     prometheus.Gauge
	replicasShort   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "store", Name: "errors_total",
			Help: "Redis operations that failed, by operation (match, match_fallback: a check answered from the lists held after the Redis read failed, apply, datasets, sync_state, replica, restore, accept, lock, list, meta, overlay, janitor, sweep, stream, info, ping, purge).",
		}, []string{"op"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "eir", Subsystem: "store", Name: "request_duration_seconds",
			Help:    "Duration of store operations, by operation.",
			Buckets: []float64{0.000002, 0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30},
		}, []string{"op"}),
		manifestReloads: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "store", Name: "manifest_reloads_total",
			Help: "Times the manifest of versions in force was read from Redis.",
		}),
		switches: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "store", Name: "version_switches_total",
			Help: "Writes that switched dataset versions, made by this process.",
		}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "store", Name: "versions_deleted_total",
			Help: "Versions deleted by the janitor, by reason (retired, abandoned).",
		}, []string{"reason"}),
	}
	m.matchDuration = m.duration.WithLabelValues("match")
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "eir", Subsystem: "store", Name: "match_batch_size",
		Help:    "Checks whose Redis reads went in one pipeline (checks not answered from the replica; the reads of the checks in flight are sent together).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
	})
	m.replicaLoads = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "eir", Subsystem: "store", Name: "replica_loads_total",
		Help: "Dataset versions copied into this process's replica.",
	})
	m.replicaEntries = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "eir", Subsystem: "store", Name: "replica_entries",
		Help: "Entries in this process's replica of the lists in force.",
	})
	m.diverged = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "eir", Subsystem: "store", Name: "diverged",
		Help: "1 while Redis does not hold the lists in force (emptied, rolled back or replaced): checks are answered from the lists held, writes are refused until `eirctl store restore`.",
	})
	m.reachable = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "eir", Subsystem: "store", Name: "reachable",
		Help: "1 while Redis answers the replica's epoch reads; 0 during an outage (checks are answered from the lists held, writes fail at once).",
	})
	m.reachable.Set(1)
	m.restores = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "eir", Subsystem: "store", Name: "restores_total",
		Help: "Restores of the lists in force into Redis and acceptances of Redis's state, by kind (restore, accept) and result (ok, refused, error).",
	}, []string{"kind", "result"})
	m.snapshotWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "eir", Subsystem: "store", Name: "snapshot_writes_total",
		Help: "Local copies of the lists in force written to store.snapshot_dir, by result (ok, error).",
	}, []string{"result"})
	m.snapshotBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "eir", Subsystem: "store", Name: "snapshot_bytes",
		Help: "Size of the local copy of the lists in force in store.snapshot_dir.",
	})
	m.compactions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "eir", Subsystem: "store", Name: "overlay_compactions_total",
		Help: "Overlays of changes folded into a new version of their dataset by this process.",
	})
	m.replicasShort = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "eir", Subsystem: "store", Name: "write_replicas_short_total",
		Help: "Writes made on the Redis master that fewer than store.write_replicas replicas acknowledged within store.write_replicas_timeout: failed, though in force (a failover may lose them).",
	})
	filterChecks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "eir", Subsystem: "store", Name: "filter_checks_total",
		Help: "Lookups in a dataset held as a filter (too large for the replica, store.replica_filter), by result: absent (answered without Redis) or maybe (read from Redis).",
	}, []string{"result"})
	m.filterAbsent, m.filterMaybe = filterChecks.WithLabelValues("absent"), filterChecks.WithLabelValues("maybe")
	m.filterBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "eir", Subsystem: "store", Name: "filter_bytes",
		Help: "Memory of the filters of the datasets too large for the replica (store.replica_filter).",
	})
	for _, c := range []prometheus.Collector{m.replicasShort, m.errors, m.duration, m.manifestReloads, m.switches, m.deleted, m.batchSize, m.replicaLoads, m.replicaEntries,
		m.diverged, m.reachable, m.restores, m.snapshotWrites, m.snapshotBytes, m.compactions, filterChecks, m.filterBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// datasetCollector reports the datasets in force from the plan this
// process last read (no Redis round trip at scrape time):
//
//	eir_store_dataset_entries{source, target, list, expiring}
//	eir_store_dataset_version{source, target, list, expiring}
//	eir_store_dataset_updated_timestamp_seconds{source, target, list, expiring}
type datasetCollector struct{ s *Store }

var (
	datasetLabels   = []string{"source", "target", "list", "expiring"}
	datasetEntries  = prometheus.NewDesc("eir_store_dataset_entries", "Entries of each dataset in force, as last read by this process.", datasetLabels, nil)
	datasetVersion  = prometheus.NewDesc("eir_store_dataset_version", "Version in force of each dataset.", datasetLabels, nil)
	datasetSwitched = prometheus.NewDesc("eir_store_dataset_updated_timestamp_seconds", "When the version in force of each dataset was switched to (Unix time).", datasetLabels, nil)
)

func (c datasetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- datasetEntries
	ch <- datasetVersion
	ch <- datasetSwitched
}

func (c datasetCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.s.plan.Load()
	if p == nil {
		return
	}
	for _, e := range p.all {
		l := []string{e.ds.Source, e.ds.Target.String(), e.ds.List.String(), strconv.FormatBool(e.ds.Expiring)}
		ch <- prometheus.MustNewConstMetric(datasetEntries, prometheus.GaugeValue, float64(e.Count), l...)
		ch <- prometheus.MustNewConstMetric(datasetVersion, prometheus.GaugeValue, float64(e.current()), l...)
		ch <- prometheus.MustNewConstMetric(datasetSwitched, prometheus.GaugeValue, float64(e.At)/1000, l...)
	}
}
