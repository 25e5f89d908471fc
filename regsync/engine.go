package regsync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

// Publisher applies changes atomically with the sync state (the list store).
type Publisher interface {
	ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error)
	SyncState(ctx context.Context) (map[string]string, error)
	Datasets(ctx context.Context) ([]eir.DatasetInfo, error)
}

// Lease is a held lock.
type Lease interface {
	Refresh(ctx context.Context) error
	Unlock(ctx context.Context) error
}

// Coordinator provides the lock that lets one eird at a time run a
// source's pass, and status records shared by every eird.
type Coordinator interface {
	TryLock(ctx context.Context, name string, ttl time.Duration) (Lease, error) // nil, nil when held elsewhere
	MetaSet(ctx context.Context, name, field, value string) error
	MetaGetAll(ctx context.Context, name string) (map[string]string, error)
	MetaDel(ctx context.Context, name string, fields ...string) error
	MetaPush(ctx context.Context, name, value string, keep int) error
	MetaList(ctx context.Context, name string, n int) ([]string, error)
}

// SourceConfig is one registry source.
type SourceConfig struct {
	Name     string // the list source the entries belong to
	Format   string // dirbs, lsds, stolen, tac, ranges
	Operator string // dirbs: the operator whose exceptions and notifications apply here
	Interval time.Duration
	Dir      string      // drop directory (files land here by SFTP)
	HTTP     *HTTPSource // or pull these URLs into SpoolDir
	Settle   time.Duration
	// IncompleteWait is how long an incomplete loose delta set may wait for
	// its other files, and a file for its checksum (RequireChecksum),
	// before it is rejected. It is measured from when this eird first
	// listed the files, not from their modification times (uploads may
	// keep old ones); a restart starts it again. Default 10m.
	IncompleteWait time.Duration
	Guards         guard.Guards
	Limits         Limits
	// RequireChecksum applies a file only with a checksum to verify it
	// against: a .sha256 or .md5 sidecar, or a manifest's sha256 (the
	// registry writes it last, so the file is complete when it is there).
	// A file without one waits, and is rejected after IncompleteWait.
	RequireChecksum bool
}

// HTTPSource pulls files over HTTPS.
type HTTPSource struct {
	URLs        []string
	Client      *http.Client
	BearerToken string
	Retries     int
	Backoff     time.Duration
	SpoolDir    string
}

// Options configures the engine.
type Options struct {
	LockTTL time.Duration // default 2m
	Now     func() time.Time
	Audit   Auditor // nil: applies and approvals are only logged
}

// Auditor keeps the audit trail (audit.Log).
type Auditor interface {
	Record(ctx context.Context, recs ...audit.Record) error
}

// Engine runs registry sync passes.
type Engine struct {
	o       Options
	pub     Publisher
	coord   Coordinator
	log     *zap.Logger
	m       *metrics
	sources map[string]*source
	order   []string
}

type source struct {
	cfg    SourceConfig
	engine *Engine
	dir    *fetch.Dir
	http   []*fetch.HTTP
	mu     sync.Mutex // one pass at a time in this process
	// spillBytes is the memory the rows of a list may take before they
	// are written to runs (see spill.go).
	spillBytes int
	// seen holds when this process first listed each file of the
	// landing folder (see since); under mu.
	seen map[string]time.Time
	// watchErr is the last error of Watch, logged once (see watch).
	watchErr string
	closed   bool // Close was called: watch no more; under mu
}

// newAccumulator returns the accumulator of a list of this source. The
// caller releases it.
func (s *source) newAccumulator(l regformat.List) listAccumulator {
	return newAccumulator(l, filepath.Join(s.dir.Path, spillDirName), s.spillBytes)
}

// New returns an engine for sources. It watches their drop directories
// (see fetch.Dir.Watch) until Close.
func New(o Options, sources []SourceConfig, pub Publisher, coord Coordinator, log *zap.Logger, reg prometheus.Registerer) (_ *Engine, err error) {
	if o.LockTTL <= 0 {
		o.LockTTL = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("regsync: register metrics: %w", err)
	}
	e := &Engine{o: o, pub: pub, coord: coord, log: log, m: m, sources: map[string]*source{}}
	defer func() {
		if err != nil {
			e.Close() // the watchers of the sources before the bad one
		}
	}()
	for _, c := range sources {
		if err := eir.ValidateSource(c.Name); err != nil {
			return nil, fmt.Errorf("regsync: %w", err)
		}
		if _, dup := e.sources[c.Name]; dup {
			return nil, fmt.Errorf("regsync: source %q twice", c.Name)
		}
		if _, err := regformat.Identify("x.csv", c.Format); err != nil && errors.Is(err, regformat.ErrUnknownFormat) {
			return nil, fmt.Errorf("regsync: source %s: format %q: want dirbs, lsds, stolen, tac or ranges", c.Name, c.Format)
		}
		c.Guards, c.Limits = c.Guards.WithDefaults(), c.Limits.WithDefaults()
		if c.IncompleteWait <= 0 {
			c.IncompleteWait = 10 * time.Minute
		}
		if c.Interval <= 0 {
			c.Interval = 5 * time.Minute
		}
		s := &source{cfg: c, engine: e, spillBytes: defaultSpillBytes}
		path := c.Dir
		if c.HTTP != nil {
			path = c.HTTP.SpoolDir
			for _, u := range c.HTTP.URLs {
				s.http = append(s.http, &fetch.HTTP{URL: u, Client: c.HTTP.Client, BearerToken: c.HTTP.BearerToken,
					Retries: c.HTTP.Retries, Backoff: c.HTTP.Backoff, SpoolDir: c.HTTP.SpoolDir})
			}
		}
		if path == "" {
			return nil, fmt.Errorf("regsync: source %s: a drop directory or HTTPS URLs are required", c.Name)
		}
		if err := os.MkdirAll(path, 0o750); err != nil {
			return nil, fmt.Errorf("regsync: source %s: %w", c.Name, err)
		}
		settle := c.Settle
		if c.HTTP != nil {
			settle = -1 // downloads are complete when they appear (renamed after fsync)
		}
		s.dir = &fetch.Dir{Path: path, Settle: settle, Now: o.Now}
		s.watch()
		e.sources[c.Name] = s
		e.order = append(e.order, c.Name)
	}
	return e, nil
}

// watch (re)starts the watcher of the drop directory: it stops when the
// folder is removed or replaced. A failure is logged when it starts or
// changes.
func (s *source) watch() {
	if s.closed {
		return
	}
	err := s.dir.Watch()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg != s.watchErr && err != nil {
		s.engine.log.Warn("cannot watch the drop directory; a writer still writing a file is seen only by its read lease, its size and its time",
			zap.String("source", s.cfg.Name), zap.String("dir", s.dir.Path), zap.Error(err))
	}
	s.watchErr = msg
}

func (e *Engine) now() time.Time { return e.o.Now() }

// Sources lists the configured source names.
func (e *Engine) Sources() []string { return append([]string(nil), e.order...) }

// Close stops watching the drop directories, once the passes running end;
// passes run after Close do not watch them again.
func (e *Engine) Close() error {
	var errs []error
	for _, s := range e.sources {
		s.mu.Lock()
		s.closed = true
		errs = append(errs, s.dir.Close())
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Run runs every source's pass on its schedule until ctx is done.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range e.order {
		s := e.sources[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(0)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if _, err := e.Pass(ctx, s.cfg.Name); err != nil && ctx.Err() == nil {
					e.log.Warn("sync pass failed", zap.String("source", s.cfg.Name), zap.Error(err))
				}
				t.Reset(s.cfg.Interval)
			}
		}()
	}
	wg.Wait()
}
