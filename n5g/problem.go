package n5g

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/eir-sidecar/eir/eir"
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

// causeUnknown is the ProblemDetails cause of unknown equipment (TS 29.511
// §6.1.7.3).
const causeUnknown = "ERROR_EQUIPMENT_UNKNOWN"

// checkProblem is the error answer for a check that gave no status.
type checkProblem struct {
	status        int
	cause, detail string
	retry         bool // send Retry-After
}

// problemFor is the one translation of a check's error to its answer:
// unknown equipment (eir.ErrUnknown) is 404 ERROR_EQUIPMENT_UNKNOWN; any
// other error (the store failing, eir.ErrUnavailable) is 503 with
// Retry-After.
func problemFor(err error) checkProblem {
	if errors.Is(err, eir.ErrUnknown) {
		return checkProblem{status: http.StatusNotFound, cause: causeUnknown, detail: "the equipment is on no list"}
	}
	return checkProblem{status: http.StatusServiceUnavailable, detail: "the lists cannot be read now", retry: true}
}

// unknownBodies caches the bodies of the unknown-equipment answer, the
// commonest error (its details are constants, never request text).
var unknownBodies sync.Map // detail → []byte

// problem answers an error as application/problem+json.
func (s *Server) problem(w http.ResponseWriter, status int, cause, detail string, params ...InvalidParam) (int, string) {
	var body []byte
	if cause == causeUnknown && status == http.StatusNotFound {
		if b, ok := unknownBodies.Load(detail); ok {
			body = b.([]byte)
		}
	}
	if body == nil {
		body, _ = json.Marshal(ProblemDetails{Title: http.StatusText(status), Status: status, Detail: detail, Cause: cause, InvalidParams: params})
		if cause == causeUnknown && status == http.StatusNotFound {
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
