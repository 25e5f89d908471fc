package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
)

// EventsStream is the name of the hit events stream (events.StreamName).
const EventsStream = "events"

func (s *Server) auditFind(w http.ResponseWriter, r *http.Request) {
	if s.o.Audit == nil {
		writeError(w, http.StatusNotFound, "audit_not_configured", "no audit trail is kept")
		return
	}
	q := r.URL.Query()
	f := audit.Query{IMEI: q.Get("imei"), Actor: q.Get("actor"), Action: q.Get("action")}
	if f.IMEI != "" {
		imei, err := eir.ParseIMEI(f.IMEI)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_imei", "imei: "+err.Error())
			return
		}
		f.IMEI = imei.String()
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := parseTime(v, s.now())
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_parameter", name+": "+err.Error())
				return
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "limit: want 1 to 1000")
			return
		}
		f.Limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	recs, truncated, err := s.o.Audit.Find(ctx, f)
	if err != nil {
		s.storeError(w, r, "audit not read", err)
		return
	}
	out := api.AuditPage{Records: make([]api.AuditRecord, 0, len(recs)), Truncated: truncated}
	for _, rec := range recs {
		out.Records = append(out.Records, api.AuditRecord{ID: api.Text(rec.ID), Time: rec.Time, Actor: rec.Actor, Action: rec.Action,
			Dataset: rec.Dataset, Target: api.Text(rec.Target), IMEI: rec.IMEI, Source: rec.Source, Reason: rec.Reason,
			Before: rawJSON(rec.Before), After: rawJSON(rec.After)})
	}
	writeJSON(w, http.StatusOK, out)
}

// parseTime reads RFC 3339, or a duration before now ("24h").
func parseTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, errBadTime
	}
	return now.Add(-d), nil
}

var errBadTime = badRequest("invalid_parameter", "want an RFC 3339 time (2026-11-26T08:00:00Z) or a duration before now (24h)")

// eventOut is an event as the API shows it: the stored document and its
// id.
type eventOut map[string]any

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.o.Events == nil {
		writeError(w, http.StatusNotFound, "events_not_configured", "hit events are not kept")
		return
	}
	q := r.URL.Query()
	limit := int64(100)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "limit: want 1 to 1000")
			return
		}
		limit = n
	}
	after := q.Get("after")
	if after != "" && !validStreamID(after) {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "after: want an event id from a previous answer (1764143000000-0)")
		return
	}
	kind := q.Get("kind")
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	out, last, err := s.readEvents(ctx, after, kind, limit)
	if err != nil {
		s.storeError(w, r, "events not read", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "last_id": last})
}

// maxEventScan bounds the events one request of a kind reads.
const maxEventScan = 10_000

// readEvents reads up to limit events of kind ("" any; a document without
// a kind is a "hit"): the newest ones, oldest first, or those after the
// id after. It reads the stream page by page until it has limit of them,
// the stream ends or maxEventScan were read; last is the id to ask after
// next time (the last read, matching or not).
func (s *Server) readEvents(ctx context.Context, after, kind string, limit int64) (out []eventOut, last string, err error) {
	out, last = []eventOut{}, after
	newest := after == ""
	start, end := "-", "+"
	if !newest {
		start = "(" + after
	}
	for scanned := 0; scanned < maxEventScan && int64(len(out)) < limit; {
		ids, docs, err := s.o.Events.ReadStream(ctx, EventsStream, start, end, limit, newest)
		if err != nil {
			return nil, "", err
		}
		scanned += len(ids)
		for i, d := range docs {
			var ev eventOut
			if json.Unmarshal([]byte(d), &ev) != nil || !kindMatches(ev, kind) {
				continue
			}
			ev["id"] = ids[i]
			out = append(out, ev)
			if int64(len(out)) == limit {
				ids = ids[:i+1]
				break
			}
		}
		if len(ids) == 0 {
			break
		}
		if newest {
			end = "(" + ids[len(ids)-1]
			if last == "" {
				last = ids[0]
			}
		} else {
			start, last = "("+ids[len(ids)-1], ids[len(ids)-1]
		}
		if kind == "" || int64(len(ids)) < limit {
			break
		}
	}
	if newest {
		slices.Reverse(out)
	}
	return out, last, nil
}

// kindMatches reports whether an event is of kind ("" matches any; an
// event without a kind is a "hit", as every event was before
// observations).
func kindMatches(ev eventOut, kind string) bool {
	if kind == "" {
		return true
	}
	k, _ := ev["kind"].(string)
	if k == "" {
		k = "hit"
	}
	return k == kind
}

// validStreamID accepts "ms" or "ms-seq".
func validStreamID(v string) bool {
	ms, seq, hasSeq := cutByte(v, '-')
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if hasSeq {
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return false
		}
	}
	return true
}

func cutByte(s string, b byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	st := api.Status{Version: s.o.Version, Commit: s.o.Commit, Ready: true}
	if err := s.readiness(ctx); err != nil {
		st.Ready, st.ReadyError = false, err.msg
	}
	// With a Recoverer the counts are those of the lists in force, held in
	// memory: no Redis call (an outage must not make status a failed store
	// operation).
	if s.o.Recoverer != nil {
		h := s.o.Recoverer.Health()
		ss := storeStatus(h)
		st.Store, st.Datasets, st.Entries = &ss, h.Datasets, h.Entries
	} else if infos, err := s.st.Datasets(ctx); err == nil {
		for _, d := range infos {
			if d.Count > 0 {
				st.Datasets++
			}
			st.Entries += d.Count
		}
	}
	if s.o.OpenPeers != nil {
		st.Peers.Open = s.o.OpenPeers()
	}
	if s.o.NRF != nil {
		st.NRF = rawJSON(s.o.NRF())
	}
	var p eir.Policy
	if ps, ok := s.chk.(policySource); ok {
		p = ps.Policy()
	}
	st.Policy = api.PolicyStatus{Unknown: fallbackName(p.Unknown, "unknown"), OnStoreError: fallbackName(p.OnStoreError, "reject")}
	st.Shadow = api.ShadowStatus{All: p.Shadow.All, Sources: append([]string{}, p.Shadow.Sources...), Passive: slices.Clone(p.Shadow.Passive)}
	if s.o.Sync != nil {
		if sum, err := s.o.Sync.Summary(ctx); err == nil {
			st.Sync = sum
		}
	}
	writeJSON(w, http.StatusOK, st)
}

// fallbackName names a policy fallback as the configuration does.
func fallbackName(f eir.Fallback, unset string) string {
	if !f.Set {
		return unset
	}
	return strings.ToLower(f.Status.String())
}

// ReloadResult is the body of POST /v1/reload.
type ReloadResult = api.ReloadResult

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.o.Reload == nil {
		writeError(w, http.StatusNotFound, "reload_not_configured", "this server has no configuration file to reload")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.RequestTimeout)
	defer cancel()
	res, err := s.o.Reload(ctx, Actor(r.Context()))
	if err != nil {
		writeErr(w, failed(opReload, "the configuration was not reloaded; nothing changed", err))
		return
	}
	if res.Time.IsZero() {
		res.Time = s.now()
	}
	res.Time = res.Time.UTC()
	writeJSON(w, http.StatusOK, res)
}
