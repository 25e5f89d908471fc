package sighting

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Defaults of WriterOptions.
const (
	DefaultQueueSize     = 8192
	DefaultBatchSize     = 512
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultWriteTimeout  = time.Second
)

// WriterOptions configures a Writer.
type WriterOptions struct {
	// QueueSize bounds the observations waiting to be written; Record drops
	// (and counts) what does not fit. 0 is DefaultQueueSize.
	QueueSize int
	// BatchSize: a batch is written when it holds this many observations,
	// or FlushInterval after its first one. 0 is DefaultBatchSize, or
	// with MaxRate what MaxRate allows in 5 ms (16 to 512): at the bound, a
	// batch every 5 ms rather than 512 at once, so that Redis, often on
	// the cores that answer checks, works in short slices.
	BatchSize int
	// FlushInterval is the longest an observation waits in a batch. 0 is
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// WriteTimeout bounds each batch write. 0 is DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxRate bounds the observations written per second (0: no bound),
	// so that observing never takes more of Redis, which serves the lists
	// in force, than this: beyond it the queue fills and Record drops.
	MaxRate float64
	// OnResult, when set, is called with each observation of a batch and
	// what writing it did (the rules and Classify need both), from the
	// writer's goroutine: it must not block long.
	OnResult func(Observation, Result)
}

func (o WriterOptions) withDefaults() WriterOptions {
	o.QueueSize = cmp.Or(o.QueueSize, DefaultQueueSize)
	if o.BatchSize == 0 && o.MaxRate > 0 {
		o.BatchSize = min(DefaultBatchSize, max(16, int(o.MaxRate/200)))
	}
	o.BatchSize = cmp.Or(o.BatchSize, DefaultBatchSize)
	o.FlushInterval = cmp.Or(o.FlushInterval, DefaultFlushInterval)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, DefaultWriteTimeout)
	return o
}

// Validate reports every invalid option, each under its name.
func (o WriterOptions) Validate() error {
	var errs []error
	if o.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("queue_size: %d: want ≥ 0", o.QueueSize))
	}
	if o.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("batch_size: %d: want ≥ 0", o.BatchSize))
	}
	if o.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("flush_interval: %v: want ≥ 0", o.FlushInterval))
	}
	if o.MaxRate < 0 {
		errs = append(errs, fmt.Errorf("max_rate: %v: want ≥ 0", o.MaxRate))
	}
	if o.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write_timeout: %v: want ≥ 0", o.WriteTimeout))
	}
	return errors.Join(errs...)
}

// Writer takes observations off the answer path: Record puts one in a
// bounded queue and never blocks; one goroutine writes them to the Store in
// batches (one pipeline each). Close stops it.
type Writer struct {
	s   *Store
	o   WriterOptions
	log *zap.Logger

	mu     sync.RWMutex // Record holds it shared; Close exclusively to close
	closed bool
	queue  chan Observation
	lim    *rate.Limiter // nil: MaxRate 0
	stop   chan struct{}
	done   chan struct{}

	dropped prometheus.Counter
	batches prometheus.Histogram
}

// NewWriter starts a Writer for s. reg may be nil.
func NewWriter(s *Store, o WriterOptions, log *zap.Logger, reg prometheus.Registerer) (*Writer, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("sighting: writer: %w", err)
	}
	o = o.withDefaults()
	w := &Writer{
		s: s, o: o, log: log,
		queue: make(chan Observation, o.QueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "eir", Subsystem: "sighting", Name: "dropped_total",
			Help: "Observations dropped because the write queue was full (Redis slow or down) or the writer closed.",
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "eir", Subsystem: "sighting", Name: "batch_size",
			Help:    "Observations per batch written by the sighting writer.",
			Buckets: []float64{1, 4, 16, 64, 256, 512, 1024},
		}),
	}
	if o.MaxRate > 0 {
		// A burst of one batch: a writer behind does not catch up at once.
		w.lim = rate.NewLimiter(rate.Limit(o.MaxRate), o.BatchSize)
	}
	if reg != nil {
		queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "eir", Subsystem: "sighting", Name: "queue_length",
			Help: "Observations waiting to be written.",
		}, func() float64 { return float64(len(w.queue)) })
		for _, c := range []prometheus.Collector{w.dropped, w.batches, queued} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("sighting: writer metrics: %w", err)
			}
		}
	}
	go w.run()
	return w, nil
}

// Record queues o and reports whether it was queued: false when the queue
// is full or the writer closed (the drop is counted). It never blocks.
func (w *Writer) Record(o Observation) bool {
	if len(w.queue) == cap(w.queue) {
		// Full (Redis slow, or MaxRate reached): drop without the lock,
		// which every answering goroutine would otherwise take in turn.
		w.dropped.Inc()
		return false
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		select {
		case w.queue <- o:
			return true
		default:
		}
	}
	w.dropped.Inc()
	return false
}

// Close stops taking observations, writes those queued and returns when
// they are written or ctx is done (the rest are then dropped and counted).
// It is idempotent.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sighting: writer close: %w", ctx.Err())
	}
}

// run collects batches: a batch is written when full or FlushInterval after
// its first observation; at stop, what is queued is written, then it ends.
func (w *Writer) run() {
	defer close(w.done)
	batch := make([]Observation, 0, w.o.BatchSize)
	timer := time.NewTimer(w.o.FlushInterval)
	timer.Stop()
	for {
		select {
		case o := <-w.queue:
			if len(batch) == 0 {
				timer.Reset(w.o.FlushInterval)
			}
			batch = append(batch, o)
			if len(batch) >= w.o.BatchSize {
				timer.Stop()
				w.pace(len(batch))
				batch = w.flush(batch)
			}
		case <-timer.C:
			w.pace(len(batch))
			batch = w.flush(batch)
		case <-w.stop:
			timer.Stop()
			w.drain(batch)
			return
		}
	}
}

// pace waits until n observations may be written under MaxRate, or the
// writer stops (then what is queued is written at once).
func (w *Writer) pace(n int) {
	if w.lim == nil || n == 0 {
		return
	}
	d := w.lim.ReserveN(time.Now(), n).Delay()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.stop:
	}
}

// drain writes the batch and everything still queued (Record no longer
// sends once stop is closed).
func (w *Writer) drain(batch []Observation) {
	for {
		select {
		case o := <-w.queue:
			batch = append(batch, o)
			if len(batch) >= w.o.BatchSize {
				batch = w.flush(batch)
			}
		default:
			w.flush(batch)
			return
		}
	}
}

// flush writes batch and returns it emptied.
func (w *Writer) flush(batch []Observation) []Observation {
	if len(batch) == 0 {
		return batch
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.o.WriteTimeout)
	res, err := w.s.Write(ctx, batch)
	cancel()
	w.batches.Observe(float64(len(batch)))
	if err != nil {
		// Per-observation errors are counted by the store; one line per batch.
		w.log.Warn("sighting batch write failed", zap.Int("batch", len(batch)), zap.Error(err))
	}
	if w.o.OnResult != nil {
		for i, o := range batch {
			w.o.OnResult(o, res[i])
		}
	}
	clear(batch)
	return batch[:0]
}
