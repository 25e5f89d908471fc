package regsync

import (
	"archive/zip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/eir/regsync/regformat"
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
// be reached: the unit's files then stay for the next pass.
func (s *source) process(ctx context.Context, u *unit) (FileReport, error) {
	e := s.engine
	fr := FileReport{File: u.name}
	if err := s.checkIntegrity(u); err != nil {
		return s.finishRejected(ctx, u, fr, err), nil
	}
	states, err := e.pub.SyncState(ctx)
	if err != nil {
		return fr, err
	}
	infos, err := e.pub.Datasets(ctx)
	if err != nil {
		return fr, err
	}
	counts := map[eir.Dataset]uint64{}
	for _, in := range infos {
		counts[in.Dataset] = in.Count
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
		fr.Result, fr.Message = "already_applied", plans[0].note
		for _, p := range plans {
			fr.Lists = append(fr.Lists, ListReport{List: string(p.j.list), Mode: p.mode, Run: p.run, Note: p.note})
		}
		s.dir.Done(u.files[0], fr)
		for _, f := range u.files[1:] {
			s.dir.Done(f, fr)
		}
		e.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
		return fr, nil
	}
	for _, p := range plans {
		if p.mode == "already_applied" {
			continue
		}
		p.started = time.Now()
		if err := s.parsePlan(p); err != nil {
			return s.finishRejected(ctx, u, fr, err), nil
		}
	}
	approved, approval := s.approved(ctx, u)
	if !approved {
		for _, p := range plans {
			if ve := s.guard(p, counts); ve != nil {
				return s.finishHeld(ctx, u, fr, ve), nil
			}
		}
	}
	var changes []eir.Change
	opts := eir.ApplyOptions{State: map[string]string{}, ExpectState: map[string]string{}, Strict: s.cfg.Guards.Strict}
	now := e.now().UTC()
	for _, p := range plans {
		if p.mode == "already_applied" {
			continue
		}
		changes = append(changes, p.effect.change)
		opts.ExpectState[p.key] = p.oldRaw
		opts.State[p.key] = s.newState(p, u, now).json()
	}
	res, err := e.pub.ApplyWith(ctx, changes, opts)
	switch {
	case errors.Is(err, eir.ErrNoop):
		return s.finishRejected(ctx, u, fr, &validationError{code: "strict", message: err.Error()}), nil
	case errors.Is(err, eir.ErrConflict):
		// Another eird applied a version meanwhile: the next pass looks
		// again.
		fr.Result, fr.Message = "retry", "the sync state changed during the pass (another eird); the file stays for the next pass"
		return fr, nil
	case err != nil:
		return fr, err
	}
	results := map[eir.Dataset]eir.DatasetResult{}
	for _, r := range res.Datasets {
		results[r.Dataset] = r
	}
	for _, p := range plans {
		if p.mode == "already_applied" {
			fr.Lists = append(fr.Lists, ListReport{List: string(p.j.list), Mode: p.mode, Run: p.run, Note: p.note})
			continue
		}
		r := results[p.ds]
		p.report.Added, p.report.Removed, p.report.Noops, p.report.Count = r.Added, r.Removed, r.NoopAdds+r.NoopRemoves, r.Count
		if p.mode == "delta" && p.j.full != nil {
			s.reconcile(ctx, u, p, r, opts.State[p.key], counts)
		}
		fr.Lists = append(fr.Lists, p.report)
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
	if approved {
		for _, sum := range u.sums {
			e.coord.MetaDel(ctx, "sync:approvals", s.cfg.Name+"/"+sum)
		}
		fr.Message = "applied with the approval of " + approval
	}
	fr.Result = "applied"
	for _, f := range u.files {
		if err := s.dir.Done(f, fr); err != nil {
			e.log.Error("cannot move an applied file to done/", zap.String("file", f.Name), zap.Error(err))
		}
	}
	e.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
	return fr, nil
}

// checkIntegrity verifies the sidecar checksums (.sha256, .md5) and the
// manifest's sha256, and computes the unit's hash.
func (s *source) checkIntegrity(u *unit) error {
	h := sha256.New()
	for _, f := range u.files {
		sum, err := fileSHA256(f.Path)
		if err != nil {
			return &validationError{code: "read", message: err.Error()}
		}
		h.Write([]byte(sum))
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
			if algo == "md5" {
				got, err = fileMD5(f.Path)
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
	if len(u.files) == 1 {
		u.sha256 = u.sums[0]
	} else {
		u.sha256 = hex.EncodeToString(h.Sum(nil))
	}
	return nil
}

func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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
func (s *source) parsePlan(p *plan) error {
	j := p.j
	acc := &accumulator{kind: kindOf(j.list)}
	members := j.deltas
	delta := p.mode == "delta"
	if !delta {
		members = []*member{j.full}
	}
	var rows, bad int
	var badRows []regformat.BadRow
	hasChangeType := false
	for _, m := range members {
		st, err := parseMember(m, acc)
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
	dups, err := acc.validate(delta)
	if err != nil {
		return err
	}
	if delta {
		p.effect = acc.delta(p.ds, j.list == regformat.Exceptions)
	} else {
		p.effect = acc.full(p.ds)
	}
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

func parseMember(m *member, acc *accumulator) (regformat.Stats, error) {
	rc, err := m.open()
	if err != nil {
		return regformat.Stats{}, &validationError{code: "zip", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
	}
	defer rc.Close()
	st, err := regformat.Parse(rc, m.info, regformat.Options{MaxBadRows: 100}, func(r regformat.Record) error {
		acc.add(r)
		return nil
	})
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrFormat), errors.Is(err, io.ErrUnexpectedEOF):
		return st, &validationError{code: "zip", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
	case errors.Is(err, regformat.ErrHeader):
		return st, &validationError{code: "header", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
	}
	return st, &validationError{code: "format", message: fmt.Sprintf("%s: %v", m.info.Name, err)}
}

// guard holds a full list that shrinks below MinSnapshotRatio of the list
// in force, and a delta that unblocks more than MaxDeltaUnblocks entries.
func (s *source) guard(p *plan, counts map[eir.Dataset]uint64) *validationError {
	g := s.cfg.Guards
	if p.mode == "already_applied" {
		return nil
	}
	if p.mode == "full" {
		cur := counts[p.ds]
		if cur > 0 && float64(p.effect.count) < g.MinSnapshotRatio*float64(cur) {
			return &validationError{code: "shrink_guard", message: fmt.Sprintf(
				"the full %s list has %d entries, %.1f%% of the %d in force (minimum %.0f%%): approve it with eirctl sync approve",
				p.j.list, p.effect.count, 100*float64(p.effect.count)/float64(cur), cur, 100*g.MinSnapshotRatio)}
		}
		return nil
	}
	if g.MaxDeltaUnblocks > 0 && p.effect.unblock > g.MaxDeltaUnblocks {
		return &validationError{code: "unblock_guard", message: fmt.Sprintf(
			"the %s delta unblocks %d entries (limit %d): approve it with eirctl sync approve", p.j.list, p.effect.unblock, g.MaxDeltaUnblocks)}
	}
	return nil
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
// when they differ (REGISTRY.md §4.3).
func (s *source) reconcile(ctx context.Context, u *unit, p *plan, r eir.DatasetResult, stateRaw string, counts map[eir.Dataset]uint64) {
	e := s.engine
	acc := &accumulator{kind: kindOf(p.j.list)}
	if _, err := parseMember(p.j.full, acc); err != nil {
		p.report.Note = "delta applied; the full file could not be read for reconciliation: " + err.Error()
		return
	}
	if _, err := acc.validate(false); err != nil {
		p.report.Note = "delta applied; the full file is invalid, not reconciled: " + err.Error()
		return
	}
	full := acc.full(p.ds)
	if full.count == r.Count && full.hash == r.Hash {
		p.report.Note = "reconciled with the full file: same entries"
		return
	}
	if cur := r.Count; cur > 0 && float64(full.count) < s.cfg.Guards.MinSnapshotRatio*float64(cur) {
		p.report.Note = fmt.Sprintf("the delta result (%d entries) differs from the full file (%d), which is too small to replace it: resync needed", r.Count, full.count)
		e.coord.MetaSet(ctx, "sync:resync:"+s.cfg.Name, string(p.j.list), p.report.Note)
		e.m.resync.WithLabelValues(s.cfg.Name, string(p.j.list)).Set(1)
		return
	}
	st, _ := parseState(stateRaw)
	st.Mode, st.Hash, st.Count = "reconciled", strconv.FormatUint(full.hash, 16), full.count
	res, err := e.pub.ApplyWith(ctx, []eir.Change{full.change}, eir.ApplyOptions{
		State: map[string]string{p.key: st.json()}, ExpectState: map[string]string{p.key: stateRaw}})
	if err != nil {
		p.report.Note = "delta applied; replacing it by the full file failed: " + err.Error()
		return
	}
	p.mode, p.report.Mode = "reconciled", "reconciled"
	p.report.Note = fmt.Sprintf("the delta result (%d entries, hash %x) differed from the full file (%d, %x): replaced by the full file",
		r.Count, r.Hash, full.count, full.hash)
	if len(res.Datasets) == 1 {
		p.report.Count = res.Datasets[0].Count
	}
	e.log.Warn("sync delta result differed from the full file; replaced", zap.String("source", s.cfg.Name),
		zap.String("list", string(p.j.list)), zap.Uint64("delta_entries", r.Count), zap.Uint64("full_entries", full.count))
}

func (s *source) finishRejected(ctx context.Context, u *unit, fr FileReport, err error) FileReport {
	var ve *validationError
	if !errors.As(err, &ve) {
		ve = &validationError{code: "error", message: err.Error()}
	}
	s.reject(ctx, u.files, ve)
	fr.Result, fr.Reason, fr.Message, fr.Details = "rejected", ve.code, ve.message, ve.details
	s.engine.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
	return fr
}

func (s *source) finishHeld(ctx context.Context, u *unit, fr FileReport, ve *validationError) FileReport {
	e := s.engine
	reason := fetch.Reason{Code: ve.code, Message: ve.message, Time: e.now()}
	for _, f := range u.files {
		if err := s.dir.Hold(f, reason); err != nil {
			e.log.Error("cannot move a held file", zap.String("file", f.Name), zap.Error(err))
		}
	}
	e.log.Warn("sync file held until approved", zap.String("source", s.cfg.Name), zap.String("file", u.name),
		zap.String("guard", ve.code), zap.String("message", ve.message))
	fr.Result, fr.Reason, fr.Message = "held", ve.code, ve.message
	e.m.files.WithLabelValues(s.cfg.Name, fr.Result).Inc()
	return fr
}
