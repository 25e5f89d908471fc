// Package config loads and validates eird's configuration: one YAML file,
// every key overridable by an environment variable, strict decoding (unknown
// keys are errors) and a Validate that reports every problem under its key
// path. It is a leaf package: only cmd/ imports it, and it imports nothing
// from this module.
package config

import "time"

// Config is eird's whole configuration. The yaml tags are the key names; the
// environment variable of a key is EIR_ followed by its path in upper case
// with "." replaced by "_" (diameter.origin_host → EIR_DIAMETER_ORIGIN_HOST).
type Config struct {
	Diameter  Diameter  `yaml:"diameter"`
	Redis     Redis     `yaml:"redis"`
	Store     Store     `yaml:"store"`
	Policy    Policy    `yaml:"policy"`
	Admin     Admin     `yaml:"admin"`
	Log       Log       `yaml:"log"`
	Bootstrap Bootstrap `yaml:"bootstrap"`
	Sync      Sync      `yaml:"sync"`
	N5g       N5g       `yaml:"n5g"`
	NRF       NRF       `yaml:"nrf"`
	Audit     Audit     `yaml:"audit"`
	Events    Events    `yaml:"events"`
	Guards    Guards    `yaml:"guards"`
	Export    Export    `yaml:"export"`
	Observe   Observe   `yaml:"observe"`
}

// Diameter configures the S13/S13' server.
type Diameter struct {
	Listen             string        `yaml:"listen"`                // host:port of the cleartext listener; empty: none (TLS only, with diameter.tls)
	Transport          string        `yaml:"transport"`             // tcp | sctp
	OriginHost         string        `yaml:"origin_host"`           // our DiameterIdentity
	OriginRealm        string        `yaml:"origin_realm"`          // our realm
	HostIPAddresses    []string      `yaml:"host_ip_addresses"`     // Host-IP-Address in CEA; empty: the connection's local address
	VendorID           uint32        `yaml:"vendor_id"`             // Vendor-Id in CEA
	ProductName        string        `yaml:"product_name"`          // Product-Name in CEA
	WatchdogInterval   time.Duration `yaml:"watchdog_interval"`     // Tw: send DWR after this much silence, close after 2×Tw
	CERTimeout         time.Duration `yaml:"cer_timeout"`           // close a connection that sends no CER within this time
	RequestTimeout     time.Duration `yaml:"request_timeout"`       // deadline for answering one request
	WriteTimeout       time.Duration `yaml:"write_timeout"`         // deadline for one socket write
	DisconnectTimeout  time.Duration `yaml:"disconnect_timeout"`    // wait for DPA and in-flight answers at shutdown
	MaxMessageSize     int           `yaml:"max_message_size"`      // larger messages are answered 5015 and the connection closed
	MaxInflightPerPeer int           `yaml:"max_inflight_per_peer"` // concurrent requests per connection; reading pauses beyond
	MaxConnections     int           `yaml:"max_connections"`       // connections open at once (any state); beyond, new ones are closed at accept; 0: no limit
	DuplicatePeer      string        `yaml:"duplicate_peer"`        // allow | reject a second connection from an open Origin-Host
	AllowAnyPeer       bool          `yaml:"allow_any_peer"`        // accept every peer (no allow-list)
	Peers              []Peer        `yaml:"peers"`                 // allow-list
	TLS                DiameterTLS   `yaml:"tls"`
}

// DiameterTLS opens a second listener, Diameter over TLS/TCP (RFC 6733
// §13.1): TLS from the first byte, mutual certificates, the peer's
// certificate naming the Origin-Host of its CER.
type DiameterTLS struct {
	Listen       string `yaml:"listen"`         // host:port of the TLS/TCP listener (RFC 6733: port 5658), opened when cert_file is set
	CertFile     string `yaml:"cert_file"`      // PEM certificate (chain) of this node, naming diameter.origin_host; set with key_file and client_ca_file to open the TLS listener; re-read on reload
	KeyFile      string `yaml:"key_file"`       // PEM private key; re-read on reload
	ClientCAFile string `yaml:"client_ca_file"` // PEM CAs a peer's certificate must chain to (required with cert_file); re-read on reload
	MinVersion   string `yaml:"min_version"`    // lowest TLS version accepted: 1.2 | 1.3
}

// Peer is one allow-list entry. A CER is accepted when every set field of
// some entry matches.
type Peer struct {
	OriginHost  string   `yaml:"origin_host"`  // shell pattern (path.Match, case-insensitive), e.g. "mme*.epc.example.org"
	OriginRealm string   `yaml:"origin_realm"` // shell pattern; empty matches any realm
	Addresses   []string `yaml:"addresses"`    // IP addresses or CIDR prefixes of the transport peer; empty matches any
}

// Redis configures the list store connection.
type Redis struct {
	Mode             string        `yaml:"mode"`              // standalone | sentinel | cluster
	Addresses        []string      `yaml:"addresses"`         // host:port of the server, the sentinels or cluster seed nodes
	MasterName       string        `yaml:"master_name"`       // sentinel mode: the monitored master's name
	Username         string        `yaml:"username"`          // ACL user
	Password         string        `yaml:"password"`          // ACL password (secret)
	PasswordFile     string        `yaml:"password_file"`     // file holding the password, instead of password
	SentinelPassword string        `yaml:"sentinel_password"` // sentinel mode: password of the sentinels (secret)
	DB               int           `yaml:"db"`                // database number (standalone and sentinel)
	DialTimeout      time.Duration `yaml:"dial_timeout"`
	ReadTimeout      time.Duration `yaml:"read_timeout"`
	WriteTimeout     time.Duration `yaml:"write_timeout"`
	PoolSize         int           `yaml:"pool_size"` // connections per node
	TLS              TLS           `yaml:"tls"`
}

// TLS configures a TLS client connection.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Store configures the Redis key layout and version housekeeping.
type Store struct {
	KeyPrefix            string        `yaml:"key_prefix"`             // prefix of every key; no '{' or '}'
	VersionGrace         time.Duration `yaml:"version_grace"`          // a replaced version stays readable this long
	JanitorInterval      time.Duration `yaml:"janitor_interval"`       // how often retired and abandoned versions are deleted
	BuildLease           time.Duration `yaml:"build_lease"`            // a version being built is abandoned after this long without progress
	ExpirySweep          time.Duration `yaml:"expiry_sweep"`           // how often expired entries are removed and audited (checks ignore them from their expiry on)
	Replica              bool          `yaml:"replica"`                // answer checks from an in-process copy of the lists in force (no Redis round trip per check)
	ReplicaRefresh       time.Duration `yaml:"replica_refresh"`        // how often the replica reads the epoch: a switch made elsewhere reaches checks within this plus one round trip
	ReplicaMax           int64         `yaml:"replica_max_entries"`    // datasets beyond this many entries in all are read from Redis (about 8 bytes per IMEI in memory: 1.6 GB at the default)
	ReplicaFilter        bool          `yaml:"replica_filter"`         // hold each dataset beyond store.replica_max_entries as a Bloom filter (about 1.2 bytes per IMEI, 1 % false positives): its checks read Redis only for the IMEIs it may hold
	MaxStale             time.Duration `yaml:"max_stale"`              // while Redis is unreachable, checks are answered from the lists held for this long after they were last confirmed, then follow policy.on_store_error; 0: only while Redis confirms them
	SnapshotDir          string        `yaml:"snapshot_dir"`           // checksummed local copy of the lists in force, written after each switch and read at start (answers from the first check even when Redis is down, empty or older); empty: none
	AutoRestore          bool          `yaml:"auto_restore"`           // when Redis no longer holds the lists in force (emptied, rolled back), write them back at once, under the guards, instead of waiting for eirctl store restore
	OverlayMax           int           `yaml:"overlay_max"`            // changed entries kept in a dataset's overlay before the janitor folds them into a new version: an edit costs an edit, not a copy of the dataset
	WriteReplicas        int           `yaml:"write_replicas"`         // a write (edit, import, sync switch, restore) is acknowledged only once this many Redis replicas have it (WAIT); fewer within write_replicas_timeout fails it with 503; 0: once the master has it
	WriteReplicasTimeout time.Duration `yaml:"write_replicas_timeout"` // how long a write waits for store.write_replicas replicas
}

// Policy configures the answers no list decides.
type Policy struct {
	UnknownEquipment string   `yaml:"unknown_equipment"` // unknown | whitelisted | greylisted | blacklisted
	OnStoreError     string   `yaml:"on_store_error"`    // reject | whitelisted | greylisted | blacklisted
	ShadowAll        bool     `yaml:"shadow_all"`        // shadow mode for every verdict: computed, logged, counted and published, never enforced (answers WHITELISTED)
	ShadowSources    []string `yaml:"shadow_sources"`    // sources whose verdicts are observed only; the others are enforced
}

// Admin configures the HTTP admin listener used by eirctl, /metrics and the
// health endpoints.
type Admin struct {
	Listen       string   `yaml:"listen"`         // host:port; empty disables the admin listener
	Tokens       []Token  `yaml:"tokens"`         // bearer tokens; empty: no authentication, loopback listen only
	MaxBodyBytes int64    `yaml:"max_body_bytes"` // largest accepted request body (CSV imports)
	Pprof        bool     `yaml:"pprof"`          // serve the Go profiler under /debug/pprof/ (read role)
	TLS          AdminTLS `yaml:"tls"`
}

// AdminTLS serves the admin API over HTTPS, optionally authenticating
// clients by certificate.
type AdminTLS struct {
	CertFile      string   `yaml:"cert_file"`      // PEM server certificate; set with key_file to serve HTTPS
	KeyFile       string   `yaml:"key_file"`       // PEM server private key
	ClientCAFile  string   `yaml:"client_ca_file"` // PEM CAs of client certificates; empty: no client certificates
	Writers       []string `yaml:"writers"`        // subject common names of client certificates that may write
	Readers       []string `yaml:"readers"`        // subject common names of client certificates that may only read
	WriterSources []string `yaml:"writer_sources"` // sources certificate writers may write; empty: manual; "*": any but the sync sources, which must be named
}

// Token is one admin API bearer token.
type Token struct {
	Name      string   `yaml:"name"`       // who uses it; recorded as the actor
	Token     string   `yaml:"token"`      // the secret
	TokenFile string   `yaml:"token_file"` // file holding the secret, instead of token
	Role      string   `yaml:"role"`       // read | write
	Sources   []string `yaml:"sources"`    // sources a write token may write; empty: manual; "*": any but the sync sources, which must be named
}

// Log configures logging.
type Log struct {
	Level           string `yaml:"level"`             // debug | info | warn | error
	Format          string `yaml:"format"`            // json | console
	IdentityHashKey string `yaml:"identity_hash_key"` // key of the hash that stands for IMEIs/IMSIs in logs; empty: random per process (secret)
}

// Bootstrap loads list files at start-up into an empty store (the demo lists
// of `make run`).
type Bootstrap struct {
	Files []string `yaml:"files"` // CSV files in the eirctl import format; loaded only when the store has no dataset yet
}

// N5g configures the 5G-EIR's N5g-eir service (TS 29.511) over HTTP/2.
type N5g struct {
	Listen         string        `yaml:"listen"`          // host:port of the N5g-eir listener; empty disables it
	APIPrefix      string        `yaml:"api_prefix"`      // deployment-specific path before /n5g-eir-eic/v1 (TS 29.501 apiRoot), e.g. /eir
	RequestTimeout time.Duration `yaml:"request_timeout"` // deadline of a check that must read Redis
	MaxInflight    int           `yaml:"max_inflight"`    // requests answered at once; beyond, 503 NF_CONGESTION
	TLS            N5gTLS        `yaml:"tls"`
	OAuth          OAuth         `yaml:"oauth"`
}

// OAuth requires an OAuth2 access token (TS 29.510 §6.3, TS 33.501
// §13.4.1) on every N5g-eir request.
type OAuth struct {
	Enabled  bool          `yaml:"enabled"`  // require a bearer token signed by the NRF (401 without, 403 without the scope)
	KeyFile  string        `yaml:"key_file"` // the NRF's public key(s): PEM (key or certificate) or JWKS; re-read on reload
	Audience []string      `yaml:"audience"` // accepted aud values (nrf.instance_id is added when set)
	Scope    string        `yaml:"scope"`    // the scope the token must grant
	Issuer   string        `yaml:"issuer"`   // required iss (the NRF's nfInstanceId); empty: any
	Leeway   time.Duration `yaml:"leeway"`   // clock skew allowed on exp, nbf and iat
}

// N5gTLS serves N5g-eir over TLS (HTTP/2 with ALPN h2) instead of h2c.
type N5gTLS struct {
	CertFile     string `yaml:"cert_file"`      // PEM server certificate; set with key_file to serve https (h2); empty: http (h2c, prior knowledge)
	KeyFile      string `yaml:"key_file"`       // PEM server private key
	ClientCAFile string `yaml:"client_ca_file"` // PEM CAs of client certificates: mutual TLS (TS 33.501 §13.1), every client must present one
}

// NRF registers the N5g-eir service with the NRF (TS 29.510): NF type
// 5G_EIR, service n5g-eir-eic.
type NRF struct {
	APIRoot        string        `yaml:"api_root"`         // the NRF's apiRoot, e.g. http://nrf.5gc:8000 (h2c) or https://nrf.5gc (h2); empty: no registration
	InstanceID     string        `yaml:"instance_id"`      // our nfInstanceId, a UUID v4 (e.g. from /proc/sys/kernel/random/uuid); required with api_root
	FQDN           string        `yaml:"fqdn"`             // FQDN of our N5g-eir service in the profile
	IPv4Addresses  []string      `yaml:"ipv4_addresses"`   // IPv4 addresses in the profile; default: n5g.listen's when it is one
	IPv6Addresses  []string      `yaml:"ipv6_addresses"`   // IPv6 addresses in the profile
	Port           int           `yaml:"port"`             // port in the profile; 0: n5g.listen's (set it behind NAT or a load balancer)
	AllowedNFTypes []string      `yaml:"allowed_nf_types"` // NF types allowed to use the service, e.g. [AMF]; empty: any
	Heartbeat      time.Duration `yaml:"heartbeat"`        // heartBeatTimer proposed; the NRF's answer decides
	Timeout        time.Duration `yaml:"timeout"`          // per request to the NRF
	TLS            NRFTLS        `yaml:"tls"`
}

// NRFTLS configures HTTPS towards the NRF.
type NRFTLS struct {
	CAFile   string `yaml:"ca_file"`   // PEM CAs to verify the NRF with; empty: the system roots
	CertFile string `yaml:"cert_file"` // PEM client certificate (mutual TLS), with key_file
	KeyFile  string `yaml:"key_file"`  // PEM client private key
}

// Audit bounds the audit trail of list changes (a Redis stream).
type Audit struct {
	MaxRecords int64         `yaml:"max_records"` // about this many records are kept
	MaxAge     time.Duration `yaml:"max_age"`     // older records are deleted; 0: kept until max_records
}

// Events configures hit events: one per BLACKLISTED or GREYLISTED answer
// (and shadow verdict), kept in a Redis stream and optionally posted to a
// webhook.
type Events struct {
	Enabled        bool    `yaml:"enabled"`         // publish hit events
	IncludeUnknown bool    `yaml:"include_unknown"` // also publish unknown-equipment answers
	StreamMaxLen   int64   `yaml:"stream_max_len"`  // about this many events are kept in the stream
	QueueSize      int     `yaml:"queue_size"`      // events waiting to be written; beyond, events are dropped and counted, never delaying an answer
	Webhook        Webhook `yaml:"webhook"`
}

// Webhook posts batches of hit events as a JSON array.
type Webhook struct {
	URL             string        `yaml:"url"`               // http(s) URL; empty: no webhook
	BearerToken     string        `yaml:"bearer_token"`      // Authorization: Bearer token (secret)
	BearerTokenFile string        `yaml:"bearer_token_file"` // file holding the bearer token, instead of bearer_token
	Timeout         time.Duration `yaml:"timeout"`           // timeout of one post
	Retries         int           `yaml:"retries"`           // retries of a failed post (then the batch is dropped and counted)
}

// Sync configures registry sync: the sources eird pulls list files from.
type Sync struct {
	LockTTL time.Duration `yaml:"lock_ttl"` // a pass holds its source's lock this long, renewed while it runs
	Sources []SyncSource  `yaml:"sources"`  // registry sources; empty: no sync
}

// SyncSource is one registry source.
type SyncSource struct {
	Name            string        `yaml:"name"`            // the list source the entries belong to ([a-z0-9_-])
	Format          string        `yaml:"format"`          // dirbs | lsds | stolen | tac | ranges
	Operator        string        `yaml:"operator"`        // dirbs: the operator whose exceptions and notifications apply here
	Interval        time.Duration `yaml:"interval"`        // time between passes; 0: 5m
	Dir             string        `yaml:"dir"`             // drop directory (an SFTP landing folder); done/, rejected/, held/ are created inside
	Settle          time.Duration `yaml:"settle"`          // a file must be unmodified this long before it is read; 0: 5s
	IncompleteWait  time.Duration `yaml:"incomplete_wait"` // how long a loose DIRBS delta set may wait for its other files; 0: 10m
	HTTPS           SyncHTTPS     `yaml:"https"`
	Guards          SyncGuards    `yaml:"guards"`
	Limits          SyncLimits    `yaml:"limits"`
	RequireChecksum bool          `yaml:"require_checksum"` // apply a file only with a .sha256/.md5 sidecar or a manifest sha256 to verify; without one it waits incomplete_wait, then is rejected
}

// SyncHTTPS pulls a source's files over HTTPS.
type SyncHTTPS struct {
	URLs            []string      `yaml:"urls"`              // files to pull (conditional GET with ETag/If-Modified-Since); empty: no pull
	SpoolDir        string        `yaml:"spool_dir"`         // where pulled files land (then handled like a drop directory)
	BearerToken     string        `yaml:"bearer_token"`      // Authorization: Bearer token (secret)
	BearerTokenFile string        `yaml:"bearer_token_file"` // file holding the bearer token, instead of bearer_token
	Timeout         time.Duration `yaml:"timeout"`           // timeout of one download attempt; 0: 60s
	Retries         int           `yaml:"retries"`           // retries after network errors, 5xx and 429; 0: 3; -1: none
	Backoff         time.Duration `yaml:"backoff"`           // first retry delay, doubled each time; 0: 1s
	CAFile          string        `yaml:"ca_file"`           // PEM CA certificates to verify the registry with; empty: the system roots
	CertFile        string        `yaml:"cert_file"`         // PEM client certificate (mTLS), with key_file
	KeyFile         string        `yaml:"key_file"`          // PEM client private key, with cert_file
	ServerName      string        `yaml:"server_name"`       // name to verify the registry's certificate against; empty: the URL's host
}

// SyncGuards bound what one file may change before an operator approves it.
// Each zero value takes the value of the top-level guards section.
type SyncGuards struct {
	MaxBadRowRatio   float64 `yaml:"max_bad_row_ratio"`  // reject a file with more invalid rows than this share (they are quarantined below it); 0: 0.05; negative: reject on any
	MinSnapshotRatio float64 `yaml:"min_snapshot_ratio"` // hold a file that leaves a list smaller than this share of the list in force; 0: guards.min_snapshot_ratio; negative: no check
	MaxUnblocks      int     `yaml:"max_unblocks"`       // hold a file that unblocks more entries (by content, any path); 0: guards.max_unblocks; negative: no limit
	MaxUnblockRatio  float64 `yaml:"max_unblock_ratio"`  // hold a file that unblocks more than this share of the list in force; 0: guards.max_unblock_ratio; negative: no check
	RatioFloor       int     `yaml:"ratio_floor"`        // the ratio checks ignore changes of fewer entries; 0: guards.ratio_floor
	Strict           bool    `yaml:"strict"`             // reject a delta that adds a present or removes an absent entry (default: count them as no-ops)
}

// SyncLimits bound a file before and while it is read (a zip bomb, a file
// of a billion rows). Zero takes the default; negative: no limit.
type SyncLimits struct {
	MaxFileBytes         int64   `yaml:"max_file_bytes"`         // largest file or package accepted as received; 0: 4 GiB
	MaxUncompressedBytes int64   `yaml:"max_uncompressed_bytes"` // bytes read from a unit (a file, a package's members, a loose delta set), enforced while reading; 0: 16 GiB
	MaxRatio             float64 `yaml:"max_ratio"`              // largest uncompressed/compressed size of a zip member; 0: 100
	MaxRows              int     `yaml:"max_rows"`               // rows of one list (a file, or a delta set's files together); 0: 200000000
}

// Guards are the limits on what a change may unblock or shrink without an
// operator's approval: the defaults of every sync source, and the limits
// of replacing imports and of store restore and accept. They compare the
// list that would be in force with the list in force by content.
type Guards struct {
	MinSnapshotRatio float64 `yaml:"min_snapshot_ratio"` // hold a change that leaves a list smaller than this share of the list in force; negative: no check
	MaxUnblocks      int     `yaml:"max_unblocks"`       // hold a change that unblocks more entries (removals from black or grey lists, additions to exceptions and overrides); negative: no limit
	MaxUnblockRatio  float64 `yaml:"max_unblock_ratio"`  // hold a change that unblocks more than this share of the list in force; negative: no check
	RatioFloor       int     `yaml:"ratio_floor"`        // the ratio checks ignore changes of fewer entries than this (small lists' daily changes)
}

// Observe configures observations: the IMEI–IMSI pairs seen in the checks
// answered on S13 and N5g-eir, recorded off the answer path (eir/sighting),
// the device-change events and the duplicate-IMEI detection.
type Observe struct {
	Enabled            bool          `yaml:"enabled"`               // record the checks answered with an IMSI, off the answer path
	Retention          time.Duration `yaml:"retention"`             // a pair is forgotten this long after it was last seen (a Go duration: 4320h is 180 days); at least 24h
	Interfaces         []string      `yaml:"interfaces"`            // the interfaces observed: s13, n5g
	Sample             float64       `yaml:"sample"`                // share of the checks observed, above 0 and at most 1; 1: every check
	MinInterval        time.Duration `yaml:"min_interval"`          // a pair written with the same day, peer and answer less than this ago is not written again; 0: 60s
	MaxPairs           int           `yaml:"max_pairs"`             // IMSIs kept per IMEI, and IMEIs per IMSI in the subscriber index, the one seen longest ago evicted; at least 2
	MaxWritesPerSecond float64       `yaml:"max_writes_per_second"` // observations written to Redis per second at most, so that observing never takes more of the Redis serving the lists than this: beyond it the queue fills and observations are dropped (counted); 0: no bound
	Buckets            int           `yaml:"buckets"`               // hashes each observation index is spread over, a power of two: about observed pairs / 64 keeps every hash in Redis's compact encoding (65536 suits up to about 4 million pairs; 262144 for 16 million); changing it leaves what was recorded unread until it expires
	DedupeEntries      int           `yaml:"dedupe_entries"`        // subscribers whose last observation this eird remembers, so that a check of the same pair within observe.min_interval writes nothing (about 100 bytes each); at least 1000
	DayOffset          time.Duration `yaml:"day_offset"`            // offset from UTC of the zone whose days are counted, whole seconds within ±14h
	QueueSize          int           `yaml:"queue_size"`            // observations waiting to be written; beyond, they are dropped and counted, never delaying an answer
	Rules              ObserveRules  `yaml:"rules"`
	Detect             ObserveDetect `yaml:"detect"`
	Events             ObserveEvents `yaml:"events"`
}

// ObserveRules are the duplicate-IMEI rules (DIRBS duplicate_threshold and
// duplicate_daily_avg, and concurrent use); 0 turns a rule off.
type ObserveRules struct {
	DuplicatePeriodDays int           `yaml:"duplicate_period_days"` // the window of the duplicate rules: today and the days before, 1 to 64
	DuplicateThreshold  int           `yaml:"duplicate_threshold"`   // distinct IMSIs with one IMEI within the period that make it a duplicate; 0: off
	DailyAvgThreshold   float64       `yaml:"daily_avg_threshold"`   // average distinct IMSIs per day the IMEI was seen on within the period; 0: off
	MinSeenDays         int           `yaml:"min_seen_days"`         // the daily average applies to IMEIs seen on at least this many days of the period
	ConcurrentWindow    time.Duration `yaml:"concurrent_window"`     // one IMEI with two IMSIs at two MMEs/AMFs within this window; 0: off
}

// ObserveDetect is what a detection does to the IMEI.
type ObserveDetect struct {
	List    string `yaml:"list"`    // grey | black: a detected IMEI is put on dataset detected/imei/<list>
	Enforce bool   `yaml:"enforce"` // enforce source detected; false: it is passive (computed, logged and evented, never changes an answer: an IMEI on no other list stays unknown)
}

// ObserveEvents limits the device-change events.
type ObserveEvents struct {
	PerIMSIInterval time.Duration `yaml:"per_imsi_interval"` // at most one device-change event per IMSI within this interval; 0: no limit
}
