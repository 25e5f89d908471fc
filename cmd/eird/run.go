package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/diameter"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/provision"
	"github.com/eir-sidecar/eir/eir/redisstore"
)

// running is what a started daemon stops.
type running struct {
	stopBG   context.CancelFunc // background work
	wg       *sync.WaitGroup    // background goroutines
	errc     chan error         // a server that failed
	stopNRF  context.CancelFunc // the NRF registration
	stopWait context.CancelFunc // the wait for readiness (awaitReady)
	nrfDone  chan struct{}      // closed when the NRF client stopped
	hup      chan os.Signal
}

// run starts the daemon and runs it until ctx is done or a server fails.
// It logs "eird listening" with the addresses once the servers accept
// connections, and "eird ready" (systemd: READY=1) once /readyz answers
// 200: a list version is loaded. SIGHUP reloads the configuration file
// (see reloader). Shutdown order: systemd is told STOPPING=1;
// /readyz reports 503; the Diameter server closes its listener, sends DPR
// (REBOOTING) to every peer and answers requests in flight; the NRF
// registration stops and is deregistered; the N5g-eir server sends GOAWAY
// and answers the requests in flight; the admin server stops; the
// observations queued are written (with their events and detections); the
// events queued are written; background work stops. The caller then
// closes the Redis client.
func (d *daemon) run(ctx context.Context) error {
	r := d.start()
	defer r.stopNRF()
	defer signal.Stop(r.hup)
	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down")
	case runErr = <-r.errc:
		d.log.Error("server failed; shutting down", zap.Error(runErr))
	}
	d.sd.stopping()
	d.shutdown(r)
	d.log.Info("eird stopped")
	return runErr
}

// start starts the background work, then the servers, logs "eird
// listening" and starts the wait for readiness (awaitReady).
func (d *daemon) start() *running {
	cfg := d.cfg
	bg, stopBG := context.WithCancel(context.Background())
	r := &running{stopBG: stopBG, wg: new(sync.WaitGroup), errc: make(chan error, 4), nrfDone: make(chan struct{})}
	goBG := func(f func()) {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			f()
		}()
	}
	goBG(func() { d.store.RunJanitor(bg, cfg.Store.JanitorInterval) })
	goBG(func() { d.store.Run(bg) })
	goBG(func() { d.api.Edits().RunExpirySweep(bg, cfg.Store.ExpirySweep) })
	if cfg.Store.AutoRestore {
		goBG(func() { d.api.RunAutoRestore(bg, time.Second) })
	}
	if d.pub != nil {
		d.pub.Start()
	}
	r.hup = make(chan os.Signal, 1)
	signal.Notify(r.hup, syscall.SIGHUP)
	goBG(func() {
		for {
			select {
			case <-bg.Done():
				return
			case <-r.hup:
				d.sd.reloading()
				rctx, cancel := context.WithTimeout(bg, 30*time.Second)
				d.rl.reload(rctx, "SIGHUP")
				cancel()
				d.sd.reloaded()
			}
		}
	})
	if d.syncer != nil {
		goBG(func() { d.syncer.Run(bg) })
	}
	if d.opsched != nil {
		goBG(func() { d.opsched.Run(bg) })
	}
	if len(cfg.Bootstrap.Files) > 0 {
		goBG(func() { bootstrap(bg, d.store, cfg.Bootstrap.Files, d.log.Named("bootstrap")) })
	}
	d.serve(r)
	wait, stopWait := context.WithCancel(bg)
	r.stopWait = stopWait
	goBG(func() { d.awaitReady(wait) })
	return r
}

// serve starts the servers and the NRF registration.
func (d *daemon) serve(r *running) {
	diameterAddr, diameterTLSAddr := "", ""
	if d.dl != nil {
		diameterAddr = d.dl.Addr().String()
		go func() {
			if err := d.dsrv.Serve(d.dl); !errors.Is(err, diameter.ErrServerClosed) {
				r.errc <- fmt.Errorf("diameter: %w", err)
			}
		}()
	}
	if d.dtl != nil {
		diameterTLSAddr = d.dtl.Addr().String()
		go func() {
			if err := d.dsrv.ServeTLS(d.dtl, d.dtls.Config()); !errors.Is(err, diameter.ErrServerClosed) {
				r.errc <- fmt.Errorf("diameter tls: %w", err)
			}
		}()
	}
	if d.hsrv != nil {
		go func() {
			if err := d.hsrv.Serve(d.al); !errors.Is(err, http.ErrServerClosed) {
				r.errc <- fmt.Errorf("admin: %w", err)
			}
		}()
	}
	n5gAddr := ""
	var nrfCtx context.Context
	nrfCtx, r.stopNRF = context.WithCancel(context.Background())
	if d.sbi != nil {
		n5gAddr = d.sbi.l.Addr().String()
		go func() {
			if err := d.sbi.serve(); !errors.Is(err, http.ErrServerClosed) {
				r.errc <- fmt.Errorf("n5g: %w", err)
			}
		}()
	}
	if d.registrar != nil {
		go func() {
			defer close(r.nrfDone)
			d.registrar.Run(nrfCtx)
		}()
	} else {
		close(r.nrfDone)
	}
	adminAddr := ""
	if d.al != nil {
		adminAddr = d.al.Addr().String()
	}
	d.log.Info("eird listening", zap.String("diameter", diameterAddr), zap.String("diameter_tls", diameterTLSAddr),
		zap.String("admin", adminAddr), zap.String("n5g", n5gAddr),
		zap.String("origin_host", d.cfg.Diameter.OriginHost), zap.String("origin_realm", d.cfg.Diameter.OriginRealm))
}

// shutdown stops the daemon in the order documented on run.
func (d *daemon) shutdown(r *running) {
	log := d.log
	r.stopWait()
	d.api.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.Diameter.DisconnectTimeout+d.cfg.Diameter.RequestTimeout+time.Second)
	defer cancel()
	if err := d.dsrv.Shutdown(sctx); err != nil {
		log.Warn("diameter peers did not all disconnect in time", zap.Error(err))
	}
	// Deregister first: AMFs stop selecting this EIR while the requests
	// in flight are still answered.
	r.stopNRF()
	<-r.nrfDone
	if d.registrar != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := d.registrar.Deregister(dctx); err != nil {
			log.Warn("NRF deregistration failed", zap.Error(err))
		}
		cancel()
	}
	if d.sbi != nil {
		if err := d.sbi.srv.Shutdown(sctx); err != nil {
			log.Warn("n5g shutdown", zap.Error(err))
		}
	}
	if d.hsrv != nil {
		if err := d.hsrv.Shutdown(sctx); err != nil {
			log.Warn("admin server shutdown", zap.Error(err))
		}
	}
	if d.obs != nil {
		// The servers are stopped: every observation is queued. Written
		// before the events are flushed: they publish some.
		octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.obs.close(octx); err != nil {
			log.Warn("observations not all written", zap.Error(err))
		}
		cancel()
	}
	if d.pub != nil {
		ectx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.pub.Close(ectx); err != nil {
			log.Warn("hit events not all written", zap.Error(err))
		}
		cancel()
	}
	r.stopBG()
	r.wg.Wait()
	if d.syncer != nil {
		d.syncer.Close()
	}
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
