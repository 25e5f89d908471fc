package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe"
)

// check answers GET /v1/check: the decision for an IMEI (and an IMSI),
// as the interfaces would answer it, observed once (Options.Observer).
func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, err := eir.ParseIdentity(strings.TrimSpace(q.Get("imei")))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_imei", "imei: "+err.Error())
		return
	}
	query := eir.Query{IMEI: id.IMEI}
	if v := q.Get("imsi"); v != "" {
		if query.IMSI, err = eir.ParseIMSI(v); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_imsi", "imsi: "+err.Error())
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	d, ok, err := s.chk.TryCheck(query)
	if !ok {
		d, err = s.chk.Check(ctx, query)
	}
	writeJSON(w, http.StatusOK, s.checkResult(id.IMEI, query, d, err))
	if s.o.Observer != nil {
		s.o.Observer.Answered(observe.Answer{Interface: observe.Admin, Peer: Actor(r.Context()), PeerAddr: remoteIP(r),
			Query: query, Decision: d, Err: err})
	}
}

// checkResult is the body answering a check.
func (s *Server) checkResult(imei eir.IMEI, q eir.Query, d eir.Decision, err error) api.CheckResult {
	res := api.CheckResult{IMEI: imei.String(), IMSI: string(q.IMSI)}
	switch {
	case errors.Is(err, eir.ErrUnknown):
		res.Status = "UNKNOWN"
	case err != nil:
		res.Status, res.Error = "ERROR", plain(err.Error())
	default:
		st := uint8(d.Status)
		res.Status, res.EquipmentStatus, res.Rule, res.Source = d.Status.String(), &st, d.Rule.String(), d.Source
	}
	if sh := d.Shadow; sh != nil {
		res.Shadow = &api.ShadowVerdict{Status: sh.Status.String(), Rule: sh.Rule.String(), Source: sh.Source}
	}
	if s.o.Describe != nil {
		res.S13 = rawJSON(s.o.Describe(d, err))
	}
	return res
}

// rawJSON is v encoded, or nil for a nil v (a field left out).
func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// remoteIP is the IP address of the client of r.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) datasets(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	ds, err := s.st.Datasets(ctx)
	if err != nil {
		writeErr(w, failed(opStore, "", err))
		return
	}
	out := make([]api.DatasetInfo, 0, len(ds))
	for _, d := range ds {
		out = append(out, api.DatasetInfo{Dataset: d.Dataset.String(), Source: d.Dataset.Source, Target: d.Dataset.Target.String(),
			List: d.Dataset.List.String(), Expiring: d.Dataset.Expiring, Version: d.Version, Count: d.Count, UpdatedAt: d.UpdatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, api.Datasets{Datasets: out})
}
