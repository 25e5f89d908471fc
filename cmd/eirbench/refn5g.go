package main

import (
	"net/http"

	"github.com/eir-sidecar/eir/eir"
)

// n5gPath is the resource of GetEquipmentStatus (TS 29.511).
const n5gPath = "/n5g-eir-eic/v1/equipment-status"

var (
	refStatusBodies = [3][]byte{[]byte(`{"status":"WHITELISTED"}`), []byte(`{"status":"BLACKLISTED"}`), []byte(`{"status":"GREYLISTED"}`)}
	refUnknownBody  = []byte(`{"status":404,"cause":"ERROR_EQUIPMENT_UNKNOWN"}`)
	refBadPEIBody   = []byte(`{"status":400,"cause":"MANDATORY_QUERY_PARAM_INCORRECT","invalidParams":[{"param":"query pei"}]}`)
	refJSON         = []string{"application/json"}
	refProblemJSON  = []string{"application/problem+json"}
)

// n5gHandler is the reference N5g-eir service: net/http's HTTP/2 server
// with one handler answering GetEquipmentStatus from the reference
// server's maps, as bare as handleECR (no metrics, no events, no logging).
func (r *refServer) n5gHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != n5gPath {
			http.NotFound(w, req)
			return
		}
		q := req.URL.Query()
		pei, err := eir.ParsePEI(q.Get("pei"))
		if err != nil {
			w.Header()["Content-Type"] = refProblemJSON
			w.WriteHeader(http.StatusBadRequest)
			w.Write(refBadPEIBody)
			return
		}
		imei := uint64(pei.IMEI)
		status, listed := r.status[imei]
		if !listed {
			w.Header()["Content-Type"] = refProblemJSON
			w.WriteHeader(http.StatusNotFound)
			w.Write(refUnknownBody)
			return
		}
		if imsi, err := eir.ParseSUPI(q.Get("supi")); err == nil && imsi != "" {
			if _, exception := r.pairs[refPair{imei, string(imsi)}]; exception {
				status = 0
			}
		}
		w.Header()["Content-Type"] = refJSON
		w.Write(refStatusBodies[status])
	})
}

// n5gServer serves h2c (HTTP/2 with prior knowledge) with h.
func n5gServer(h http.Handler) *http.Server {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{Handler: h, Protocols: p, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000}}
}
