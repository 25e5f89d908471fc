package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// Validate checks the configuration and reports every problem at once (joined
// with errors.Join), each message starting with the key path, for example
// "diameter.origin_host: required". It checks that files named by the
// configuration exist and are readable, so it must run where eird runs.
func (c Config) Validate() error {
	var p problems
	c.validateDiameter(&p)
	c.validateRedis(&p)
	c.validateStore(&p)
	c.validatePolicy(&p)
	c.validateAdmin(&p)
	c.validateN5g(&p)
	c.validateNRF(&p)
	c.validateAudit(&p)
	c.validateEvents(&p)
	c.validateLog(&p)
	for i, f := range c.Bootstrap.Files {
		p.file(fmt.Sprintf("bootstrap.files[%d]", i), f)
	}
	c.validateSync(&p)
	c.validateGuards(&p)
	c.validateExport(&p)
	c.validateObserve(&p)
	return errors.Join(p...)
}

func (c Config) validateGuards(p *problems) {
	g := c.Guards
	p.share("guards.min_snapshot_ratio", g.MinSnapshotRatio)
	p.share("guards.max_unblock_ratio", g.MaxUnblockRatio)
	if g.RatioFloor < 0 {
		p.addf("guards.ratio_floor", "must not be negative")
	}
}

// validSourceList checks a list of source names a writer may write.
func validSourceList(p *problems, key string, sources []string) {
	for i, s := range sources {
		if s != "*" && !validSourceName(s) {
			p.addf(fmt.Sprintf("%s[%d]", key, i), "%q: want \"*\" or a source name of 1 to 32 characters of [a-z0-9_-]", s)
		}
	}
}

func (c Config) validateSync(p *problems) {
	p.positive("sync.lock_ttl", c.Sync.LockTTL)
	names := map[string]bool{}
	for i, s := range c.Sync.Sources {
		at := fmt.Sprintf("sync.sources[%d]", i)
		if !validSourceName(s.Name) {
			p.addf(at+".name", "%q: want 1 to 32 characters of [a-z0-9_-]", s.Name)
		} else if names[s.Name] {
			p.addf(at+".name", "%q: another source has this name", s.Name)
		} else if s.Name == "manual" {
			p.addf(at+".name", "\"manual\" is the source of the entries people add with eirctl; name the registry")
		}
		names[s.Name] = true
		p.oneOf(at+".format", s.Format, "dirbs", "lsds", "stolen", "tac", "ranges")
		if s.Operator != "" && s.Format != "dirbs" {
			p.addf(at+".operator", "only for the dirbs format")
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"interval", s.Interval}, {"settle", s.Settle}, {"incomplete_wait", s.IncompleteWait}, {"https.timeout", s.HTTPS.Timeout}, {"https.backoff", s.HTTPS.Backoff}} {
			if d.v < 0 {
				p.addf(at+"."+d.key, "must not be negative")
			}
		}
		h := s.HTTPS
		switch {
		case s.Dir == "" && len(h.URLs) == 0:
			p.addf(at, "set dir (a drop directory) or https.urls")
		case s.Dir != "" && len(h.URLs) > 0:
			p.addf(at, "set dir or https.urls, not both")
		}
		if len(h.URLs) > 0 {
			if h.SpoolDir == "" {
				p.addf(at+".https.spool_dir", "required with https.urls")
			}
			for j, u := range h.URLs {
				if !strings.HasPrefix(u, "https://") {
					p.addf(fmt.Sprintf("%s.https.urls[%d]", at, j), "%q: want an https:// URL", u)
				}
			}
		}
		if h.BearerToken != "" && h.BearerTokenFile != "" {
			p.addf(at+".https.bearer_token", "set bearer_token or bearer_token_file, not both")
		}
		for _, f := range []struct{ key, name string }{{"https.bearer_token_file", h.BearerTokenFile}, {"https.ca_file", h.CAFile}, {"https.cert_file", h.CertFile}, {"https.key_file", h.KeyFile}} {
			if f.name != "" {
				p.file(at+"."+f.key, f.name)
			}
		}
		if (h.CertFile == "") != (h.KeyFile == "") {
			p.addf(at+".https.cert_file", "cert_file and key_file go together")
		}
		g := s.Guards
		p.share(at+".guards.max_bad_row_ratio", g.MaxBadRowRatio)
		p.share(at+".guards.min_snapshot_ratio", g.MinSnapshotRatio)
		p.share(at+".guards.max_unblock_ratio", g.MaxUnblockRatio)
		if g.RatioFloor < 0 {
			p.addf(at+".guards.ratio_floor", "must not be negative (0: guards.ratio_floor)")
		}
		if l := s.Limits; l.MaxRatio > 0 && l.MaxRatio < 1 {
			p.addf(at+".limits.max_ratio", "%g: a compression ratio is at least 1", l.MaxRatio)
		}
	}
}

func validSourceName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func (c Config) validateDiameter(p *problems) {
	d := c.Diameter
	switch {
	case d.Listen != "":
		p.hostPort("diameter.listen", d.Listen, false)
	case d.TLS.CertFile == "":
		p.addf("diameter.listen", "empty: set a host:port, or diameter.tls.cert_file to serve Diameter over TLS only")
	}
	c.validateDiameterTLS(p)
	p.oneOf("diameter.transport", d.Transport, "tcp", "sctp")
	p.identity("diameter.origin_host", d.OriginHost)
	p.identity("diameter.origin_realm", d.OriginRealm)
	for i, a := range d.HostIPAddresses {
		if ip, err := netip.ParseAddr(a); err != nil || ip.Zone() != "" {
			p.addf(fmt.Sprintf("diameter.host_ip_addresses[%d]", i), "%q is not an IP address", a)
		}
	}
	if d.ProductName == "" {
		p.addf("diameter.product_name", "required")
	}
	p.positive("diameter.watchdog_interval", d.WatchdogInterval)
	p.positive("diameter.cer_timeout", d.CERTimeout)
	p.positive("diameter.request_timeout", d.RequestTimeout)
	p.positive("diameter.write_timeout", d.WriteTimeout)
	p.positive("diameter.disconnect_timeout", d.DisconnectTimeout)
	if d.RequestTimeout > 0 && d.WatchdogInterval > 0 && d.RequestTimeout >= d.WatchdogInterval {
		p.addf("diameter.request_timeout", "must be shorter than diameter.watchdog_interval (%s)", formatDuration(d.WatchdogInterval))
	}
	p.between("diameter.max_message_size", int64(d.MaxMessageSize), 1024, 1<<24-1)
	p.between("diameter.max_inflight_per_peer", int64(d.MaxInflightPerPeer), 1, 65535)
	if d.MaxConnections < 0 {
		p.addf("diameter.max_connections", "must not be negative (0: no limit)")
	}
	p.oneOf("diameter.duplicate_peer", d.DuplicatePeer, "allow", "reject")
	if !d.AllowAnyPeer && len(d.Peers) == 0 {
		p.addf("diameter.peers", "empty: list the allowed peers or set diameter.allow_any_peer")
	}
	for i, peer := range d.Peers {
		at := fmt.Sprintf("diameter.peers[%d]", i)
		if peer.OriginHost == "" {
			p.addf(at+".origin_host", "required")
		} else {
			p.pattern(at+".origin_host", peer.OriginHost)
		}
		if peer.OriginRealm != "" {
			p.pattern(at+".origin_realm", peer.OriginRealm)
		}
		for j, a := range peer.Addresses {
			_, errAddr := netip.ParseAddr(a)
			_, errPrefix := netip.ParsePrefix(a)
			if errAddr != nil && errPrefix != nil {
				p.addf(fmt.Sprintf("%s.addresses[%d]", at, j), "%q is not an IP address or CIDR prefix", a)
			}
		}
	}
}

// validateDiameterTLS checks diameter.tls: when cert_file is set, a TLS
// listener with mutual certificates.
func (c Config) validateDiameterTLS(p *problems) {
	t := c.Diameter.TLS
	p.serverTLS("diameter.tls", t.CertFile, t.KeyFile, t.ClientCAFile)
	p.oneOf("diameter.tls.min_version", t.MinVersion, "1.2", "1.3")
	if t.CertFile == "" {
		return
	}
	if t.ClientCAFile == "" {
		p.addf("diameter.tls.client_ca_file", "required with cert_file: a peer is authenticated by its certificate")
	}
	if p.hostPort("diameter.tls.listen", t.Listen, false) && t.Listen == c.Diameter.Listen && !strings.HasSuffix(t.Listen, ":0") {
		p.addf("diameter.tls.listen", "%s is also diameter.listen: give the TLS listener its own port (5658)", t.Listen)
	}
}

func (c Config) validateRedis(p *problems) {
	r := c.Redis
	p.oneOf("redis.mode", r.Mode, "standalone", "sentinel", "cluster")
	switch {
	case len(r.Addresses) == 0:
		p.addf("redis.addresses", "required")
	case r.Mode == "standalone" && len(r.Addresses) > 1:
		p.addf("redis.addresses", "standalone mode takes exactly one address, got %d", len(r.Addresses))
	}
	for i, a := range r.Addresses {
		p.hostPort(fmt.Sprintf("redis.addresses[%d]", i), a, true)
	}
	if r.Mode == "sentinel" && r.MasterName == "" {
		p.addf("redis.master_name", "required in sentinel mode")
	}
	switch {
	case r.DB < 0:
		p.addf("redis.db", "must be >= 0")
	case r.Mode == "cluster" && r.DB != 0:
		p.addf("redis.db", "must be 0 in cluster mode")
	}
	if r.Password != "" && r.PasswordFile != "" {
		p.addf("redis.password_file", "set either redis.password or redis.password_file, not both")
	}
	p.file("redis.password_file", r.PasswordFile)
	p.file("redis.tls.ca_file", r.TLS.CAFile)
	p.file("redis.tls.cert_file", r.TLS.CertFile)
	p.file("redis.tls.key_file", r.TLS.KeyFile)
	if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
		p.addf("redis.tls", "set both cert_file and key_file, or neither")
	}
	p.positive("redis.dial_timeout", r.DialTimeout)
	p.positive("redis.read_timeout", r.ReadTimeout)
	p.positive("redis.write_timeout", r.WriteTimeout)
	if r.PoolSize < 1 {
		p.addf("redis.pool_size", "must be >= 1")
	}
}

func (c Config) validateStore(p *problems) {
	s := c.Store
	switch {
	case s.KeyPrefix == "":
		p.addf("store.key_prefix", "required")
	case strings.ContainsAny(s.KeyPrefix, "{}") || strings.ContainsFunc(s.KeyPrefix, unicode.IsSpace):
		p.addf("store.key_prefix", "%q: must not contain '{', '}' or white space", s.KeyPrefix)
	}
	if rt := c.Diameter.RequestTimeout; rt > 0 && s.VersionGrace <= rt {
		p.addf("store.version_grace", "must be longer than diameter.request_timeout (%s)", formatDuration(rt))
	} else {
		p.positive("store.version_grace", s.VersionGrace)
	}
	p.positive("store.janitor_interval", s.JanitorInterval)
	p.positive("store.expiry_sweep", s.ExpirySweep)
	if s.Replica {
		if s.ReplicaRefresh < 10*time.Millisecond || s.ReplicaRefresh > time.Minute {
			p.addf("store.replica_refresh", "want 10ms to 1m, got %s", formatDuration(s.ReplicaRefresh))
		}
		if s.ReplicaMax < 1 {
			p.addf("store.replica_max_entries", "must be at least 1, got %d", s.ReplicaMax)
		}
	}
	if s.BuildLease < time.Minute {
		p.addf("store.build_lease", "must be at least 1m, got %s", formatDuration(s.BuildLease))
	}
	if s.MaxStale < 0 {
		p.addf("store.max_stale", "must not be negative")
	}
	if s.OverlayMax < 1 {
		p.addf("store.overlay_max", "must be at least 1, got %d", s.OverlayMax)
	}
	if s.WriteReplicas < 0 {
		p.addf("store.write_replicas", "must not be negative, got %d", s.WriteReplicas)
	}
	if s.WriteReplicas > 0 && s.WriteReplicasTimeout <= 0 {
		p.addf("store.write_replicas_timeout", "must be positive with store.write_replicas, got %s", formatDuration(s.WriteReplicasTimeout))
	} else if s.WriteReplicasTimeout < 0 {
		p.addf("store.write_replicas_timeout", "must not be negative")
	}
	if s.AutoRestore && !s.Replica {
		p.addf("store.auto_restore", "restores the lists this eird holds: it needs store.replica")
	}
}

func (c Config) validatePolicy(p *problems) {
	p.oneOf("policy.unknown_equipment", c.Policy.UnknownEquipment, "unknown", "whitelisted", "greylisted", "blacklisted")
	p.oneOf("policy.on_store_error", c.Policy.OnStoreError, "reject", "whitelisted", "greylisted", "blacklisted")
	seen := map[string]bool{}
	for i, src := range c.Policy.ShadowSources {
		at := fmt.Sprintf("policy.shadow_sources[%d]", i)
		switch {
		case !validSourceName(src):
			p.addf(at, "%q: a source name is 1 to 32 characters [a-z0-9_-]", src)
		case seen[src]:
			p.addf(at, "%q is listed twice", src)
		}
		seen[src] = true
	}
}

func (c Config) validateN5g(p *problems) {
	n := c.N5g
	if n.Listen == "" {
		return
	}
	if p.hostPort("n5g.listen", n.Listen, false) && n.Listen == c.Admin.Listen && !strings.HasSuffix(n.Listen, ":0") {
		p.addf("n5g.listen", "%s is also admin.listen", n.Listen)
	}
	if n.APIPrefix != "" && (!strings.HasPrefix(n.APIPrefix, "/") || strings.ContainsAny(n.APIPrefix, "?# ")) {
		p.addf("n5g.api_prefix", "%q: want a path starting with '/'", n.APIPrefix)
	}
	p.positive("n5g.request_timeout", n.RequestTimeout)
	if n.MaxInflight < 1 {
		p.addf("n5g.max_inflight", "must be at least 1, got %d", n.MaxInflight)
	}
	p.serverTLS("n5g.tls", n.TLS.CertFile, n.TLS.KeyFile, n.TLS.ClientCAFile)
	if o := n.OAuth; o.Enabled {
		if o.KeyFile == "" {
			p.addf("n5g.oauth.key_file", "required when n5g.oauth.enabled")
		}
		p.file("n5g.oauth.key_file", o.KeyFile)
		if len(o.Audience) == 0 && c.NRF.InstanceID == "" {
			p.addf("n5g.oauth.audience", "empty: list 5G_EIR and/or set nrf.instance_id")
		}
		if o.Scope == "" || strings.ContainsAny(o.Scope, " \t\"") {
			p.addf("n5g.oauth.scope", "%q: want one scope token", o.Scope)
		}
		if o.Leeway < 0 {
			p.addf("n5g.oauth.leeway", "must not be negative")
		}
	}
}

func (c Config) validateNRF(p *problems) {
	n := c.NRF
	if n.APIRoot == "" {
		return
	}
	u, err := url.Parse(n.APIRoot)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		p.addf("nrf.api_root", "%q: want http://host[:port][/prefix] or https://…", n.APIRoot)
	}
	if c.N5g.Listen == "" {
		p.addf("nrf.api_root", "registration needs the N5g-eir service: set n5g.listen")
	}
	if !validUUIDv4(n.InstanceID) {
		p.addf("nrf.instance_id", "%q: want a UUID v4 (e.g. the content of /proc/sys/kernel/random/uuid)", n.InstanceID)
	}
	for i, a := range n.IPv4Addresses {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
			p.addf(fmt.Sprintf("nrf.ipv4_addresses[%d]", i), "%q is not an IPv4 address", a)
		}
	}
	for i, a := range n.IPv6Addresses {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.Is6() || ip.Is4In6() {
			p.addf(fmt.Sprintf("nrf.ipv6_addresses[%d]", i), "%q is not an IPv6 address", a)
		}
	}
	if n.FQDN != "" {
		p.identity("nrf.fqdn", n.FQDN)
	}
	p.between("nrf.port", int64(n.Port), 0, 65535)
	p.positive("nrf.heartbeat", n.Heartbeat)
	p.positive("nrf.timeout", n.Timeout)
	t := n.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.addf("nrf.tls", "set cert_file and key_file together")
	}
	p.file("nrf.tls.ca_file", t.CAFile)
	p.file("nrf.tls.cert_file", t.CertFile)
	p.file("nrf.tls.key_file", t.KeyFile)
}

// validUUIDv4 reports whether s is a UUID of version 4 (RFC 9562) in its
// text form, as TS 29.571 NfInstanceId requires.
func validUUIDv4(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && len(s) == 36 && u.Version() == 4 && u.Variant() == uuid.RFC4122
}

func (c Config) validateAudit(p *problems) {
	if c.Audit.MaxRecords < 1000 {
		p.addf("audit.max_records", "must be at least 1000, got %d", c.Audit.MaxRecords)
	}
	if c.Audit.MaxAge < 0 {
		p.addf("audit.max_age", "must not be negative")
	}
}

func (c Config) validateEvents(p *problems) {
	e := c.Events
	if e.StreamMaxLen < 1 {
		p.addf("events.stream_max_len", "must be at least 1, got %d", e.StreamMaxLen)
	}
	if e.QueueSize < 1 {
		p.addf("events.queue_size", "must be at least 1, got %d", e.QueueSize)
	}
	w := e.Webhook
	if w.URL != "" {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.addf("events.webhook.url", "%q: want an http:// or https:// URL", w.URL)
		}
		p.positive("events.webhook.timeout", w.Timeout)
	}
	if w.BearerToken != "" && w.BearerTokenFile != "" {
		p.addf("events.webhook", "set bearer_token or bearer_token_file, not both")
	}
	p.file("events.webhook.bearer_token_file", w.BearerTokenFile)
	if w.Retries < 0 {
		p.addf("events.webhook.retries", "must not be negative")
	}
}

func (c Config) validateAdmin(p *problems) {
	a := c.Admin
	if a.Listen != "" && p.hostPort("admin.listen", a.Listen, false) && len(a.Tokens) == 0 && a.TLS.ClientCAFile == "" && !IsLoopback(a.Listen) {
		p.addf("admin.listen", "%s is not a loopback address: configure admin.tokens or admin.tls.client_ca_file to expose the admin API", a.Listen)
	}
	t := a.TLS
	p.serverTLS("admin.tls", t.CertFile, t.KeyFile, t.ClientCAFile)
	if (len(t.Writers) > 0 || len(t.Readers) > 0) && t.ClientCAFile == "" {
		p.addf("admin.tls", "writers and readers need client_ca_file")
	}
	roles := map[string]string{}
	for _, l := range []struct {
		key   string
		names []string
	}{{"admin.tls.writers", t.Writers}, {"admin.tls.readers", t.Readers}} {
		for i, n := range l.names {
			at := fmt.Sprintf("%s[%d]", l.key, i)
			if strings.TrimSpace(n) == "" {
				p.addf(at, "empty name")
			} else if other, dup := roles[n]; dup {
				p.addf(at, "%q is also in %s", n, other)
			}
			roles[n] = l.key
		}
	}
	names := make(map[string]int)
	for i, t := range a.Tokens {
		at := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" {
			p.addf(at+".name", "required")
		} else if j, dup := names[t.Name]; dup {
			p.addf(at+".name", "%q is also the name of admin.tokens[%d]", t.Name, j)
		} else {
			names[t.Name] = i
		}
		switch {
		case t.Token == "" && t.TokenFile == "":
			p.addf(at, "set token or token_file")
		case t.Token != "" && t.TokenFile != "":
			p.addf(at, "set token or token_file, not both")
		}
		p.file(at+".token_file", t.TokenFile)
		p.oneOf(at+".role", t.Role, "read", "write")
		if len(t.Sources) > 0 && t.Role != "write" {
			p.addf(at+".sources", "only for write tokens")
		}
		validSourceList(p, at+".sources", t.Sources)
	}
	validSourceList(p, "admin.tls.writer_sources", a.TLS.WriterSources)
	if a.MaxBodyBytes < 1024 {
		p.addf("admin.max_body_bytes", "must be at least 1024, got %d", a.MaxBodyBytes)
	}
}

// IsLoopback reports whether the host of the host:port listen is localhost
// or a loopback address.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return strings.EqualFold(host, "localhost") || (err == nil && ip.IsLoopback())
}

func (c Config) validateLog(p *problems) {
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "json", "console")
}

// problems collects validation errors, each prefixed with its key path.
type problems []error

func (p *problems) addf(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (p *problems) oneOf(path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		p.addf(path, "%q: want %s", v, strings.Join(allowed, "|"))
	}
}

func (p *problems) positive(path string, d time.Duration) {
	if d <= 0 {
		p.addf(path, "must be > 0, got %s", formatDuration(d))
	}
}

// share checks a ratio that is a share of a list: at most 1 (0 takes the
// default, a negative value turns its check off).
func (p *problems) share(path string, v float64) {
	if v > 1 {
		p.addf(path, "%g: a share of the list, at most 1 (negative: no check)", v)
	}
}

func (p *problems) between(path string, v, lo, hi int64) {
	if v < lo || v > hi {
		p.addf(path, "%d: want %d to %d", v, lo, hi)
	}
}

// hostPort checks that s is host:port with a numeric port. A client address
// (needHost) needs a host and a port other than 0; a listen address may omit
// the host (all interfaces) and use port 0 (any free port). It reports whether
// s is valid.
func (p *problems) hostPort(path, s string, needHost bool) bool {
	if s == "" {
		p.addf(path, "required")
		return false
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		p.addf(path, "%q is not host:port", s)
		return false
	}
	if strings.ContainsFunc(host, unicode.IsSpace) || (needHost && host == "") {
		p.addf(path, "%q: invalid host %q", s, host)
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (needHost && n == 0) {
		lo := 0
		if needHost {
			lo = 1
		}
		p.addf(path, "%q: invalid port %q: want %d to 65535", s, port, lo)
		return false
	}
	return true
}

// identity checks a DiameterIdentity: an FQDN of letters, digits, '-' and '.'.
func (p *problems) identity(path, s string) {
	if s == "" {
		p.addf(path, "required")
		return
	}
	if len(s) > 255 {
		p.addf(path, "longer than 255 characters")
		return
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			p.addf(path, "%q: empty label (leading, trailing or doubled '.')", s)
			return
		}
		if len(label) > 63 {
			p.addf(path, "%q: label longer than 63 characters", s)
			return
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				p.addf(path, "%q: invalid character %q (want letters, digits, '-' and '.')", s, r)
				return
			}
		}
	}
}

// pattern checks a path.Match pattern.
func (p *problems) pattern(key, s string) {
	if _, err := path.Match(s, ""); err != nil {
		p.addf(key, "%q is not a valid pattern: %v", s, err)
	}
}

// file checks that name, if set, is a readable regular file.
func (p *problems) file(path, name string) {
	if name == "" {
		return
	}
	f, err := os.Open(name)
	if err != nil {
		p.addf(path, "%v", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		p.addf(path, "%v", err)
	case fi.IsDir():
		p.addf(path, "%s is a directory", name)
	}
}

// serverTLS checks the TLS files of a listener configured under key.
func (p *problems) serverTLS(key, certFile, keyFile, clientCAFile string) {
	if (certFile == "") != (keyFile == "") {
		p.addf(key, "set cert_file and key_file together")
	}
	p.file(key+".cert_file", certFile)
	p.file(key+".key_file", keyFile)
	p.file(key+".client_ca_file", clientCAFile)
	if clientCAFile != "" && certFile == "" {
		p.addf(key+".client_ca_file", "client certificates need TLS: set cert_file and key_file")
	}
}
