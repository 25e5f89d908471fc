package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    func(c *Config)
	}{
		{
			name:    "string",
			environ: []string{"EIR_DIAMETER_ORIGIN_HOST=eir2.epc.example.org"},
			want:    func(c *Config) { c.Diameter.OriginHost = "eir2.epc.example.org" },
		},
		{
			name:    "string set to empty",
			environ: []string{"EIR_ADMIN_LISTEN="},
			want:    func(c *Config) { c.Admin.Listen = "" },
		},
		{
			name:    "value containing =",
			environ: []string{"EIR_LOG_IDENTITY_HASH_KEY=a=b"},
			want:    func(c *Config) { c.Log.IdentityHashKey = "a=b" },
		},
		{
			name:    "nested section",
			environ: []string{"EIR_REDIS_TLS_CA_FILE=/etc/ssl/ca.pem", "EIR_REDIS_TLS_INSECURE_SKIP_VERIFY=1"},
			want: func(c *Config) {
				c.Redis.TLS.CAFile = "/etc/ssl/ca.pem"
				c.Redis.TLS.InsecureSkipVerify = true
			},
		},
		{
			name:    "bool",
			environ: []string{"EIR_DIAMETER_ALLOW_ANY_PEER=true"},
			want:    func(c *Config) { c.Diameter.AllowAnyPeer = true },
		},
		{
			name:    "int, uint32 and int64",
			environ: []string{"EIR_REDIS_POOL_SIZE=8", "EIR_DIAMETER_VENDOR_ID=10415", "EIR_ADMIN_MAX_BODY_BYTES=1048576"},
			want: func(c *Config) {
				c.Redis.PoolSize = 8
				c.Diameter.VendorID = 10415
				c.Admin.MaxBodyBytes = 1 << 20
			},
		},
		{
			name:    "duration",
			environ: []string{"EIR_DIAMETER_WATCHDOG_INTERVAL=1m30s"},
			want:    func(c *Config) { c.Diameter.WatchdogInterval = 90 * time.Second },
		},
		{
			name:    "string list",
			environ: []string{"EIR_REDIS_ADDRESSES= redis-1:6379 ,redis-2:6379,, "},
			want:    func(c *Config) { c.Redis.Addresses = []string{"redis-1:6379", "redis-2:6379"} },
		},
		{
			name:    "empty string list",
			environ: []string{"EIR_REDIS_ADDRESSES="},
			want:    func(c *Config) { c.Redis.Addresses = []string{} },
		},
		{
			name:    "list of mappings as JSON",
			environ: []string{`EIR_DIAMETER_PEERS=[{"origin_host":"mme1","addresses":["10.0.0.0/8"]},{"origin_host":"mme2*","origin_realm":"epc"}]`},
			want: func(c *Config) {
				c.Diameter.Peers = []Peer{
					{OriginHost: "mme1", Addresses: []string{"10.0.0.0/8"}},
					{OriginHost: "mme2*", OriginRealm: "epc"},
				}
			},
		},
		{
			name:    "list of mappings as YAML",
			environ: []string{"EIR_ADMIN_TOKENS=- {name: ops, token_file: /run/secrets/ops, role: write}\n- {name: grafana, token: s3cret, role: read}\n"},
			want: func(c *Config) {
				c.Admin.Tokens = []Token{
					{Name: "ops", TokenFile: "/run/secrets/ops", Role: "write"},
					{Name: "grafana", Token: "s3cret", Role: "read"},
				}
			},
		},
		{
			name:    "empty list of mappings",
			environ: []string{"EIR_DIAMETER_PEERS="},
			want:    func(c *Config) { c.Diameter.Peers = []Peer{} },
		},
		{
			name:    "other variables ignored",
			environ: []string{"PATH=/bin", "EIRX=1", "eir_log_level=debug", "NOEQUALS"},
			want:    func(*Config) {},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Default()
			if err := LoadEnv(&got, tc.environ); err != nil {
				t.Fatal(err)
			}
			want := Default()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadEnvReplacesListsFromFile(t *testing.T) {
	c := Default()
	c.Diameter.Peers = []Peer{{OriginHost: "from-file"}}
	if err := LoadEnv(&c, []string{`EIR_DIAMETER_PEERS=[{"origin_host":"from-env"}]`}); err != nil {
		t.Fatal(err)
	}
	if want := []Peer{{OriginHost: "from-env"}}; !reflect.DeepEqual(c.Diameter.Peers, want) {
		t.Errorf("got %+v, want %+v", c.Diameter.Peers, want)
	}
}

func TestLoadEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		wants   []string
	}{
		{
			name:    "bad integer",
			environ: []string{"EIR_REDIS_POOL_SIZE=lots"},
			wants:   []string{`EIR_REDIS_POOL_SIZE: redis.pool_size: "lots" is not a valid integer`},
		},
		{
			name:    "integer out of range",
			environ: []string{"EIR_DIAMETER_VENDOR_ID=4294967296"},
			wants:   []string{`EIR_DIAMETER_VENDOR_ID: diameter.vendor_id: "4294967296" is not a valid unsigned integer: value out of range`},
		},
		{
			name:    "bad boolean",
			environ: []string{"EIR_DIAMETER_ALLOW_ANY_PEER=maybe"},
			wants:   []string{`EIR_DIAMETER_ALLOW_ANY_PEER: diameter.allow_any_peer: "maybe" is not a boolean`},
		},
		{
			name:    "bare integer duration",
			environ: []string{"EIR_DIAMETER_WATCHDOG_INTERVAL=30"},
			wants:   []string{`EIR_DIAMETER_WATCHDOG_INTERVAL: diameter.watchdog_interval: "30" is not a duration (use e.g. "30s")`},
		},
		{
			name:    "empty duration",
			environ: []string{"EIR_STORE_BUILD_LEASE="},
			wants:   []string{`EIR_STORE_BUILD_LEASE: store.build_lease: "" is not a duration`},
		},
		{
			name:    "unknown key in list of mappings",
			environ: []string{`EIR_DIAMETER_PEERS=[{"origin_hots":"mme1"}]`},
			wants:   []string{"EIR_DIAMETER_PEERS: diameter.peers[0].origin_hots: unknown key"},
		},
		{
			name:    "mapping instead of list",
			environ: []string{`EIR_ADMIN_TOKENS={"name":"ops"}`},
			wants:   []string{"EIR_ADMIN_TOKENS: admin.tokens: want a list, got a mapping"},
		},
		{
			name:    "malformed JSON",
			environ: []string{`EIR_DIAMETER_PEERS=[{"origin_host":`},
			wants:   []string{"EIR_DIAMETER_PEERS: diameter.peers: yaml:"},
		},
		{
			name:    "unknown variables",
			environ: []string{"EIR_DIAMETER_ORIGN_HOST=x", "EIR_REDIS=1", "EIR_REDIS_TLS=1", "EIR_DIAMETER_PEERS_ORIGIN_HOST=x"},
			wants: []string{
				"unknown environment variables (no such config key): EIR_DIAMETER_ORIGN_HOST, EIR_DIAMETER_PEERS_ORIGIN_HOST, EIR_REDIS, EIR_REDIS_TLS",
			},
		},
		{
			name:    "several at once",
			environ: []string{"EIR_REDIS_DB=x", "EIR_LOG_LEVLE=debug", "EIR_REDIS_READ_TIMEOUT=1"},
			wants:   []string{"EIR_REDIS_DB: redis.db", "EIR_LOG_LEVLE", "EIR_REDIS_READ_TIMEOUT: redis.read_timeout"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			wantErr(t, LoadEnv(&c, tc.environ), tc.wants...)
		})
	}
}

func TestLoadEnvDoesNotEchoListValues(t *testing.T) {
	c := Default()
	err := LoadEnv(&c, []string{`EIR_ADMIN_TOKENS=[{"name":"ops","token":"hunter2",}`})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got %v, want an error without the secret", err)
	}
}

// TestEveryKeyHasAnEnvironmentVariable sets every leaf key through its
// variable, so a field of a type LoadEnv cannot parse fails here.
func TestEveryKeyHasAnEnvironmentVariable(t *testing.T) {
	samples := map[string]string{
		"string":           "x",
		"boolean":          "true",
		"integer":          "7",
		"unsigned integer": "7",
		"number":           "0.5",
		"duration":         "7s",
		"list of strings":  "a,b",
		"list of mappings": "[{}]",
	}
	var n int
	eachLeaf(reflect.ValueOf(Config{}), "", func(path string, v reflect.Value) {
		n++
		sample, ok := samples[describe(v.Type())]
		if !ok {
			t.Errorf("%s: no sample for a %s", path, describe(v.Type()))
			return
		}
		t.Run(path, func(t *testing.T) {
			var c Config
			if err := LoadEnv(&c, []string{envName(path) + "=" + sample}); err != nil {
				t.Fatal(err)
			}
			if reflect.ValueOf(c).IsZero() {
				t.Errorf("%s=%s changed nothing", envName(path), sample)
			}
		})
	})
	if n < 45 {
		t.Errorf("walked %d keys, want all of them", n)
	}
}

func TestEnvNamesAreUnique(t *testing.T) {
	var names []string
	for _, k := range Keys() {
		if k.Env != "" {
			names = append(names, k.Env)
		}
	}
	slices.Sort(names)
	if d := slices.Compact(slices.Clone(names)); len(d) != len(names) {
		t.Errorf("environment variable names collide: %q", names)
	}
}
