package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	byPath := make(map[string]Key)
	for _, k := range Keys() {
		if _, dup := byPath[k.Path]; dup {
			t.Errorf("%s: listed twice", k.Path)
		}
		byPath[k.Path] = k
	}
	for _, want := range []Key{
		{Path: "diameter.origin_host", Env: "EIR_DIAMETER_ORIGIN_HOST", Default: "eir.localdomain"},
		{Path: "diameter.watchdog_interval", Env: "EIR_DIAMETER_WATCHDOG_INTERVAL", Default: "30s"},
		{Path: "diameter.allow_any_peer", Env: "EIR_DIAMETER_ALLOW_ANY_PEER", Default: "false"},
		{Path: "diameter.vendor_id", Env: "EIR_DIAMETER_VENDOR_ID", Default: "0"},
		{Path: "diameter.host_ip_addresses", Env: "EIR_DIAMETER_HOST_IP_ADDRESSES", Default: "[]"},
		{Path: "diameter.peers", Env: "EIR_DIAMETER_PEERS", Default: "[]"},
		{Path: "diameter.peers[].origin_host", Env: "", Default: `""`},
		{Path: "diameter.peers[].addresses", Env: "", Default: "[]"},
		{Path: "redis.addresses", Env: "EIR_REDIS_ADDRESSES", Default: `["127.0.0.1:6379"]`},
		{Path: "redis.password", Env: "EIR_REDIS_PASSWORD", Default: `""`},
		{Path: "redis.tls.ca_file", Env: "EIR_REDIS_TLS_CA_FILE", Default: `""`},
		{Path: "store.key_prefix", Env: "EIR_STORE_KEY_PREFIX", Default: `"eir:"`},
		{Path: "store.build_lease", Env: "EIR_STORE_BUILD_LEASE", Default: "10m"},
		{Path: "admin.tokens[].role", Env: "", Default: `""`},
		{Path: "admin.max_body_bytes", Env: "EIR_ADMIN_MAX_BODY_BYTES", Default: "268435456"},
		{Path: "bootstrap.files", Env: "EIR_BOOTSTRAP_FILES", Default: "[]"},
	} {
		t.Run(want.Path, func(t *testing.T) {
			got, ok := byPath[want.Path]
			if !ok {
				t.Fatal("missing")
			}
			got.Doc = ""
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestKeysAreDocumented(t *testing.T) {
	seen := make(map[string]bool)
	for _, k := range Keys() {
		seen[k.Path] = true
		if k.Doc == "" {
			t.Errorf("%s: no entry in docs", k.Path)
		}
	}
	for path := range docs {
		if !seen[path] {
			t.Errorf("docs: %s is not a key", path)
		}
	}
}

// TestDocsMatchConfigComments keeps docs in step with the trailing comments
// of the fields in config.go.
func TestDocsMatchConfigComments(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	comments := make(map[string]string) // "Type.Field" → trailing comment
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fl := range st.Fields.List {
			if fl.Comment == nil {
				continue
			}
			for _, name := range fl.Names {
				comments[ts.Name.Name+"."+name.Name] = strings.TrimSpace(fl.Comment.Text())
			}
		}
		return false
	})
	if len(comments) < 30 {
		t.Fatalf("found %d field comments in config.go, want more", len(comments))
	}

	var walk func(ty reflect.Type, prefix string)
	walk = func(ty reflect.Type, prefix string) {
		for _, fd := range fieldsOf(ty) {
			sf := ty.Field(fd.index)
			path := joinPath(prefix, fd.name)
			if c, ok := comments[ty.Name()+"."+sf.Name]; ok && docs[path] != c {
				t.Errorf("docs[%q] = %q, want the comment in config.go: %q", path, docs[path], c)
			}
			switch {
			case isSection(sf.Type):
				walk(sf.Type, path)
			case isStructList(sf.Type):
				walk(sf.Type.Elem(), path+"[]")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{10 * time.Second, "10s"},
		{60 * time.Second, "1m"},
		{10 * time.Minute, "10m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{time.Hour + 10*time.Second, "1h0m10s"},
		{time.Hour + 20*time.Minute, "1h20m"},
		{500 * time.Millisecond, "500ms"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := formatDuration(tc.d); got != tc.want {
				t.Errorf("formatDuration(%d) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestRenderNonEmptyListOfMappings(t *testing.T) {
	got := render(reflect.ValueOf([]Peer{{OriginHost: "mme1", Addresses: []string{"10.0.0.0/8"}}}))
	want := `[{"origin_host": "mme1", "origin_realm": "", "addresses": ["10.0.0.0/8"]}]`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestChanged(t *testing.T) {
	a, b := Default(), Default()
	if got := Changed(a, b); len(got) != 0 {
		t.Fatalf("equal configurations: %v", got)
	}
	b.Diameter.Peers = []Peer{{OriginHost: "mme1"}}
	b.Admin.Tokens = []Token{{Name: "x", Token: "y", Role: "read"}}
	b.Policy.ShadowSources = []string{"ceir"}
	b.Redis.Addresses = nil
	want := []string{"diameter.peers", "redis.addresses", "policy.shadow_sources", "admin.tokens"}
	if got := Changed(a, b); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Changed: %v, want %v", got, want)
	}
}
