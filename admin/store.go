package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/guard"
)

// Recoverer reports whether the list store holds the lists in force and
// repairs it when it does not (redisstore.Store).
type Recoverer interface {
	Health() eir.StoreHealth
	// Restore writes the lists this eird holds back into the store.
	Restore(ctx context.Context, o eir.RecoverOptions) (eir.RecoverResult, error)
	// Accept takes the store's state as the lists in force.
	Accept(ctx context.Context, o eir.RecoverOptions) (eir.RecoverResult, error)
}

func storeStatus(h eir.StoreHealth) api.StoreStatus {
	st := api.StoreStatus{State: h.State, Serving: h.Serving, Reason: h.Reason, StaleSeconds: h.Stale.Seconds(), Replica: h.Replica,
		Datasets: h.Datasets, Entries: h.Entries, Epoch: h.Epoch, StoreID: h.StoreID}
	if !h.Since.IsZero() {
		t := h.Since.UTC()
		st.Since = &t
	}
	return st
}

// RecoverResult is the body of POST /v1/store/restore and accept.
type RecoverResult = api.RecoverResult

func (s *Server) recoverConfigured(w http.ResponseWriter) bool {
	if s.o.Recoverer == nil {
		writeError(w, http.StatusNotFound, "store_recovery_not_available", "this store cannot be restored (no copy of the lists is kept)")
		return false
	}
	return true
}

func (s *Server) storeState(w http.ResponseWriter, r *http.Request) {
	if !s.recoverConfigured(w) {
		return
	}
	writeJSON(w, http.StatusOK, storeStatus(s.o.Recoverer.Health()))
}

func (s *Server) storeRestore(w http.ResponseWriter, r *http.Request) {
	s.storeRecover(w, r, "restore")
}
func (s *Server) storeAccept(w http.ResponseWriter, r *http.Request) { s.storeRecover(w, r, "accept") }

func (s *Server) storeRecover(w http.ResponseWriter, r *http.Request, action string) {
	if !s.recoverConfigured(w) {
		return
	}
	q := r.URL.Query()
	force := false
	if !boolParams(w, q, map[string]*bool{"force": &force}) {
		return
	}
	reason := strings.TrimSpace(q.Get("reason"))
	if reason == "" {
		writeError(w, http.StatusBadRequest, "missing_reason", "a reason is required: it is kept in the audit trail")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.ImportTimeout)
	defer cancel()
	res, err := s.Recover(ctx, action, Actor(r.Context()), reason, force)
	if err != nil {
		writeErr(w, recoverFailed(action, err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// recoverFailed is the error answered for a restore or accept not done:
// the message says what to do.
func recoverFailed(action string, err error) error {
	o := opRestore
	if action == "accept" {
		o = opAccept
	}
	var ge *guard.Error
	switch {
	case errors.As(err, &ge):
		return failed(o, "the "+action+" was refused by a guard: "+ge.Message+"; nothing was changed; check the lists, then run it again with force", err)
	case errors.Is(err, eir.ErrNothingToRecover), errors.Is(err, eir.ErrConflict):
		return failed(o, "", err)
	}
	return failed(o, "the "+action+" failed: "+err.Error(), err)
}

// Recover restores the lists in force into the store (action "restore")
// or accepts the store's state (action "accept"), under the guards unless
// force, and audits it.
func (s *Server) Recover(ctx context.Context, action, actor, reason string, force bool) (RecoverResult, error) {
	o := eir.RecoverOptions{}
	if !force {
		o.Before = func(res []eir.DatasetResult) error { return s.judge(res, "the "+action, true) }
	}
	var res eir.RecoverResult
	var err error
	if action == "accept" {
		res, err = s.o.Recoverer.Accept(ctx, o)
	} else {
		res, err = s.o.Recoverer.Restore(ctx, o)
	}
	if err != nil {
		s.log.Warn("store "+action+" not done", zap.String("actor", actor), zap.Error(err))
		return RecoverResult{}, err
	}
	out := RecoverResult{Action: action, Epoch: res.Epoch, StoreID: res.StoreID, Repaired: res.Reason, Forced: force, Datasets: []api.RecoverDataset{}}
	for _, d := range res.Datasets {
		out.Datasets = append(out.Datasets, api.RecoverDataset{Dataset: d.Dataset.String(), Count: d.Count, Previous: d.Previous,
			Added: d.Added, Removed: d.Removed, Unblocked: d.Unblocked()})
	}
	act := audit.ActionRestore
	if action == "accept" {
		act = audit.ActionAccept
	}
	if force {
		reason += " (forced past the guards)"
	}
	s.audit(ctx, audit.Record{Actor: actor, Action: act, Reason: reason, After: out})
	s.log.Warn("store "+action+" done", zap.String("actor", actor), zap.Uint64("epoch", res.Epoch),
		zap.String("repaired", res.Reason), zap.Bool("forced", force))
	return out, nil
}

// autoRestoreBackoff is how long RunAutoRestore waits after a refused
// restore before it tries again.
const autoRestoreBackoff = time.Minute

// RunAutoRestore restores the lists in force, under the guards, whenever
// the store no longer holds them (store.auto_restore), checking every
// interval, until ctx is done. A refusal (a guard, a conflict) is logged
// and retried after autoRestoreBackoff (by Options.Now's clock).
func (s *Server) RunAutoRestore(ctx context.Context, interval time.Duration) {
	if s.o.Recoverer == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var next time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := s.o.Recoverer.Health()
		if h.State != eir.StoreDiverged || s.now().Before(next) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, s.o.ImportTimeout)
		_, err := s.Recover(rctx, "restore", "auto_restore", "store.auto_restore: "+h.Reason, false)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Error("automatic restore refused; restore with eirctl store restore", zap.Error(err))
			next = s.now().Add(autoRestoreBackoff)
		}
	}
}
