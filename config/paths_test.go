package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestLoadResolvesRelativePaths: names in the file are relative to its
// folder, names from the environment to the working directory.
func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "etc", "eird.yaml")
	etc := filepath.Dir(cfgPath)
	for _, tc := range []struct {
		name string
		yaml string
		env  []string
		get  func(Config) string
		want string
	}{
		{"relative", "redis:\n  tls:\n    ca_file: certs/ca.pem\n", nil,
			func(c Config) string { return c.Redis.TLS.CAFile }, filepath.Join(etc, "certs", "ca.pem")},
		{"dot relative", "n5g:\n  oauth:\n    key_file: ./nrf.pem\n", nil,
			func(c Config) string { return c.N5g.OAuth.KeyFile }, filepath.Join(etc, "nrf.pem")},
		{"parent", "store:\n  snapshot_dir: ../var/snapshot\n", nil,
			func(c Config) string { return c.Store.SnapshotDir }, filepath.Join(dir, "var", "snapshot")},
		{"absolute", "store:\n  snapshot_dir: /srv/eird\n", nil,
			func(c Config) string { return c.Store.SnapshotDir }, "/srv/eird"},
		{"default absolute", "", nil,
			func(c Config) string { return c.Store.SnapshotDir }, "/var/lib/eird"},
		{"empty", "admin:\n  tls:\n    cert_file: \"\"\n", nil,
			func(c Config) string { return c.Admin.TLS.CertFile }, ""},
		{"list item", "bootstrap:\n  files: [lists/a.csv, /abs/b.csv]\n", nil,
			func(c Config) string { return strings.Join(c.Bootstrap.Files, ",") }, filepath.Join(etc, "lists", "a.csv") + ",/abs/b.csv"},
		{"list of mappings", "sync:\n  sources:\n    - {name: national, format: dirbs, dir: drop, https: {spool_dir: spool, ca_file: ca.pem}}\n", nil,
			func(c Config) string {
				s := c.Sync.Sources[0]
				return s.Dir + "," + s.HTTPS.SpoolDir + "," + s.HTTPS.CAFile
			}, filepath.Join(etc, "drop") + "," + filepath.Join(etc, "spool") + "," + filepath.Join(etc, "ca.pem")},
		{"environment relative", "nrf:\n  tls:\n    ca_file: file-ca.pem\n", []string{"EIR_NRF_TLS_CA_FILE=env/ca.pem"},
			func(c Config) string { return c.NRF.TLS.CAFile }, "env/ca.pem"},
		{"environment absolute", "", []string{"EIR_NRF_TLS_CERT_FILE=/etc/ssl/nrf.pem"},
			func(c Config) string { return c.NRF.TLS.CertFile }, "/etc/ssl/nrf.pem"},
		{"environment list of mappings", "", []string{`EIR_SYNC_SOURCES=[{name: n, format: dirbs, dir: drop}]`},
			func(c Config) string { return c.Sync.Sources[0].Dir }, "drop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.MkdirAll(etc, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfgPath, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := load(cfgPath, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(c); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLoadRelativeSecretFile: a *_file secret named relative to the config
// file is read from the config file's folder, and a missing one is an error
// naming the key and the resolved file.
func TestLoadRelativeSecretFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "redis.pass"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "eird.yaml")
	if err := os.WriteFile(cfgPath, []byte("redis:\n  password_file: redis.pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Password != "pw" {
		t.Errorf("redis.password %q, want pw", c.Redis.Password)
	}

	if err := os.WriteFile(cfgPath, []byte("events:\n  webhook:\n    bearer_token_file: missing.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = load(cfgPath, nil)
	wantErr(t, err, "events.webhook.bearer_token_file", filepath.Join(dir, "missing.token"))
}

// TestLoadRelativeConfigPath: a config file named relative to the working
// directory still gives absolute names.
func TestLoadRelativeConfigPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "eird.yaml"), []byte("store:\n  snapshot_dir: snap\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	c, err := load(filepath.Join("etc", "eird.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "etc", "snap"); c.Store.SnapshotDir != want {
		t.Errorf("store.snapshot_dir %q, want %q", c.Store.SnapshotDir, want)
	}
}

// pathName matches the yaml names of keys that hold file or directory names.
var pathName = regexp.MustCompile(`(^|_)(file|files|dir)$`)

// TestPathKeysComplete: resolvePaths rewrites exactly the keys named like
// paths (…_file, …_dir, dir, files), in every section and list of sections,
// so that a new path key cannot be forgotten.
func TestPathKeysComplete(t *testing.T) {
	var c Config
	c.Admin.Tokens = make([]Token, 1)
	c.Sync.Sources = make([]SyncSource, 1)
	c.Bootstrap.Files = []string{"rel"}
	var fill func(v reflect.Value, path string, out map[string]*string)
	fill = func(v reflect.Value, path string, out map[string]*string) {
		for _, f := range fieldsOf(v.Type()) {
			fv := v.Field(f.index)
			p := joinPath(path, f.name)
			switch {
			case fv.Kind() == reflect.String:
				fv.SetString("rel")
				out[p] = fv.Addr().Interface().(*string)
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
				if fv.Len() == 0 {
					fv.Set(reflect.ValueOf([]string{"rel"}))
				}
				out[p] = fv.Index(0).Addr().Interface().(*string)
			case isStructList(fv.Type()):
				for i := range fv.Len() {
					fill(fv.Index(i), p, out)
				}
			case isSection(fv.Type()):
				fill(fv, p, out)
			}
		}
	}
	leaves := make(map[string]*string)
	fill(reflect.ValueOf(&c).Elem(), "", leaves)
	resolvePaths(&c, "/d")
	n := 0
	for p, v := range leaves {
		name := p[strings.LastIndex(p, ".")+1:]
		want := "rel"
		if pathName.MatchString(name) {
			want = "/d/rel"
			n++
		}
		if *v != want {
			t.Errorf("%s: %q after resolvePaths, want %q", p, *v, want)
		}
	}
	if n < 20 {
		t.Errorf("only %d path keys found: is the name pattern right?", n)
	}
}
