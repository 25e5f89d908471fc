package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultValidatesOnceAPeerPolicyIsChosen(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Errorf("Default() with allow_any_peer: %v", err)
	}
	err := Default().Validate()
	if want := "diameter.peers: empty: list the allowed peers or set diameter.allow_any_peer"; err == nil || err.Error() != want {
		t.Errorf("Default(): got %v, want exactly %q", err, want)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	exists := writeFile(t, "exists", "x")
	missing := dir + "/missing"

	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		wants  []string // empty: valid
	}{
		// diameter
		{"listen without port", func(c *Config) { c.Diameter.Listen = "127.0.0.1" }, []string{`diameter.listen: "127.0.0.1" is not host:port`}},
		{"listen bad port", func(c *Config) { c.Diameter.Listen = "127.0.0.1:70000" }, []string{`diameter.listen: "127.0.0.1:70000": invalid port "70000"`}},
		{"listen named port", func(c *Config) { c.Diameter.Listen = ":diameter" }, []string{`diameter.listen: ":diameter": invalid port`}},
		{"listen all interfaces", func(c *Config) { c.Diameter.Listen = ":3868" }, nil},
		{"listen ipv6", func(c *Config) { c.Diameter.Listen = "[::]:3868" }, nil},
		{"transport", func(c *Config) { c.Diameter.Transport = "udp" }, []string{`diameter.transport: "udp": want tcp|sctp`}},
		{"sctp", func(c *Config) { c.Diameter.Transport = "sctp" }, nil},
		{"origin_host required", func(c *Config) { c.Diameter.OriginHost = "" }, []string{"diameter.origin_host: required"}},
		{"origin_host space", func(c *Config) { c.Diameter.OriginHost = "eir 1" }, []string{`diameter.origin_host: "eir 1": invalid character ' '`}},
		{"origin_host underscore", func(c *Config) { c.Diameter.OriginHost = "eir_1.example.org" }, []string{`diameter.origin_host: "eir_1.example.org": invalid character '_'`}},
		{"origin_host empty label", func(c *Config) { c.Diameter.OriginHost = "eir..example.org" }, []string{`diameter.origin_host: "eir..example.org": empty label`}},
		{"origin_host too long", func(c *Config) { c.Diameter.OriginHost = strings.Repeat("a.", 128) + "a" }, []string{"diameter.origin_host: longer than 255 characters"}},
		{"origin_realm", func(c *Config) { c.Diameter.OriginRealm = "" }, []string{"diameter.origin_realm: required"}},
		{"host_ip_addresses", func(c *Config) { c.Diameter.HostIPAddresses = []string{"192.0.2.1", "2001:db8::1", "eir.example"} }, []string{`diameter.host_ip_addresses[2]: "eir.example" is not an IP address`}},
		{"product_name", func(c *Config) { c.Diameter.ProductName = "" }, []string{"diameter.product_name: required"}},
		{"durations", func(c *Config) {
			c.Diameter.WatchdogInterval = 0
			c.Diameter.CERTimeout = -time.Second
			c.Diameter.WriteTimeout = 0
			c.Diameter.DisconnectTimeout = 0
		}, []string{"diameter.watchdog_interval: must be > 0, got 0s", "diameter.cer_timeout: must be > 0, got -1s", "diameter.write_timeout: must be > 0", "diameter.disconnect_timeout: must be > 0"}},
		{"request_timeout zero", func(c *Config) { c.Diameter.RequestTimeout = 0 }, []string{"diameter.request_timeout: must be > 0"}},
		{"request_timeout not below watchdog", func(c *Config) {
			c.Diameter.RequestTimeout = 30 * time.Second
			c.Store.VersionGrace = time.Hour
		}, []string{"diameter.request_timeout: must be shorter than diameter.watchdog_interval (30s)"}},
		{"max_message_size low", func(c *Config) { c.Diameter.MaxMessageSize = 1023 }, []string{"diameter.max_message_size: 1023: want 1024 to 16777215"}},
		{"max_message_size high", func(c *Config) { c.Diameter.MaxMessageSize = 1 << 24 }, []string{"diameter.max_message_size"}},
		{"max_message_size bounds", func(c *Config) { c.Diameter.MaxMessageSize = 1<<24 - 1 }, nil},
		{"max_inflight_per_peer", func(c *Config) { c.Diameter.MaxInflightPerPeer = 0 }, []string{"diameter.max_inflight_per_peer: 0: want 1 to 65535"}},
		{"max_inflight_per_peer high", func(c *Config) { c.Diameter.MaxInflightPerPeer = 65536 }, []string{"diameter.max_inflight_per_peer"}},
		{"duplicate_peer", func(c *Config) { c.Diameter.DuplicatePeer = "kick" }, []string{`diameter.duplicate_peer: "kick": want allow|reject`}},
		{"no peers", func(c *Config) { c.Diameter.AllowAnyPeer = false }, []string{"diameter.peers: empty: list the allowed peers or set diameter.allow_any_peer"}},
		{"peers", func(c *Config) {
			c.Diameter.AllowAnyPeer = false
			c.Diameter.Peers = []Peer{
				{OriginHost: "mme*.epc.example.org", OriginRealm: "epc.example.org", Addresses: []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"}},
				{OriginRealm: "[epc"},
				{OriginHost: "mme[", Addresses: []string{"10.0.0.0/33", "mme1"}},
			}
		}, []string{
			"diameter.peers[1].origin_host: required",
			`diameter.peers[1].origin_realm: "[epc" is not a valid pattern`,
			`diameter.peers[2].origin_host: "mme[" is not a valid pattern`,
			`diameter.peers[2].addresses[0]: "10.0.0.0/33" is not an IP address or CIDR prefix`,
			`diameter.peers[2].addresses[1]: "mme1" is not an IP address or CIDR prefix`,
		}},
		// diameter.tls
		{"tls off by default, listen required", func(c *Config) { c.Diameter.Listen = "" }, []string{"diameter.listen: empty: set a host:port, or diameter.tls.cert_file"}},
		{"tls only", func(c *Config) {
			c.Diameter.Listen = ""
			c.Diameter.TLS = DiameterTLS{Listen: ":5658", CertFile: exists, KeyFile: exists, ClientCAFile: exists, MinVersion: "1.3"}
		}, nil},
		{"tls and cleartext", func(c *Config) {
			c.Diameter.TLS = DiameterTLS{Listen: "[::]:5658", CertFile: exists, KeyFile: exists, ClientCAFile: exists, MinVersion: "1.2"}
		}, nil},
		{"tls without client CAs", func(c *Config) {
			c.Diameter.TLS = DiameterTLS{Listen: "127.0.0.1:5658", CertFile: exists, KeyFile: exists, MinVersion: "1.1"}
		}, []string{"diameter.tls.client_ca_file: required with cert_file", `diameter.tls.min_version: "1.1": want 1.2|1.3`}},
		{"tls files", func(c *Config) {
			c.Diameter.TLS = DiameterTLS{Listen: "127.0.0.1:3868", CertFile: missing, ClientCAFile: exists, MinVersion: "1.2"}
		}, []string{"diameter.tls: set cert_file and key_file together", "diameter.tls.cert_file: open",
			"diameter.tls.listen: 127.0.0.1:3868 is also diameter.listen"}},
		{"tls client CAs alone", func(c *Config) { c.Diameter.TLS.ClientCAFile = exists }, []string{"diameter.tls.client_ca_file: client certificates need TLS"}},
		{"tls listen bad", func(c *Config) {
			c.Diameter.TLS = DiameterTLS{Listen: "5658", CertFile: exists, KeyFile: exists, ClientCAFile: exists, MinVersion: "1.2"}
		}, []string{`diameter.tls.listen: "5658" is not host:port`}},
		{"peer allow-list alone", func(c *Config) {
			c.Diameter.AllowAnyPeer = false
			c.Diameter.Peers = []Peer{{OriginHost: "mme1.epc.example.org"}}
		}, nil},

		// redis
		{"redis mode", func(c *Config) { c.Redis.Mode = "replica" }, []string{`redis.mode: "replica": want standalone|sentinel|cluster`}},
		{"redis addresses empty", func(c *Config) { c.Redis.Addresses = nil }, []string{"redis.addresses: required"}},
		{"redis addresses", func(c *Config) {
			c.Redis.Mode = "cluster"
			c.Redis.Addresses = []string{"redis-1:6379", "redis-2", ":6379", "redis-3:0"}
		}, []string{`redis.addresses[1]: "redis-2" is not host:port`, `redis.addresses[2]: ":6379": invalid host ""`, `redis.addresses[3]: "redis-3:0": invalid port "0": want 1 to 65535`}},
		{"standalone with several addresses", func(c *Config) { c.Redis.Addresses = []string{"a:1", "b:2"} }, []string{"redis.addresses: standalone mode takes exactly one address, got 2"}},
		{"sentinel without master", func(c *Config) {
			c.Redis.Mode = "sentinel"
			c.Redis.Addresses = []string{"s1:26379", "s2:26379"}
		}, []string{"redis.master_name: required in sentinel mode"}},
		{"sentinel", func(c *Config) {
			c.Redis.Mode = "sentinel"
			c.Redis.Addresses = []string{"s1:26379", "s2:26379"}
			c.Redis.MasterName = "eir"
			c.Redis.DB = 2
		}, nil},
		{"cluster db", func(c *Config) {
			c.Redis.Mode = "cluster"
			c.Redis.DB = 1
		}, []string{"redis.db: must be 0 in cluster mode"}},
		{"negative db", func(c *Config) { c.Redis.DB = -1 }, []string{"redis.db: must be >= 0"}},
		{"password and password_file", func(c *Config) {
			c.Redis.Password = "p"
			c.Redis.PasswordFile = exists
		}, []string{"redis.password_file: set either redis.password or redis.password_file, not both"}},
		{"password_file missing", func(c *Config) { c.Redis.PasswordFile = missing }, []string{"redis.password_file: open " + missing + ": no such file or directory"}},
		{"password_file directory", func(c *Config) { c.Redis.PasswordFile = dir }, []string{"redis.password_file: " + dir + " is a directory"}},
		{"password_file", func(c *Config) { c.Redis.PasswordFile = exists }, nil},
		{"tls files missing", func(c *Config) {
			c.Redis.TLS = TLS{Enabled: true, CAFile: missing, CertFile: missing, KeyFile: missing}
		}, []string{"redis.tls.ca_file: open", "redis.tls.cert_file: open", "redis.tls.key_file: open"}},
		{"tls cert without key", func(c *Config) { c.Redis.TLS = TLS{Enabled: true, CertFile: exists} }, []string{"redis.tls: set both cert_file and key_file, or neither"}},
		{"tls", func(c *Config) { c.Redis.TLS = TLS{Enabled: true, CAFile: exists, CertFile: exists, KeyFile: exists} }, nil},
		{"redis durations", func(c *Config) {
			c.Redis.DialTimeout = 0
			c.Redis.ReadTimeout = 0
			c.Redis.WriteTimeout = 0
		}, []string{"redis.dial_timeout: must be > 0", "redis.read_timeout: must be > 0", "redis.write_timeout: must be > 0"}},
		{"pool_size", func(c *Config) { c.Redis.PoolSize = 0 }, []string{"redis.pool_size: must be >= 1"}},

		// store
		{"key_prefix empty", func(c *Config) { c.Store.KeyPrefix = "" }, []string{"store.key_prefix: required"}},
		{"key_prefix hash tag", func(c *Config) { c.Store.KeyPrefix = "{eir}:" }, []string{`store.key_prefix: "{eir}:": must not contain '{', '}' or white space`}},
		{"key_prefix space", func(c *Config) { c.Store.KeyPrefix = "eir :" }, []string{"store.key_prefix"}},
		{"janitor_interval", func(c *Config) { c.Store.JanitorInterval = 0 }, []string{"store.janitor_interval: must be > 0"}},
		{"build_lease", func(c *Config) { c.Store.BuildLease = 59 * time.Second }, []string{"store.build_lease: must be at least 1m, got 59s"}},
		{"build_lease minimum", func(c *Config) { c.Store.BuildLease = time.Minute }, nil},

		// policy
		{"unknown_equipment", func(c *Config) { c.Policy.UnknownEquipment = "reject" }, []string{`policy.unknown_equipment: "reject": want unknown|whitelisted|greylisted|blacklisted`}},
		{"on_store_error", func(c *Config) { c.Policy.OnStoreError = "unknown" }, []string{`policy.on_store_error: "unknown": want reject|whitelisted|greylisted|blacklisted`}},
		{"policies", func(c *Config) {
			c.Policy.UnknownEquipment = "whitelisted"
			c.Policy.OnStoreError = "greylisted"
		}, nil},

		// policy: shadow mode
		{"shadow sources", func(c *Config) { c.Policy.ShadowSources = []string{"ceir", "Bad!", "ceir"} }, []string{
			`policy.shadow_sources[1]: "Bad!": a source name is 1 to 32 characters [a-z0-9_-]`,
			`policy.shadow_sources[2]: "ceir" is listed twice`}},
		{"shadow all", func(c *Config) { c.Policy.ShadowAll = true; c.Policy.ShadowSources = []string{"ceir"} }, nil},
		// store: expiry sweep
		{"expiry sweep", func(c *Config) { c.Store.ExpirySweep = 0 }, []string{"store.expiry_sweep: must be > 0"}},
		// n5g
		{"n5g off by default", func(c *Config) { c.N5g.MaxInflight = 0 }, nil},
		{"n5g", func(c *Config) {
			c.N5g = N5g{Listen: "127.0.0.1:7777", APIPrefix: "eir", RequestTimeout: 0, MaxInflight: 0, TLS: N5gTLS{KeyFile: exists, ClientCAFile: missing}}
		}, []string{`n5g.api_prefix: "eir": want a path starting with '/'`, "n5g.request_timeout: must be > 0", "n5g.max_inflight: must be at least 1, got 0",
			"n5g.tls: set cert_file and key_file together", "n5g.tls.client_ca_file: open", "n5g.tls.client_ca_file: client certificates need TLS"}},
		{"n5g on the admin port", func(c *Config) { c.N5g.Listen = c.Admin.Listen }, []string{"n5g.listen: 127.0.0.1:9468 is also admin.listen"}},
		{"n5g ok", func(c *Config) { c.N5g.Listen, c.N5g.APIPrefix = ":7777", "/eir" }, nil},
		// nrf
		{"nrf", func(c *Config) {
			c.NRF = NRF{APIRoot: "ftp://nrf", InstanceID: "not-a-uuid", IPv4Addresses: []string{"::1"}, IPv6Addresses: []string{"10.0.0.1"}, TLS: NRFTLS{CertFile: exists}}
		}, []string{`nrf.api_root: "ftp://nrf": want http://`, "nrf.api_root: registration needs the N5g-eir service: set n5g.listen",
			`nrf.instance_id: "not-a-uuid": want a UUID v4`, `nrf.ipv4_addresses[0]: "::1" is not an IPv4 address`,
			`nrf.ipv6_addresses[0]: "10.0.0.1" is not an IPv6 address`, "nrf.heartbeat: must be > 0", "nrf.timeout: must be > 0",
			"nrf.tls: set cert_file and key_file together"}},
		{"nrf uuid v1 refused", func(c *Config) {
			c.N5g.Listen = "127.0.0.1:7777"
			c.NRF = NRF{APIRoot: "http://nrf:8000", InstanceID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Heartbeat: time.Second, Timeout: time.Second}
		}, []string{`nrf.instance_id: "6ba7b810-9dad-11d1-80b4-00c04fd430c8": want a UUID v4`}},
		{"nrf ok", func(c *Config) {
			c.N5g.Listen = "127.0.0.1:7777"
			c.NRF = NRF{APIRoot: "https://nrf.5gc/prefix", InstanceID: "4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10", FQDN: "eir.5gc", Heartbeat: time.Second, Timeout: time.Second}
		}, nil},
		// n5g oauth
		{"oauth", func(c *Config) {
			c.N5g.Listen = "127.0.0.1:7777"
			c.N5g.OAuth = OAuth{Enabled: true, Scope: "two words", Leeway: -time.Second}
		}, []string{"n5g.oauth.key_file: required", "n5g.oauth.audience: empty", `n5g.oauth.scope: "two words": want one scope token`, "n5g.oauth.leeway: must not be negative"}},
		// audit
		{"audit bounds", func(c *Config) { c.Audit.MaxRecords = 10; c.Audit.MaxAge = -time.Hour }, []string{
			"audit.max_records: must be at least 1000, got 10", "audit.max_age: must not be negative"}},
		// events
		{"events bounds", func(c *Config) { c.Events.StreamMaxLen = 0; c.Events.QueueSize = 0 }, []string{
			"events.stream_max_len: must be at least 1, got 0", "events.queue_size: must be at least 1, got 0"}},
		{"webhook", func(c *Config) {
			c.Events.Webhook = Webhook{URL: "ftp://x", BearerToken: "t", BearerTokenFile: missing, Retries: -1}
		}, []string{`events.webhook.url: "ftp://x": want an http:// or https:// URL`, "events.webhook.timeout: must be > 0",
			"events.webhook: set bearer_token or bearer_token_file, not both", "events.webhook.bearer_token_file: open", "events.webhook.retries: must not be negative"}},
		{"webhook ok", func(c *Config) { c.Events.Webhook.URL = "https://siem.example.org/eir" }, nil},
		// admin tls
		{"admin tls halves", func(c *Config) { c.Admin.TLS.CertFile = exists }, []string{"admin.tls: set cert_file and key_file together"}},
		{"admin tls files", func(c *Config) { c.Admin.TLS = AdminTLS{CertFile: missing, KeyFile: exists, ClientCAFile: missing} }, []string{
			"admin.tls.cert_file: open", "admin.tls.client_ca_file: open"}},
		{"admin client CA without https", func(c *Config) { c.Admin.TLS.ClientCAFile = exists }, []string{
			"admin.tls.client_ca_file: client certificates need TLS: set cert_file and key_file"}},
		{"admin roles without CA", func(c *Config) { c.Admin.TLS.Writers = []string{"noc"} }, []string{"admin.tls: writers and readers need client_ca_file"}},
		{"admin roles", func(c *Config) {
			c.Admin.TLS = AdminTLS{CertFile: exists, KeyFile: exists, ClientCAFile: exists, Writers: []string{"noc", ""}, Readers: []string{"noc"}}
		}, []string{`admin.tls.writers[1]: empty name`, `admin.tls.readers[0]: "noc" is also in admin.tls.writers`}},
		{"admin mTLS exposes without tokens", func(c *Config) {
			c.Admin.Listen = "0.0.0.0:9468"
			c.Admin.TLS = AdminTLS{CertFile: exists, KeyFile: exists, ClientCAFile: exists, Writers: []string{"noc"}}
		}, nil},
		// admin
		{"admin listen", func(c *Config) { c.Admin.Listen = "localhost" }, []string{`admin.listen: "localhost" is not host:port`}},
		{"admin tokens", func(c *Config) {
			c.Admin.Tokens = []Token{
				{Name: "ops", Token: "t", Role: "write"},
				{Name: "ops", TokenFile: exists, Role: "read"},
				{Token: "t", TokenFile: exists, Role: "admin"},
				{Name: "ci", TokenFile: missing, Role: "read"},
				{Name: "none", Role: "read"},
			}
		}, []string{
			`admin.tokens[1].name: "ops" is also the name of admin.tokens[0]`,
			"admin.tokens[2].name: required",
			"admin.tokens[2]: set token or token_file, not both",
			`admin.tokens[2].role: "admin": want read|write`,
			"admin.tokens[3].token_file: open " + missing,
			"admin.tokens[4]: set token or token_file",
		}},
		{"max_body_bytes", func(c *Config) { c.Admin.MaxBodyBytes = 1023 }, []string{"admin.max_body_bytes: must be at least 1024, got 1023"}},

		// log
		{"log level", func(c *Config) { c.Log.Level = "trace" }, []string{`log.level: "trace": want debug|info|warn|error`}},
		{"log format", func(c *Config) { c.Log.Format = "text" }, []string{`log.format: "text": want json|console`}},

		// bootstrap
		{"bootstrap files", func(c *Config) { c.Bootstrap.Files = []string{exists, missing} }, []string{"bootstrap.files[1]: open " + missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			wantProblems(t, c.Validate(), tc.wants)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := valid()
	c.Diameter.OriginHost = ""
	c.Diameter.Transport = "udp"
	c.Redis.PoolSize = 0
	c.Store.KeyPrefix = ""
	c.Log.Level = "loud"
	err := c.Validate()
	wants := []string{"diameter.origin_host: required", "diameter.transport:", "redis.pool_size:", "store.key_prefix: required", "log.level:"}
	wantErr(t, err, wants...)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(wants) {
		t.Errorf("want %d joined errors, got:\n%v", len(wants), err)
	}
}

func TestValidateVersionGrace(t *testing.T) {
	for _, tc := range []struct {
		name           string
		request, grace time.Duration
		want           string
	}{
		{"longer", time.Second, 2 * time.Second, ""},
		{"equal", time.Second, time.Second, "store.version_grace: must be longer than diameter.request_timeout (1s)"},
		{"shorter", 3 * time.Second, 2 * time.Second, "store.version_grace: must be longer than diameter.request_timeout (3s)"},
		{"zero grace", time.Second, 0, "store.version_grace: must be longer than diameter.request_timeout (1s)"},
		{"zero request", 0, 0, "store.version_grace: must be > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			c.Diameter.RequestTimeout = tc.request
			c.Store.VersionGrace = tc.grace
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

func TestValidateAdminLoopback(t *testing.T) {
	tokens := []Token{{Name: "ops", Token: "t", Role: "write"}}
	for _, tc := range []struct {
		name   string
		listen string
		tokens []Token
		want   string
	}{
		{"disabled", "", nil, ""},
		{"ipv4 loopback", "127.0.0.1:9468", nil, ""},
		{"other ipv4 loopback", "127.0.0.2:9468", nil, ""},
		{"ipv6 loopback", "[::1]:9468", nil, ""},
		{"localhost", "localhost:9468", nil, ""},
		{"any port", "127.0.0.1:0", nil, ""},
		{"all interfaces", "0.0.0.0:9468", nil, "admin.listen: 0.0.0.0:9468 is not a loopback address: configure admin.tokens or admin.tls.client_ca_file to expose the admin API"},
		{"empty host", ":9468", nil, "admin.listen: :9468 is not a loopback address"},
		{"ipv6 any", "[::]:9468", nil, "admin.listen: [::]:9468 is not a loopback address"},
		{"hostname", "eir1.example.org:9468", nil, "admin.listen: eir1.example.org:9468 is not a loopback address"},
		{"all interfaces with tokens", "0.0.0.0:9468", tokens, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			c.Admin.Listen = tc.listen
			c.Admin.Tokens = tc.tokens
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

// TestValidateListsInForce covers the rules that keep the lists in force
// safe: guards, limits, sync source names, write rights, the store's
// recovery settings and the connection limit. Each problem names its key.
func TestValidateListsInForce(t *testing.T) {
	drop := t.TempDir()
	source := func(name string) SyncSource { return SyncSource{Name: name, Format: "dirbs", Dir: drop} }
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		wants  []string // empty: valid
	}{
		// guards
		{"guards ratios above 1", func(c *Config) { c.Guards.MinSnapshotRatio, c.Guards.MaxUnblockRatio = 1.5, 2 }, []string{
			"guards.min_snapshot_ratio: 1.5: a share of the list, at most 1", "guards.max_unblock_ratio: 2: a share of the list, at most 1"}},
		{"guards ratios at 1 and off", func(c *Config) { c.Guards.MinSnapshotRatio, c.Guards.MaxUnblockRatio = 1, -1 }, nil},
		{"guards ratio_floor negative", func(c *Config) { c.Guards.RatioFloor = -1 }, []string{"guards.ratio_floor: must not be negative"}},
		{"guards ratio_floor zero", func(c *Config) { c.Guards.RatioFloor = 0 }, nil},
		{"source guards ratios above 1", func(c *Config) {
			s := source("national")
			s.Guards = SyncGuards{MaxBadRowRatio: 1.1, MinSnapshotRatio: 3, MaxUnblockRatio: 1.01}
			c.Sync.Sources = []SyncSource{s}
		}, []string{
			"sync.sources[0].guards.max_bad_row_ratio: 1.1: a share of the list, at most 1",
			"sync.sources[0].guards.min_snapshot_ratio: 3: a share",
			"sync.sources[0].guards.max_unblock_ratio: 1.01: a share"}},
		{"source guards ratio_floor negative", func(c *Config) {
			s := source("national")
			s.Guards.RatioFloor = -5
			c.Sync.Sources = []SyncSource{s}
		}, []string{"sync.sources[0].guards.ratio_floor: must not be negative"}},
		{"source guards turned off", func(c *Config) {
			s := source("national")
			s.Guards = SyncGuards{MaxBadRowRatio: -1, MinSnapshotRatio: -1, MaxUnblocks: -1, MaxUnblockRatio: -1, RatioFloor: 1}
			c.Sync.Sources = []SyncSource{s}
		}, nil},
		// limits
		{"limits max_ratio below 1", func(c *Config) {
			s := source("national")
			s.Limits.MaxRatio = 0.5
			c.Sync.Sources = []SyncSource{s}
		}, []string{"sync.sources[0].limits.max_ratio: 0.5: a compression ratio is at least 1"}},
		{"limits max_ratio off", func(c *Config) {
			s := source("national")
			s.Limits.MaxRatio = -1
			c.Sync.Sources = []SyncSource{s}
		}, nil},
		// sync sources
		{"source named manual", func(c *Config) { c.Sync.Sources = []SyncSource{source("manual")} }, []string{
			`sync.sources[0].name: "manual" is the source of the entries people add with eirctl; name the registry`}},
		{"sources named twice", func(c *Config) { c.Sync.Sources = []SyncSource{source("national"), source("national")} }, []string{
			`sync.sources[1].name: "national": another source has this name`}},
		{"lock_ttl", func(c *Config) { c.Sync.LockTTL = 0 }, []string{"sync.lock_ttl: must be > 0"}},
		// write rights
		{"sources on a read token", func(c *Config) {
			c.Admin.Tokens = []Token{{Name: "grafana", Token: "t", Role: "read", Sources: []string{"manual"}}}
		}, []string{"admin.tokens[0].sources: only for write tokens"}},
		{"sources of a write token", func(c *Config) {
			c.Admin.Tokens = []Token{{Name: "noc", Token: "t", Role: "write", Sources: []string{"manual", "*", "Bad Name"}}}
		}, []string{`admin.tokens[0].sources[2]: "Bad Name": want "*" or a source name`}},
		{"writer_sources", func(c *Config) { c.Admin.TLS.WriterSources = []string{"ceir", ""} }, []string{
			`admin.tls.writer_sources[1]: "": want "*" or a source name`}},
		// store
		{"max_stale negative", func(c *Config) { c.Store.MaxStale = -time.Second }, []string{"store.max_stale: must not be negative"}},
		{"max_stale zero", func(c *Config) { c.Store.MaxStale = 0 }, nil},
		{"overlay_max zero", func(c *Config) { c.Store.OverlayMax = 0 }, []string{"store.overlay_max: must be at least 1, got 0"}},
		{"overlay_max one", func(c *Config) { c.Store.OverlayMax = 1 }, nil},
		{"write_replicas negative", func(c *Config) { c.Store.WriteReplicas = -1 }, []string{"store.write_replicas: must not be negative, got -1"}},
		{"write_replicas without timeout", func(c *Config) { c.Store.WriteReplicas, c.Store.WriteReplicasTimeout = 1, 0 },
			[]string{"store.write_replicas_timeout: must be positive with store.write_replicas, got 0s"}},
		{"write_replicas_timeout negative", func(c *Config) { c.Store.WriteReplicasTimeout = -time.Second }, []string{"store.write_replicas_timeout: must not be negative"}},
		{"write_replicas two", func(c *Config) { c.Store.WriteReplicas = 2 }, nil},
		{"auto_restore without replica", func(c *Config) { c.Store.AutoRestore, c.Store.Replica = true, false }, []string{
			"store.auto_restore: restores the lists this eird holds: it needs store.replica"}},
		{"auto_restore with replica", func(c *Config) { c.Store.AutoRestore = true }, nil},
		{"snapshot_dir off", func(c *Config) { c.Store.SnapshotDir = "" }, nil},
		// diameter
		{"max_connections negative", func(c *Config) { c.Diameter.MaxConnections = -1 }, []string{
			"diameter.max_connections: must not be negative (0: no limit)"}},
		{"max_connections", func(c *Config) { c.Diameter.MaxConnections = 1000 }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.wants) == 0 {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			wantErr(t, err, tc.wants...)
			if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(tc.wants) {
				t.Errorf("got %d problems, want %d:\n%v", n, len(tc.wants), err)
			}
		})
	}
}

// wantProblems checks that err reports exactly the problems wants (none:
// no error).
func wantProblems(t *testing.T, err error, wants []string) {
	t.Helper()
	if len(wants) == 0 {
		if err != nil {
			t.Errorf("got %v, want no error", err)
		}
		return
	}
	wantErr(t, err, wants...)
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(wants) {
		t.Errorf("got %d problems, want %d:\n%v", n, len(wants), err)
	}
}
