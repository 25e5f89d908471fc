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
}

// Diameter configures the S13/S13' server.
type Diameter struct {
	Listen             string        `yaml:"listen"`                // host:port to listen on
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
	DuplicatePeer      string        `yaml:"duplicate_peer"`        // allow | reject a second connection from an open Origin-Host
	AllowAnyPeer       bool          `yaml:"allow_any_peer"`        // accept every peer (no allow-list)
	Peers              []Peer        `yaml:"peers"`                 // allow-list
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
	KeyPrefix       string        `yaml:"key_prefix"`       // prefix of every key; no '{' or '}'
	VersionGrace    time.Duration `yaml:"version_grace"`    // a replaced version stays readable this long
	JanitorInterval time.Duration `yaml:"janitor_interval"` // how often retired and abandoned versions are deleted
	BuildLease      time.Duration `yaml:"build_lease"`      // a version being built is abandoned after this long without progress
}

// Policy configures the answers no list decides.
type Policy struct {
	UnknownEquipment string `yaml:"unknown_equipment"` // unknown | whitelisted | greylisted | blacklisted
	OnStoreError     string `yaml:"on_store_error"`    // reject | whitelisted | greylisted | blacklisted
}

// Admin configures the HTTP admin listener used by eirctl, /metrics and the
// health endpoints.
type Admin struct {
	Listen       string  `yaml:"listen"`         // host:port; empty disables the admin listener
	Tokens       []Token `yaml:"tokens"`         // bearer tokens; empty: no authentication, loopback listen only
	MaxBodyBytes int64   `yaml:"max_body_bytes"` // largest accepted request body (CSV imports)
}

// Token is one admin API bearer token.
type Token struct {
	Name      string `yaml:"name"`       // who uses it; recorded as the actor
	Token     string `yaml:"token"`      // the secret
	TokenFile string `yaml:"token_file"` // file holding the secret, instead of token
	Role      string `yaml:"role"`       // read | write
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
