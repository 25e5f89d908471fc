package admin

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir/audit"
)

// OperatorData writes a day's DIRBS operator data dump
// (opexport.Exporter.ExportFile).
type OperatorData interface {
	// ExportFile writes the dump of date (YYYYMMDD) into dir, checked as
	// the registry's importer checks it, and returns the zip's path and
	// hex SHA-256. An error with a Refused() bool method that returns true
	// is a file the checks refuse or a date that cannot be exported.
	ExportFile(ctx context.Context, dir, date string) (path, sum string, err error)
}

// refused is an export error the caller can fix (a date, the data).
type refused interface{ Refused() bool }

// exportOperatorData answers GET /v1/export/operator-data?date=YYYYMMDD
// with the zip (Content-Disposition names it; api.OperatorDataHeaderSHA256
// holds its SHA-256), audited.
func (s *Server) exportOperatorData(w http.ResponseWriter, r *http.Request) {
	if s.o.OperatorData == nil {
		writeError(w, http.StatusNotFound, "export_not_configured", "no operator data export is configured (export.operator_data)")
		return
	}
	date := r.URL.Query().Get("date")
	if _, err := time.Parse("20060102", date); err != nil || len(date) != 8 {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "date: want YYYYMMDD")
		return
	}
	dir, err := os.MkdirTemp("", "eird-opdata-")
	if err != nil {
		s.storeError(w, r, "operator data not exported", err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(r.Context(), s.o.ImportTimeout)
	defer cancel()
	path, sum, err := s.o.OperatorData.ExportFile(ctx, dir, date)
	var ref refused
	switch {
	case errors.As(err, &ref) && ref.Refused():
		writeError(w, http.StatusUnprocessableEntity, "export_refused", err.Error())
		return
	case err != nil:
		s.storeError(w, r, "operator data not exported", err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.storeError(w, r, "operator data not exported", err)
		return
	}
	defer f.Close()
	name := filepath.Base(path)
	s.audit(r.Context(), audit.Record{Actor: Actor(r.Context()), Action: audit.ActionExport, Target: name, After: map[string]string{"sha256": sum}})
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set(api.OperatorDataHeaderSHA256, sum)
	if st, err := f.Stat(); err == nil {
		w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	}
	if _, err := io.Copy(w, f); err != nil {
		s.log.Warn("operator data export not sent", zap.String("actor", Actor(r.Context())), zap.Error(err))
	}
}
