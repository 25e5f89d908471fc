package regsync

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

// plan is what a pass does with one job.
type plan struct {
	j       *job
	key     string
	ds      eir.Dataset
	mode    string // full, delta, already_applied
	note    string
	run     int64
	base    int64 // -2: unknown (an unversioned generic delta)
	oldRaw  string
	effect  effect
	report  ListReport
	started time.Time
}

const baseUnknown = -2

// process applies one unit. It returns an error only when the store cannot
// be reached (or does not hold the lists in force): the unit's files then
// stay for the next pass. The unit is marked as being processed while it
// is read and applied (see fetch.Dir.BeginProcessing): if the process dies
// meanwhile, the next pass rejects it instead of retrying it forever.
func (s *source) process(ctx context.Context, u *unit) (FileReport, error) {
	if err := s.dir.BeginProcessing(u.files); err != nil {
		return FileReport{File: u.name, Result: "waiting", Message: "cannot record the processing of the file: " + err.Error()}, nil
	}
	fr, err := s.processMarked(ctx, u)
	if err := s.dir.EndProcessing(u.files); err != nil {
		s.engine.log.Warn("processing marker not removed", zap.String("file", u.name), zap.Error(err))
	}
	return fr, err
}

func (s *source) processMarked(ctx context.Context, u *unit) (FileReport, error) {
	fr := FileReport{File: u.name}
	if err := s.checkIntegrity(u); err != nil {
		return s.finishRejected(ctx, u, fr, err), nil
	}
	states, err := s.engine.pub.SyncState(ctx)
	if err != nil {
		return fr, err
	}
	var plans []*plan
	pending := 0
	for _, j := range u.jobs {
		p, rerr := s.planJob(ctx, u, j, states)
		if rerr != nil {
			return s.finishRejected(ctx, u, fr, rerr), nil
		}
		plans = append(plans, p)
		if p.mode != "already_applied" {
			pending++
		}
	}
	if pending == 0 {
		return s.finishAlreadyApplied(u, fr, plans), nil
	}
	for _, p := range plans {
		if p.mode == "already_applied" {
			continue
		}
		p.started = time.Now()
		if err := s.parsePlan(u, p); err != nil {
			return s.finishRejected(ctx, u, fr, err), nil
		}
	}
	approved, approval := s.approved(ctx, u)
	changes, opts := s.switchOf(u, plans, approved)
	res, err := s.engine.pub.ApplyWith(ctx, changes, opts)
	if err != nil {
		return s.finishNotSwitched(ctx, u, fr, err)
	}
	return s.finishApplied(ctx, u, fr, plans, res, approved, approval), nil
}

// finishAlreadyApplied settles a unit whose lists are all in force already.
func (s *source) finishAlreadyApplied(u *unit, fr FileReport, plans []*plan) FileReport {
	fr.Result, fr.Message = "already_applied", plans[0].note
	for _, p := range plans {
		fr.Lists = append(fr.Lists, ListReport{List: string(p.j.list), Mode: p.mode, Run: p.run, Note: p.note})
	}
	s.settle(u, fr)
	s.engine.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
	return fr
}

// switchOf returns the changes of the plans to apply and the options of
// their switch: the sync state of each list, expected as read and written
// with the switch, and the check made immediately before the switch, with
// what the switch does by content: the files must still be complete, and
// the guards hold (unless an operator approved the unit).
func (s *source) switchOf(u *unit, plans []*plan, approved bool) ([]eir.Change, eir.ApplyOptions) {
	var changes []eir.Change
	opts := eir.ApplyOptions{State: map[string]string{}, ExpectState: map[string]string{}, Strict: s.cfg.Guards.Strict}
	now := s.engine.now().UTC()
	byDS := map[eir.Dataset]*plan{}
	for _, p := range plans {
		if p.mode == "already_applied" {
			continue
		}
		changes = append(changes, p.effect.change)
		opts.ExpectState[p.key] = p.oldRaw
		byDS[p.ds] = p
	}
	opts.Before = func(res []eir.DatasetResult, state map[string]string) error {
		if ok, why := s.complete(u); !ok {
			return &incompleteError{why: why}
		}
		if !approved {
			what := func(r eir.DatasetResult) (string, bool) { return byDS[r.Dataset].describe() }
			if ge := s.cfg.Guards.JudgeAll(res, what); ge != nil {
				return ge
			}
		}
		results := map[eir.Dataset]eir.DatasetResult{}
		for _, r := range res {
			results[r.Dataset] = r
		}
		for ds, p := range byDS {
			st := s.newState(p, u, now)
			if r, ok := results[ds]; ok {
				st.Added, st.Removed, st.Count, st.Hash = r.Added, r.Removed, r.Count, strconv.FormatUint(r.Hash, 16)
			}
			state[p.key] = st.json()
		}
		return nil
	}
	return changes, opts
}

// finishNotSwitched reports a unit whose switch failed with err (not nil):
// held by a guard, waiting for its files, rejected by a strict delta, or
// left for the next pass after a conflict; any other error is returned.
func (s *source) finishNotSwitched(ctx context.Context, u *unit, fr FileReport, err error) (FileReport, error) {
	var ge *guard.Error
	var inc *incompleteError
	switch {
	case errors.As(err, &ge):
		return s.finishHeld(ctx, u, fr, &validationError{code: ge.Code, message: ge.Message + ": approve it with eirctl sync approve"}), nil
	case errors.As(err, &inc):
		fr.Result, fr.Message = "waiting", inc.why+"; not applied, retried at the next pass"
		return fr, nil
	case errors.Is(err, eir.ErrNoop):
		return s.finishRejected(ctx, u, fr, &validationError{code: "strict", message: err.Error()}), nil
	case errors.Is(err, eir.ErrConflict):
		// Another eird applied a version meanwhile: the next pass looks
		// again.
		fr.Result, fr.Message = "retry", "the sync state changed during the pass (another eird); the file stays for the next pass"
		return fr, nil
	}
	return fr, err
}

// finishApplied records a unit switched in: each list's report, audit
// record, metrics and log line, and the approval consumed.
func (s *source) finishApplied(ctx context.Context, u *unit, fr FileReport, plans []*plan, res eir.ApplyResult, approved bool, approval string) FileReport {
	e := s.engine
	results := map[eir.Dataset]eir.DatasetResult{}
	for _, r := range res.Datasets {
		results[r.Dataset] = r
	}
	for _, p := range plans {
		if p.mode == "already_applied" {
			fr.Lists = append(fr.Lists, ListReport{List: string(p.j.list), Mode: p.mode, Run: p.run, Note: p.note})
			continue
		}
		s.recordList(ctx, u, p, results[p.ds], approved)
		fr.Lists = append(fr.Lists, p.report)
	}
	if approved {
		for _, sum := range u.sums {
			e.coord.MetaDel(ctx, "sync:approvals", s.cfg.Name+"/"+sum)
		}
		fr.Message = "applied with the approval of " + approval
	}
	fr.Result = "applied"
	s.settle(u, fr)
	e.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
	return fr
}

// recordList completes the report of a list switched in with its result r,
// reconciles a delta with its full file, and writes the list's audit
// record, metrics and log line.
func (s *source) recordList(ctx context.Context, u *unit, p *plan, r eir.DatasetResult, approved bool) {
	e := s.engine
	p.report.Added, p.report.Removed, p.report.Noops, p.report.Count = r.Added, r.Removed, r.NoopAdds+r.NoopRemoves, r.Count
	if p.mode == "delta" && p.j.full != nil {
		s.reconcile(ctx, u, p, r, approved)
	}
	e.audit(ctx, audit.Record{Actor: "sync:" + s.cfg.Name, Action: audit.ActionSync, Dataset: p.ds.String(), Target: u.name,
		Source: s.cfg.Name, Reason: p.report.Note, After: p.report})
	e.m.run.WithLabelValues(s.cfg.Name, string(p.j.list)).Set(float64(p.run))
	e.m.entries.WithLabelValues(s.cfg.Name, string(p.j.list)).Set(float64(p.report.Count))
	e.m.rejectedRows.WithLabelValues(s.cfg.Name, string(p.j.list)).Add(float64(p.report.BadRows))
	e.m.resync.WithLabelValues(s.cfg.Name, string(p.j.list)).Set(0)
	e.coord.MetaDel(ctx, "sync:resync:"+s.cfg.Name, string(p.j.list))
	e.log.Info("sync list applied", zap.String("source", s.cfg.Name), zap.String("list", string(p.j.list)),
		zap.String("file", u.name), zap.String("mode", p.report.Mode), zap.Int64("base", p.report.Base), zap.Int64("run", p.run),
		zap.Uint64("added", p.report.Added), zap.Uint64("removed", p.report.Removed), zap.Int("changed", p.report.Changed),
		zap.Int("rejected_rows", p.report.BadRows), zap.Uint64("noops", p.report.Noops), zap.Uint64("entries", p.report.Count),
		zap.Duration("duration", time.Since(p.started)), zap.String("note", p.report.Note))
}

// incompleteError is a unit whose files changed, or are being written,
// since they were read.
type incompleteError struct{ why string }

func (e *incompleteError) Error() string { return "regsync: " + e.why }

// complete reports whether every file of u is as it was read and no
// writer holds it (fetch.Dir.Complete), or why not.
func (s *source) complete(u *unit) (bool, string) {
	for _, f := range u.files {
		ok, why, err := s.dir.Complete(f)
		if err != nil {
			return false, f.Name + ": " + err.Error()
		}
		if !ok {
			return false, f.Name + ": " + why
		}
	}
	return true, ""
}

// settle moves an applied unit's files to done/ with its result; when a
// writer reopened one meanwhile, none moves (they are read again, and found
// already applied).
func (s *source) settle(u *unit, fr FileReport) {
	if err := s.dir.Done(fr, u.files...); err != nil {
		lvl := s.engine.log.Error
		if errors.Is(err, fetch.ErrBusy) {
			lvl = s.engine.log.Warn
		}
		lvl("cannot move a file to done/", zap.String("file", u.name), zap.Error(err))
	}
}

// describe names what a plan changes, for guard messages, and whether it
// replaces a whole list.
func (p *plan) describe() (string, bool) {
	if p == nil {
		return "the file", false
	}
	switch p.mode {
	case "delta":
		if p.base == baseUnknown {
			return fmt.Sprintf("the %s delta", p.j.list), false
		}
		return fmt.Sprintf("the %s delta %d→%d", p.j.list, p.base, p.run), false
	case "reconciled":
		return fmt.Sprintf("replacing the %s delta result by its full file", p.j.list), true
	}
	return fmt.Sprintf("the full %s", p.j.list), true
}

// checkIntegrity verifies the sidecar checksums (.sha256, .md5) and the
// manifest's sha256, and computes the unit's hash.
func (s *source) checkIntegrity(u *unit) error {
	for _, f := range u.files {
		sum, err := fetch.FileSHA256(f.Path)
		if err != nil {
			return &validationError{code: "read", message: err.Error()}
		}
		u.sums = append(u.sums, sum)
		for suffix, path := range f.Sidecars {
			if suffix != ".sha256" && suffix != ".md5" {
				continue
			}
			algo, want, err := fetch.ReadChecksum(path)
			if err != nil {
				return &validationError{code: "checksum", message: fmt.Sprintf("%s: %v", f.Name, err)}
			}
			got := sum
			if algo != fetch.SHA256 {
				got, err = fetch.FileChecksum(f.Path, algo)
				if err != nil {
					return &validationError{code: "read", message: err.Error()}
				}
			}
			if !strings.EqualFold(got, want) {
				return &validationError{code: "checksum", message: fmt.Sprintf("%s: %s %s, the sidecar says %s", f.Name, algo, got, want)}
			}
		}
		for _, j := range u.jobs {
			if j.manifest != nil && j.manifest.SHA256 != "" && !strings.EqualFold(j.manifest.SHA256, sum) {
				return &validationError{code: "checksum", message: fmt.Sprintf("%s: sha256 %s, the manifest says %s", f.Name, sum, j.manifest.SHA256)}
			}
		}
	}
	u.sha256 = unitSHA256(u.sums)
	return nil
}

// planJob decides how a job is applied: a delta only on the exact base in
// force; otherwise the full file beside it; otherwise the unit is refused
// and the list marked as needing a resync.
func (s *source) planJob(ctx context.Context, u *unit, j *job, states map[string]string) (*plan, error) {
	ds, err := datasetFor(s.cfg.Name, j.list)
	if err != nil {
		return nil, &validationError{code: "list", message: err.Error()}
	}
	p := &plan{j: j, key: stateKey(s.cfg.Name, j.list), ds: ds, run: j.run, base: j.base}
	if len(j.deltas) == 0 {
		p.base = 0
	}
	if m := j.manifest; m != nil {
		p.run = m.RunID
		if m.BaseRunID != nil {
			p.base = *m.BaseRunID
		}
	} else if len(j.deltas) > 0 && s.cfg.Format != regformat.FormatDIRBS {
		p.base = baseUnknown
	}
	p.oldRaw = states[p.key]
	cur, has := parseState(p.oldRaw)
	switch {
	case has && p.run > 0 && cur.Run > 0 && p.run <= cur.Run:
		p.mode, p.note = "already_applied", fmt.Sprintf("run %d is not newer than run %d in force", p.run, cur.Run)
		return p, nil
	case has && cur.SHA256 != "" && cur.SHA256 == u.sha256:
		p.mode, p.note = "already_applied", "this file is the one in force"
		return p, nil
	case has && (p.run == 0 || cur.Run == 0) && j.timestamp != "" && cur.Timestamp != "" && j.timestamp < cur.Timestamp:
		p.mode, p.note = "already_applied", fmt.Sprintf("timestamp %s is older than %s in force", j.timestamp, cur.Timestamp)
		return p, nil
	}
	if len(j.deltas) == 0 {
		p.mode = "full"
		return p, nil
	}
	baseOK := p.base == baseUnknown || (has && p.base == cur.Run && cur.Run != 0) || (!has && p.base == -1)
	switch {
	case baseOK:
		p.mode = "delta"
	case j.full != nil:
		p.mode = "full"
		p.note = fmt.Sprintf("delta %d→%d does not apply to run %d in force; the full file of the package was applied", p.base, p.run, cur.Run)
	default:
		have := "nothing"
		if has {
			have = "run " + strconv.FormatInt(cur.Run, 10)
		}
		s.engine.coord.MetaSet(ctx, "sync:resync:"+s.cfg.Name, string(j.list), have)
		s.engine.m.resync.WithLabelValues(s.cfg.Name, string(j.list)).Set(1)
		return nil, &validationError{code: "delta_base", message: fmt.Sprintf(
			"%s delta %d→%d needs run %d in force, and %s is: a full list is needed (resync)", j.list, p.base, p.run, p.base, have)}
	}
	return p, nil
}

// parsePlan parses and validates the files of a plan and computes its
// effect.
func (s *source) parsePlan(u *unit, p *plan) error {
	j := p.j
	acc := s.newAccumulator(j.list)
	defer acc.release() // its runs, whatever happens
	members := j.deltas
	delta := p.mode == "delta"
	if !delta {
		members = []*member{j.full}
	}
	var rows, bad int
	var badRows []regformat.BadRow
	hasChangeType := false
	for _, m := range members {
		st, err := s.parseMember(u, m, acc, rows)
		if err != nil {
			return err
		}
		rows, bad = rows+st.Rows, bad+st.Bad
		badRows = append(badRows, st.BadRows...)
		for _, h := range st.Header {
			if strings.EqualFold(strings.TrimSpace(h), "change_type") {
				hasChangeType = true
			}
		}
	}
	if !delta && hasChangeType {
		return &validationError{code: "header", message: fmt.Sprintf("%s: a full list with a change_type column", j.full.info.Name)}
	}
	if rows > 0 && float64(bad) > s.cfg.Guards.MaxBadRowRatio*float64(rows) {
		var details []string
		for _, b := range badRows[:min(len(badRows), 20)] {
			details = append(details, fmt.Sprintf("line %d: %s", b.Line, b.Reason))
		}
		return &validationError{code: "bad_rows", message: fmt.Sprintf("%d of %d rows are invalid (more than %.1f%%)", bad, rows, 100*s.cfg.Guards.MaxBadRowRatio), details: details}
	}
	if m := j.manifest; m != nil && m.Rows != nil && *m.Rows != rows {
		return &validationError{code: "manifest", message: fmt.Sprintf("%d rows read, the manifest says %d", rows, *m.Rows)}
	}
	ef, dups, err := acc.finish(p.ds, delta, j.list == regformat.Exceptions)
	if err != nil {
		return err
	}
	p.effect = ef
	p.report = ListReport{List: string(j.list), Mode: p.mode, Run: p.run, Rows: rows, BadRows: bad, Duplicates: dups,
		Changed: p.effect.changed, Note: p.note}
	for _, b := range badRows {
		p.report.Quarantined = append(p.report.Quarantined, fmt.Sprintf("line %d: %s: %s", b.Line, b.Reason, b.Raw))
	}
	if delta && p.base != baseUnknown {
		p.report.Base = p.base
	}
	return nil
}

// parseMember parses one list file of u into acc, within the source's
// limits: Limits.MaxRows rows for the files of a list together (rows were
// read from the list's other files already), and Limits.MaxUncompressedBytes
// bytes read from the files of u together.
func (s *source) parseMember(u *unit, m *member, acc listAccumulator, rows int) (regformat.Stats, error) {
	rc, err := m.open()
	if err != nil {
		return regformat.Stats{}, &validationError{code: "zip", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
	}
	defer rc.Close()
	lim := s.cfg.Limits
	var r io.Reader = rc
	if lim.MaxUncompressedBytes > 0 {
		r = &limitReader{r: rc, read: &u.inflated, limit: lim.MaxUncompressedBytes}
	}
	o := regformat.Options{MaxBadRows: 100}
	if lim.MaxRows > 0 {
		o.MaxRows = max(lim.MaxRows-rows, 1) // one more is found below
	}
	st, err := regformat.Parse(r, m.info, o, acc.add)
	if err == nil && lim.MaxRows > 0 && rows+st.Rows > lim.MaxRows {
		err = regformat.ErrTooManyRows
	}
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, errTooLarge):
		return st, &validationError{code: "too_large", message: fmt.Sprintf("%s: %s yields more than %d bytes once uncompressed (sync.sources[].limits.max_uncompressed_bytes, for the files of a package or delta set together)",
			m.info.Name, u.name, lim.MaxUncompressedBytes)}
	case errors.Is(err, regformat.ErrTooManyRows):
		return st, &validationError{code: "too_many_rows", message: fmt.Sprintf("%s: more than %d rows (sync.sources[].limits.max_rows, for the files of a list together)", m.info.Name, lim.MaxRows)}
	case errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrFormat), errors.Is(err, io.ErrUnexpectedEOF):
		return st, &validationError{code: "zip", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
	case errors.Is(err, regformat.ErrHeader):
		return st, &validationError{code: "header", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
	}
	return st, &validationError{code: "format", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
}

// errTooLarge is a unit that yields more bytes than its limit.
var errTooLarge = errors.New("regsync: file too large")

// limitReader fails with errTooLarge once more than limit bytes were read
// through it and the other limitReaders sharing read.
type limitReader struct {
	r     io.Reader
	read  *int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	*l.read += int64(n)
	if *l.read > l.limit {
		return n, errTooLarge
	}
	return n, err
}

// approved reports whether an operator approved every file of this unit
// (by sha256), and who.
func (s *source) approved(ctx context.Context, u *unit) (bool, string) {
	all, err := s.engine.coord.MetaGetAll(ctx, "sync:approvals")
	if err != nil || len(u.sums) == 0 {
		return false, ""
	}
	var actors []string
	for _, sum := range u.sums {
		v, ok := all[s.cfg.Name+"/"+sum]
		if !ok {
			return false, ""
		}
		var a struct{ Actor string }
		jsonUnmarshal(v, &a)
		actors = append(actors, a.Actor)
	}
	slices.Sort(actors)
	return true, strings.Join(slices.Compact(actors), ", ")
}

func (s *source) newState(p *plan, u *unit, now time.Time) ListState {
	st := ListState{Source: s.cfg.Name, List: string(p.j.list), Run: p.run, Timestamp: p.j.timestamp, Mode: p.mode,
		File: u.name, SHA256: u.sha256, Rows: p.report.Rows, BadRows: p.report.BadRows, Changed: p.report.Changed,
		AppliedAt: now}
	if p.mode == "delta" && p.base != baseUnknown {
		st.Base = p.base
	}
	if p.mode == "full" {
		st.Count, st.Hash = p.effect.count, strconv.FormatUint(p.effect.hash, 16)
	}
	return st
}

// reconcile compares the list produced by a delta with the full file of
// the same package (count and set hash) and replaces it by the full file
// when they differ (REGISTRY.md §4.3) — under the guards, unless the unit
// was approved: a full file that would unblock too much leaves the delta's
// result in force and the list marked as needing a resync.
func (s *source) reconcile(ctx context.Context, u *unit, p *plan, r eir.DatasetResult, approved bool) {
	e := s.engine
	acc := s.newAccumulator(p.j.list)
	defer acc.release()
	if _, err := s.parseMember(u, p.j.full, acc, 0); err != nil {
		p.report.Note = "delta applied; the full file could not be read for reconciliation: " + err.Error()
		return
	}
	full, _, err := acc.finish(p.ds, false, false)
	if err != nil {
		p.report.Note = "delta applied; the full file is invalid, not reconciled: " + err.Error()
		return
	}
	if full.count == r.Count && full.hash == r.Hash {
		p.report.Note = "reconciled with the full file: same entries"
		return
	}
	states, err := e.pub.SyncState(ctx)
	if err != nil {
		p.report.Note = "delta applied; not reconciled: " + err.Error()
		return
	}
	stateRaw := states[p.key]
	st, _ := parseState(stateRaw)
	p.mode = "reconciled"
	res, err := e.pub.ApplyWith(ctx, []eir.Change{full.change}, eir.ApplyOptions{
		ExpectState: map[string]string{p.key: stateRaw},
		Before: func(res []eir.DatasetResult, state map[string]string) error {
			if !approved {
				if ge := s.cfg.Guards.JudgeAll(res, func(eir.DatasetResult) (string, bool) { return p.describe() }); ge != nil {
					return ge
				}
			}
			if len(res) == 1 {
				st.Mode, st.Hash, st.Count = "reconciled", strconv.FormatUint(res[0].Hash, 16), res[0].Count
				st.Added, st.Removed = st.Added+res[0].Added, st.Removed+res[0].Removed
			}
			state[p.key] = st.json()
			return nil
		}})
	var ge *guard.Error
	switch {
	case errors.As(err, &ge):
		p.mode = "delta"
		p.report.Note = fmt.Sprintf("the delta result (%d entries) differs from the full file (%d), which is held by a guard: %s; resync needed",
			r.Count, full.count, ge.Message)
		e.coord.MetaSet(ctx, "sync:resync:"+s.cfg.Name, string(p.j.list), p.report.Note)
		e.m.resync.WithLabelValues(s.cfg.Name, string(p.j.list)).Set(1)
		e.log.Warn("sync delta result differs from its full file, which a guard holds; resync needed", zap.String("source", s.cfg.Name),
			zap.String("list", string(p.j.list)), zap.String("guard", ge.Code), zap.String("message", ge.Message))
		return
	case err != nil:
		p.mode = "delta"
		p.report.Note = "delta applied; replacing it by the full file failed: " + err.Error()
		return
	}
	p.report.Mode = "reconciled"
	p.report.Note = fmt.Sprintf("the delta result (%d entries, hash %x) differed from the full file (%d, %x): replaced by the full file",
		r.Count, r.Hash, full.count, full.hash)
	if len(res.Datasets) == 1 {
		d := res.Datasets[0]
		p.report.Count = d.Count
		p.report.Added, p.report.Removed = p.report.Added+d.Added, p.report.Removed+d.Removed
	}
	e.log.Warn("sync delta result differed from the full file; replaced", zap.String("source", s.cfg.Name),
		zap.String("list", string(p.j.list)), zap.Uint64("delta_entries", r.Count), zap.Uint64("full_entries", full.count))
}

func (s *source) finishRejected(ctx context.Context, u *unit, fr FileReport, err error) FileReport {
	r := s.reject(ctx, u.name, u.files, asValidationError(err))
	fr.Result, fr.Reason, fr.Message, fr.Details = r.Result, r.Reason, r.Message, r.Details
	if r.Result == "rejected" {
		s.engine.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
	}
	return fr
}

// finishHeld moves the files of u to held/ until an operator approves
// them; when a writer may still be writing one, none moves and the report
// says waiting.
func (s *source) finishHeld(ctx context.Context, u *unit, fr FileReport, ve *validationError) FileReport {
	e := s.engine
	reason := fetch.Reason{Code: ve.code, Message: ve.message, Time: e.now()}
	fr.Reason = ve.code
	if err := s.dir.Hold(reason, u.files...); errors.Is(err, fetch.ErrBusy) {
		e.log.Info("held file left in place: a writer still writes it", zap.String("source", s.cfg.Name), zap.String("file", u.name), zap.Error(err))
		fr.Result, fr.Message = "waiting", ve.message+"; left in place, not held yet: "+err.Error()
		return fr
	} else if err != nil {
		e.log.Error("cannot move a held file", zap.String("file", u.name), zap.Error(err))
	}
	e.log.Warn("sync file held until approved", zap.String("source", s.cfg.Name), zap.String("file", u.name),
		zap.String("guard", ve.code), zap.String("message", ve.message))
	fr.Result, fr.Message = "held", ve.message
	e.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
	return fr
}
