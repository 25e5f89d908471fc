package opexport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/regsync"
	"github.com/eir-sidecar/eir/regsync/opdata"
)

// ScheduleOptions configures a Scheduler.
type ScheduleOptions struct {
	// Dir receives the files (<operator>_<D>_<D>.zip and .zip.sha256).
	Dir string
	// At is the time of day (in the store's zone) after which the
	// previous day is exported, as an offset from midnight (01:30 is
	// 90*time.Minute).
	At time.Duration
	// Tick is how often the scheduler looks (default 1 minute);
	// RetryInterval how long it waits after a failed export (default 10
	// minutes).
	Tick, RetryInterval time.Duration
	// LockTTL bounds the lock one eird holds while it exports (default 30
	// minutes, longer than an export takes: a lock that expires mid-export
	// lets a second eird write the same file, identical but twice).
	LockTTL time.Duration
}

// metaName is the coordinator record of the dates exported: field
// <YYYYMMDD>, value the zip's SHA-256.
const metaName = "opexport:operator_data"

// keepDays bounds the dates kept in the record.
const keepDays = 60

// Scheduler exports the previous day once a day.
type Scheduler struct {
	e     *Exporter
	coord regsync.Coordinator
	o     ScheduleOptions
	log   *zap.Logger
	m     *metrics

	done      opdata.Date // the last date this process knows is exported
	nextRetry time.Time
}

type metrics struct {
	exports  *prometheus.CounterVec
	rows     prometheus.Gauge
	lastDone prometheus.Gauge
}

// NewScheduler returns a Scheduler writing e's exports into o.Dir,
// coordinated with the other eird through coord
// (regsync.CoordinatorFor(redisstore)). reg may be nil.
func NewScheduler(e *Exporter, coord regsync.Coordinator, o ScheduleOptions, log *zap.Logger, reg prometheus.Registerer) (*Scheduler, error) {
	if o.Dir == "" {
		return nil, errors.New("opexport: dir: required")
	}
	if o.At < 0 || o.At >= 24*time.Hour {
		return nil, fmt.Errorf("opexport: at: %v: want a time of day", o.At)
	}
	if o.Tick <= 0 {
		o.Tick = time.Minute
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 10 * time.Minute
	}
	if o.LockTTL <= 0 {
		o.LockTTL = 30 * time.Minute
	}
	m := &metrics{
		exports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eir_operator_data_exports_total",
			Help: "Scheduled operator data exports by result: ok, failed, skipped (done by another eird)."}, []string{"result"}),
		rows: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eir_operator_data_export_rows",
			Help: "Rows in the last operator data file this eird wrote."}),
		lastDone: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eir_operator_data_export_last_success_timestamp_seconds",
			Help: "When this eird last wrote an operator data file (unix seconds)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.exports, m.rows, m.lastDone} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("opexport: metrics: %w", err)
			}
		}
	}
	for _, r := range []string{"ok", "failed", "skipped"} {
		m.exports.WithLabelValues(r)
	}
	return &Scheduler{e: e, coord: coord, o: o, log: log, m: m}, nil
}

// Run exports every day after At until ctx is done.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	for {
		s.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce exports the previous day if At has passed and no eird has yet;
// it reports whether this call wrote the file.
func (s *Scheduler) RunOnce(ctx context.Context) bool {
	now := s.e.o.Now().In(s.e.zone)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.e.zone)
	if now.Before(midnight.Add(s.o.At)) || now.Before(s.nextRetry) {
		return false
	}
	date := opdata.DateOf(midnight.AddDate(0, 0, -1))
	if s.done == date {
		return false
	}
	wrote, err := s.exportOnce(ctx, date)
	if err != nil {
		s.m.exports.WithLabelValues("failed").Inc()
		s.nextRetry = now.Add(s.o.RetryInterval)
		s.log.Error("operator data export failed", zap.String("date", date.String()), zap.Duration("retry_in", s.o.RetryInterval), zap.Error(err))
		return false
	}
	return wrote
}

// exportOnce writes date's file unless another eird did or is doing it.
func (s *Scheduler) exportOnce(ctx context.Context, date opdata.Date) (bool, error) {
	if ok, err := s.exported(ctx, date); err != nil || ok {
		return false, err
	}
	lease, err := s.coord.TryLock(ctx, metaName+":"+date.String(), s.o.LockTTL)
	if err != nil {
		return false, fmt.Errorf("lock: %w", err)
	}
	if lease == nil {
		return false, nil // another eird is exporting it: look again at the next tick
	}
	defer lease.Unlock(context.WithoutCancel(ctx))
	// Checked again under the lock: another eird may have finished between
	// the first look and the lock.
	if ok, err := s.exported(ctx, date); err != nil || ok {
		return false, err
	}
	res, err := s.e.Export(ctx, s.o.Dir, date)
	if err != nil {
		return false, err
	}
	if err := s.coord.MetaSet(ctx, metaName, date.String(), res.SHA256); err != nil {
		return false, fmt.Errorf("record %s as exported: %w", date, err)
	}
	s.done = date
	s.m.exports.WithLabelValues("ok").Inc()
	s.m.rows.Set(float64(res.Rows))
	s.m.lastDone.Set(float64(s.e.o.Now().Unix()))
	s.log.Info("operator data exported", zap.String("file", res.Path), zap.Int("rows", res.Rows), zap.String("sha256", res.SHA256))
	return true, nil
}

// exported reports whether an eird recorded date as exported.
func (s *Scheduler) exported(ctx context.Context, date opdata.Date) (bool, error) {
	done, err := s.coord.MetaGetAll(ctx, metaName)
	if err != nil {
		return false, fmt.Errorf("read exports done: %w", err)
	}
	var old []string
	cutoff := opdata.DateOf(time.Date(date.Year, date.Month, date.Day-keepDays, 0, 0, 0, 0, time.UTC)).String()
	for d := range done {
		if d < cutoff {
			old = append(old, d)
		}
	}
	if len(old) > 0 {
		_ = s.coord.MetaDel(ctx, metaName, old...) // best effort: the record only grows by a field a day
	}
	if done[date.String()] == "" {
		return false, nil
	}
	if s.done != date {
		s.m.exports.WithLabelValues("skipped").Inc()
		s.done = date
	}
	return true, nil
}
