package admin

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// defaultWriteSource is the one source a writer without configured sources
// may write.
const defaultWriteSource = "manual"

// anySource, in a writer's sources, allows every source that no registry
// sync owns.
const anySource = "*"

// grant is what a request's writer may write: the sources of its token or
// of the client certificate writers, or anything (the open API).
type grant struct {
	who     string   // `token "alice"`, `client certificate "noc"`, "anonymous"
	sources []string // normalised; empty: defaultWriteSource
	open    bool     // no authentication configured: every source
}

type grantKey struct{}

// normSources lowercases and trims sources, dropping empty and repeated
// ones (source names are lowercase: eir.ValidateSource).
func normSources(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// mayWrite reports whether g allows writing source, and if not why, as a
// message naming the writer, the source and the rule.
func (s *Server) mayWrite(g grant, source string) (string, bool) {
	if g.open {
		return "", true
	}
	protected := s.protected[source]
	allowed := g.sources
	if len(allowed) == 0 {
		// The default names no source explicitly: not even "manual" may
		// be written by default when a registry sync owns it.
		if source == defaultWriteSource && !protected {
			return "", true
		}
		allowed = []string{defaultWriteSource}
	} else if slices.Contains(allowed, source) || (!protected && slices.Contains(allowed, anySource)) {
		return "", true
	}
	why := "allowed: " + strings.Join(allowed, ", ")
	if protected {
		why = "registry sync source, writable only by a writer that names it; " + why
	}
	return g.who + " may not write source " + strconv.Quote(source) + " (" + why + ")", false
}

// allowSources answers 403 forbidden_source, and returns false, unless the
// request's writer may write every one of sources. Nothing must have been
// changed before: a refused request changes nothing.
func (s *Server) allowSources(w http.ResponseWriter, r *http.Request, sources []string, suffix string) bool {
	g, ok := r.Context().Value(grantKey{}).(grant)
	if !ok { // not behind auth: nobody may write
		writeError(w, http.StatusForbidden, "forbidden_source", "the request has no authenticated writer")
		return false
	}
	var denied, names []string
	for _, src := range sources {
		if msg, ok := s.mayWrite(g, src); !ok {
			denied, names = append(denied, msg), append(names, src)
		}
	}
	if len(denied) == 0 {
		return true
	}
	s.refuse(r, "", "source not allowed: "+strings.Join(names, ", "))
	var details []string
	if len(denied) > 1 {
		details = denied
	}
	writeError(w, http.StatusForbidden, "forbidden_source", denied[0]+suffix, details...)
	return false
}

// withIdentity passes the request on with its actor and what it may write.
func withIdentity(h http.HandlerFunc, w http.ResponseWriter, r *http.Request, actor string, g grant) {
	ctx := context.WithValue(context.WithValue(r.Context(), actorKey{}, actor), grantKey{}, g)
	h(w, r.WithContext(ctx))
}
