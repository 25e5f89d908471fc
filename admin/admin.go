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
	"fmt"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/eir/observe/redact"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/eir/sighting"
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

// policySource reports the policy in force (eir.Decider does); /v1/status
// shows the policy of a checker that does, the default policy otherwise.
type policySource interface {
	Policy() eir.Policy
}

// Syncer runs registry sync passes (regsync.Engine, adapted by eird). The
// reports are answered as they are, in JSON (api.SyncPass and
// api.SyncSource describe them). An unknown source or a file that is
// not held is an eir.ErrNotFound; a file held by a guard a *guard.Error.
type Syncer interface {
	Pass(ctx context.Context, source string) (report any, err error)
	Status(ctx context.Context) (sources any, rejects []json.RawMessage, err error)
	Approve(ctx context.Context, source, file, actor string) (report any, err error)
	Sources() []string
	// Summary is each source's line of /v1/status.
	Summary(ctx context.Context) ([]api.SyncStatus, error)
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
	Describe func(eir.Decision, error) any
	Gatherer prometheus.Gatherer
	// Observer is told of every check answered by GET /v1/check (Peer: the
	// actor, PeerAddr: the client's IP address); nil: nothing observed.
	Observer       observe.Observer
	RequestTimeout time.Duration   // checks and reads; default 5s
	ImportTimeout  time.Duration   // imports and sync passes; default 10m
	Sync           Syncer          // nil: no registry sync configured
	Notes          provision.Notes // why entries were made; nil: not kept
	Audit          Auditor         // nil: nothing audited, /v1/audit answers 404
	Events         StreamReader    // the hit events stream; nil: /v1/events answers 404
	// Sightings are the observations (sighting.Store) behind /v1/observed
	// and /v1/observed/forget; nil: they answer 404 observe_disabled.
	Sightings Sightings
	// ObserveRules are the duplicate-IMEI rules GET /v1/observed?imei=
	// evaluates; nil: none.
	ObserveRules *sighting.Rules
	// OperatorData exports the DIRBS operator data dump of a day
	// (opexport.Exporter); nil: /v1/export/operator-data answers 404.
	OperatorData OperatorData
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
	Guards          guard.Guards
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
	chk    eir.Checker
	edits  *provision.Editor
	log    *zap.Logger
	tokens atomic.Pointer[[]hashedToken]
	// protected are Options.ProtectedSources; certSources are
	// Options.CertWriterSources (both normalised).
	protected   map[string]bool
	certSources []string
	ready       atomic.Bool
	refusals    refusalLimiter
}

type hashedToken struct {
	name    string
	sum     [32]byte
	write   bool
	sources []string // normalised Token.Sources
}

// New returns the API; it reports ready until SetReady(false). Its entry
// edits and expiry sweeps are those of Edits.
func New(o Options, st Store, chk eir.Checker, log *zap.Logger) *Server {
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
	s := &Server{o: o, st: st, chk: chk, log: log, protected: map[string]bool{}, certSources: normSources(o.CertWriterSources)}
	var rec provision.Recorder
	if o.Audit != nil {
		rec = o.Audit
	}
	s.edits = provision.NewEditor(st, provision.EditorOptions{Notes: o.Notes, Audit: rec, Redactor: o.Redactor, Now: o.Now}, log)
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

// Edits is the entry editor behind /v1/entries; eird runs its expiry
// sweep (RunExpirySweep).
func (s *Server) Edits() *provision.Editor { return s.edits }

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
	handle("GET", "/v1/observed", s.auth(false, s.observed))
	handle("POST", "/v1/observed/forget", s.auth(true, s.forget))
	handle("GET", "/v1/export/operator-data", s.auth(false, s.exportOperatorData))
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
				s.refuse(r, "cert:"+cn, "client certificate has no role")
				writeError(w, http.StatusForbidden, "forbidden", "client certificate "+strconv.Quote(cn)+" has no role (admin.tls.readers, admin.tls.writers)")
			case write && !canWrite:
				s.refuse(r, "cert:"+cn, "client certificate may only read")
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
			s.refuse(r, "", "no bearer token or client certificate")
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
			s.refuse(r, "", "unknown token")
			w.Header().Set("WWW-Authenticate", `Bearer realm="eird", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "unknown token")
		case write && !found.write:
			s.refuse(r, found.name, "token may only read")
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
		writeErr(w, err)
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

// Ready reports what /readyz reports: nil when it would answer 200, or
// why not ("no_lists: no list version is loaded"). eird waits on it to
// say it is ready (log, systemd READY=1).
func (s *Server) Ready(ctx context.Context) error {
	if p := s.readiness(ctx); p != nil {
		return fmt.Errorf("%s: %s", p.code, p.msg)
	}
	return nil
}

// readiness reports why eird cannot answer checks, or nil.
func (s *Server) readiness(ctx context.Context) *problem {
	if !s.ready.Load() {
		return fail(http.StatusServiceUnavailable, "shutting_down", "eird is shutting down")
	}
	if s.o.Recoverer != nil {
		h := s.o.Recoverer.Health()
		switch {
		case h.Datasets == 0 && (h.Serving || h.State == eir.StoreOK):
			// A store that answers and holds no list version yet (a new
			// install) does not serve either: it has nothing to serve.
			return fail(http.StatusServiceUnavailable, "no_lists", "no list version is loaded")
		case !h.Serving:
			return fail(http.StatusServiceUnavailable, "store_unavailable", h.State+": "+h.Reason)
		}
		return nil
	}
	if err := s.st.Ping(ctx); err != nil {
		return fail(http.StatusServiceUnavailable, "store_unavailable", err.Error())
	}
	ds, err := s.st.Datasets(ctx)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "store_unavailable", err.Error())
	}
	if len(ds) == 0 {
		return fail(http.StatusServiceUnavailable, "no_lists", "no list version is loaded")
	}
	return nil
}
