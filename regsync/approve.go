package regsync

import (
	"context"
	"encoding/json"
	"fmt"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

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
var ErrNotHeld error = notFound("regsync: no such held file")

// notFound is a sentinel error that is an eir.ErrNotFound.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == eir.ErrNotFound }
