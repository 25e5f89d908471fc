package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/eir/provision"
)

func (s *Server) importCSV(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := provision.Options{Source: q.Get("source")}
	// The file name and the reason go to the audit trail. Neither is
	// required by the API (callers of the first versions send neither;
	// eirctl requires -reason), but both are bounded.
	file, reason := strings.TrimSpace(q.Get("file")), strings.TrimSpace(q.Get("reason"))
	for _, p := range []struct{ name, v string }{{"file", file}, {"reason", reason}} {
		if len(p.v) > maxAuditText {
			s.refuse(r, "", "import rejected: "+p.name+" too long")
			writeError(w, http.StatusBadRequest, "invalid_parameter", p.name+": "+strconv.Itoa(len(p.v))+" bytes, at most "+strconv.Itoa(maxAuditText))
			return
		}
	}
	dryRun, force := false, false
	if !boolParams(w, q, map[string]*bool{"replace": &opts.Replace, "dry_run": &dryRun, "skip_invalid": &opts.SkipInvalid, "force": &force}) {
		return
	}
	if opts.SkipInvalid {
		opts.MaxErrors = 100
	}
	body := http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes)
	parsed, err := provision.Parse(body, opts)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(r, "", "import rejected: body too large")
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				"the file is larger than admin.max_body_bytes ("+strconv.FormatInt(s.o.MaxBodyBytes, 10)+" bytes)")
			return
		}
		// The count only: the errors may quote the file's rows (IMEIs).
		errs := splitErrors(err)
		s.refuse(r, "", "import rejected: invalid file ("+strconv.Itoa(len(errs))+" error(s))")
		writeError(w, http.StatusUnprocessableEntity, "invalid_file", "the file was rejected; nothing was changed", errs...)
		return
	}
	// Every source the file touches, as named by its rows and as written
	// by its changes (with replace=true, all datasets of those sources).
	touched := slices.Clone(parsed.Sources)
	for _, c := range parsed.Changes {
		if !slices.Contains(touched, c.Dataset.Source) {
			touched = append(touched, c.Dataset.Source)
		}
	}
	if !s.allowSources(w, r, touched, "; the file was rejected, nothing was changed") {
		return
	}
	res := api.ImportResult{Rows: parsed.Rows, Sources: parsed.Sources, Replace: opts.Replace, DryRun: dryRun, Datasets: []api.DatasetChange{},
		SkippedRows: parsed.SkippedRows}
	for _, e := range parsed.Skipped {
		res.Skipped = append(res.Skipped, plain(e.Error()))
	}
	if len(parsed.Changes) == 0 {
		writeJSON(w, http.StatusOK, res)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.ImportTimeout)
	defer cancel()
	applied, held, err := s.applyImport(ctx, parsed.Changes, opts.Replace, dryRun, force)
	if err != nil {
		s.log.Warn("import failed", zap.String("actor", Actor(r.Context())), zap.Bool("dry_run", dryRun), zap.Error(err))
		writeErr(w, importFailed(err))
		return
	}
	for _, d := range applied {
		res.Datasets = append(res.Datasets, api.DatasetChange{Dataset: d.Dataset.String(), Version: d.Version, Added: d.Added, Removed: d.Removed, Count: d.Count})
	}
	// By name, as eirctl datasets lists them (the store's order is its own).
	slices.SortFunc(res.Datasets, func(a, b api.DatasetChange) int { return strings.Compare(a.Dataset, b.Dataset) })
	if dryRun {
		if held != nil {
			res.Held = &api.ImportHeld{Code: held.Code, Message: held.Message}
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	if force {
		reason = strings.TrimSpace(reason + " (forced past the guards)")
	}
	s.audit(ctx, importRecords(Actor(r.Context()), file, reason, parsed.Changes, res)...)
	s.log.Info("import applied", zap.String("actor", Actor(r.Context())), zap.Int("rows", parsed.Rows),
		zap.Strings("sources", parsed.Sources), zap.Bool("replace", opts.Replace), zap.Int("datasets", len(applied)))
	writeJSON(w, http.StatusOK, res)
}

// errDryRun ends the write of a dry run once it is built and counted,
// before anything is switched in.
var errDryRun = errors.New("admin: dry run")

// applyImport applies an import's changes, the guards judging what it
// does by content unless forced. A dry run builds the write, is told
// what it would do (counted against the lists in force exactly as the
// write is) and what the guards would say of it, and stops before the
// switch: no list in force, no version and no audit record changes (the
// store deletes what it built). Its results have no version.
func (s *Server) applyImport(ctx context.Context, changes []eir.Change, replace, dryRun, force bool) ([]eir.DatasetResult, *guard.Error, error) {
	var seen []eir.DatasetResult
	var held *guard.Error
	ao := eir.ApplyOptions{}
	if dryRun || !force {
		ao.Before = func(res []eir.DatasetResult, _ map[string]string) error {
			held = nil
			if !force {
				held = s.o.Guards.JudgeAll(res, func(eir.DatasetResult) (string, bool) { return "the import", replace })
			}
			if dryRun {
				seen = slices.Clone(res)
				return errDryRun
			}
			if held != nil {
				return held
			}
			return nil
		}
	}
	applied, err := s.st.ApplyWith(ctx, changes, ao)
	if dryRun && errors.Is(err, errDryRun) {
		for i := range seen {
			seen[i].Version = 0 // built to be counted, never switched in
		}
		return seen, held, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return applied.Datasets, nil, nil
}

// boolParams reads the boolean query parameters named by params into
// their values (an absent one leaves its value as it is). On a value that
// is not a boolean it answers 400 invalid_parameter and returns false.
func boolParams(w http.ResponseWriter, q url.Values, params map[string]*bool) bool {
	for name, dst := range params {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_parameter", name+": want true or false")
				return false
			}
			*dst = b
		}
	}
	return true
}

// judge applies the guards to what a write does (what names it in the
// message; full: a whole list), and returns the *guard.Error of
// those tripped, or a nil error.
func (s *Server) judge(res []eir.DatasetResult, what string, full bool) error {
	if ge := s.o.Guards.JudgeAll(res, func(eir.DatasetResult) (string, bool) { return what, full }); ge != nil {
		return ge
	}
	return nil
}

// maxAuditText bounds the file name and the reason of an import, as
// the reason of a manual edit.
const maxAuditText = 1024

// maxImportEntryRecords bounds the per-entry audit records of an import;
// a larger import is audited by its summary only.
const maxImportEntryRecords = 1000

// importRecords audits an import: a summary, and one record per entry the
// file named when there are few enough, so that a search by IMEI finds
// them.
func importRecords(actor, file, reason string, changes []eir.Change, res api.ImportResult) []audit.Record {
	recs := []audit.Record{{Actor: actor, Action: audit.ActionImport, Target: file, Source: strings.Join(res.Sources, ","), Reason: reason, After: res}}
	n := 0
	for _, c := range changes {
		n += len(c.Add) + len(c.Remove)
	}
	if n > maxImportEntryRecords {
		return recs
	}
	// A removal of an entry the file adds to another list of the source is
	// the move, recorded by the addition.
	type key struct {
		source string
		target eir.Target
		e      eir.Entry
	}
	added := map[key]bool{}
	for _, c := range changes {
		for _, e := range c.Add {
			added[key{c.Dataset.Source, c.Dataset.Target, e.Key()}] = true
		}
	}
	for _, c := range changes {
		for _, l := range []struct {
			entries []eir.Entry
			op      string
		}{{c.Add, "add"}, {c.Remove, "remove"}} {
			for _, e := range l.entries {
				if l.op == "remove" && added[key{c.Dataset.Source, c.Dataset.Target, e.Key()}] {
					continue
				}
				recs = append(recs, audit.Record{Actor: actor, Action: audit.ActionImport, Dataset: c.Dataset.String(),
					Target: e.KeyString(c.Dataset.Target), IMEI: imeiOf(c.Dataset.Target, e), Source: c.Dataset.Source,
					Reason: reason, After: l.op})
			}
		}
	}
	return recs
}

// importFailed is the error answered for an import the store did not
// apply: the message says what to do.
func importFailed(err error) error {
	var ge *guard.Error
	switch {
	case errors.As(err, &ge):
		return failed(opImport, ge.Message+"; nothing was changed; check the file, then import it again with force (eirctl import -force)", err)
	case errors.Is(err, eir.ErrInvalidEntry), errors.Is(err, eir.ErrInvalidIMSI):
		return failed(opImport, "", err)
	}
	return failed(opImport, "the import was not applied: "+err.Error(), err)
}
