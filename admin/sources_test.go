package admin

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/admin/api"

	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
)

// fakeSync runs passes of "national" that do nothing.
type fakeSync struct{}

func (fakeSync) Pass(_ context.Context, source string) (any, error) {
	return api.SyncPass{Source: source}, nil
}

func (fakeSync) Status(context.Context) (any, []json.RawMessage, error) {
	return nil, nil, nil
}

func (fakeSync) Approve(_ context.Context, source, _, _ string) (any, error) {
	return api.SyncPass{Source: source}, nil
}

func (fakeSync) Sources() []string { return []string{"national"} }

func (fakeSync) Summary(context.Context) ([]api.SyncStatus, error) { return nil, nil }

// newSourcesAPI is an API over a memstore where "national" is a registry
// sync source, with these tokens: def (write, default sources), any (write,
// "*"), nat (write, "national"), ro (read).
func newSourcesAPI(t *testing.T) (*store, *httptest.Server) {
	t.Helper()
	st := &store{Store: memstore.New()}
	o := Options{
		Tokens: []Token{
			{Name: "def", Secret: "def", Write: true},
			{Name: "any", Secret: "any", Write: true, Sources: []string{"*"}},
			{Name: "nat", Secret: "nat", Write: true, Sources: []string{" National "}},
			{Name: "ro", Secret: "ro", Sources: []string{"*"}},
		},
		ProtectedSources: []string{"national"},
		Sync:             fakeSync{},
	}
	srv := httptest.NewServer(New(o, st, eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t)).Handler())
	t.Cleanup(srv.Close)
	return st, srv
}

func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func entryBody(imei, source string) string {
	b, _ := json.Marshal(map[string]string{"imei": imei, "list": "black", "source": source, "reason": "r"})
	return string(b)
}

func TestWriteSources(t *testing.T) {
	_, srv := newSourcesAPI(t)
	const imei = "35209900176148"
	tests := []struct {
		name, token, method, path, body string
		status                          int
		code, message                   string
	}{
		{"default adds manual", "def", "POST", "/v1/entries", entryBody(imei, ""), 200, "", ""},
		{"default adds national", "def", "POST", "/v1/entries", entryBody(imei, "national"), 403, "forbidden_source",
			`token "def" may not write source "national" (registry sync source, writable only by a writer that names it; allowed: manual)`},
		{"default adds other", "def", "POST", "/v1/entries", entryBody(imei, "other"), 403, "forbidden_source",
			`token "def" may not write source "other" (allowed: manual)`},
		{"default removes national", "def", "DELETE", "/v1/entries", entryBody(imei, "national"), 403, "forbidden_source", ""},
		{"star adds other", "any", "POST", "/v1/entries", entryBody(imei, "other"), 200, "", ""},
		{"star adds manual", "any", "POST", "/v1/entries", entryBody(imei, "manual"), 200, "", ""},
		{"star adds national", "any", "POST", "/v1/entries", entryBody(imei, "national"), 403, "forbidden_source",
			`token "any" may not write source "national" (registry sync source, writable only by a writer that names it; allowed: *)`},
		{"named adds national", "nat", "POST", "/v1/entries", entryBody(imei, "national"), 200, "", ""},
		{"named removes national", "nat", "DELETE", "/v1/entries", entryBody(imei, "national"), 200, "", ""},
		{"named only: no manual", "nat", "POST", "/v1/entries", entryBody(imei, ""), 403, "forbidden_source",
			`token "nat" may not write source "manual" (allowed: national)`},
		{"reader is a reader first", "ro", "POST", "/v1/entries", entryBody(imei, "other"), 403, "forbidden", ""},
		{"invalid source is a bad request", "def", "POST", "/v1/entries", entryBody(imei, "Bad!"), 400, "invalid_entry", ""},
		{"default imports manual", "def", "POST", "/v1/import", "imei,status\n" + imei + ",grey\n", 200, "", ""},
		{"default imports national", "def", "POST", "/v1/import", "imei,status,source\n" + imei + ",grey,national\n", 403, "forbidden_source",
			`token "def" may not write source "national" (registry sync source, writable only by a writer that names it; allowed: manual); the file was rejected, nothing was changed`},
		{"default imports by default source", "def", "POST", "/v1/import?source=other", "imei,status\n" + imei + ",grey\n", 403, "forbidden_source", ""},
		{"dry run is refused too", "def", "POST", "/v1/import?dry_run=true", "imei,status,source\n" + imei + ",grey,other\n", 403, "forbidden_source", ""},
		{"star replaces national", "any", "POST", "/v1/import?replace=true", "imei,status,source\n" + imei + ",grey,national\n", 403, "forbidden_source", ""},
		{"named replaces national", "nat", "POST", "/v1/import?replace=true", "imei,status,source\n" + imei + ",grey,national\n", 200, "", ""},
		{"empty file touches nothing", "def", "POST", "/v1/import?source=national&replace=true", "imei,status\n", 200, "", ""},
		{"sync run is not a source write", "def", "POST", "/v1/sync/run?source=national", "", 200, "", ""},
		{"sync approve is not a source write", "def", "POST", "/v1/sync/approve?source=national&file=f.csv", "", 200, "", ""},
		{"a reader cannot run sync", "ro", "POST", "/v1/sync/run", "", 403, "forbidden", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, srv, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || errCode(body) != tc.code || (tc.message != "" && errMessage(body) != tc.message) {
				t.Fatalf("%d %v\nwant %d %s %q", status, body, tc.status, tc.code, tc.message)
			}
		})
	}
}

// datasetCounts is every non-empty dataset and its entry count.
func datasetCounts(t *testing.T, st *store) map[string]uint64 {
	t.Helper()
	ds, err := st.Datasets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, d := range ds {
		if d.Count > 0 {
			out[d.Dataset.String()] = d.Count
		}
	}
	return out
}

func TestImportWithForbiddenSourceChangesNothing(t *testing.T) {
	st, srv := newSourcesAPI(t)
	// A file of three sources, two of them forbidden: refused whole, each
	// forbidden source reported.
	csv := "imei,status,source\n35209900176148,black,manual\n49015420323751,grey,other\n86000000000001,black,national\n"
	status, body, _ := do(t, srv, "POST", "/v1/import", "def", csv)
	e, _ := body["error"].(map[string]any)
	details, _ := e["details"].([]any)
	if status != 403 || errCode(body) != "forbidden_source" || len(details) != 2 ||
		!strings.Contains(details[0].(string), `"national"`) || !strings.Contains(details[1].(string), `"other"`) {
		t.Fatalf("mixed file: %d %v", status, body)
	}
	if got := datasetCounts(t, st); len(got) != 0 {
		t.Fatalf("a refused import stored %v", got)
	}
	if _, body, _ := do(t, srv, "GET", "/v1/check?imei=35209900176148", "ro", ""); body["status"] != "UNKNOWN" {
		t.Fatalf("the allowed row of a refused file was applied: %v", body)
	}
	// The registry's entries survive a replace by a writer of any other
	// source.
	if status, body, _ := do(t, srv, "POST", "/v1/import", "nat", "imei,status,source\n86000000000001,black,national\n86000000000019,grey,national\n"); status != 200 {
		t.Fatalf("registry import: %d %v", status, body)
	}
	want := map[string]uint64{"national/imei/black": 1, "national/imei/grey": 1}
	for _, token := range []string{"def", "any"} {
		status, body, _ := do(t, srv, "POST", "/v1/import?replace=true", token, "imei,status,source\n49015420323751,white,national\n")
		if status != 403 || errCode(body) != "forbidden_source" {
			t.Fatalf("replace of national by %s: %d %v", token, status, body)
		}
		if got := datasetCounts(t, st); len(got) != len(want) || got["national/imei/black"] != 1 || got["national/imei/grey"] != 1 {
			t.Fatalf("after a refused replace by %s: %v, want %v", token, got, want)
		}
	}
	// An allowed replace of manual leaves national alone.
	if status, body, _ := do(t, srv, "POST", "/v1/import?replace=true", "any", "imei,status\n49015420323751,white\n"); status != 200 {
		t.Fatalf("replace of manual: %d %v", status, body)
	}
	if got := datasetCounts(t, st); len(got) != 3 || got["manual/imei/white"] != 1 || got["national/imei/black"] != 1 {
		t.Fatalf("after replacing manual: %v", got)
	}
}

func TestAnonymousWritesEverySource(t *testing.T) {
	// No token, no certificate role: the open development API writes every
	// source, registry sync sources included.
	st := &store{Store: memstore.New()}
	api := New(Options{ProtectedSources: []string{"national"}, CertWriterSources: []string{"manual"}}, st,
		eir.NewDecider(st, eir.Policy{}), zaptest.NewLogger(t))
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	for _, source := range []string{"manual", "other", "national"} {
		if status, body, _ := do(t, srv, "POST", "/v1/entries", "", entryBody("35209900176148", source)); status != 200 {
			t.Fatalf("anonymous add under %s: %d %v", source, status, body)
		}
	}
	if status, body, _ := do(t, srv, "POST", "/v1/import?replace=true&force=true", "", "imei,status,source\n49015420323751,grey,national\n"); status != 200 {
		t.Fatalf("anonymous replace of national: %d %v", status, body)
	}
	if status, body, _ := do(t, srv, "DELETE", "/v1/entries", "", `{"imei":"49015420323751","source":"national","reason":"r"}`); status != 200 {
		t.Fatalf("anonymous remove under national: %d %v", status, body)
	}
}
