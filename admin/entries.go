package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
)

// Notes keeps why each entry was made (redisstore.Store's metadata hashes):
// one hash per source, one field per entry.
type Notes interface {
	MetaSet(ctx context.Context, name, field, value string) error
	MetaGet(ctx context.Context, name string, fields ...string) ([]string, error)
	MetaDel(ctx context.Context, name string, fields ...string) error
}

// Auditor keeps and searches the audit trail (audit.Log).
type Auditor interface {
	Record(ctx context.Context, recs ...audit.Record) error
	Find(ctx context.Context, q audit.Query) ([]audit.Record, bool, error)
}

// maxJSONBody bounds the JSON requests (an entry, a reload).
const maxJSONBody = 64 << 10

// exclusiveLists are the lists an IMEI, TAC or range is on at most one of
// within a source; exceptions and notifications (pairs) are independent.
var exclusiveLists = []eir.List{eir.ListBlack, eir.ListGrey, eir.ListWhite, eir.ListOverride}

// Entry is an entry as the API shows it.
type Entry struct {
	Dataset   string     `json:"dataset,omitempty"`
	Source    string     `json:"source,omitempty"`
	List      string     `json:"list,omitempty"`
	Target    string     `json:"target,omitempty"`
	IMEI      string     `json:"imei,omitempty"`
	TAC       string     `json:"tac,omitempty"`
	From      string     `json:"from,omitempty"`
	To        string     `json:"to,omitempty"`
	IMSI      string     `json:"imsi,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Expired   bool       `json:"expired,omitempty"` // past its expiry, not yet swept; no longer applies
	Reason    string     `json:"reason,omitempty"`
	Actor     string     `json:"actor,omitempty"`
	Time      *time.Time `json:"time,omitempty"` // when it was last added through this API
}

// note is what Notes holds for an entry.
type note struct {
	Dataset string    `json:"dataset"`
	Reason  string    `json:"reason"`
	Actor   string    `json:"actor"`
	Time    time.Time `json:"time"`
}

func notesName(source string) string { return "notes:" + source }

func noteField(t eir.Target, e eir.Entry) string { return t.String() + ":" + e.KeyString(t) }

func (s *Server) entryJSON(de eir.DatasetEntry) Entry {
	d, e := de.Dataset, de.Entry
	out := Entry{Dataset: d.String(), Source: d.Source, List: d.List.String(), Target: d.Target.String()}
	switch d.Target {
	case eir.TargetIMEI:
		out.IMEI = e.IMEI.String()
	case eir.TargetTAC:
		out.TAC = e.TAC.String()
	case eir.TargetRange:
		out.From, out.To = e.From.String(), e.To.String()
	case eir.TargetPair:
		out.IMEI, out.IMSI = e.IMEI.String(), string(e.IMSI)
	}
	if e.Expires != 0 {
		t := time.UnixMilli(e.Expires).UTC()
		out.ExpiresAt = &t
		out.Expired = e.Expires <= s.now().UnixMilli()
	}
	return out
}

// withNotes fills reason, actor and time from the notes; a note made for
// another dataset (the entry moved since) is not shown.
func (s *Server) withNotes(ctx context.Context, entries []eir.DatasetEntry) ([]Entry, error) {
	out := make([]Entry, len(entries))
	bySource := map[string][]int{}
	for i, de := range entries {
		out[i] = s.entryJSON(de)
		bySource[de.Dataset.Source] = append(bySource[de.Dataset.Source], i)
	}
	if s.o.Notes == nil {
		return out, nil
	}
	for source, idx := range bySource {
		fields := make([]string, len(idx))
		for j, i := range idx {
			fields[j] = noteField(entries[i].Dataset.Target, entries[i].Entry)
		}
		vals, err := s.o.Notes.MetaGet(ctx, notesName(source), fields...)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			var n note
			if vals[j] == "" || json.Unmarshal([]byte(vals[j]), &n) != nil || n.Dataset != out[i].Dataset {
				continue
			}
			t := n.Time.UTC()
			out[i].Reason, out[i].Actor, out[i].Time = n.Reason, n.Actor, &t
		}
	}
	return out, nil
}

// entryRequest is the body of POST and DELETE /v1/entries.
type entryRequest struct {
	IMEI      string     `json:"imei"`
	TAC       string     `json:"tac"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	IMSI      string     `json:"imsi"`
	List      string     `json:"list"`
	Source    string     `json:"source"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// requestError is a 400 answer.
type requestError struct {
	code, msg string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) error {
	return &requestError{code: code, msg: fmt.Sprintf(format, args...)}
}

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
		return &requestError{code: "body_too_large", msg: fmt.Sprintf("the request body is over %d bytes", maxJSONBody)}
	}
	if errors.Is(err, io.EOF) {
		return badRequest("invalid_json", "a JSON object is required")
	}
	return badRequest("invalid_json", "request body: %v", err)
}

// writeRequestError answers an error from decodeJSON or parse.
func writeRequestError(w http.ResponseWriter, err error) {
	var re *requestError
	if !errors.As(err, &re) {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if re.code == "body_too_large" {
		writeError(w, http.StatusRequestEntityTooLarge, re.code, re.msg)
		return
	}
	writeError(w, http.StatusBadRequest, re.code, re.msg)
}

// target parses the entry named by a request: its target and key.
func (req *entryRequest) target() (eir.Target, eir.Entry, error) {
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

// parse validates a request; list may be empty when optional.
func (req *entryRequest) parse(listRequired bool) (source string, t eir.Target, e eir.Entry, list eir.List, err error) {
	if t, e, err = req.target(); err != nil {
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

// entriesOf returns the entries of a source with the key of e, on any list.
func (s *Server) entriesOf(ctx context.Context, source string, t eir.Target, key eir.Entry) ([]eir.DatasetEntry, error) {
	probe := eir.Query{IMEI: key.IMEI, IMSI: key.IMSI}
	switch t {
	case eir.TargetTAC:
		probe.IMEI = eir.IMEI(uint64(key.TAC) * 1_000_000)
	case eir.TargetRange:
		probe.IMEI = key.From
	}
	all, err := s.st.EntriesFor(ctx, probe)
	if err != nil {
		return nil, err
	}
	var out []eir.DatasetEntry
	for _, de := range all {
		if de.Dataset.Source == source && de.Dataset.Target == t && de.Entry.Key() == key.Key() {
			out = append(out, de)
		}
	}
	return out, nil
}

// editField is the sync-state field counting the edits of a source; every
// edit expects the value it read, so concurrent edits of the same source by
// several eird processes cannot interleave.
func editField(source string) string { return "edits:" + source }

// editAttempts bounds the attempts of one edit: an edit refused because
// another eird edited the source since it read is retried from fresh
// state, after editBackoff.
const editAttempts = 10

// editBackoff is the wait before retry attempt+1 of an edit: it grows by
// 5 ms per attempt, plus up to 10 ms of jitter so that the eird retrying
// do not meet again (225 to 315 ms over the nine waits of an edit).
func editBackoff(attempt int) time.Duration {
	return time.Duration(attempt+1)*5*time.Millisecond + rand.N(10*time.Millisecond)
}

// sleep waits d, or until ctx is done (ctx's error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// edit reads the entries concerned, plans the changes and applies them
// unless the source was edited since (by another eird: the edits of this
// one are serialised); it retries from fresh state, up to editAttempts
// times. The wait between attempts holds no lock: other edits of this
// eird go on meanwhile.
func (s *Server) edit(ctx context.Context, source string, plan func(before []eir.DatasetEntry) ([]eir.Change, error),
	read func(ctx context.Context) ([]eir.DatasetEntry, error)) (before []eir.DatasetEntry, res eir.ApplyResult, err error) {
	for attempt := range editAttempts {
		if attempt > 0 {
			if s.wait(ctx, editBackoff(attempt-1)) != nil {
				return before, res, err
			}
		}
		before, res, err = s.editOnce(ctx, source, plan, read)
		if !errors.Is(err, eir.ErrConflict) {
			return before, res, err
		}
	}
	return before, res, fmt.Errorf("%w: the entries of source %s kept changing; try again", eir.ErrConflict, source)
}

// editOnce is one attempt of edit, under editMu: it fails with
// eir.ErrConflict when another eird edited the source since it read.
func (s *Server) editOnce(ctx context.Context, source string, plan func(before []eir.DatasetEntry) ([]eir.Change, error),
	read func(ctx context.Context) ([]eir.DatasetEntry, error)) (before []eir.DatasetEntry, res eir.ApplyResult, err error) {
	s.editMu.Lock()
	defer s.editMu.Unlock()
	state, err := s.st.SyncState(ctx)
	if err != nil {
		return nil, res, err
	}
	cur := state[editField(source)]
	if before, err = read(ctx); err != nil {
		return nil, res, err
	}
	changes, err := plan(before)
	if err != nil || len(changes) == 0 {
		return before, res, err
	}
	n, _ := strconv.ParseUint(cur, 10, 64)
	res, err = s.st.ApplyWith(ctx, changes, eir.ApplyOptions{
		ExpectState: map[string]string{editField(source): cur},
		State:       map[string]string{editField(source): strconv.FormatUint(n+1, 10)},
	})
	return before, res, err
}

// EntryResult is the body of POST /v1/entries.
type EntryResult struct {
	Entry  Entry   `json:"entry"`
	Action string  `json:"action"` // added, updated or unchanged
	Before []Entry `json:"before"`
}

func (s *Server) addEntry(w http.ResponseWriter, r *http.Request) {
	var req entryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeRequestError(w, err)
		return
	}
	source, t, key, list, err := req.parse(true)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if !s.allowSources(w, r, []string{source}, "") {
		return
	}
	entry := key
	if req.ExpiresAt != nil {
		switch {
		case t == eir.TargetRange:
			writeError(w, http.StatusBadRequest, "invalid_entry", "ranges cannot expire: remove the range when it is no longer needed")
			return
		case !req.ExpiresAt.After(s.now()):
			writeError(w, http.StatusBadRequest, "invalid_entry", "expires_at "+req.ExpiresAt.UTC().Format(time.RFC3339)+" is not in the future")
			return
		}
		entry.Expires = req.ExpiresAt.UnixMilli()
	}
	target := eir.Dataset{Source: source, Target: t, List: list, Expiring: entry.Expires != 0}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.RequestTimeout)
	defer cancel()
	action := "unchanged"
	before, _, err := s.edit(ctx, source, func(before []eir.DatasetEntry) ([]eir.Change, error) {
		action = "added"
		if len(before) > 0 {
			action = "updated"
		}
		if len(before) == 1 && before[0].Dataset == target && before[0].Entry.Expires == entry.Expires {
			action = "unchanged"
			return nil, nil
		}
		changes := []eir.Change{{Dataset: target, Add: []eir.Entry{entry}}}
		for _, de := range before {
			if de.Dataset != target {
				changes = append(changes, eir.Change{Dataset: de.Dataset, Remove: []eir.Entry{de.Entry.Key()}})
			}
		}
		return changes, nil
	}, func(ctx context.Context) ([]eir.DatasetEntry, error) {
		all, err := s.entriesOf(ctx, source, t, key)
		if err != nil {
			return nil, err
		}
		// The entry leaves the source's other exclusive lists, and the
		// other variant (expiring or not) of its own list.
		var out []eir.DatasetEntry
		for _, de := range all {
			if de.Dataset.List == list || (t != eir.TargetPair && slices.Contains(exclusiveLists, list) && slices.Contains(exclusiveLists, de.Dataset.List)) {
				out = append(out, de)
			}
		}
		return out, nil
	})
	if err != nil {
		s.storeError(w, r, "entry not saved", err)
		return
	}
	actor := Actor(r.Context())
	after := eir.DatasetEntry{Dataset: target, Entry: entry}
	res := EntryResult{Entry: s.entryJSON(after), Action: action, Before: []Entry{}}
	res.Entry.Reason, res.Entry.Actor = req.Reason, actor
	if res.Before, err = s.withNotes(ctx, before); err != nil {
		res.Before = []Entry{}
		for _, de := range before {
			res.Before = append(res.Before, s.entryJSON(de))
		}
	}
	// Even an unchanged entry gets the new reason, and the request is
	// audited: the trail records every decision an operator made.
	now := s.now().UTC()
	res.Entry.Time = &now
	if s.o.Notes != nil {
		b, _ := json.Marshal(note{Dataset: target.String(), Reason: req.Reason, Actor: actor, Time: now})
		if err := s.o.Notes.MetaSet(ctx, notesName(source), noteField(t, key), string(b)); err != nil {
			s.log.Warn("entry note not saved", zap.Error(err))
		}
	}
	act := audit.ActionAdd
	if action != "added" {
		act = audit.ActionUpdate
	}
	s.audit(ctx, audit.Record{Actor: actor, Action: act, Dataset: target.String(), Target: key.KeyString(t),
		IMEI: imeiOf(t, key), Source: source, Reason: req.Reason, Before: res.Before, After: res.Entry})
	s.log.Info("entry saved", zap.String("actor", actor), zap.String("action", action), zap.String("dataset", target.String()),
		s.entryField(t, key))
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) removeEntry(w http.ResponseWriter, r *http.Request) {
	var req entryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeRequestError(w, err)
		return
	}
	if req.ExpiresAt != nil {
		writeError(w, http.StatusBadRequest, "invalid_entry", "expires_at has no meaning when removing")
		return
	}
	source, t, key, list, err := req.parse(false)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if !s.allowSources(w, r, []string{source}, "") {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.RequestTimeout)
	defer cancel()
	before, _, err := s.edit(ctx, source, func(before []eir.DatasetEntry) ([]eir.Change, error) {
		var changes []eir.Change
		for _, de := range before {
			changes = append(changes, eir.Change{Dataset: de.Dataset, Remove: []eir.Entry{de.Entry.Key()}})
		}
		return changes, nil
	}, func(ctx context.Context) ([]eir.DatasetEntry, error) {
		all, err := s.entriesOf(ctx, source, t, key)
		if err != nil || req.List == "" {
			return all, err
		}
		var out []eir.DatasetEntry
		for _, de := range all {
			if de.Dataset.List == list {
				out = append(out, de)
			}
		}
		return out, nil
	})
	if err != nil {
		s.storeError(w, r, "entry not removed", err)
		return
	}
	if len(before) == 0 {
		what := "source " + source
		if req.List != "" {
			what += ", list " + list.String()
		}
		writeError(w, http.StatusNotFound, "not_found", key.KeyString(t)+" is on no list of "+what)
		return
	}
	removed, err := s.withNotes(ctx, before)
	if err != nil {
		removed = nil
		for _, de := range before {
			removed = append(removed, s.entryJSON(de))
		}
	}
	actor := Actor(r.Context())
	if s.o.Notes != nil {
		if err := s.o.Notes.MetaDel(ctx, notesName(source), noteField(t, key)); err != nil {
			s.log.Warn("entry note not deleted", zap.Error(err))
		}
	}
	var recs []audit.Record
	for i, de := range before {
		recs = append(recs, audit.Record{Actor: actor, Action: audit.ActionRemove, Dataset: de.Dataset.String(), Target: key.KeyString(t),
			IMEI: imeiOf(t, key), Source: source, Reason: req.Reason, Before: removed[i]})
	}
	s.audit(ctx, recs...)
	s.log.Info("entry removed", zap.String("actor", actor), zap.Int("datasets", len(before)), s.entryField(t, key))
	writeJSON(w, http.StatusOK, map[string]any{"removed": removed})
}

// imeiOf is the IMEI an audit record is found by.
func imeiOf(t eir.Target, e eir.Entry) string {
	if t == eir.TargetIMEI || t == eir.TargetPair {
		return e.IMEI.String()
	}
	return ""
}

// entryField is the log field naming an entry: an IMEI redacted, a TAC or
// range as it is.
func (s *Server) entryField(t eir.Target, e eir.Entry) zap.Field {
	if t == eir.TargetIMEI || t == eir.TargetPair {
		return s.o.Redactor.IMEI(e.IMEI)
	}
	return zap.String("entry", e.KeyString(t))
}

// audit records; a failure is logged, not answered: the change is made.
func (s *Server) audit(ctx context.Context, recs ...audit.Record) {
	if s.o.Audit == nil || len(recs) == 0 {
		return
	}
	if err := s.o.Audit.Record(ctx, recs...); err != nil {
		s.log.Error("audit record not written", zap.String("action", recs[0].Action), zap.Error(err))
	}
}

// storeError answers a failed store operation.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	s.log.Warn(msg, zap.String("actor", Actor(r.Context())), zap.Error(err))
	switch {
	case errors.Is(err, eir.ErrInvalidEntry), errors.Is(err, eir.ErrInvalidIMSI), errors.Is(err, eir.ErrInvalidIMEI):
		writeError(w, http.StatusBadRequest, "invalid_entry", msg+": "+err.Error())
	case errors.Is(err, eir.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", msg+": "+err.Error())
	default:
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", msg+": "+err.Error())
	}
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
			writeError(w, http.StatusBadRequest, "invalid_cursor", "the list changed since the cursor was issued: list again from the start")
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
	out, err := s.withNotes(ctx, page)
	if err != nil {
		s.storeError(w, r, "entries not listed", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next_cursor": next})
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
	out, err := s.withNotes(r.Context(), entries)
	if err != nil {
		s.storeError(w, r, "entries not found", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next_cursor": ""})
}

// SweepExpired removes the expired entries (the store's SweepExpired),
// audits each removal (actor "expiry") and deletes their notes. Checks
// ignore an entry from its expiry on; the sweep reclaims space and keeps
// the trail. Several eird may sweep: each entry is removed, and audited,
// once.
func (s *Server) SweepExpired(ctx context.Context) (int, error) {
	removed, err := s.st.SweepExpired(ctx)
	if err != nil || len(removed) == 0 {
		return 0, err
	}
	var recs []audit.Record
	notes := map[string][]string{}
	for _, de := range removed {
		t, e := de.Dataset.Target, de.Entry
		recs = append(recs, audit.Record{Actor: "expiry", Action: audit.ActionExpire, Dataset: de.Dataset.String(),
			Target: e.KeyString(t), IMEI: imeiOf(t, e), Source: de.Dataset.Source,
			Reason: "expired at " + time.UnixMilli(e.Expires).UTC().Format(time.RFC3339), Before: s.entryJSON(de)})
		notes[de.Dataset.Source] = append(notes[de.Dataset.Source], noteField(t, e.Key()))
	}
	s.audit(ctx, recs...)
	if s.o.Notes != nil {
		for source, fields := range notes {
			if err := s.o.Notes.MetaDel(ctx, notesName(source), fields...); err != nil {
				s.log.Warn("notes of expired entries not deleted", zap.Error(err))
			}
		}
	}
	s.log.Info("expired entries removed", zap.Int("entries", len(removed)))
	return len(removed), nil
}

// RunExpirySweep calls SweepExpired every interval until ctx is done.
func (s *Server) RunExpirySweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, max(interval, 10*time.Second))
		if _, err := s.SweepExpired(sctx); err != nil {
			s.log.Warn("expired entries not swept", zap.Error(err))
		}
		cancel()
	}
}
