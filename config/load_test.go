package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadEmptyFileGivesDefaults(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"comments only", "# nothing here\n"},
		{"empty document", "---\n"},
		{"null sections", "diameter:\nredis:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := load(writeFile(t, "eird.yaml", tc.content), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := Default(); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadNoPathGivesDefaultsAndEnv(t *testing.T) {
	got, err := load("", []string{"EIR_LOG_LEVEL=debug"})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Log.Level = "debug"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestLoadOverridesDefaults(t *testing.T) {
	path := writeFile(t, "eird.yaml", `
diameter:
  origin_host: eir1.epc.example.org
  watchdog_interval: 1m
  allow_any_peer: false
  vendor_id: 10415
  peers:
    - origin_host: "mme*.epc.example.org"
      addresses: [10.0.0.0/8, 192.0.2.1]
redis:
  mode: cluster
  addresses: ["redis-1:6379", "redis-2:6379"]
  tls:
    enabled: true
admin:
  max_body_bytes: 1048576
`)
	got, err := load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Diameter.OriginHost = "eir1.epc.example.org"
	want.Diameter.WatchdogInterval = time.Minute
	want.Diameter.VendorID = 10415
	want.Diameter.Peers = []Peer{{OriginHost: "mme*.epc.example.org", Addresses: []string{"10.0.0.0/8", "192.0.2.1"}}}
	want.Redis.Mode = "cluster"
	want.Redis.Addresses = []string{"redis-1:6379", "redis-2:6379"}
	want.Redis.TLS.Enabled = true
	want.Admin.MaxBodyBytes = 1 << 20
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestLoadEnvironmentWinsOverFile(t *testing.T) {
	path := writeFile(t, "eird.yaml", "diameter:\n  origin_host: from-file\n  product_name: file\n")
	got, err := load(path, []string{"EIR_DIAMETER_ORIGIN_HOST=from-env", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Diameter.OriginHost != "from-env" || got.Diameter.ProductName != "file" {
		t.Errorf("origin_host %q, product_name %q: want from-env, file", got.Diameter.OriginHost, got.Diameter.ProductName)
	}
}

func TestLoadMergeKeysAndAliases(t *testing.T) {
	path := writeFile(t, "eird.yaml", `
timeouts: &t
  write_timeout: 3s
diameter:
  <<: *t
  cer_timeout: 4s
`)
	_, err := load(path, nil)
	wantErr(t, err, "timeouts: unknown key")

	path = writeFile(t, "eird.yaml", `
diameter:
  peers:
    - &mme {origin_host: mme1, addresses: [10.0.0.1]}
    - *mme
redis:
  <<: {dial_timeout: 3s, pool_size: 4}
`)
	got, err := load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Diameter.Peers) != 2 || got.Redis.DialTimeout != 3*time.Second || got.Redis.PoolSize != 4 {
		t.Errorf("got peers %+v, dial_timeout %v, pool_size %d", got.Diameter.Peers, got.Redis.DialTimeout, got.Redis.PoolSize)
	}

	path = writeFile(t, "eird.yaml", "redis:\n  <<: {dial_timeout: 3}\n")
	_, err = load(path, nil)
	wantErr(t, err, `redis.dial_timeout: "3" is not a duration`)
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		wants   []string
	}{
		{
			name:    "unknown section",
			content: "diamter:\n  origin_host: x\n",
			wants:   []string{"eird.yaml:1: diamter: unknown key"},
		},
		{
			name:    "unknown nested key",
			content: "diameter:\n  origin_host: x\n  origin_hots: y\n",
			wants:   []string{"eird.yaml:3: diameter.origin_hots: unknown key"},
		},
		{
			name:    "unknown key in list element",
			content: "diameter:\n  peers:\n    - origin_host: mme1\n    - origin_host: mme2\n      adresses: [10.0.0.1]\n",
			wants:   []string{"eird.yaml:5: diameter.peers[1].adresses: unknown key"},
		},
		{
			name:    "unknown key under tls",
			content: "redis:\n  tls:\n    ca: /x\n",
			wants:   []string{"redis.tls.ca: unknown key"},
		},
		{
			name:    "bare integer duration",
			content: "diameter:\n  watchdog_interval: 30\n",
			wants:   []string{`eird.yaml:2: diameter.watchdog_interval: "30" is not a duration (use e.g. "30s")`},
		},
		{
			name:    "bare zero duration",
			content: "store:\n  version_grace: 0\n",
			wants:   []string{`store.version_grace: "0" is not a duration`},
		},
		{
			name:    "quoted duration without unit",
			content: "redis:\n  dial_timeout: \"30\"\n",
			wants:   []string{`redis.dial_timeout: "30" is not a duration`},
		},
		{
			name:    "float duration",
			content: "redis:\n  dial_timeout: 1.5\n",
			wants:   []string{`redis.dial_timeout: "1.5" is not a duration`},
		},
		{
			name:    "mapping for duration",
			content: "redis:\n  dial_timeout: {s: 1}\n",
			wants:   []string{`redis.dial_timeout: want a duration such as "30s", got a mapping`},
		},
		{
			name:    "string for integer",
			content: "redis:\n  pool_size: many\n",
			wants:   []string{`eird.yaml:2: redis.pool_size: "many" is not a valid integer`},
		},
		{
			name:    "negative unsigned",
			content: "diameter:\n  vendor_id: -1\n",
			wants:   []string{`diameter.vendor_id: "-1" is not a valid unsigned integer`},
		},
		{
			name:    "string for boolean",
			content: "diameter:\n  allow_any_peer: sometimes\n",
			wants:   []string{`diameter.allow_any_peer: "sometimes" is not a valid boolean`},
		},
		{
			name:    "scalar for list",
			content: "redis:\n  addresses: 127.0.0.1:6379\n",
			wants:   []string{`redis.addresses: want a list, got a scalar ("127.0.0.1:6379")`},
		},
		{
			name:    "mapping in list of strings",
			content: "redis:\n  addresses:\n    - a:1\n    - {host: b}\n",
			wants:   []string{"eird.yaml:4: redis.addresses[1]: want a string, got a mapping"},
		},
		{
			name:    "list for string",
			content: "log:\n  level: [debug]\n",
			wants:   []string{"log.level: want a string, got a list"},
		},
		{
			name:    "mapping for list of mappings",
			content: "diameter:\n  peers:\n    origin_host: mme1\n",
			wants:   []string{"diameter.peers: want a list, got a mapping"},
		},
		{
			name:    "scalar for section",
			content: "redis: localhost\n",
			wants:   []string{`redis: want a mapping, got a scalar ("localhost")`},
		},
		{
			name:    "list at top",
			content: "- diameter\n",
			wants:   []string{"want a mapping, got a list"},
		},
		{
			name:    "several problems at once",
			content: "diameter:\n  watchdog_interval: 30\n  bogus: 1\nlog:\n  levle: debug\n",
			wants:   []string{"diameter.watchdog_interval", "diameter.bogus: unknown key", "log.levle: unknown key"},
		},
		{
			name:    "two documents",
			content: "log:\n  level: debug\n---\nlog:\n  level: info\n",
			wants:   []string{"eird.yaml:3: a second YAML document: want exactly one"},
		},
		{
			name:    "syntax error",
			content: "diameter:\n  origin_host: [x\n",
			wants:   []string{"eird.yaml: yaml:"},
		},
		{
			name:    "duplicate key",
			content: "log:\n  level: debug\n  level: info\n",
			wants:   []string{"eird.yaml", "already defined"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(writeFile(t, "eird.yaml", tc.content), nil)
			wantErr(t, err, tc.wants...)
		})
	}
}

func TestLoadReportsFileAndEnvironmentProblemsTogether(t *testing.T) {
	_, err := load(writeFile(t, "eird.yaml", "bogus: 1\n"), []string{"EIR_BOGUS=1"})
	wantErr(t, err, "eird.yaml:1: bogus: unknown key", "EIR_BOGUS")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := load(t.TempDir()+"/missing.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
}

func TestLoadReportsEachProblemSeparately(t *testing.T) {
	_, err := load(writeFile(t, "eird.yaml", "a: 1\nb: 2\nlog:\n  c: 3\n"), nil)
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("got %v, want joined errors", err)
	}
	errs := joined.Unwrap()
	want := []string{"eird.yaml:1: a: unknown key", "eird.yaml:2: b: unknown key", "eird.yaml:4: log.c: unknown key"}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, e := range errs {
		if !strings.HasSuffix(e.Error(), want[i]) {
			t.Errorf("error %d is %q, want it to end in %q", i, e, want[i])
		}
	}
}

func TestLoadRemovedKeyNamesItsReplacement(t *testing.T) {
	content := "sync:\n  sources:\n    - name: national\n      format: dirbs\n      dir: /srv/drop\n      guards:\n        max_delta_unblocks: 50000\n"
	_, err := load(writeFile(t, "eird.yaml", content), nil)
	wantErr(t, err, "eird.yaml:7: sync.sources[0].guards.max_delta_unblocks: removed: use max_unblocks", "guards.max_unblocks (10000)")
	if strings.Contains(err.Error(), "unknown key") {
		t.Errorf("a removed key reported as unknown: %v", err)
	}
	// The same in EIR_SYNC_SOURCES.
	_, err = load("", []string{`EIR_SYNC_SOURCES=[{"name": "national", "format": "dirbs", "dir": "/srv/drop", "guards": {"max_delta_unblocks": 1}}]`})
	wantErr(t, err, "EIR_SYNC_SOURCES: sync.sources[0].guards.max_delta_unblocks: removed: use max_unblocks")
	// Elsewhere the name is just unknown.
	_, err = load(writeFile(t, "eird.yaml", "guards:\n  max_delta_unblocks: 1\n"), nil)
	wantErr(t, err, "guards.max_delta_unblocks: unknown key")
}
