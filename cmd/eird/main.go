// Command eird is the EIR daemon: the S13/S13' Diameter server and the admin
// API, answering from the lists kept in Redis.
//
// Usage:
//
//	eird -config eird.yaml       run
//	eird -config eird.yaml -check-config
//	eird -print-keys             list every configuration key, its default and environment variable
//	eird -version
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/eir-sidecar/eir/admin"
	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/diameter"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/events"
	"github.com/eir-sidecar/eir/eir/observe"
	"github.com/eir-sidecar/eir/eir/observe/redact"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/n5g"
	"github.com/eir-sidecar/eir/n5g/nrf"
	"github.com/eir-sidecar/eir/regsync"
	"github.com/eir-sidecar/eir/regsync/fetch"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eird", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); keys can also be set with EIR_* environment variables")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	printKeys := fs.Bool("print-keys", false, "print every configuration key with its default and environment variable, and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintf(stdout, "eird %s (commit %s, %s)\n", version, commit, runtime.Version())
		return 0
	case *printKeys:
		for _, k := range config.Keys() {
			fmt.Fprintf(stdout, "%-40s %-36s %s\n", k.Path, k.Env, k.Default)
		}
		return 0
	}
	cfg, err := config.Load(*path)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "eird: configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	if *check {
		fmt.Fprintln(stdout, "configuration ok")
		return 0
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "eird: %v\n", err)
		return 2
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *path, cfg, log); err != nil {
		log.Error("eird stopped", zap.Error(err))
		return 1
	}
	return 0
}

func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	// Sampling keeps a burst of identical messages (a store outage seen by
	// every request) from flooding the log: the first 10 per second, then
	// one in 100.
	core = zapcore.NewSamplerWithOptions(core, time.Second, 10, 100)
	return zap.New(core, zap.AddCaller()), nil
}

// serve runs eird until ctx is done. SIGHUP reloads the configuration
// file (see reloader). Shutdown order: /readyz reports 503; the Diameter
// server closes its listener, sends DPR (REBOOTING) to every peer and
// answers requests in flight; the N5g-eir server sends GOAWAY and answers
// the requests in flight; the admin server stops; the hit events queued
// are written; background work stops; the Redis client closes.
func serve(ctx context.Context, path string, cfg config.Config, log *zap.Logger) error {
	log.Info("starting eird", zap.String("version", version), zap.String("commit", commit),
		zap.String("diameter_listen", cfg.Diameter.Listen), zap.String("admin_listen", cfg.Admin.Listen),
		zap.String("redis_mode", cfg.Redis.Mode), zap.Strings("redis_addresses", cfg.Redis.Addresses))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "eir", Name: "build_info", Help: "Build of the running eird; always 1.",
	}, []string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(version, commit, runtime.Version()).Set(1)
	reg.MustRegister(buildInfo)

	redisstore.RouteLibraryLog(log.Named("redis"))
	ropts, err := clientOptions(cfg.Redis)
	if err != nil {
		return err
	}
	store, err := redisstore.Open(ctx, ropts, redisstore.Options{
		Prefix: cfg.Store.KeyPrefix, Grace: cfg.Store.VersionGrace, BuildLease: cfg.Store.BuildLease,
		Replica: cfg.Store.Replica, ReplicaRefresh: cfg.Store.ReplicaRefresh, ReplicaMaxEntries: cfg.Store.ReplicaMax,
		MaxStale: cfg.Store.MaxStale, SnapshotDir: cfg.Store.SnapshotDir, OverlayMax: cfg.Store.OverlayMax,
	}, log.Named("store"), reg)
	if err != nil {
		return err
	}
	defer store.Close()

	policy, err := policyFrom(cfg.Policy)
	if err != nil {
		return err
	}
	checker := eir.NewDecider(store, policy)
	decisions, err := observe.New(reg)
	if err != nil {
		return err
	}
	redactor := redact.New([]byte(cfg.Log.IdentityHashKey))
	trail := audit.New(store, audit.Options{MaxRecords: cfg.Audit.MaxRecords, MaxAge: cfg.Audit.MaxAge})
	var pub *events.Publisher
	if cfg.Events.Enabled {
		eo, err := eventsOptions(cfg.Events)
		if err != nil {
			return err
		}
		if pub, err = events.New(eo, store, log.Named("events"), reg); err != nil {
			return err
		}
	}
	dopts, err := diameterOptions(cfg)
	if err != nil {
		return err
	}
	dopts.Observer = nil // TODO(integrator): observer
	dsrv, err := diameter.NewServer(dopts, checker, log.Named("diameter"), reg)
	if err != nil {
		return err
	}
	n5gOpts := n5g.Options{Decisions: decisions, Redactor: redactor}
	if pub != nil {
		n5gOpts.Events = pub
	}
	verifier, err := newVerifier(cfg.N5g.OAuth, cfg.NRF.InstanceID)
	if err != nil {
		return err
	}
	if verifier != nil {
		n5gOpts.Authorize = authorize(verifier)
	}
	tokens, err := adminTokens(cfg.Admin.Tokens)
	if err != nil {
		return err
	}
	var syncer *regsync.Engine
	if len(cfg.Sync.Sources) > 0 {
		sources, err := syncSources(cfg.Sync.Sources, cfg.Guards)
		if err != nil {
			return err
		}
		syncer, err = regsync.New(regsync.Options{LockTTL: cfg.Sync.LockTTL, Audit: trail}, sources, store,
			regsync.CoordinatorFor(store), log.Named("sync"), reg)
		if err != nil {
			return err
		}
	}
	var registrar *nrf.Client // set before any server starts
	rl := &reloader{path: path, cfg: cfg, dsrv: dsrv, checker: checker, trail: trail, verifier: verifier, log: log.Named("reload")}
	aopts := admin.Options{
		Tokens: tokens, MaxBodyBytes: cfg.Admin.MaxBodyBytes, Gatherer: reg,
		Observer: nil, // TODO(integrator): observer
		Describe: func(d eir.Decision, err error) any { return diameter.Describe(d, err) },
		Notes:    store, Audit: trail, Reload: rl.reload, CertRoles: certRoles(cfg.Admin.TLS),
		OpenPeers: dsrv.OpenPeers, Version: version, Commit: commit, Redactor: redactor, Pprof: cfg.Admin.Pprof,
		CertWriterSources: cfg.Admin.TLS.WriterSources, Recoverer: store, Guards: guardsFrom(cfg.Guards),
		NRF: func() any {
			if registrar == nil {
				return nil
			}
			return registrar.Status()
		},
	}
	if syncer != nil {
		aopts.Sync = syncer
		aopts.ProtectedSources = syncer.Sources()
	}
	if pub != nil {
		aopts.Events = store
	}
	api := admin.New(aopts, store, checker, log.Named("admin"))
	rl.api = api

	dl, err := diameter.Listen(cfg.Diameter.Transport, cfg.Diameter.Listen)
	if err != nil {
		return err
	}
	sbi, err := newN5g(cfg.N5g, n5gOpts, checker, log.Named("n5g"), reg)
	if err != nil {
		dl.Close()
		return err
	}
	if sbi != nil {
		if registrar, err = newNRF(cfg, sbi.l.Addr(), log.Named("nrf"), reg); err != nil {
			dl.Close()
			sbi.l.Close()
			return err
		}
	}
	var hsrv *http.Server
	var al net.Listener
	if cfg.Admin.Listen != "" {
		if al, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			dl.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		hsrv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		if t := cfg.Admin.TLS; t.CertFile != "" {
			if hsrv.TLSConfig, err = admin.TLSConfig(t.CertFile, t.KeyFile, t.ClientCAFile); err != nil {
				dl.Close()
				al.Close()
				return err
			}
			al = tls.NewListener(al, hsrv.TLSConfig)
		}
	}

	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		store.RunJanitor(bg, cfg.Store.JanitorInterval)
	}()
	go func() {
		defer wg.Done()
		store.Run(bg)
	}()
	go func() {
		defer wg.Done()
		api.Edits().RunExpirySweep(bg, cfg.Store.ExpirySweep)
	}()
	if cfg.Store.AutoRestore {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api.RunAutoRestore(bg, time.Second)
		}()
	}
	if pub != nil {
		pub.Start()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-bg.Done():
				return
			case <-hup:
				rctx, cancel := context.WithTimeout(bg, 30*time.Second)
				rl.reload(rctx, "SIGHUP")
				cancel()
			}
		}
	}()
	if syncer != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			syncer.Run(bg)
		}()
	}
	if len(cfg.Bootstrap.Files) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bootstrap(bg, store, cfg.Bootstrap.Files, log.Named("bootstrap"))
		}()
	}
	go func() {
		if err := dsrv.Serve(dl); !errors.Is(err, diameter.ErrServerClosed) {
			errc <- fmt.Errorf("diameter: %w", err)
		}
	}()
	if hsrv != nil {
		go func() {
			if err := hsrv.Serve(al); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
	}
	n5gAddr := ""
	nrfCtx, stopNRF := context.WithCancel(context.Background())
	defer stopNRF()
	nrfDone := make(chan struct{})
	if sbi != nil {
		n5gAddr = sbi.l.Addr().String()
		go func() {
			if err := sbi.serve(); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("n5g: %w", err)
			}
		}()
	}
	if registrar != nil {
		go func() {
			defer close(nrfDone)
			registrar.Run(nrfCtx)
		}()
	} else {
		close(nrfDone)
	}
	adminAddr := ""
	if al != nil {
		adminAddr = al.Addr().String()
	}
	log.Info("eird ready", zap.String("diameter", dl.Addr().String()), zap.String("admin", adminAddr), zap.String("n5g", n5gAddr),
		zap.String("origin_host", cfg.Diameter.OriginHost), zap.String("origin_realm", cfg.Diameter.OriginRealm))

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("server failed; shutting down", zap.Error(runErr))
	}
	api.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Diameter.DisconnectTimeout+cfg.Diameter.RequestTimeout+time.Second)
	defer cancel()
	if err := dsrv.Shutdown(sctx); err != nil {
		log.Warn("diameter peers did not all disconnect in time", zap.Error(err))
	}
	// Deregister first: AMFs stop selecting this EIR while the requests
	// in flight are still answered.
	stopNRF()
	<-nrfDone
	if registrar != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := registrar.Deregister(dctx); err != nil {
			log.Warn("NRF deregistration failed", zap.Error(err))
		}
		cancel()
	}
	if sbi != nil {
		if err := sbi.srv.Shutdown(sctx); err != nil {
			log.Warn("n5g shutdown", zap.Error(err))
		}
	}
	if hsrv != nil {
		if err := hsrv.Shutdown(sctx); err != nil {
			log.Warn("admin server shutdown", zap.Error(err))
		}
	}
	if pub != nil {
		ectx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := pub.Close(ectx); err != nil {
			log.Warn("hit events not all written", zap.Error(err))
		}
		cancel()
	}
	stopBG()
	wg.Wait()
	if syncer != nil {
		syncer.Close()
	}
	log.Info("eird stopped")
	return runErr
}

func clientOptions(c config.Redis) (redisstore.ClientOptions, error) {
	o := redisstore.ClientOptions{
		Mode: c.Mode, Addresses: c.Addresses, MasterName: c.MasterName, Username: c.Username,
		Password: c.Password, SentinelPassword: c.SentinelPassword, DB: c.DB,
		DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout, PoolSize: c.PoolSize,
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return o, fmt.Errorf("redis.password_file: %w", err)
		}
		o.Password = strings.TrimSpace(string(b))
	}
	if c.TLS.Enabled {
		o.TLS = &redisstore.TLSOptions{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
			ServerName: c.TLS.ServerName, InsecureSkipVerify: c.TLS.InsecureSkipVerify}
	}
	return o, nil
}

// guardsFrom is the top-level guards section as regsync's guards.
func guardsFrom(g config.Guards) regsync.Guards {
	return regsync.Guards{MinSnapshotRatio: g.MinSnapshotRatio, MaxUnblocks: g.MaxUnblocks,
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

func adminTokens(ts []config.Token) ([]admin.Token, error) {
	var out []admin.Token
	for _, t := range ts {
		secret := t.Token
		if t.TokenFile != "" {
			b, err := os.ReadFile(t.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("admin.tokens %s: %w", t.Name, err)
			}
			secret = strings.TrimSpace(string(b))
		}
		out = append(out, admin.Token{Name: t.Name, Secret: secret, Write: t.Role == "write", Sources: t.Sources})
	}
	return out, nil
}

// bootstrap loads the bootstrap files once the store answers, if no dataset
// exists yet. It retries while Redis is unreachable.
func bootstrap(ctx context.Context, store *redisstore.Store, files []string, log *zap.Logger) {
	for {
		done, err := bootstrapOnce(ctx, store, files, log)
		if done {
			return
		}
		log.Warn("bootstrap lists not loaded yet; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func bootstrapOnce(ctx context.Context, store *redisstore.Store, files []string, log *zap.Logger) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ds, err := store.Datasets(cctx)
	if err != nil {
		return false, err
	}
	if len(ds) > 0 {
		log.Info("store already has lists; bootstrap files not loaded", zap.Int("datasets", len(ds)))
		return true, nil
	}
	var changes []eir.Change
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			log.Error("bootstrap file unreadable; skipped", zap.String("file", f), zap.Error(err))
			continue
		}
		res, err := provision.Parse(fh, provision.Options{})
		fh.Close()
		if err != nil {
			log.Error("bootstrap file rejected; skipped", zap.String("file", f), zap.Error(err))
			continue
		}
		changes = append(changes, res.Changes...)
	}
	if len(changes) == 0 {
		return true, nil
	}
	res, err := store.Apply(cctx, changes)
	if err != nil {
		return false, err
	}
	log.Info("bootstrap lists loaded", zap.Strings("files", files), zap.Int("datasets", len(res.Datasets)))
	return true, nil
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
			Guards: regsync.Guards{MaxBadRowRatio: g.MaxBadRowRatio, MinSnapshotRatio: cmp.Or(g.MinSnapshotRatio, global.MinSnapshotRatio),
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
			token := h.BearerToken
			if h.BearerTokenFile != "" {
				b, err := os.ReadFile(h.BearerTokenFile)
				if err != nil {
					return nil, fmt.Errorf("sync.sources[%d].https.bearer_token_file: %w", i, err)
				}
				token = strings.TrimSpace(string(b))
			}
			sc.HTTP = &regsync.HTTPSource{URLs: h.URLs, Client: client, BearerToken: token,
				Retries: h.Retries, Backoff: h.Backoff, SpoolDir: h.SpoolDir}
		}
		out = append(out, sc)
	}
	return out, nil
}
