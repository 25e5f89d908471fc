// Package admin is eird's HTTP admin API, used by eirctl: the decision for
// an IMEI, CSV imports, the datasets in force, and the operational endpoints
// /healthz, /readyz and /metrics. It runs on its own listener, never on the
// Diameter port.
//
// Requests are authenticated with bearer tokens (Authorization: Bearer,
// the scheme in any case), each with a role (read or write), compared in
// constant time, or with client certificates whose subject common name is
// listed as a reader or a writer. Errors are JSON: {"error": {"status":
// 400, "code": "...", "message": "...", "details": [...]}}.
//
// A writer writes only the list sources it is allowed: those of its token
// (Token.Sources) or, for a client certificate, Options.CertWriterSources.
// No sources configured means "manual" only; "*" means every source that
// is not a registry sync source (Options.ProtectedSources); a registry
// sync source is written only by a writer that names it. The rule covers
// every write naming sources: adding and removing entries, and imports
// (every source the file touches, replace=true included); a request
// breaking it is refused whole with 403 forbidden_source and changes
// nothing. Running and approving sync passes need the write role only.
//
// With no token and no client certificate role configured the API is open
// (actor "anonymous") and may write every source, registry sync sources
// included: the configuration keeps it on loopback, for development.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/observe/redact"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/regsync"
)

// Store is what the admin API needs from the list store.
type Store interface {
	Apply(ctx context.Context, changes []eir.Change) (eir.ApplyResult, error)
	ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error)
	SyncState(ctx context.Context) (map[string]string, error)
	Datasets(ctx context.Context) ([]eir.DatasetInfo, error)
	ListEntries(ctx context.Context, ds eir.Dataset, cursor string, limit int) ([]eir.Entry, string, error)
	EntriesFor(ctx context.Context, q eir.Query) ([]eir.DatasetEntry, error)
	SweepExpired(ctx context.Context) ([]eir.DatasetEntry, error)
	Ping(ctx context.Context) error
}

// Checker decides the status of a query.
type Checker interface {
	Check(ctx context.Context, q eir.Query) (eir.Decision, error)
	Policy() eir.Policy
}

// DecisionRecorder counts decisions.
type DecisionRecorder interface {
	Record(iface string, d eir.Decision, err error)
}

// Syncer runs registry sync passes (regsync.Engine).
type Syncer interface {
	Pass(ctx context.Context, source string) (regsync.PassReport, error)
	Status(ctx context.Context) ([]regsync.SourceStatus, []json.RawMessage, error)
	Approve(ctx context.Context, source, file, actor string) (regsync.PassReport, error)
	Sources() []string
}

// Token is a bearer token and what it may do.
type Token struct {
	Name   string
	Secret string
	Write  bool
	// Sources are the list sources a write token may write (entries and
	// imports). Empty: "manual" only. "*": every source not in
	// Options.ProtectedSources; a protected source must be named.
	Sources []string
}

// Options configures the API.
type Options struct {
	// Tokens authenticate requests. With no token and no CertRoles the
	// API is open and writes every source, protected ones included.
	Tokens       []Token
	MaxBodyBytes int64 // default 256 MiB
	// Describe returns the S13 answer a decision produces (diameter.Describe).
	Describe       func(eir.Decision, error) any
	Gatherer       prometheus.Gatherer
	Decisions      DecisionRecorder
	RequestTimeout time.Duration // checks and reads; default 5s
	ImportTimeout  time.Duration // imports and sync passes; default 10m
	Sync           Syncer        // nil: no registry sync configured
	Notes          Notes         // why entries were made; nil: not kept
	Audit          Auditor       // nil: nothing audited, /v1/audit answers 404
	Events         StreamReader  // the hit events stream; nil: /v1/events answers 404
	// Reload re-reads the configuration file and applies what can change
	// at run time. nil: /v1/reload answers 404.
	Reload func(ctx context.Context, actor string) (ReloadResult, error)
	// CertRoles maps the subject common names of client certificates
	// (verified by the TLS listener) to their role: true may write.
	CertRoles map[string]bool
	// CertWriterSources are the list sources client certificate writers
	// may write, as Token.Sources: empty means "manual" only.
	CertWriterSources []string
	// ProtectedSources are the sources registry sync owns (the names of
	// its sources): a writer may write one only if it names it; "*" does
	// not cover them.
	ProtectedSources []string
	// OpenPeers counts the Diameter peers connected, for /v1/status.
	OpenPeers func() int
	// NRF returns the state of the NRF registration for /v1/status, or
	// nil when there is none.
	NRF func() any
	// Pprof serves the Go profiler under /debug/pprof/ (read role).
	Pprof bool
	// Recoverer reports the store's health (/readyz, /v1/status) and
	// repairs a store that lost the lists in force (/v1/store/*); nil:
	// readiness pings the store, and the repairs answer 404.
	Recoverer Recoverer
	// Guards bound what an import or a store repair may unblock or
	// shrink without force (zero values take regsync's defaults).
	Guards          regsync.Guards
	Version, Commit string
	Redactor        *redact.Redactor // how IMEIs appear in logs; default: a random key
	Now             func() time.Time
}

// StreamReader reads a stream of JSON documents (redisstore.Store).
type StreamReader interface {
	ReadStream(ctx context.Context, name, start, end string, count int64, rev bool) (ids, docs []string, err error)
}

// Server serves the admin API.
type Server struct {
	o      Options
	st     Store
	chk    Checker
	log    *zap.Logger
	tokens atomic.Pointer[[]hashedToken]
	// protected are Options.ProtectedSources; certSources are
	// Options.CertWriterSources (both normalised).
	protected   map[string]bool
	certSources []string
	ready       atomic.Bool
	editMu      sync.Mutex // entry edits, one attempt at a time
	// wait sleeps between the attempts of an edit (sleep; tests replace it).
	wait func(ctx context.Context, d time.Duration) error
}

type hashedToken struct {
	name    string
	sum     [32]byte
	write   bool
	sources []string // normalised Token.Sources
}

// New returns the API; it reports ready until SetReady(false).
func New(o Options, st Store, chk Checker, log *zap.Logger) *Server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 256 << 20
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.ImportTimeout <= 0 {
		o.ImportTimeout = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Redactor == nil {
		o.Redactor = redact.New(nil)
	}
	o.Guards = o.Guards.WithDefaults()
	s := &Server{o: o, st: st, chk: chk, log: log, protected: map[string]bool{}, certSources: normSources(o.CertWriterSources), wait: sleep}
	for _, src := range normSources(o.ProtectedSources) {
		s.protected[src] = true
	}
	s.SetTokens(o.Tokens)
	s.ready.Store(true)
	return s
}

// SetTokens replaces the bearer tokens and their sources; requests in
// flight finish under the old ones.
func (s *Server) SetTokens(tokens []Token) {
	hashed := make([]hashedToken, 0, len(tokens))
	for _, t := range tokens {
		hashed = append(hashed, hashedToken{name: t.Name, sum: sha256.Sum256([]byte(t.Secret)), write: t.Write, sources: normSources(t.Sources)})
	}
	s.tokens.Store(&hashed)
}

func (s *Server) now() time.Time { return s.o.Now() }

// SetReady sets what /readyz reports besides the store's health; eird
// clears it when shutting down.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	methods := map[string][]string{}
	handle := func(method, path string, h http.HandlerFunc) {
		methods[path] = append(methods[path], method)
		mux.HandleFunc(method+" "+path, h)
	}
	handle("GET", "/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	handle("GET", "/readyz", s.readyz)
	if s.o.Gatherer != nil {
		handle("GET", "/metrics", promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	}
	handle("GET", "/v1/check", s.auth(false, s.check))
	handle("GET", "/v1/datasets", s.auth(false, s.datasets))
	handle("POST", "/v1/import", s.auth(true, s.importCSV))
	handle("GET", "/v1/entries", s.auth(false, s.listEntries))
	handle("POST", "/v1/entries", s.auth(true, s.addEntry))
	handle("DELETE", "/v1/entries", s.auth(true, s.removeEntry))
	handle("GET", "/v1/audit", s.auth(false, s.auditFind))
	handle("GET", "/v1/events", s.auth(false, s.events))
	handle("GET", "/v1/status", s.auth(false, s.status))
	handle("POST", "/v1/reload", s.auth(true, s.reload))
	if s.o.Pprof {
		handle("GET", "/debug/pprof/", s.auth(false, pprof.Index))
		handle("GET", "/debug/pprof/cmdline", s.auth(false, pprof.Cmdline))
		handle("GET", "/debug/pprof/profile", s.auth(false, pprof.Profile))
		handle("GET", "/debug/pprof/symbol", s.auth(false, pprof.Symbol))
		handle("GET", "/debug/pprof/trace", s.auth(false, pprof.Trace))
	}
	handle("GET", "/v1/sync/status", s.auth(false, s.syncStatus))
	handle("POST", "/v1/sync/run", s.auth(true, s.syncRun))
	handle("POST", "/v1/sync/approve", s.auth(true, s.syncApprove))
	handle("GET", "/v1/store", s.auth(false, s.storeState))
	handle("POST", "/v1/store/restore", s.auth(true, s.storeRestore))
	handle("POST", "/v1/store/accept", s.auth(true, s.storeAccept))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := methods[r.URL.Path]; len(allowed) > 0 {
			if slices.Contains(allowed, "GET") {
				allowed = append(allowed, "HEAD")
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" "+r.URL.Path+": allowed: "+strings.Join(allowed, ", "))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// apiError is the JSON error body.
type apiError struct {
	Status  int      `json:"status"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []string `json:"details,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string, details ...string) {
	writeJSON(w, status, map[string]apiError{"error": {Status: status, Code: code, Message: msg, Details: details}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type actorKey struct{}

// Actor returns the name of the token that authenticated the request.
func Actor(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}

// auth authenticates a request by its client certificate (verified by the
// TLS listener; its subject common name must have a role in CertRoles) or
// its bearer token: 401 when neither, 403 when the identity may only read
// and the endpoint writes. With no token and no TLS client authentication
// configured, the API is open (the configuration keeps it on loopback).
// The handler finds the actor (Actor) and the sources it may write in the
// request's context.
func (s *Server) auth(write bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
			canWrite, known := s.o.CertRoles[cn]
			switch {
			case !known:
				writeError(w, http.StatusForbidden, "forbidden", "client certificate "+strconv.Quote(cn)+" has no role (admin.tls.readers, admin.tls.writers)")
			case write && !canWrite:
				writeError(w, http.StatusForbidden, "forbidden", "client certificate "+strconv.Quote(cn)+" may only read")
			default:
				withIdentity(h, w, r, "cert:"+cn, grant{who: "client certificate " + strconv.Quote(cn), sources: s.certSources})
			}
			return
		}
		tokens := *s.tokens.Load()
		if len(tokens) == 0 && len(s.o.CertRoles) == 0 {
			withIdentity(h, w, r, "anonymous", grant{who: "anonymous", open: true})
			return
		}
		secret, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="eird"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "a bearer token or a client certificate is required")
			return
		}
		sum := sha256.Sum256([]byte(secret))
		var found *hashedToken
		for i := range tokens { // no early exit: constant time over the tokens
			if subtle.ConstantTimeCompare(sum[:], tokens[i].sum[:]) == 1 {
				found = &tokens[i]
			}
		}
		switch {
		case found == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="eird", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "unknown token")
		case write && !found.write:
			writeError(w, http.StatusForbidden, "forbidden", "token "+found.name+" may only read")
		default:
			withIdentity(h, w, r, found.name, grant{who: "token " + strconv.Quote(found.name), sources: found.sources})
		}
	}
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme. The scheme is case-insensitive and separated from the token by
// one or more spaces (RFC 7235 §2.1, RFC 6750 §2.1).
func bearerToken(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token := strings.TrimLeft(rest, " ")
	return token, token != ""
}

// readyz answers 200 while eird answers checks from the lists in force,
// even from the lists it holds while Redis is unreachable or does not hold
// them (the body then says so: "ok (degraded: ...)"), and 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.readiness(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.code, err.msg)
		return
	}
	if s.o.Recoverer != nil {
		if h := s.o.Recoverer.Health(); h.State != eir.StoreOK {
			w.Write([]byte("ok (degraded: " + h.State + ": " + h.Reason + ")\n"))
			return
		}
	}
	w.Write([]byte("ok\n"))
}

// readiness reports why eird cannot answer checks, or nil.
func (s *Server) readiness(ctx context.Context) *requestError {
	if !s.ready.Load() {
		return &requestError{"shutting_down", "eird is shutting down"}
	}
	if s.o.Recoverer != nil {
		h := s.o.Recoverer.Health()
		switch {
		case !h.Serving:
			return &requestError{"store_unavailable", h.State + ": " + h.Reason}
		case h.Datasets == 0:
			return &requestError{"no_lists", "no list version is loaded"}
		}
		return nil
	}
	if err := s.st.Ping(ctx); err != nil {
		return &requestError{"store_unavailable", err.Error()}
	}
	ds, err := s.st.Datasets(ctx)
	if err != nil {
		return &requestError{"store_unavailable", err.Error()}
	}
	if len(ds) == 0 {
		return &requestError{"no_lists", "no list version is loaded"}
	}
	return nil
}

// CheckResult is the body of GET /v1/check.
type CheckResult struct {
	IMEI            string `json:"imei"`
	IMSI            string `json:"imsi,omitempty"`
	Status          string `json:"status"` // WHITELISTED, BLACKLISTED, GREYLISTED, UNKNOWN or ERROR
	EquipmentStatus *uint8 `json:"equipment_status,omitempty"`
	Rule            string `json:"rule,omitempty"`
	Source          string `json:"source,omitempty"`
	Error           string `json:"error,omitempty"`
	S13             any    `json:"s13,omitempty"`
	// Shadow is the verdict of a source in shadow mode that was not
	// enforced (policy.shadow_all, policy.shadow_sources).
	Shadow *ShadowVerdict `json:"shadow,omitempty"`
}

// ShadowVerdict is a decision computed but not enforced.
type ShadowVerdict struct {
	Status string `json:"status"`
	Rule   string `json:"rule"`
	Source string `json:"source"`
}

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
	d, err := s.chk.Check(ctx, query)
	if s.o.Decisions != nil {
		s.o.Decisions.Record("admin", d, err)
	}
	res := CheckResult{IMEI: id.IMEI.String(), IMSI: string(query.IMSI)}
	switch {
	case errors.Is(err, eir.ErrUnknown):
		res.Status = "UNKNOWN"
	case err != nil:
		res.Status, res.Error = "ERROR", err.Error()
	default:
		st := uint8(d.Status)
		res.Status, res.EquipmentStatus, res.Rule, res.Source = d.Status.String(), &st, d.Rule.String(), d.Source
	}
	if sh := d.Shadow; sh != nil {
		res.Shadow = &ShadowVerdict{Status: sh.Status.String(), Rule: sh.Rule.String(), Source: sh.Source}
	}
	if s.o.Describe != nil {
		res.S13 = s.o.Describe(d, err)
	}
	writeJSON(w, http.StatusOK, res)
}

// DatasetInfo is one element of GET /v1/datasets.
type DatasetInfo struct {
	Dataset   string    `json:"dataset"`
	Source    string    `json:"source"`
	Target    string    `json:"target"`
	List      string    `json:"list"`
	Expiring  bool      `json:"expiring"` // entries with an expiry (entries added with expires_at)
	Version   uint64    `json:"version"`
	Count     uint64    `json:"count"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (s *Server) datasets(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	ds, err := s.st.Datasets(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", err.Error())
		return
	}
	out := make([]DatasetInfo, 0, len(ds))
	for _, d := range ds {
		out = append(out, DatasetInfo{Dataset: d.Dataset.String(), Source: d.Dataset.Source, Target: d.Dataset.Target.String(),
			List: d.Dataset.List.String(), Expiring: d.Dataset.Expiring, Version: d.Version, Count: d.Count, UpdatedAt: d.UpdatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"datasets": out})
}

// ImportResult is the body of POST /v1/import.
type ImportResult struct {
	Rows        int             `json:"rows"`
	Sources     []string        `json:"sources"`
	Replace     bool            `json:"replace"`
	DryRun      bool            `json:"dry_run"`
	SkippedRows int             `json:"skipped_rows"`
	Skipped     []string        `json:"skipped,omitempty"` // the first 100 skipped rows and why
	Datasets    []DatasetChange `json:"datasets"`
}

// DatasetChange reports what an import did to one dataset.
type DatasetChange struct {
	Dataset string `json:"dataset"`
	Version uint64 `json:"version,omitempty"`
	Added   uint64 `json:"added"`
	Removed uint64 `json:"removed"`
	Count   uint64 `json:"count"`
}

func (s *Server) importCSV(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := provision.Options{Source: q.Get("source")}
	dryRun, force := false, false
	if !boolParams(w, q, map[string]*bool{"replace": &opts.Replace, "dry_run": &dryRun, "skip_invalid": &opts.SkipInvalid, "force": &force}) {
		return
	}
	if opts.SkipInvalid {
		opts.MaxErrors = 100
	}
	body := http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes)
	parsed, err := provision.Parse(body, opts)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				"the file is larger than admin.max_body_bytes ("+strconv.FormatInt(s.o.MaxBodyBytes, 10)+" bytes)")
			return
		}
		writeError(w, http.StatusUnprocessableEntity, "invalid_file", "the file was rejected; nothing was changed", splitErrors(err)...)
		return
	}
	// Every source the file touches, as named by its rows and as written
	// by its changes (with replace=true, all datasets of those sources).
	touched := slices.Clone(parsed.Sources)
	for _, c := range parsed.Changes {
		if !slices.Contains(touched, c.Dataset.Source) {
			touched = append(touched, c.Dataset.Source)
		}
	}
	if !s.allowSources(w, r, touched, "; the file was rejected, nothing was changed") {
		return
	}
	res := ImportResult{Rows: parsed.Rows, Sources: parsed.Sources, Replace: opts.Replace, DryRun: dryRun, Datasets: []DatasetChange{},
		SkippedRows: parsed.SkippedRows}
	for _, e := range parsed.Skipped {
		res.Skipped = append(res.Skipped, e.Error())
	}
	if dryRun || len(parsed.Changes) == 0 {
		// Entries named by the file, per dataset (not yet compared with
		// the lists in force).
		idx := map[string]int{}
		for _, c := range parsed.Changes {
			name := c.Dataset.String()
			i, ok := idx[name]
			if !ok {
				i = len(res.Datasets)
				idx[name] = i
				res.Datasets = append(res.Datasets, DatasetChange{Dataset: name})
			}
			res.Datasets[i].Added += uint64(len(c.Add))
			res.Datasets[i].Removed += uint64(len(c.Remove))
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.ImportTimeout)
	defer cancel()
	// The guards judge what the import does by content, unless forced.
	ao := eir.ApplyOptions{}
	if !force {
		ao.Before = func(res []eir.DatasetResult, _ map[string]string) error {
			return s.judge(res, "the import", opts.Replace)
		}
	}
	applied, err := s.st.ApplyWith(ctx, parsed.Changes, ao)
	var ge *regsync.GuardError
	if err != nil {
		s.log.Warn("import failed", zap.String("actor", Actor(r.Context())), zap.Error(err))
		if errors.As(err, &ge) {
			writeError(w, http.StatusConflict, "held", ge.Message+"; nothing was changed; check the file, then import it again with force (eirctl import -force)")
			return
		}
		if errors.Is(err, eir.ErrInvalidEntry) || errors.Is(err, eir.ErrInvalidIMSI) {
			writeError(w, http.StatusUnprocessableEntity, "invalid_file", err.Error())
			return
		}
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the import was not applied: "+err.Error())
		return
	}
	for _, d := range applied.Datasets {
		res.Datasets = append(res.Datasets, DatasetChange{Dataset: d.Dataset.String(), Version: d.Version, Added: d.Added, Removed: d.Removed, Count: d.Count})
	}
	reason := q.Get("reason")
	if force {
		reason = strings.TrimSpace(reason + " (forced past the guards)")
	}
	s.audit(ctx, importRecords(Actor(r.Context()), q.Get("file"), reason, parsed.Changes, res)...)
	s.log.Info("import applied", zap.String("actor", Actor(r.Context())), zap.Int("rows", parsed.Rows),
		zap.Strings("sources", parsed.Sources), zap.Bool("replace", opts.Replace), zap.Int("datasets", len(applied.Datasets)))
	writeJSON(w, http.StatusOK, res)
}

// boolParams reads the boolean query parameters named by params into
// their values (an absent one leaves its value as it is). On a value that
// is not a boolean it answers 400 invalid_parameter and returns false.
func boolParams(w http.ResponseWriter, q url.Values, params map[string]*bool) bool {
	for name, dst := range params {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_parameter", name+": want true or false")
				return false
			}
			*dst = b
		}
	}
	return true
}

// judge applies the guards to what a write does (what names it in the
// message; full: a whole list), and returns the *regsync.GuardError of
// those tripped, or a nil error.
func (s *Server) judge(res []eir.DatasetResult, what string, full bool) error {
	if ge := s.o.Guards.JudgeAll(res, func(eir.DatasetResult) (string, bool) { return what, full }); ge != nil {
		return ge
	}
	return nil
}

// maxImportEntryRecords bounds the per-entry audit records of an import;
// a larger import is audited by its summary only.
const maxImportEntryRecords = 1000

// importRecords audits an import: a summary, and one record per entry the
// file named when there are few enough, so that a search by IMEI finds
// them.
func importRecords(actor, file, reason string, changes []eir.Change, res ImportResult) []audit.Record {
	recs := []audit.Record{{Actor: actor, Action: audit.ActionImport, Target: file, Reason: reason, After: res}}
	n := 0
	for _, c := range changes {
		n += len(c.Add) + len(c.Remove)
	}
	if n > maxImportEntryRecords {
		return recs
	}
	// A removal of an entry the file adds to another list of the source is
	// the move, recorded by the addition.
	type key struct {
		source string
		target eir.Target
		e      eir.Entry
	}
	added := map[key]bool{}
	for _, c := range changes {
		for _, e := range c.Add {
			added[key{c.Dataset.Source, c.Dataset.Target, e.Key()}] = true
		}
	}
	for _, c := range changes {
		for _, l := range []struct {
			entries []eir.Entry
			op      string
		}{{c.Add, "add"}, {c.Remove, "remove"}} {
			for _, e := range l.entries {
				if l.op == "remove" && added[key{c.Dataset.Source, c.Dataset.Target, e.Key()}] {
					continue
				}
				recs = append(recs, audit.Record{Actor: actor, Action: audit.ActionImport, Dataset: c.Dataset.String(),
					Target: e.KeyString(c.Dataset.Target), IMEI: imeiOf(c.Dataset.Target, e), Source: c.Dataset.Source,
					Reason: reason, After: l.op})
			}
		}
	}
	return recs
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

func (s *Server) syncConfigured(w http.ResponseWriter) bool {
	if s.o.Sync == nil {
		writeError(w, http.StatusNotFound, "sync_not_configured", "no registry source is configured (sync.sources)")
		return false
	}
	return true
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) {
	if !s.syncConfigured(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
	defer cancel()
	st, rejects, err := s.o.Sync.Status(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": st, "rejects": rejects})
}

func (s *Server) syncRun(w http.ResponseWriter, r *http.Request) {
	if !s.syncConfigured(w) {
		return
	}
	sources := s.o.Sync.Sources()
	if name := r.URL.Query().Get("source"); name != "" {
		sources = []string{name}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.ImportTimeout)
	defer cancel()
	var passes []regsync.PassReport
	for _, name := range sources {
		rep, err := s.o.Sync.Pass(ctx, name)
		if errors.Is(err, regsync.ErrUnknownSource) {
			writeError(w, http.StatusNotFound, "unknown_source", err.Error())
			return
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "sync_failed", err.Error())
			return
		}
		s.log.Info("sync pass run on request", zap.String("actor", Actor(r.Context())), zap.String("source", name))
		passes = append(passes, rep)
	}
	writeJSON(w, http.StatusOK, map[string]any{"passes": passes})
}

func (s *Server) syncApprove(w http.ResponseWriter, r *http.Request) {
	if !s.syncConfigured(w) {
		return
	}
	q := r.URL.Query()
	source, file := q.Get("source"), q.Get("file")
	if source == "" || file == "" {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "source and file are required")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.o.ImportTimeout)
	defer cancel()
	rep, err := s.o.Sync.Approve(ctx, source, file, Actor(r.Context()))
	switch {
	case errors.Is(err, regsync.ErrUnknownSource), errors.Is(err, regsync.ErrNotHeld):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "sync_failed", err.Error())
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}
