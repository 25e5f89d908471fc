package admin

import (
	"context"
	"net/http"

	"go.uber.org/zap"
)

func (s *Server) syncConfigured(w http.ResponseWriter) bool {
	if s.o.Sync == nil {
		writeError(w, http.StatusNotFound, "sync_not_configured", "no registry source is configured (sync.sources)")
		return false
	}
	return true
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) {
	if !s.syncConfigured(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	st, rejects, err := s.o.Sync.Status(ctx)
	if err != nil {
		writeErr(w, failed(opStore, "", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": st, "rejects": rejects})
}

func (s *Server) syncRun(w http.ResponseWriter, r *http.Request) {
	if !s.syncConfigured(w) {
		return
	}
	sources := s.o.Sync.Sources()
	if name := r.URL.Query().Get("source"); name != "" {
		sources = []string{name}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.ImportTimeout)
	defer cancel()
	var passes []any
	for _, name := range sources {
		rep, err := s.o.Sync.Pass(ctx, name)
		if err != nil {
			writeErr(w, failed(opSync, "", err))
			return
		}
		s.log.Info("sync pass run on request", zap.String("actor", Actor(r.Context())), zap.String("source", name))
		passes = append(passes, rep)
	}
	writeJSON(w, http.StatusOK, map[string]any{"passes": passes})
}

func (s *Server) syncApprove(w http.ResponseWriter, r *http.Request) {
	if !s.syncConfigured(w) {
		return
	}
	q := r.URL.Query()
	source, file := q.Get("source"), q.Get("file")
	if source == "" || file == "" {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "source and file are required")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.ImportTimeout)
	defer cancel()
	rep, err := s.o.Sync.Approve(ctx, source, file, Actor(r.Context()))
	if err != nil {
		writeErr(w, failed(opApprove, "", err))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
