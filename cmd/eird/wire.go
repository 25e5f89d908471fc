package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin"
	"github.com/eir-sidecar/eir/admin/api"
	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/diameter"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/events"
	"github.com/eir-sidecar/eir/eir/guard"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/eir/observe/redact"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/eir/sighting"
	"github.com/eir-sidecar/eir/internal/tlsconf"
	"github.com/eir-sidecar/eir/n5g"
	"github.com/eir-sidecar/eir/n5g/nrf"
	"github.com/eir-sidecar/eir/regsync"
	"github.com/eir-sidecar/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/regsync/opexport"
)

// daemon is eird built from its configuration, its listeners open,
// nothing started.
type daemon struct {
	cfg config.Config
	log *zap.Logger

	store   *redisstore.Store
	checker *eir.Decider
	pub     *events.Publisher // nil: hit events off
	obs     *observation      // nil: observe.enabled off
	// sightings is the observation store (IMEI–IMSI pairs), for the admin
	// API's and the export's reads; nil when observe.enabled is off.
	sightings *sighting.Store
	opsched   *opexport.Scheduler // nil: export.operator_data.enabled off
	dsrv      *diameter.Server
	api       *admin.Server
	syncer    *regsync.Engine // nil: no sync source
	rl        *reloader
	registrar *nrf.Client // nil: no NRF; set before any server starts
	sd        *notifier   // systemd's readiness protocol

	dl   net.Listener      // Diameter; nil: TLS only
	dtl  net.Listener      // Diameter over TLS; nil: off
	dtls *tlsconf.Reloader // its certificates, with dtl
	sbi  *n5gListener      // nil: N5g-eir off
	hsrv *http.Server      // nil: admin API off
	al   net.Listener      // the admin API's, with hsrv
}

// wire builds eird from cfg: the store, the decision engine and its
// observer, the servers, the sync engine, and opens the listeners. On error
// it closes what it opened.
func wire(ctx context.Context, path string, cfg config.Config, log *zap.Logger) (*daemon, error) {
	log.Info("starting eird", zap.String("version", version), zap.String("commit", commit),
		zap.String("diameter_listen", cfg.Diameter.Listen), zap.String("diameter_tls_listen", tlsListen(cfg.Diameter.TLS)),
		zap.String("admin_listen", cfg.Admin.Listen),
		zap.String("redis_mode", cfg.Redis.Mode), zap.Strings("redis_addresses", cfg.Redis.Addresses))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "eir", Name: "build_info", Help: "Build of the running eird; always 1.",
	}, []string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(version, commit, runtime.Version()).Set(1)
	reg.MustRegister(buildInfo)

	redisstore.RouteLibraryLog(log.Named("redis"))
	store, err := redisstore.Open(ctx, clientOptions(cfg.Redis), redisstore.Options{
		Prefix: cfg.Store.KeyPrefix, Grace: cfg.Store.VersionGrace, BuildLease: cfg.Store.BuildLease,
		Replica: cfg.Store.Replica, ReplicaRefresh: cfg.Store.ReplicaRefresh, ReplicaMaxEntries: cfg.Store.ReplicaMax, ReplicaFilter: cfg.Store.ReplicaFilter,
		MaxStale: cfg.Store.MaxStale, SnapshotDir: cfg.Store.SnapshotDir, OverlayMax: cfg.Store.OverlayMax,
		WriteReplicas: cfg.Store.WriteReplicas, WriteReplicasTimeout: cfg.Store.WriteReplicasTimeout,
	}, log.Named("store"), reg)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, store: store, sd: &notifier{log: log.Named("systemd")}}
	n5gOpts, err := d.build(path, reg)
	if err == nil {
		err = d.listen(n5gOpts, reg)
	}
	if err != nil {
		if d.obs != nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			d.obs.close(cctx) // nothing was observed: it only stops
			cancel()
		}
		store.Close()
		return nil, err
	}
	return d, nil
}

// build builds the decision engine, its observer and the servers; it
// returns the options of the N5g-eir service, built by listen.
func (d *daemon) build(path string, reg *prometheus.Registry) (n5g.Options, error) {
	cfg, log, store := d.cfg, d.log, d.store
	policy, err := policyFrom(cfg.Policy)
	if err != nil {
		return n5g.Options{}, err
	}
	policy = shadowDetected(policy, cfg.Observe)
	checker := eir.NewDecider(store, policy)
	d.checker = checker
	redactor := redact.New([]byte(cfg.Log.IdentityHashKey))
	trail := audit.New(store, audit.Options{MaxRecords: cfg.Audit.MaxRecords, MaxAge: cfg.Audit.MaxAge})
	oo := observe.Options{Registerer: reg, Logger: log.Named("check"), Redactor: redactor}
	if cfg.Events.Enabled {
		if d.pub, err = events.New(eventsOptions(cfg.Events), store, log.Named("events"), reg); err != nil {
			return n5g.Options{}, err
		}
		oo.Events = d.pub
	}
	if o := cfg.Observe; o.Enabled {
		// Same Redis and key prefix as the lists (redisstore's default
		// prefix when none is set).
		prefix := cmp.Or(cfg.Store.KeyPrefix, "eir:")
		if d.obs, err = newObservation(o, store, prefix, d.pub, nil, log.Named("observe"), reg); err != nil {
			return n5g.Options{}, err
		}
		d.sightings = d.obs.store
		oo.Sightings, oo.SightingInterfaces, oo.SightingSample = d.obs, o.Interfaces, o.Sample
		if oo.SightingInterfaces == nil {
			oo.SightingInterfaces = []string{} // configured none: observe none
		}
	}
	// The one observer of the checks answered, by every interface.
	obs, err := observe.New(oo)
	if err != nil {
		return n5g.Options{}, err
	}
	dopts, err := diameterOptions(cfg)
	if err != nil {
		return n5g.Options{}, err
	}
	dopts.Observer = obs
	if d.dsrv, err = diameter.NewServer(dopts, checker, log.Named("diameter"), reg); err != nil {
		return n5g.Options{}, err
	}
	n5gOpts := n5g.Options{Observer: obs}
	verifier, err := newVerifier(cfg.N5g.OAuth, cfg.NRF.InstanceID)
	if err != nil {
		return n5g.Options{}, err
	}
	if verifier != nil {
		n5gOpts.Authorize = authorize(verifier)
	}
	if len(cfg.Sync.Sources) > 0 {
		sources, err := syncSources(cfg.Sync.Sources, cfg.Guards)
		if err != nil {
			return n5g.Options{}, err
		}
		d.syncer, err = regsync.New(regsync.Options{LockTTL: cfg.Sync.LockTTL, Audit: trail}, sources, store,
			regsync.CoordinatorFor(store), log.Named("sync"), reg)
		if err != nil {
			return n5g.Options{}, err
		}
	}
	d.rl = &reloader{path: path, cfg: cfg, dsrv: d.dsrv, checker: checker, trail: trail, verifier: verifier, log: log.Named("reload")}
	if verifier != nil {
		d.rl.keySum = fileSum(cfg.N5g.OAuth.KeyFile)
	}
	aopts := admin.Options{
		Tokens: adminTokens(cfg.Admin.Tokens), MaxBodyBytes: cfg.Admin.MaxBodyBytes, Gatherer: reg, Observer: obs,
		Describe: func(d eir.Decision, err error) any { return diameter.Describe(d, err) },
		Notes:    store, Audit: trail, Reload: d.rl.reload, CertRoles: certRoles(cfg.Admin.TLS),
		OpenPeers: d.dsrv.OpenPeers, Version: version, Commit: commit, Redactor: redactor, Pprof: cfg.Admin.Pprof,
		CertWriterSources: cfg.Admin.TLS.WriterSources, Recoverer: store, Guards: guardsFrom(cfg.Guards),
		NRF: func() any {
			if d.registrar == nil {
				return nil
			}
			return d.registrar.Status()
		},
	}
	if d.syncer != nil {
		aopts.Sync = syncer{d.syncer}
		aopts.ProtectedSources = d.syncer.Sources()
	}
	if d.pub != nil {
		aopts.Events = store
	}
	if err := d.wireObserved(&aopts, store, reg); err != nil {
		return n5g.Options{}, err
	}
	d.api = admin.New(aopts, store, checker, log.Named("admin"))
	if d.obs != nil {
		// Before any server starts: the detections go through the audited
		// editor of the admin API.
		d.obs.edits = d.api.Edits()
	}
	d.rl.api = d.api
	return n5gOpts, nil
}

// listen opens the listeners: Diameter, N5g-eir (and builds its service
// and NRF client), the admin API. On error it closes those it opened.
func (d *daemon) listen(n5gOpts n5g.Options, reg *prometheus.Registry) (err error) {
	cfg := d.cfg
	var opened []net.Listener
	defer func() {
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
		}
	}()
	if cfg.Diameter.Listen != "" {
		if d.dl, err = diameter.Listen(cfg.Diameter.Transport, cfg.Diameter.Listen); err != nil {
			return err
		}
		opened = append(opened, d.dl)
	}
	if t := cfg.Diameter.TLS; t.CertFile != "" {
		if d.dtls, err = diameterTLS(t); err != nil {
			return err
		}
		if d.dtl, err = diameter.Listen("tcp", t.Listen); err != nil {
			return fmt.Errorf("diameter.tls.listen: %w", err)
		}
		opened = append(opened, d.dtl)
		d.rl.dtls = d.dtls
	}
	if d.sbi, err = newN5g(cfg.N5g, n5gOpts, d.checker, d.log.Named("n5g"), reg); err != nil {
		return err
	}
	if d.sbi != nil {
		opened = append(opened, d.sbi.l)
		if d.registrar, err = newNRF(cfg, d.sbi.l.Addr(), d.log.Named("nrf"), reg); err != nil {
			return err
		}
	}
	if cfg.Admin.Listen == "" {
		return nil
	}
	if d.al, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
		return fmt.Errorf("admin listen: %w", err)
	}
	opened = append(opened, d.al)
	d.hsrv = &http.Server{Handler: d.api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if t := cfg.Admin.TLS; t.CertFile != "" {
		if d.hsrv.TLSConfig, err = admin.TLSConfig(t.CertFile, t.KeyFile, t.ClientCAFile); err != nil {
			return err
		}
		d.al = tls.NewListener(d.al, d.hsrv.TLSConfig)
	}
	return nil
}

// clientOptions are the options of the Redis client (redis.password_file
// was read by config.Load into redis.password).
func clientOptions(c config.Redis) redisstore.ClientOptions {
	o := redisstore.ClientOptions{
		Mode: c.Mode, Addresses: c.Addresses, MasterName: c.MasterName, Username: c.Username,
		Password: c.Password, SentinelPassword: c.SentinelPassword, DB: c.DB,
		DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout, PoolSize: c.PoolSize,
	}
	if c.TLS.Enabled {
		o.TLS = &redisstore.TLSOptions{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
			ServerName: c.TLS.ServerName, InsecureSkipVerify: c.TLS.InsecureSkipVerify}
	}
	return o
}

// guardsFrom is the top-level guards section as regsync's guards.
func guardsFrom(g config.Guards) guard.Guards {
	return guard.Guards{MinSnapshotRatio: g.MinSnapshotRatio, MaxUnblocks: g.MaxUnblocks,
		MaxUnblockRatio: g.MaxUnblockRatio, RatioFloor: g.RatioFloor}
}

func policyFrom(c config.Policy) (eir.Policy, error) {
	var p eir.Policy
	if c.UnknownEquipment != "unknown" {
		st, err := eir.ParseStatus(c.UnknownEquipment)
		if err != nil {
			return p, fmt.Errorf("policy.unknown_equipment: %w", err)
		}
		p.Unknown = eir.Fallback{Set: true, Status: st}
	}
	if c.OnStoreError != "reject" {
		st, err := eir.ParseStatus(c.OnStoreError)
		if err != nil {
			return p, fmt.Errorf("policy.on_store_error: %w", err)
		}
		p.OnStoreError = eir.Fallback{Set: true, Status: st}
	}
	p.Shadow = eir.Shadow{All: c.ShadowAll, Sources: append([]string(nil), c.ShadowSources...)}
	return p, nil
}

func diameterOptions(cfg config.Config) (diameter.Options, error) {
	d := cfg.Diameter
	o := diameter.Options{
		OriginHost: d.OriginHost, OriginRealm: d.OriginRealm, VendorID: d.VendorID, ProductName: d.ProductName,
		WatchdogInterval: d.WatchdogInterval, CERTimeout: d.CERTimeout, RequestTimeout: d.RequestTimeout,
		WriteTimeout: d.WriteTimeout, DisconnectTimeout: d.DisconnectTimeout, MaxMessageSize: d.MaxMessageSize,
		MaxInflightPerPeer: d.MaxInflightPerPeer, RejectDuplicatePeers: d.DuplicatePeer == "reject", MaxConnections: d.MaxConnections,
		AllowAnyPeer: d.AllowAnyPeer,
	}
	for _, s := range d.HostIPAddresses {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return o, fmt.Errorf("diameter.host_ip_addresses: %w", err)
		}
		o.HostIPAddresses = append(o.HostIPAddresses, a)
	}
	for i, p := range d.Peers {
		r := diameter.PeerRule{OriginHost: p.OriginHost, OriginRealm: p.OriginRealm}
		for _, a := range p.Addresses {
			pfx, err := parsePrefix(a)
			if err != nil {
				return o, fmt.Errorf("diameter.peers[%d].addresses: %w", i, err)
			}
			r.Prefixes = append(r.Prefixes, pfx)
		}
		o.Peers = append(o.Peers, r)
	}
	return o, nil
}

// tlsListen is diameter.tls.listen when the TLS listener is on, else "".
func tlsListen(t config.DiameterTLS) string {
	if t.CertFile == "" {
		return ""
	}
	return t.Listen
}

// diameterTLS loads the certificates of the Diameter TLS listener:
// mutual TLS, re-read on reload.
func diameterTLS(t config.DiameterTLS) (*tlsconf.Reloader, error) {
	minVersion := uint16(tls.VersionTLS12)
	if t.MinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: t.CertFile, Key: t.KeyFile, CA: t.ClientCAFile}, tls.RequireAndVerifyClientCert, minVersion)
	if err != nil {
		return nil, tlsconf.Name(err, "diameter.tls", "diameter.tls.client_ca_file")
	}
	return r, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// adminTokens are the admin API's tokens (token_file was read by
// config.Load into token).
func adminTokens(ts []config.Token) []admin.Token {
	var out []admin.Token
	for _, t := range ts {
		out = append(out, admin.Token{Name: t.Name, Secret: t.Token, Write: t.Role == "write", Sources: t.Sources})
	}
	return out
}

// syncSources turns the sync configuration into regsync sources: a zero
// guard takes the top-level guards section, other zero values regsync's
// defaults (see the README).
func syncSources(cs []config.SyncSource, global config.Guards) ([]regsync.SourceConfig, error) {
	var out []regsync.SourceConfig
	for i, c := range cs {
		g := c.Guards
		sc := regsync.SourceConfig{
			Name: c.Name, Format: c.Format, Operator: c.Operator, Interval: c.Interval, Dir: c.Dir,
			Settle: cmp.Or(c.Settle, 5*time.Second), IncompleteWait: c.IncompleteWait, RequireChecksum: c.RequireChecksum,
			Guards: guard.Guards{MaxBadRowRatio: g.MaxBadRowRatio, MinSnapshotRatio: cmp.Or(g.MinSnapshotRatio, global.MinSnapshotRatio),
				MaxUnblocks: cmp.Or(g.MaxUnblocks, global.MaxUnblocks), MaxUnblockRatio: cmp.Or(g.MaxUnblockRatio, global.MaxUnblockRatio),
				RatioFloor: cmp.Or(g.RatioFloor, global.RatioFloor), Strict: g.Strict},
			Limits: regsync.Limits{MaxFileBytes: c.Limits.MaxFileBytes, MaxUncompressedBytes: c.Limits.MaxUncompressedBytes,
				MaxRatio: c.Limits.MaxRatio, MaxRows: c.Limits.MaxRows},
		}
		if h := c.HTTPS; len(h.URLs) > 0 {
			var tlsOpts *fetch.TLSOptions
			if h.CAFile != "" || h.CertFile != "" || h.ServerName != "" {
				tlsOpts = &fetch.TLSOptions{CAFile: h.CAFile, CertFile: h.CertFile, KeyFile: h.KeyFile, ServerName: h.ServerName}
			}
			client, err := fetch.NewClient(cmp.Or(h.Timeout, time.Minute), tlsOpts)
			if err != nil {
				return nil, fmt.Errorf("sync.sources[%d].https: %w", i, err)
			}
			// bearer_token_file was read by config.Load into bearer_token.
			sc.HTTP = &regsync.HTTPSource{URLs: h.URLs, Client: client, BearerToken: h.BearerToken,
				Retries: h.Retries, Backoff: h.Backoff, SpoolDir: h.SpoolDir}
		}
		out = append(out, sc)
	}
	return out, nil
}

// syncer is the registry sync engine as the admin API asks it: the
// reports answered as they are.
type syncer struct{ e *regsync.Engine }

func (s syncer) Pass(ctx context.Context, source string) (any, error) { return s.e.Pass(ctx, source) }
func (s syncer) Status(ctx context.Context) (any, []json.RawMessage, error) {
	return s.e.Status(ctx)
}
func (s syncer) Approve(ctx context.Context, source, file, actor string) (any, error) {
	return s.e.Approve(ctx, source, file, actor)
}
func (s syncer) Sources() []string { return s.e.Sources() }

func (s syncer) Summary(ctx context.Context) ([]api.SyncStatus, error) {
	sources, _, err := s.e.Status(ctx)
	if err != nil {
		return nil, err
	}
	var sum []api.SyncStatus
	for _, src := range sources {
		ss := api.SyncStatus{Source: src.Source, Held: len(src.Held)}
		if src.LastPass != nil {
			if !src.LastPass.LastOK.IsZero() {
				ss.LastSuccess = src.LastPass.LastOK.UTC().Format(time.RFC3339Nano)
			}
			ss.LastError = src.LastPass.Error
		}
		sum = append(sum, ss)
	}
	return sum, nil
}
