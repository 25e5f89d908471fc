package regsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

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
	// Settling lists the files of the landing folder the pass did not
	// read because they (or a sidecar) were modified within the source's
	// settle time.
	Settling []SettlingFile `json:"settling,omitempty"`
}

// SettlingFile is a file left for a later pass because it was modified
// within the settle time.
type SettlingFile struct {
	File     string    `json:"file"`
	Modified time.Time `json:"modified"`
	// ReadyAt is when it will have settled: the first pass from then on
	// reads it (unless it is modified again).
	ReadyAt time.Time `json:"ready_at"`
}

// ErrUnknownSource reports a source that is not configured.
var ErrUnknownSource error = notFound("regsync: unknown source")

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
	files, settling, err := s.dir.Scan()
	if err != nil {
		return fmt.Errorf("regsync: %s: %w", s.cfg.Name, err)
	}
	for _, f := range settling {
		rep.Settling = append(rep.Settling, SettlingFile{File: f.Name, Modified: f.ModTime.UTC(), ReadyAt: f.ReadyAt.UTC()})
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
