package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/eir/provision"
)

// problem is an error answer decided where it arises: a request that
// cannot be decoded (400), a body too large (413), a rejected file, an
// endpoint not configured (404), a refused identity.
type problem struct {
	status    int
	code, msg string
	details   []string
}

func (p *problem) Error() string { return p.msg }

// fail returns the problem answered with status and code.
func fail(status int, code, msg string, details ...string) *problem {
	return &problem{status: status, code: code, msg: msg, details: details}
}

// badRequest is a 400 problem.
func badRequest(code, format string, args ...any) *problem {
	return &problem{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// op is an operation whose domain errors errorFor maps: the codes of some
// errors depend on it.
type op int

const (
	opStore   op = iota // reads and entry edits
	opImport            // CSV imports
	opSync              // sync passes
	opApprove           // approvals of held sync files
	opRestore           // store restores
	opAccept            // store accepts
	opReload            // configuration reloads
)

// failure is a domain error from an operation, with the message answered.
type failure struct {
	op  op
	msg string
	err error
}

func (f *failure) Error() string { return f.msg }

func (f *failure) Unwrap() error { return f.err }

// failed wraps err from o; the message answered is msg (err's own when
// empty).
func failed(o op, msg string, err error) error {
	if msg == "" {
		msg = err.Error()
	}
	return &failure{op: o, msg: msg, err: err}
}

// storeFailed wraps err from a store operation: "msg: err".
func storeFailed(msg string, err error) error { return failed(opStore, msg+": "+err.Error(), err) }

// errorFor is the one place that maps an error to its answer: the HTTP
// status, the error code and the message (the error's text without Go
// package prefixes: plain), and the details of a joined error where they
// help (a rejected file or configuration).
func errorFor(err error) api.Error {
	e := answerFor(err)
	e.Message = plain(e.Message)
	for i, d := range e.Details {
		e.Details[i] = plain(d)
	}
	return e
}

// answerFor is errorFor before plain.
func answerFor(err error) api.Error {
	var p *problem
	if errors.As(err, &p) {
		return api.Error{Status: p.status, Code: p.code, Message: p.msg, Details: slices.Clone(p.details)}
	}
	o := opStore
	var f *failure
	if errors.As(err, &f) {
		o = f.op
	}
	status, code := statusFor(o, err)
	e := api.Error{Status: status, Code: code, Message: err.Error()}
	if o == opReload {
		e.Details = splitErrors(f.err)
	}
	return e
}

// statusFor is the status and code of a domain error from o.
func statusFor(o op, err error) (int, string) {
	var ge *guard.Error
	switch {
	case o == opReload:
		return http.StatusUnprocessableEntity, "invalid_config"
	case errors.As(err, &ge), errors.Is(err, eir.ErrHeld):
		return http.StatusConflict, "held"
	case errors.Is(err, eir.ErrNothingToRecover) && o == opAccept:
		return http.StatusConflict, "nothing_to_accept"
	case errors.Is(err, eir.ErrNothingToRecover):
		return http.StatusConflict, "nothing_to_restore"
	case errors.Is(err, eir.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, eir.ErrNotFound) && o == opSync:
		return http.StatusNotFound, "unknown_source"
	case errors.Is(err, provision.ErrNotFound), errors.Is(err, eir.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, eir.ErrCursorStale):
		return http.StatusBadRequest, "invalid_cursor"
	case o == opImport && (errors.Is(err, eir.ErrInvalidEntry) || errors.Is(err, eir.ErrInvalidIMSI)):
		return http.StatusUnprocessableEntity, "invalid_file"
	case o == opStore && (errors.Is(err, eir.ErrInvalidEntry) || errors.Is(err, eir.ErrInvalidIMSI) || errors.Is(err, eir.ErrInvalidIMEI)):
		return http.StatusBadRequest, "invalid_entry"
	case o == opSync || o == opApprove:
		return http.StatusServiceUnavailable, "sync_failed"
	}
	// eir.ErrUnavailable, eir.ErrDiverged (writes refused) and any other
	// failure of the store.
	return http.StatusServiceUnavailable, "store_unavailable"
}

// writeErr answers err (errorFor).
func writeErr(w http.ResponseWriter, err error) {
	e := errorFor(err)
	writeJSON(w, e.Status, api.ErrorBody{Error: e})
}

// writeError answers an error decided in place.
func writeError(w http.ResponseWriter, status int, code, msg string, details ...string) {
	writeErr(w, fail(status, code, msg, details...))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func splitErrors(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// packagePrefixes are the names of this module's packages whose error texts
// start with "<name>: " and can reach an answer.
var packagePrefixes = []string{"eir", "provision", "regsync", "fetch", "regformat", "redisstore", "snapshot",
	"memstore", "guard", "audit", "events", "observe", "config", "tlsconf", "atomicfile"}

// plain is an error text as an operator reads it: without the Go package
// prefixes ("eir: ", "regsync: ", "provision: ") at its start and at the
// start of each part after ": " or "; ", a chain of them included
// ("redisstore: eir: list store unavailable" is "list store unavailable").
// Other labels ("imei: ", "line 3: ", go-redis's "redis: ") are kept.
func plain(msg string) string {
	var b strings.Builder
	start := true // at the start of msg or of a part
	for i := 0; i < len(msg); {
		if start {
			if n := packagePrefix(msg[i:]); n > 0 {
				i += n
				continue
			}
		}
		start = strings.HasPrefix(msg[i:], ": ") || strings.HasPrefix(msg[i:], "; ")
		if start {
			b.WriteString(msg[i : i+2])
			i += 2
			continue
		}
		b.WriteByte(msg[i])
		i++
	}
	return b.String()
}

// packagePrefix is the length of the package prefix ("eir: ") s starts
// with, 0 when none.
func packagePrefix(s string) int {
	for _, p := range packagePrefixes {
		if len(s) > len(p)+2 && s[:len(p)] == p && s[len(p):len(p)+2] == ": " {
			return len(p) + 2
		}
	}
	return 0
}
