package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/provision"
)

// Auditor keeps and searches the audit trail (audit.Log).
type Auditor interface {
	Record(ctx context.Context, recs ...audit.Record) error
	Find(ctx context.Context, q audit.Query) ([]audit.Record, bool, error)
}

// maxJSONBody bounds the JSON requests (an entry, a reload).
const maxJSONBody = 64 << 10

// decodeJSON reads a JSON body of at most maxJSONBody bytes, rejecting
// unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fail(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is over %d bytes", maxJSONBody))
	}
	if errors.Is(err, io.EOF) {
		return badRequest("invalid_json", "a JSON object is required")
	}
	return badRequest("invalid_json", "request body: %v", err)
}

// target parses the entry named by a request: its target and key.
func target(req *api.EntryRequest) (eir.Target, eir.Entry, error) {
	var e eir.Entry
	var err error
	switch {
	case req.IMEI != "" && req.TAC == "" && req.From == "" && req.To == "":
		if e.IMEI, err = eir.ParseIMEI(req.IMEI); err != nil {
			return 0, e, badRequest("invalid_imei", "imei: %v", err)
		}
		if req.IMSI == "" {
			return eir.TargetIMEI, e, nil
		}
		if e.IMSI, err = eir.ParseIMSI(req.IMSI); err != nil {
			return 0, e, badRequest("invalid_imsi", "imsi: %v", err)
		}
		return eir.TargetPair, e, nil
	case req.TAC != "" && req.IMEI == "" && req.From == "" && req.To == "" && req.IMSI == "":
		if e.TAC, err = eir.ParseTAC(req.TAC); err != nil {
			return 0, e, badRequest("invalid_entry", "tac: %v", err)
		}
		return eir.TargetTAC, e, nil
	case req.From != "" && req.To != "" && req.IMEI == "" && req.TAC == "" && req.IMSI == "":
		if e.From, err = eir.ParseIMEI(req.From); err != nil {
			return 0, e, badRequest("invalid_imei", "from: %v", err)
		}
		if e.To, err = eir.ParseIMEI(req.To); err != nil {
			return 0, e, badRequest("invalid_imei", "to: %v", err)
		}
		if err := e.ValidateFor(eir.TargetRange); err != nil {
			return 0, e, badRequest("invalid_entry", "%v", err)
		}
		return eir.TargetRange, e, nil
	}
	return 0, e, badRequest("invalid_entry", "name one entry: imei, imei and imsi, tac, or from and to")
}

// parseEdit validates a request; list may be empty when optional.
func parseEdit(req *api.EntryRequest, listRequired bool) (provision.Edit, error) {
	source, t, e, list, err := parseEntry(req, listRequired)
	return provision.Edit{Source: source, Target: t, Key: e, List: list, AnyList: req.List == "", Reason: req.Reason}, err
}

func parseEntry(req *api.EntryRequest, listRequired bool) (source string, t eir.Target, e eir.Entry, list eir.List, err error) {
	if t, e, err = target(req); err != nil {
		return
	}
	source = strings.ToLower(strings.TrimSpace(req.Source))
	if source == "" {
		source = "manual"
	}
	if verr := eir.ValidateSource(source); verr != nil {
		err = badRequest("invalid_entry", "source: %v", verr)
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		err = badRequest("missing_reason", "a reason is required: it is kept in the audit trail")
		return
	}
	if len(req.Reason) > 1024 {
		err = badRequest("invalid_entry", "reason: %d bytes, at most 1024", len(req.Reason))
		return
	}
	if req.List == "" {
		if listRequired {
			err = badRequest("invalid_entry", "list is required: black, grey, white, override or exception")
		}
		return
	}
	if list, err = eir.ParseList(req.List); err != nil {
		err = badRequest("invalid_entry", "list: %v", err)
		return
	}
	if t == eir.TargetPair && list == eir.ListWhite {
		list = eir.ListException // as in imports: a white IMEI-IMSI pair is an exception
	}
	if verr := (eir.Dataset{Source: source, Target: t, List: list}).Validate(); verr != nil {
		err = badRequest("invalid_entry", "%v", verr)
	}
	return
}

func (s *Server) addEntry(w http.ResponseWriter, r *http.Request) {
	var req api.EntryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	e, err := parseEdit(&req, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !s.allowSources(w, r, []string{e.Source}, "") {
		return
	}
	if req.ExpiresAt != nil {
		// Kept to the millisecond (an entry's expiry is Unix
		// milliseconds): checked as stored.
		at := req.ExpiresAt.UTC().Truncate(time.Millisecond)
		switch {
		case e.Target == eir.TargetRange:
			writeError(w, http.StatusBadRequest, "invalid_entry", "ranges cannot expire: remove the range when it is no longer needed")
			return
		case !at.After(s.now()):
			writeError(w, http.StatusBadRequest, "invalid_entry", "expires_at "+at.Format(api.ExpiryLayout)+" is not in the future")
			return
		}
		e.Expires = at.UnixMilli()
	}
	e.Actor = Actor(r.Context())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.RequestTimeout)
	defer cancel()
	added, err := s.edits.Add(ctx, e)
	if err != nil {
		s.storeError(w, r, "entry not saved", err)
		return
	}
	writeJSON(w, http.StatusOK, api.EntryResult{Entry: api.Entry(added.Entry), Action: added.Action, Before: apiEntries(added.Before)})
}

func (s *Server) removeEntry(w http.ResponseWriter, r *http.Request) {
	var req api.EntryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.ExpiresAt != nil {
		writeError(w, http.StatusBadRequest, "invalid_entry", "expires_at has no meaning when removing")
		return
	}
	e, err := parseEdit(&req, false)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !s.allowSources(w, r, []string{e.Source}, "") {
		return
	}
	e.Actor = Actor(r.Context())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.RequestTimeout)
	defer cancel()
	removed, err := s.edits.Remove(ctx, e)
	if errors.Is(err, provision.ErrNotFound) {
		writeErr(w, err)
		return
	}
	if err != nil {
		s.storeError(w, r, "entry not removed", err)
		return
	}
	writeJSON(w, http.StatusOK, api.Removed{Removed: apiEntries(removed)})
}

// apiEntries converts entries to the API's (the same fields).
func apiEntries(in []provision.Entry) []api.Entry {
	out := make([]api.Entry, len(in))
	for i, e := range in {
		out[i] = api.Entry(e)
	}
	return out
}

// imeiOf is the IMEI an audit record is found by.
func imeiOf(t eir.Target, e eir.Entry) string { return provision.IMEIOf(t, e) }

// audit records; a failure is logged, not answered: the change is made.
func (s *Server) audit(ctx context.Context, recs ...audit.Record) {
	if s.o.Audit == nil || len(recs) == 0 {
		return
	}
	if err := s.o.Audit.Record(ctx, recs...); err != nil {
		s.log.Error("audit record not written", zap.String("action", recs[0].Action), zap.Error(err))
	}
}

// storeError logs and answers a failed store operation.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	s.log.Warn(msg, zap.String("actor", Actor(r.Context())), zap.Error(err))
	writeErr(w, storeFailed(msg, err))
}

// listCursor is where a listing stopped: a dataset and the store's cursor
// within it.
type listCursor struct {
	Dataset string `json:"d"`
	Cursor  string `json:"c"`
}

func (c listCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (listCursor, error) {
	var c listCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Dataset == "" {
		return c, errors.New("not a cursor from this API")
	}
	return c, nil
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	if v := q.Get("imei"); v != "" {
		s.entriesForIMEI(w, r.WithContext(ctx), v, q.Get("imsi"))
		return
	}
	source := q.Get("source")
	if source == "" {
		source = "manual"
	}
	if err := eir.ValidateSource(source); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "source: "+err.Error())
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "limit: want 1 to 1000")
			return
		}
		limit = n
	}
	var list eir.List
	var target eir.Target
	var err error
	if v := q.Get("list"); v != "" {
		if list, err = eir.ParseList(v); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "list: "+err.Error())
			return
		}
	}
	if v := q.Get("target"); v != "" {
		if target, err = eir.ParseTarget(v); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "target: "+err.Error())
			return
		}
	}
	infos, err := s.st.Datasets(ctx)
	if err != nil {
		s.storeError(w, r, "entries not listed", err)
		return
	}
	var sets []eir.Dataset
	for _, d := range infos {
		if d.Dataset.Source == source && (q.Get("list") == "" || d.Dataset.List == list) && (q.Get("target") == "" || d.Dataset.Target == target) && d.Count > 0 {
			sets = append(sets, d.Dataset)
		}
	}
	slices.SortFunc(sets, func(a, b eir.Dataset) int { return strings.Compare(a.String(), b.String()) })
	start, cursor := 0, ""
	if v := q.Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_cursor", "cursor: "+err.Error())
			return
		}
		start = slices.IndexFunc(sets, func(d eir.Dataset) bool { return d.String() == c.Dataset })
		if start < 0 {
			writeError(w, http.StatusBadRequest, "invalid_cursor", "the list changed since the cursor was issued: list again from the start")
			return
		}
		cursor = c.Cursor
	}
	var page []eir.DatasetEntry
	next := ""
	for i := start; i < len(sets) && len(page) < limit; i++ {
		entries, nc, err := s.st.ListEntries(ctx, sets[i], cursor, limit-len(page))
		if errors.Is(err, eir.ErrCursorStale) {
			writeErr(w, failed(opStore, "the list changed since the cursor was issued: list again from the start", err))
			return
		}
		if err != nil {
			s.storeError(w, r, "entries not listed", err)
			return
		}
		for _, e := range entries {
			page = append(page, eir.DatasetEntry{Dataset: sets[i], Entry: e})
		}
		cursor = nc
		switch {
		case nc != "":
			next = listCursor{Dataset: sets[i].String(), Cursor: nc}.encode()
		case i+1 < len(sets):
			next = listCursor{Dataset: sets[i+1].String()}.encode()
		default:
			next = ""
		}
	}
	out, err := s.edits.WithNotes(ctx, page)
	if err != nil {
		s.storeError(w, r, "entries not listed", err)
		return
	}
	writeJSON(w, http.StatusOK, api.EntriesPage{Source: source, Entries: apiEntries(out), NextCursor: next})
}

func (s *Server) entriesForIMEI(w http.ResponseWriter, r *http.Request, imei, imsi string) {
	id, err := eir.ParseIdentity(strings.TrimSpace(imei))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_imei", "imei: "+err.Error())
		return
	}
	q := eir.Query{IMEI: id.IMEI}
	if imsi != "" {
		if q.IMSI, err = eir.ParseIMSI(imsi); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_imsi", "imsi: "+err.Error())
			return
		}
	}
	entries, err := s.st.EntriesFor(r.Context(), q)
	if err != nil {
		s.storeError(w, r, "entries not found", err)
		return
	}
	out, err := s.edits.WithNotes(r.Context(), entries)
	if err != nil {
		s.storeError(w, r, "entries not found", err)
		return
	}
	writeJSON(w, http.StatusOK, api.EntriesPage{Entries: apiEntries(out), NextCursor: ""})
}
