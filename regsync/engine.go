package regsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
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
	Guards         Guards
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

// FileReport is what a pass did with one file or package.
type FileReport struct {
	File    string       `json:"file"`
	Result  string       `json:"result"` // applied, rejected, held, already_applied, ignored, waiting
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message,omitempty"`
	Details []string     `json:"details,omitempty"`
	Lists   []ListReport `json:"lists,omitempty"`
}

// ListReport is what a pass did with one list of a file.
type ListReport struct {
	List       string `json:"list"`
	Mode       string `json:"mode"` // full, delta, reconciled
	Base       int64  `json:"base,omitempty"`
	Run        int64  `json:"run,omitempty"`
	Rows       int    `json:"rows"`
	BadRows    int    `json:"bad_rows"`
	Duplicates int    `json:"duplicates"`
	Added      uint64 `json:"added"`
	Removed    uint64 `json:"removed"`
	Changed    int    `json:"changed"`
	Noops      uint64 `json:"noops"`
	Count      uint64 `json:"count"`
	Note       string `json:"note,omitempty"`
	// Quarantined lists the first bad rows (line, reason, content): they
	// were not applied. The whole list is in the file's result in done/.
	Quarantined []string `json:"quarantined,omitempty"`
}

// PassReport is the result of one pass over a source.
type PassReport struct {
	Source   string        `json:"source"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Skipped  string        `json:"skipped,omitempty"` // why the pass did nothing
	Fetched  []string      `json:"fetched,omitempty"`
	Files    []FileReport  `json:"files"`
}

// ErrUnknownSource reports a source that is not configured.
var ErrUnknownSource = errors.New("regsync: unknown source")

// Pass runs one pass over a source now.
func (e *Engine) Pass(ctx context.Context, name string) (PassReport, error) {
	s, ok := e.sources[name]
	if !ok {
		return PassReport{}, fmt.Errorf("%w %q", ErrUnknownSource, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := PassReport{Source: name, Started: e.now(), Files: []FileReport{}}
	start := time.Now()
	lease, err := e.coord.TryLock(ctx, "sync:"+name, e.o.LockTTL)
	if err != nil {
		e.m.passes.WithLabelValues(name, "error").Inc()
		return rep, err
	}
	if lease == nil {
		rep.Skipped = "another eird is running this source's pass"
		e.m.passes.WithLabelValues(name, "locked").Inc()
		return rep, nil
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keep := make(chan struct{})
	go func() { // keep the lease while the pass runs
		t := time.NewTicker(e.o.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-keep:
				return
			case <-t.C:
				if err := lease.Refresh(pctx); err != nil {
					e.log.Warn("sync lock lost; stopping the pass", zap.String("source", name), zap.Error(err))
					cancel()
					return
				}
			}
		}
	}()
	defer func() {
		close(keep)
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		lease.Unlock(uctx)
		ucancel()
	}()
	err = s.pass(pctx, &rep)
	rep.Duration = time.Since(start)
	e.m.duration.WithLabelValues(name).Observe(rep.Duration.Seconds())
	result := "ok"
	if err != nil {
		result = "error"
	}
	e.m.passes.WithLabelValues(name, result).Inc()
	e.recordPass(ctx, rep, err)
	return rep, err
}

// rejection is a file or group of files refused before parsing.
type rejection struct {
	files  []fetch.File
	reason error
	ignore bool // not for this EIR: moved to done/, not counted as rejected
}

func (s *source) pass(ctx context.Context, rep *PassReport) error {
	s.watch()
	clearSpill(filepath.Join(s.dir.Path, spillDirName)) // runs of a pass that did not finish
	for _, h := range s.http {
		res, err := h.Fetch(ctx)
		if err != nil {
			return fmt.Errorf("regsync: %s: fetch %s: %w", s.cfg.Name, redactURL(h.URL), err)
		}
		if res.Fetched {
			rep.Fetched = append(rep.Fetched, res.Name)
		}
	}
	files, err := s.dir.Ready()
	if err != nil {
		return fmt.Errorf("regsync: %s: %w", s.cfg.Name, err)
	}
	s.see(files)
	// Files whose processing did not finish: the process died (a file
	// that exhausts memory would crash every eird in turn). A marker that
	// cannot be read or removed leaves its file to be processed as usual.
	crashed, err := s.dir.Interrupted()
	if err != nil {
		s.engine.log.Warn("processing markers not all checked", zap.String("source", s.cfg.Name), zap.Error(err))
	}
	dead := map[string]bool{}
	for _, f := range crashed {
		dead[f.Name] = true
	}
	var stable, interrupted []fetch.File
	for _, f := range files {
		if dead[f.Name] {
			interrupted = append(interrupted, f)
			continue
		}
		switch ok, why, err := s.dir.Complete(f); {
		case errors.Is(err, fs.ErrNotExist):
			// Gone since it was listed.
		case err != nil:
			rep.Files = append(rep.Files, FileReport{File: f.Name, Result: "waiting", Message: err.Error()})
		case !ok:
			rep.Files = append(rep.Files, FileReport{File: f.Name, Result: "waiting", Message: "still being written: " + why})
		default:
			stable = append(stable, f)
		}
	}
	if len(interrupted) > 0 {
		reps, err := s.finishInterrupted(ctx, interrupted)
		rep.Files = append(rep.Files, reps...)
		if err != nil {
			return err
		}
	}
	units, rejected, waiting := s.unitsFrom(stable)
	rep.Files = append(rep.Files, waiting...)
	for _, r := range rejected {
		fr := s.settleRejection(ctx, r)
		rep.Files = append(rep.Files, fr)
	}
	for _, u := range units {
		if err := ctx.Err(); err != nil {
			u.close()
			return err
		}
		fr, err := s.process(ctx, u)
		u.close()
		rep.Files = append(rep.Files, fr)
		if err != nil {
			return err // store unavailable: the files stay for the next pass
		}
	}
	return nil
}

// finishInterrupted files away the files whose processing the death of
// the process cut short, by unit (a loose delta set is one). A unit the
// sync state names as in force (its sha256) was applied before the process
// died: it is filed as applied. Any other is rejected, not retried. It
// returns an error only when the sync state cannot be read.
func (s *source) finishInterrupted(ctx context.Context, files []fetch.File) ([]FileReport, error) {
	states, err := s.engine.pub.SyncState(ctx)
	if err != nil {
		return nil, err
	}
	inForce := map[string]bool{}
	for _, raw := range states {
		if st, ok := parseState(raw); ok && st.Source == s.cfg.Name && st.SHA256 != "" {
			inForce[st.SHA256] = true
		}
	}
	var groups [][]fetch.File
	sets := map[deltaSetKey]int{}
	for _, f := range files {
		if fi, err := regformat.Identify(f.Name, s.cfg.Format); err == nil && fi.Delta && fi.DeltaOp != 0 {
			k := setKeyOf(fi)
			if i, ok := sets[k]; ok {
				groups[i] = append(groups[i], f)
				continue
			}
			sets[k] = len(groups)
		}
		groups = append(groups, []fetch.File{f})
	}
	var reps []FileReport
	for _, g := range groups {
		var sums []string
		for _, f := range g {
			sum, err := fetch.FileSHA256(f.Path)
			if err != nil {
				break
			}
			sums = append(sums, sum)
		}
		if len(sums) == len(g) && inForce[unitSHA256(sums)] {
			fr := FileReport{File: g[0].Name, Result: "applied", Message: "applied before eird stopped (the sync state holds its sha256); filed away now"}
			s.settle(&unit{name: g[0].Name, files: g}, fr)
			s.engine.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
			reps = append(reps, fr)
			continue
		}
		reps = append(reps, s.settleRejection(ctx, rejection{files: g, reason: &validationError{code: "crashed_during_processing",
			message: "eird stopped while processing this file (it crashed, ran out of memory or was killed); it is not retried: check it, then drop it again to apply it"}}))
	}
	return reps, nil
}

func (s *source) settleRejection(ctx context.Context, r rejection) FileReport {
	ve := asValidationError(r.reason)
	name := r.files[0].Name
	if r.ignore {
		if err := s.dir.Done(map[string]string{"result": "ignored", "reason": ve.message}, r.files...); err != nil {
			s.engine.log.Warn("cannot move an ignored file to done/", zap.String("source", s.cfg.Name), zap.String("file", name), zap.Error(err))
		}
		return FileReport{File: name, Result: "ignored", Message: ve.message}
	}
	return s.reject(ctx, name, r.files, ve)
}

// asValidationError returns err as a validation error.
func asValidationError(err error) *validationError {
	var ve *validationError
	if !errors.As(err, &ve) {
		ve = &validationError{code: "error", message: err.Error()}
	}
	return ve
}

// reject moves files (one unit, reported as name) to rejected/ with ve,
// and records the rejection. The files move together or not at all: when a
// writer may still be writing one (fetch.ErrBusy) none moves, and the
// report says waiting; a later pass judges them again.
func (s *source) reject(ctx context.Context, name string, files []fetch.File, ve *validationError) FileReport {
	e := s.engine
	reason := fetch.Reason{Code: ve.code, Message: ve.message, Details: ve.details, Time: e.now()}
	if err := s.dir.Reject(reason, files...); errors.Is(err, fetch.ErrBusy) {
		// Never move a file its writer may still be writing.
		e.log.Info("rejected file left in place: a writer still writes it", zap.String("source", s.cfg.Name), zap.String("file", name), zap.Error(err))
		return FileReport{File: name, Result: "waiting", Reason: ve.code, Details: ve.details,
			Message: ve.message + "; left in place, not rejected yet: " + err.Error()}
	} else if err != nil {
		e.log.Error("cannot move rejected file", zap.String("source", s.cfg.Name), zap.String("file", name), zap.Error(err))
	}
	e.m.rejectedFiles.WithLabelValues(s.cfg.Name, ve.code).Inc()
	b, _ := json.Marshal(map[string]any{"time": e.now().UTC(), "source": s.cfg.Name, "file": name,
		"code": ve.code, "message": ve.message, "details": ve.details})
	if err := e.coord.MetaPush(ctx, "sync:rejects", string(b), 200); err != nil {
		e.log.Warn("cannot record a rejected file", zap.Error(err))
	}
	e.log.Warn("sync file rejected", zap.String("source", s.cfg.Name), zap.String("file", name),
		zap.String("reason", ve.code), zap.String("message", ve.message))
	return FileReport{File: name, Result: "rejected", Reason: ve.code, Message: ve.message, Details: ve.details}
}

func redactURL(u string) string {
	if i := indexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

func indexAny(s, chars string) int {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return i
			}
		}
	}
	return -1
}

// SourceStatus is the sync status of one source, as shown by eirctl.
type SourceStatus struct {
	Source      string       `json:"source"`
	Format      string       `json:"format"`
	Lists       []ListState  `json:"lists"`
	LastPass    *PassSummary `json:"last_pass,omitempty"`
	Held        []HeldFile   `json:"held"`
	ResyncLists []string     `json:"resync_needed,omitempty"`
}

// PassSummary is the last pass recorded for a source.
type PassSummary struct {
	Time     time.Time `json:"time"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
	Files    int       `json:"files"`
	Applied  int       `json:"applied"`
	Rejected int       `json:"rejected"`
	Held     int       `json:"held"`
	LastOK   time.Time `json:"last_success,omitempty"`
}

// HeldFile is a file waiting for an operator's approval.
type HeldFile struct {
	File    string    `json:"file"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// Status returns every source's status and the newest rejections.
func (e *Engine) Status(ctx context.Context) ([]SourceStatus, []json.RawMessage, error) {
	states, err := e.pub.SyncState(ctx)
	if err != nil {
		return nil, nil, err
	}
	passes, err := e.coord.MetaGetAll(ctx, "sync:passes")
	if err != nil {
		return nil, nil, err
	}
	infos, err := e.pub.Datasets(ctx)
	if err != nil {
		return nil, nil, err
	}
	live := map[eir.Dataset]eir.DatasetInfo{}
	for _, in := range infos {
		live[in.Dataset] = in
	}
	var out []SourceStatus
	for _, name := range e.order {
		s := e.sources[name]
		st := SourceStatus{Source: name, Format: s.cfg.Format, Lists: []ListState{}, Held: []HeldFile{}}
		var keys []string
		for k := range states {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ls, ok := parseState(states[k]); ok && ls.Source == name {
				if ds, err := datasetFor(name, regformat.List(ls.List)); err == nil {
					in := live[ds]
					ls.Count, ls.Hash = in.Count, strconv.FormatUint(in.Hash, 16)
				}
				st.Lists = append(st.Lists, ls)
			}
		}
		if p, ok := passes[name]; ok {
			var ps PassSummary
			if json.Unmarshal([]byte(p), &ps) == nil {
				st.LastPass = &ps
			}
		}
		held, _ := s.dir.Held()
		for _, f := range held {
			r, _ := s.dir.HeldReason(f.Name)
			st.Held = append(st.Held, HeldFile{File: f.Name, Reason: r.Code, Message: r.Message, Since: r.Time})
		}
		resync, _ := e.coord.MetaGetAll(ctx, "sync:resync:"+name)
		for l := range resync {
			st.ResyncLists = append(st.ResyncLists, l)
		}
		sort.Strings(st.ResyncLists)
		out = append(out, st)
	}
	raw, err := e.coord.MetaList(ctx, "sync:rejects", 50)
	if err != nil {
		return out, nil, err
	}
	rejects := make([]json.RawMessage, 0, len(raw))
	for _, r := range raw {
		rejects = append(rejects, json.RawMessage(r))
	}
	return out, rejects, nil
}

func (e *Engine) recordPass(ctx context.Context, rep PassReport, perr error) {
	ps := PassSummary{Time: rep.Started.UTC(), Duration: rep.Duration.Round(time.Millisecond).String(), Files: len(rep.Files)}
	if perr != nil {
		ps.Error = perr.Error()
	}
	for _, f := range rep.Files {
		switch f.Result {
		case "applied":
			ps.Applied++
		case "rejected":
			ps.Rejected++
		case "held":
			ps.Held++
		}
	}
	prev, _ := e.coord.MetaGetAll(ctx, "sync:passes")
	var old PassSummary
	if p, ok := prev[rep.Source]; ok {
		json.Unmarshal([]byte(p), &old)
	}
	ps.LastOK = old.LastOK
	if perr == nil {
		ps.LastOK = ps.Time
		e.m.lastSuccess.WithLabelValues(rep.Source).Set(float64(rep.Started.Unix()))
	}
	b, _ := json.Marshal(ps)
	if err := e.coord.MetaSet(ctx, "sync:passes", rep.Source, string(b)); err != nil {
		e.log.Warn("cannot record the sync pass", zap.Error(err))
	}
	if s := e.sources[rep.Source]; s != nil {
		held, _ := s.dir.Held()
		e.m.held.WithLabelValues(rep.Source).Set(float64(len(held)))
	}
}

// audit records; a failure is logged: the change is made.
func (e *Engine) audit(ctx context.Context, recs ...audit.Record) {
	if e.o.Audit == nil {
		return
	}
	if err := e.o.Audit.Record(ctx, recs...); err != nil {
		e.log.Error("audit record not written", zap.String("action", recs[0].Action), zap.Error(err))
	}
}

// Approve lets a held file through its guard: it records the approval
// (actor, time; audited in the log and in sync:approvals) and moves the
// file back into the drop directory, then runs a pass.
func (e *Engine) Approve(ctx context.Context, sourceName, file, actor string) (PassReport, error) {
	s, ok := e.sources[sourceName]
	if !ok {
		return PassReport{}, fmt.Errorf("%w %q", ErrUnknownSource, sourceName)
	}
	held, err := s.dir.Held()
	if err != nil {
		return PassReport{}, err
	}
	var found *fetch.File
	for i := range held {
		if held[i].Name == file {
			found = &held[i]
		}
	}
	if found == nil {
		return PassReport{}, fmt.Errorf("%w: %s has no held file %q", ErrNotHeld, sourceName, file)
	}
	// The other change-type files of a loose DIRBS delta set go with it.
	release := []fetch.File{*found}
	if fi, err := regformat.Identify(file, s.cfg.Format); err == nil && fi.Delta && fi.DeltaOp != 0 {
		for _, h := range held {
			if hi, err := regformat.Identify(h.Name, s.cfg.Format); err == nil && h.Name != file && hi.Delta &&
				hi.List == fi.List && hi.Operator == fi.Operator && hi.Base == fi.Base && hi.Run == fi.Run {
				release = append(release, h)
			}
		}
	}
	reason, _ := s.dir.HeldReason(file)
	for _, f := range release {
		sum, err := fetch.FileSHA256(f.Path)
		if err != nil {
			return PassReport{}, err
		}
		b, _ := json.Marshal(map[string]any{"actor": actor, "time": e.now().UTC(), "source": sourceName, "file": f.Name,
			"sha256": sum, "guard": reason.Code, "message": reason.Message})
		if err := e.coord.MetaSet(ctx, "sync:approvals", sourceName+"/"+sum, string(b)); err != nil {
			return PassReport{}, err
		}
		if err := e.coord.MetaPush(ctx, "sync:audit", string(b), 1000); err != nil {
			return PassReport{}, err
		}
		e.audit(ctx, audit.Record{Actor: actor, Action: audit.ActionApprove, Target: f.Name, Source: sourceName,
			Reason: "held by guard " + reason.Code + ": " + reason.Message, After: map[string]string{"sha256": sum}})
		e.log.Info("held sync file approved", zap.String("actor", actor), zap.String("source", sourceName),
			zap.String("file", f.Name), zap.String("guard", reason.Code))
		if _, err := s.dir.Release(f.Name); err != nil {
			return PassReport{}, err
		}
	}
	// The released file keeps its modification time, so the pass reads
	// it at once.
	return e.Pass(ctx, sourceName)
}

// ErrNotHeld reports an approval for a file that is not held.
var ErrNotHeld = errors.New("regsync: no such held file")
