// Package sbispec holds the 3GPP OpenAPI files of the service-based
// interfaces eird speaks, for tests that validate what goes on the wire
// with a Go OpenAPI validator (kin-openapi), never with hand-written
// structs:
//
//	TS29511_N5g-eir_EquipmentIdentityCheck.yaml  TS 29.511 V19.1.0 (API 1.4.0)
//	TS29571_CommonData.yaml                      TS 29.571 V19.6.0 (API 1.6.1)
//	TS29510_Nnrf_NFManagement.yaml               TS 29.510 V19.6.0 (API 1.4.1)
//
// They are verbatim copies (sha256 in ../../README.md and the project's
// spec sheet). They reference other 3GPP files not kept here (TS 29.514,
// 29.572, 29.503, …); a schema from one of those is loaded as a stub that
// accepts any value. None of them describes a member eird sends.
package sbispec

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

//go:embed openapi/*.yaml
var files embed.FS

// Files of the specifications kept here.
const (
	N5gEIR       = "TS29511_N5g-eir_EquipmentIdentityCheck.yaml"
	CommonData   = "TS29571_CommonData.yaml"
	NFManagement = "TS29510_Nnrf_NFManagement.yaml"
)

var refRe = regexp.MustCompile(`'(TS[0-9A-Za-z_-]+\.yaml)#/components/(schemas|responses|parameters)/([A-Za-z0-9_.-]+)'`)

var (
	loadMu sync.Mutex
	loaded = map[string]*openapi3.T{}
)

// Load returns the specification in file, with its references resolved
// (stubs for the files not kept here) and validated as OpenAPI.
func Load(file string) (*openapi3.T, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if doc, ok := loaded[file]; ok {
		return doc, nil
	}
	stubs, err := missingRefs()
	if err != nil {
		return nil, err
	}
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		name := path.Base(u.Path)
		if b, err := files.ReadFile("openapi/" + name); err == nil {
			return b, nil
		}
		if kinds, ok := stubs[name]; ok {
			return stubDoc(kinds), nil
		}
		return nil, fmt.Errorf("sbispec: %s: no such file and no reference to it", name)
	}
	doc, err := l.LoadFromURI(&url.URL{Path: file})
	if err != nil {
		return nil, fmt.Errorf("sbispec: load %s: %w", file, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("sbispec: %s is not valid OpenAPI: %w", file, err)
	}
	loaded[file] = doc
	return doc, nil
}

// missingRefs lists, per file not kept here, the components referenced.
func missingRefs() (map[string]map[string][]string, error) {
	entries, err := fs.ReadDir(files, "openapi")
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	seen := map[string]map[string]map[string]bool{}
	for _, e := range entries {
		b, err := files.ReadFile("openapi/" + e.Name())
		if err != nil {
			return nil, err
		}
		for _, m := range refRe.FindAllStringSubmatch(string(b), -1) {
			if have[m[1]] {
				continue
			}
			if seen[m[1]] == nil {
				seen[m[1]] = map[string]map[string]bool{}
			}
			if seen[m[1]][m[2]] == nil {
				seen[m[1]][m[2]] = map[string]bool{}
			}
			seen[m[1]][m[2]][m[3]] = true
		}
	}
	out := map[string]map[string][]string{}
	for file, kinds := range seen {
		out[file] = map[string][]string{}
		for kind, names := range kinds {
			for n := range names {
				out[file][kind] = append(out[file][kind], n)
			}
			sort.Strings(out[file][kind])
		}
	}
	return out, nil
}

// stubDoc is an OpenAPI document defining the given components as
// accept-anything stubs.
func stubDoc(kinds map[string][]string) []byte {
	var b strings.Builder
	b.WriteString("openapi: 3.0.0\ninfo: {title: stub of a 3GPP file not kept here, version: '0'}\npaths: {}\ncomponents:\n")
	for _, kind := range []string{"schemas", "responses", "parameters"} {
		if len(kinds[kind]) == 0 {
			continue
		}
		b.WriteString("  " + kind + ":\n")
		for _, n := range kinds[kind] {
			switch kind {
			case "responses":
				b.WriteString("    " + n + ": {description: stub}\n")
			case "parameters":
				b.WriteString("    " + n + ": {name: " + n + ", in: query, schema: {}}\n")
			default:
				b.WriteString("    " + n + ": {}\n")
			}
		}
	}
	return []byte(b.String())
}

// Validator checks requests and responses against one specification.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// NewValidator returns a validator of the operations of file. Servers are
// matched by path only, whatever the apiRoot.
func NewValidator(file string) (*Validator, error) {
	doc, err := Load(file)
	if err != nil {
		return nil, err
	}
	// Route on paths whatever the host: keep only the path of each server.
	c := *doc
	c.Servers = nil
	for _, s := range doc.Servers {
		u := s.URL
		if i := strings.Index(u, "}"); i >= 0 && strings.HasPrefix(u, "{") {
			u = u[i+1:]
		}
		c.Servers = append(c.Servers, &openapi3.Server{URL: u})
	}
	r, err := legacy.NewRouter(&c)
	if err != nil {
		return nil, fmt.Errorf("sbispec: router: %w", err)
	}
	return &Validator{doc: &c, router: r}, nil
}

// Response validates an answer to req (status, headers, body) against the
// operation req addresses: the status must be documented and the body
// must match the schema of its content type.
func (v *Validator) Response(req *http.Request, status int, header http.Header, body []byte) error {
	r := req.Clone(context.Background())
	r.URL.Scheme, r.URL.Host = "", ""
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		return fmt.Errorf("sbispec: no operation for %s %s: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// Request validates a request against the operation it addresses.
func (v *Validator) Request(req *http.Request, body []byte) error {
	r := req.Clone(context.Background())
	r.URL.Scheme, r.URL.Host = "", ""
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		return fmt.Errorf("sbispec: no operation for %s %s: %w", req.Method, req.URL.Path, err)
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	})
}

// Schema validates a JSON value (decoded into any) against a named schema
// of file's components, e.g. Schema(NFManagement, "NFProfile", v).
func Schema(file, name string, value any) error {
	doc, err := Load(file)
	if err != nil {
		return err
	}
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("sbispec: %s has no schema %s", file, name)
	}
	return ref.Value.VisitJSON(value, openapi3.MultiErrors())
}
