package n5g

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
)

// ProblemDetails is TS 29.571's ProblemDetails (RFC 7807), the members
// this service sends.
type ProblemDetails struct {
	Title         string         `json:"title,omitempty"`
	Status        int            `json:"status"`
	Detail        string         `json:"detail,omitempty"`
	Cause         string         `json:"cause,omitempty"`
	InvalidParams []InvalidParam `json:"invalidParams,omitempty"`
}

// InvalidParam names a wrong parameter: "query <name>" for a query
// parameter (TS 29.500).
type InvalidParam struct {
	Param  string `json:"param"`
	Reason string `json:"reason,omitempty"`
}

var problemType = []string{"application/problem+json"}

// unknownBodies caches the bodies of the unknown-equipment answer, the
// commonest error (its details are constants, never request text).
var unknownBodies sync.Map // detail → []byte

// problem answers an error as application/problem+json.
func (s *Server) problem(w http.ResponseWriter, status int, cause, detail string, params ...InvalidParam) (int, string) {
	var body []byte
	if cause == "ERROR_EQUIPMENT_UNKNOWN" && status == http.StatusNotFound {
		if b, ok := unknownBodies.Load(detail); ok {
			body = b.([]byte)
		}
	}
	if body == nil {
		body, _ = json.Marshal(ProblemDetails{Title: http.StatusText(status), Status: status, Detail: detail, Cause: cause, InvalidParams: params})
		if cause == "ERROR_EQUIPMENT_UNKNOWN" && status == http.StatusNotFound {
			unknownBodies.Store(detail, body)
		}
	}
	h := w.Header()
	h["Content-Type"] = problemType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
	return status, cause
}
