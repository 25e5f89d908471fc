package config

import (
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Key describes one configuration key, for `eird -print-keys` and the README.
type Key struct {
	// Path is the key path, e.g. "diameter.origin_host". The fields of the
	// elements of a list of mappings appear with "[]" after the list, e.g.
	// "diameter.peers[].origin_host".
	Path string
	// Env is the environment variable overriding the key, e.g.
	// "EIR_DIAMETER_ORIGIN_HOST"; empty for the fields of list elements,
	// which are set with their whole list.
	Env string
	// Default is the default value as YAML: `30s`, `""`, `[]`,
	// `["127.0.0.1:6379"]`.
	Default string
	// Doc says what the key does.
	Doc string
}

// Keys lists every key of Config in declaration order, with its environment
// variable, default and documentation.
func Keys() []Key {
	var keys []Key
	eachLeaf(reflect.ValueOf(Default()), "", func(path string, v reflect.Value) {
		keys = append(keys, Key{Path: path, Env: envName(path), Default: render(v), Doc: docs[path]})
		if isStructList(v.Type()) {
			eachLeaf(reflect.New(v.Type().Elem()).Elem(), path+"[]", func(path string, v reflect.Value) {
				keys = append(keys, Key{Path: path, Default: render(v), Doc: docs[path]})
			})
		}
	})
	return keys
}

// docs documents every key (the trailing comments of config.go, where there
// are any; a test keeps the two in step). Read-only.
var docs = map[string]string{
	"diameter.listen":                "host:port of the cleartext listener; empty: none (TLS only, with diameter.tls)",
	"diameter.transport":             "tcp | sctp",
	"diameter.origin_host":           "our DiameterIdentity",
	"diameter.origin_realm":          "our realm",
	"diameter.host_ip_addresses":     "Host-IP-Address in CEA; empty: the connection's local address",
	"diameter.vendor_id":             "Vendor-Id in CEA",
	"diameter.product_name":          "Product-Name in CEA",
	"diameter.watchdog_interval":     "Tw: send DWR after this much silence, close after 2×Tw",
	"diameter.cer_timeout":           "close a connection that sends no CER within this time",
	"diameter.request_timeout":       "deadline for answering one request",
	"diameter.write_timeout":         "deadline for one socket write",
	"diameter.disconnect_timeout":    "wait for DPA and in-flight answers at shutdown",
	"diameter.max_message_size":      "larger messages are answered 5015 and the connection closed",
	"diameter.max_inflight_per_peer": "concurrent requests per connection; reading pauses beyond",
	"diameter.duplicate_peer":        "allow | reject a second connection from an open Origin-Host",
	"diameter.allow_any_peer":        "accept every peer (no allow-list)",
	"diameter.peers":                 "allow-list",
	"diameter.peers[].origin_host":   `shell pattern (path.Match, case-insensitive), e.g. "mme*.epc.example.org"`,
	"diameter.peers[].origin_realm":  "shell pattern; empty matches any realm",
	"diameter.peers[].addresses":     "IP addresses or CIDR prefixes of the transport peer; empty matches any",
	"diameter.tls.listen":            "host:port of the TLS/TCP listener (RFC 6733: port 5658), opened when cert_file is set",
	"diameter.tls.cert_file":         "PEM certificate (chain) of this node, naming diameter.origin_host; set with key_file and client_ca_file to open the TLS listener; re-read on reload",
	"diameter.tls.key_file":          "PEM private key; re-read on reload",
	"diameter.tls.client_ca_file":    "PEM CAs a peer's certificate must chain to (required with cert_file); re-read on reload",
	"diameter.tls.min_version":       "lowest TLS version accepted: 1.2 | 1.3",

	"redis.mode":                     "standalone | sentinel | cluster",
	"redis.addresses":                "host:port of the server, the sentinels or cluster seed nodes",
	"redis.master_name":              "sentinel mode: the monitored master's name",
	"redis.username":                 "ACL user",
	"redis.password":                 "ACL password (secret)",
	"redis.password_file":            "file holding the password, instead of password",
	"redis.sentinel_password":        "sentinel mode: password of the sentinels (secret)",
	"redis.db":                       "database number (standalone and sentinel)",
	"redis.dial_timeout":             "timeout for establishing a connection",
	"redis.read_timeout":             "timeout for reading one reply",
	"redis.write_timeout":            "timeout for writing one command",
	"redis.pool_size":                "connections per node",
	"redis.tls.enabled":              "connect with TLS",
	"redis.tls.ca_file":              "PEM CA certificates to verify the server with; empty: the system roots",
	"redis.tls.cert_file":            "PEM client certificate, with key_file",
	"redis.tls.key_file":             "PEM client private key, with cert_file",
	"redis.tls.server_name":          "name to verify the server certificate against; empty: the host of the address",
	"redis.tls.insecure_skip_verify": "do not verify the server certificate (testing only)",

	"store.key_prefix":          "prefix of every key; no '{' or '}'",
	"store.version_grace":       "a replaced version stays readable this long",
	"store.janitor_interval":    "how often retired and abandoned versions are deleted",
	"store.build_lease":         "a version being built is abandoned after this long without progress",
	"store.expiry_sweep":        "how often expired entries are removed and audited (checks ignore them from their expiry on)",
	"store.replica":             "answer checks from an in-process copy of the lists in force (no Redis round trip per check)",
	"store.replica_refresh":     "how often the replica reads the epoch: a switch made elsewhere reaches checks within this plus one round trip",
	"store.replica_max_entries": "datasets beyond this many entries in all are read from Redis (about 8 bytes per IMEI in memory: 1.6 GB at the default)",
	"store.replica_filter":      "hold each dataset beyond store.replica_max_entries as a Bloom filter (about 1.2 bytes per IMEI, 1 % false positives): its checks read Redis only for the IMEIs it may hold",

	"policy.unknown_equipment": "unknown | whitelisted | greylisted | blacklisted",
	"policy.on_store_error":    "reject | whitelisted | greylisted | blacklisted",
	"policy.shadow_all":        "shadow mode for every verdict: computed, logged, counted and published, never enforced (answers WHITELISTED)",
	"policy.shadow_sources":    "sources whose verdicts are observed only; the others are enforced",

	"admin.listen":                     "host:port; empty disables the admin listener",
	"admin.tokens":                     "bearer tokens; empty: no authentication, loopback listen only",
	"admin.tokens[].name":              "who uses it; recorded as the actor",
	"admin.tokens[].token":             "the secret",
	"admin.tokens[].token_file":        "file holding the secret, instead of token",
	"admin.tokens[].role":              "read | write",
	"admin.max_body_bytes":             "largest accepted request body (CSV imports)",
	"admin.pprof":                      "serve the Go profiler under /debug/pprof/ (read role)",
	"admin.tls.cert_file":              "PEM server certificate; set with key_file to serve HTTPS",
	"admin.tls.key_file":               "PEM server private key",
	"admin.tls.client_ca_file":         "PEM CAs of client certificates; empty: no client certificates",
	"admin.tls.writers":                "subject common names of client certificates that may write",
	"admin.tls.readers":                "subject common names of client certificates that may only read",
	"n5g.listen":                       "host:port of the N5g-eir listener; empty disables it",
	"n5g.api_prefix":                   "deployment-specific path before /n5g-eir-eic/v1 (TS 29.501 apiRoot), e.g. /eir",
	"n5g.request_timeout":              "deadline of a check that must read Redis",
	"n5g.max_inflight":                 "requests answered at once; beyond, 503 NF_CONGESTION",
	"n5g.tls.cert_file":                "PEM server certificate; set with key_file to serve https (h2); empty: http (h2c, prior knowledge)",
	"n5g.tls.key_file":                 "PEM server private key",
	"n5g.tls.client_ca_file":           "PEM CAs of client certificates: mutual TLS (TS 33.501 §13.1), every client must present one",
	"n5g.oauth.enabled":                "require a bearer token signed by the NRF (401 without, 403 without the scope)",
	"n5g.oauth.key_file":               "the NRF's public key(s): PEM (key or certificate) or JWKS; re-read on reload",
	"n5g.oauth.audience":               "accepted aud values (nrf.instance_id is added when set)",
	"n5g.oauth.scope":                  "the scope the token must grant",
	"n5g.oauth.issuer":                 "required iss (the NRF's nfInstanceId); empty: any",
	"n5g.oauth.leeway":                 "clock skew allowed on exp, nbf and iat",
	"nrf.api_root":                     "the NRF's apiRoot, e.g. http://nrf.5gc:8000 (h2c) or https://nrf.5gc (h2); empty: no registration",
	"nrf.instance_id":                  "our nfInstanceId, a UUID v4 (e.g. from /proc/sys/kernel/random/uuid); required with api_root",
	"nrf.fqdn":                         "FQDN of our N5g-eir service in the profile",
	"nrf.ipv4_addresses":               "IPv4 addresses in the profile; default: n5g.listen's when it is one",
	"nrf.ipv6_addresses":               "IPv6 addresses in the profile",
	"nrf.port":                         "port in the profile; 0: n5g.listen's (set it behind NAT or a load balancer)",
	"nrf.allowed_nf_types":             "NF types allowed to use the service, e.g. [AMF]; empty: any",
	"nrf.heartbeat":                    "heartBeatTimer proposed; the NRF's answer decides",
	"nrf.timeout":                      "per request to the NRF",
	"nrf.tls.ca_file":                  "PEM CAs to verify the NRF with; empty: the system roots",
	"nrf.tls.cert_file":                "PEM client certificate (mutual TLS), with key_file",
	"nrf.tls.key_file":                 "PEM client private key",
	"audit.max_records":                "about this many records are kept",
	"audit.max_age":                    "older records are deleted; 0: kept until max_records",
	"events.enabled":                   "publish hit events",
	"events.include_unknown":           "also publish unknown-equipment answers",
	"events.stream_max_len":            "about this many events are kept in the stream",
	"events.queue_size":                "events waiting to be written; beyond, events are dropped and counted, never delaying an answer",
	"events.webhook.url":               "http(s) URL; empty: no webhook",
	"events.webhook.bearer_token":      "Authorization: Bearer token (secret)",
	"events.webhook.bearer_token_file": "file holding the bearer token, instead of bearer_token",
	"events.webhook.timeout":           "timeout of one post",
	"events.webhook.retries":           "retries of a failed post (then the batch is dropped and counted)",

	"log.level":             "debug | info | warn | error",
	"log.format":            "json | console",
	"log.identity_hash_key": "key of the hash that stands for IMEIs/IMSIs in logs; empty: random per process (secret)",

	"bootstrap.files": "CSV files in the eirctl import format; loaded only when the store has no dataset yet",

	"sync.lock_ttl":                                "a pass holds its source's lock this long, renewed while it runs",
	"sync.sources":                                 "registry sources; empty: no sync",
	"sync.sources[].name":                          "the list source the entries belong to ([a-z0-9_-])",
	"sync.sources[].format":                        "dirbs | lsds | stolen | tac | ranges",
	"sync.sources[].operator":                      "dirbs: the operator whose exceptions and notifications apply here",
	"sync.sources[].interval":                      "time between passes; 0: 5m",
	"sync.sources[].dir":                           "drop directory (an SFTP landing folder); done/, rejected/, held/ are created inside",
	"sync.sources[].settle":                        "a file must be unmodified this long before it is read; 0: 5s",
	"sync.sources[].incomplete_wait":               "how long a loose DIRBS delta set may wait for its other files; 0: 10m",
	"sync.sources[].https.urls":                    "files to pull (conditional GET with ETag/If-Modified-Since); empty: no pull",
	"sync.sources[].https.spool_dir":               "where pulled files land (then handled like a drop directory)",
	"sync.sources[].https.bearer_token":            "Authorization: Bearer token (secret)",
	"sync.sources[].https.bearer_token_file":       "file holding the bearer token, instead of bearer_token",
	"sync.sources[].https.timeout":                 "timeout of one download attempt; 0: 60s",
	"sync.sources[].https.retries":                 "retries after network errors, 5xx and 429; 0: 3; -1: none",
	"sync.sources[].https.backoff":                 "first retry delay, doubled each time; 0: 1s",
	"sync.sources[].https.ca_file":                 "PEM CA certificates to verify the registry with; empty: the system roots",
	"sync.sources[].https.cert_file":               "PEM client certificate (mTLS), with key_file",
	"sync.sources[].https.key_file":                "PEM client private key, with cert_file",
	"sync.sources[].https.server_name":             "name to verify the registry's certificate against; empty: the URL's host",
	"sync.sources[].guards.max_bad_row_ratio":      "reject a file with more invalid rows than this share (they are quarantined below it); 0: 0.05; negative: reject on any",
	"sync.sources[].guards.min_snapshot_ratio":     "hold a file that leaves a list smaller than this share of the list in force; 0: guards.min_snapshot_ratio; negative: no check",
	"sync.sources[].guards.strict":                 "reject a delta that adds a present or removes an absent entry (default: count them as no-ops)",
	"diameter.max_connections":                     "connections open at once (any state); beyond, new ones are closed at accept; 0: no limit",
	"store.max_stale":                              "while Redis is unreachable, checks are answered from the lists held for this long after they were last confirmed, then follow policy.on_store_error; 0: only while Redis confirms them",
	"store.snapshot_dir":                           "checksummed local copy of the lists in force, written after each switch and read at start (answers from the first check even when Redis is down, empty or older); empty: none",
	"store.auto_restore":                           "when Redis no longer holds the lists in force (emptied, rolled back), write them back at once, under the guards, instead of waiting for eirctl store restore",
	"store.overlay_max":                            "changed entries kept in a dataset's overlay before the janitor folds them into a new version: an edit costs an edit, not a copy of the dataset",
	"store.write_replicas":                         "a write (edit, import, sync switch, restore) is acknowledged only once this many Redis replicas have it (WAIT); fewer within write_replicas_timeout fails it with 503; 0: once the master has it",
	"store.write_replicas_timeout":                 "how long a write waits for store.write_replicas replicas",
	"admin.tokens[].sources":                       "sources a write token may write; empty: manual; \"*\": any but the sync sources, which must be named",
	"admin.tls.writer_sources":                     "sources certificate writers may write; empty: manual; \"*\": any but the sync sources, which must be named",
	"sync.sources[].guards.max_unblocks":           "hold a file that unblocks more entries (by content, any path); 0: guards.max_unblocks; negative: no limit",
	"sync.sources[].guards.max_unblock_ratio":      "hold a file that unblocks more than this share of the list in force; 0: guards.max_unblock_ratio; negative: no check",
	"sync.sources[].guards.ratio_floor":            "the ratio checks ignore changes of fewer entries; 0: guards.ratio_floor",
	"sync.sources[].limits.max_file_bytes":         "largest file or package accepted as received; 0: 4 GiB",
	"sync.sources[].limits.max_uncompressed_bytes": "bytes read from a unit (a file, a package's members, a loose delta set), enforced while reading; 0: 16 GiB",
	"sync.sources[].limits.max_ratio":              "largest uncompressed/compressed size of a zip member; 0: 100",
	"sync.sources[].limits.max_rows":               "rows of one list (a file, or a delta set's files together); 0: 200000000",
	"sync.sources[].require_checksum":              "apply a file only with a .sha256/.md5 sidecar or a manifest sha256 to verify; without one it waits incomplete_wait, then is rejected",
	"guards.min_snapshot_ratio":                    "hold a change that leaves a list smaller than this share of the list in force; negative: no check",
	"guards.max_unblocks":                          "hold a change that unblocks more entries (removals from black or grey lists, additions to exceptions and overrides); negative: no limit",
	"guards.max_unblock_ratio":                     "hold a change that unblocks more than this share of the list in force; negative: no check",
	"guards.ratio_floor":                           "the ratio checks ignore changes of fewer entries than this (small lists' daily changes)",

	"observe.enabled":                     "record the checks answered with an IMSI, off the answer path",
	"observe.retention":                   "a pair is forgotten this long after it was last seen (a Go duration: 4320h is 180 days); at least 24h",
	"observe.interfaces":                  "the interfaces observed: s13, n5g",
	"observe.sample":                      "share of the checks observed, above 0 and at most 1; 1: every check",
	"observe.min_interval":                "a pair written with the same day, peer and answer less than this ago is not written again; 0: 60s",
	"observe.max_pairs":                   "IMSIs kept per IMEI, and IMEIs per IMSI in the subscriber index, the one seen longest ago evicted; at least 2",
	"observe.max_writes_per_second":       "observations written to Redis per second at most, so that observing never takes more of the Redis serving the lists than this: beyond it the queue fills and observations are dropped (counted); 0: no bound",
	"observe.buckets":                     "hashes each observation index is spread over, a power of two: about observed pairs / 64 keeps every hash in Redis's compact encoding (65536 suits up to about 4 million pairs; 262144 for 16 million); changing it leaves what was recorded unread until it expires",
	"observe.dedupe_entries":              "subscribers whose last observation this eird remembers, so that a check of the same pair within observe.min_interval writes nothing (about 100 bytes each); at least 1000",
	"observe.day_offset":                  "offset from UTC of the zone whose days are counted, whole seconds within ±14h",
	"observe.queue_size":                  "observations waiting to be written; beyond, they are dropped and counted, never delaying an answer",
	"observe.rules.duplicate_period_days": "the window of the duplicate rules: today and the days before, 1 to 64",
	"observe.rules.duplicate_threshold":   "distinct IMSIs with one IMEI within the period that make it a duplicate; 0: off",
	"observe.rules.daily_avg_threshold":   "average distinct IMSIs per day the IMEI was seen on within the period; 0: off",
	"observe.rules.min_seen_days":         "the daily average applies to IMEIs seen on at least this many days of the period",
	"observe.rules.concurrent_window":     "one IMEI with two IMSIs at two MMEs/AMFs within this window; 0: off",
	"observe.detect.list":                 "grey | black: a detected IMEI is put on dataset detected/imei/<list>",
	"observe.detect.enforce":              "enforce source detected; false: it is passive (computed, logged and evented, never changes an answer: an IMEI on no other list stays unknown)",
	"observe.events.per_imsi_interval":    "at most one device-change event per IMSI within this interval; 0: no limit",
}

// render writes v as YAML text for Key.Default.
func render(v reflect.Value) string {
	if v.Type() == durationType {
		return formatDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.String:
		return renderString(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		if v.Len() == 0 {
			return "[]"
		}
		if v.Type().Elem().Kind() == reflect.String {
			items := make([]string, v.Len())
			for i := range items {
				items[i] = strconv.Quote(v.Index(i).String())
			}
			return "[" + strings.Join(items, ", ") + "]"
		}
	}
	return flowYAML(v.Interface())
}

// renderString writes s plain when YAML reads it back as the same string,
// and double-quoted otherwise ("", "eir:", "true").
func renderString(s string) string {
	out, err := yaml.Marshal(s)
	if err == nil && s != "" && strings.TrimSuffix(string(out), "\n") == s {
		return s
	}
	return strconv.Quote(s)
}

// flowYAML writes v as one line of flow-style YAML with quoted strings (also
// valid JSON for lists of mappings, as an environment variable takes them).
func flowYAML(v any) string {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return "?"
	}
	var flow func(n *yaml.Node)
	flow = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode, yaml.SequenceNode:
			n.Style = yaml.FlowStyle
		case yaml.ScalarNode:
			if n.ShortTag() == "!!str" {
				n.Style = yaml.DoubleQuotedStyle
			}
		}
		for _, c := range n.Content {
			flow(c)
		}
	}
	flow(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// formatDuration writes d as time.Duration.String does, without the zero
// units it appends: 10m rather than 10m0s, 1h rather than 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
