package admin

import (
	"context"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/sighting"
)

// Sightings reads and forgets observations (sighting.Store).
type Sightings interface {
	// Pairs returns the pairs of imei seen within retention, most
	// recently seen first.
	Pairs(ctx context.Context, imei eir.IMEI) ([]sighting.Pair, error)
	// Devices returns the subscriber's current IMEI and pairs.
	Devices(ctx context.Context, imsi eir.IMSI) (sighting.Devices, error)
	// Forget removes the subscriber's observations.
	Forget(ctx context.Context, imsi eir.IMSI) error
	// Today is the store's current day, for the rules' windows.
	Today() sighting.Day
}

// maxReason bounds a reason (as for entries).
const maxReason = 1024

// observeDisabled answers the observation endpoints when observation is
// not configured.
func observeDisabled(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "observe_disabled", "observations are not recorded (observe.enabled)")
}

// observed answers GET /v1/observed?imei=... (the pairs of an IMEI and
// the rules it trips) or ?imsi=...&reason=... (a subscriber's devices,
// audited: who looked, when and why).
func (s *Server) observed(w http.ResponseWriter, r *http.Request) {
	if s.o.Sightings == nil {
		observeDisabled(w)
		return
	}
	q := r.URL.Query()
	switch imei, imsi := q.Get("imei"), q.Get("imsi"); {
	case imei != "" && imsi != "":
		writeError(w, http.StatusBadRequest, "invalid_parameter", "give imei or imsi, not both")
	case imei != "":
		s.observedIMEI(w, r, imei)
	case imsi != "":
		s.observedIMSI(w, r, imsi, q.Get("reason"))
	default:
		writeError(w, http.StatusBadRequest, "invalid_parameter", "give imei=IMEI, or imsi=IMSI with reason=TEXT")
	}
}

func (s *Server) observedIMEI(w http.ResponseWriter, r *http.Request, v string) {
	imei, err := eir.ParseIMEI(v)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_imei", "imei: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	pairs, err := s.o.Sightings.Pairs(ctx, imei)
	if err != nil {
		s.storeError(w, r, "observations not read", err)
		return
	}
	out := api.ObservedIMEI{IMEI: imei.String(), Pairs: apiPairs(pairs), Detections: []api.ObservedDetection{}}
	if s.o.ObserveRules != nil {
		for _, d := range s.o.ObserveRules.Evaluate(pairs, s.o.Sightings.Today(), s.now()) {
			imsis := make([]string, len(d.IMSIs))
			for i, x := range d.IMSIs {
				imsis[i] = string(x)
			}
			out.Detections = append(out.Detections, api.ObservedDetection{Rule: d.Rule, IMSIs: imsis, Count: d.Count,
				SeenDays: d.SeenDays, IMSIDays: d.IMSIDays, Average: d.Average, Peers: d.Peers})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// subscriberRequest checks an IMSI and the reason a subscriber's
// observations are read or removed.
func subscriberRequest(v, reason string) (eir.IMSI, error) {
	imsi, err := eir.ParseIMSI(v)
	if err != nil {
		return "", badRequest("invalid_imsi", "imsi: %v", err)
	}
	switch reason = strings.TrimSpace(reason); {
	case reason == "":
		return "", badRequest("missing_reason", "a reason is required: a subscriber's devices are personal data, and every lookup is kept in the audit trail")
	case len(reason) > maxReason:
		return "", badRequest("invalid_parameter", "reason: %d bytes, at most %d", len(reason), maxReason)
	}
	return imsi, nil
}

// auditSubscriber records a lookup or removal of a subscriber's
// observations before it is made: with no audit trail, or a trail that
// cannot be written, it is refused (false, answered).
func (s *Server) auditSubscriber(w http.ResponseWriter, r *http.Request, action string, imsi eir.IMSI, reason string, after any) bool {
	if s.o.Audit == nil {
		writeError(w, http.StatusServiceUnavailable, "audit_not_configured", "a subscriber's observations are read and removed only with an audit trail")
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.RequestTimeout)
	defer cancel()
	rec := audit.Record{Time: s.now(), Actor: Actor(r.Context()), Action: action, Target: string(imsi), Reason: strings.TrimSpace(reason), After: after}
	if err := s.o.Audit.Record(ctx, rec); err != nil {
		s.log.Error("audit record not written: request refused", zap.String("action", action), s.o.Redactor.IMSI(imsi), zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "audit_unavailable", "the audit trail cannot be written: request refused")
		return false
	}
	return true
}

func (s *Server) observedIMSI(w http.ResponseWriter, r *http.Request, v, reason string) {
	imsi, err := subscriberRequest(v, reason)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !s.auditSubscriber(w, r, audit.ActionDevices, imsi, reason, nil) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	d, err := s.o.Sightings.Devices(ctx, imsi)
	if err != nil {
		s.storeError(w, r, "observations not read", err)
		return
	}
	out := api.ObservedIMSI{IMSI: string(imsi), Pairs: apiPairs(d.Pairs)}
	if d.HasCurrent {
		since := d.Since
		out.CurrentIMEI, out.Since = d.Current.String(), &since
	}
	writeJSON(w, http.StatusOK, out)
}

// forget answers POST /v1/observed/forget {"imsi", "reason"}.
func (s *Server) forget(w http.ResponseWriter, r *http.Request) {
	if s.o.Sightings == nil {
		observeDisabled(w)
		return
	}
	var req api.ForgetRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	imsi, err := subscriberRequest(req.IMSI, req.Reason)
	if err != nil {
		writeErr(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.RequestTimeout)
	defer cancel()
	d, err := s.o.Sightings.Devices(ctx, imsi)
	if err != nil {
		s.storeError(w, r, "observations not forgotten", err)
		return
	}
	out := api.Forgotten{IMSI: string(imsi), Pairs: len(d.Pairs)}
	if !s.auditSubscriber(w, r, audit.ActionForget, imsi, req.Reason, out) {
		return
	}
	if err := s.o.Sightings.Forget(ctx, imsi); err != nil {
		s.storeError(w, r, "observations not forgotten", err)
		return
	}
	s.log.Info("observations forgotten", zap.String("actor", Actor(r.Context())), s.o.Redactor.IMSI(imsi), zap.Int("pairs", out.Pairs))
	writeJSON(w, http.StatusOK, out)
}

// apiPairs converts pairs to the API's.
func apiPairs(pairs []sighting.Pair) []api.ObservedPair {
	out := make([]api.ObservedPair, 0, len(pairs))
	for _, p := range pairs {
		var ifs []string
		for _, i := range []sighting.Interface{sighting.S13, sighting.N5G} {
			if p.Interfaces.Has(i) {
				ifs = append(ifs, i.String())
			}
		}
		out = append(out, api.ObservedPair{IMEI: p.IMEI.String(), IMSI: string(p.IMSI), FirstSeen: p.FirstSeen.UTC(),
			LastSeen: p.LastSeen.UTC(), DaysSeen: p.DaysSeen, SVN: p.SVN, Peer: p.Peer, Interfaces: ifs, MSISDN: p.MSISDN})
	}
	return out
}
