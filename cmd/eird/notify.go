package main

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// notifier tells systemd how eird is doing (sd_notify(3), for the unit's
// Type=notify): READY=1 once eird answers checks from a list version (when
// /readyz first answers 200), RELOADING=1 and READY=1 around a SIGHUP
// reload, STOPPING=1 when the shutdown begins, and STATUS= lines for
// `systemctl status`. Without $NOTIFY_SOCKET (not started by systemd) it
// sends nothing.
type notifier struct {
	log   *zap.Logger
	ready atomic.Bool // READY=1 sent
}

func (n *notifier) send(state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		key, _, _ := strings.Cut(state, "=") // READY, STATUS, …: never the status text
		n.log.Warn("systemd notification not sent", zap.String("state", key), zap.Error(err))
	}
}

// status sets the status line `systemctl status` shows.
func (n *notifier) status(s string) { n.send("STATUS=" + s) }

// markReady sends READY=1, once.
func (n *notifier) markReady() {
	if n.ready.CompareAndSwap(false, true) {
		n.send("READY=1\nSTATUS=ready: answering checks from the lists in force")
	}
}

// reloading and reloaded frame a reload; before READY=1 they send
// nothing (systemd reads RELOADING=1 only from a started service).
func (n *notifier) reloading() {
	if n.ready.Load() {
		n.send("RELOADING=1\n" + sdnotify.SdNotifyMonotonicUsec())
	}
}

func (n *notifier) reloaded() {
	if n.ready.Load() {
		n.send("READY=1")
	}
}

func (n *notifier) stopping() { n.send("STOPPING=1\nSTATUS=shutting down") }

// awaitReady waits until /readyz would answer 200 (the store serves a list
// version), then logs "eird ready" and tells systemd READY=1. Until then
// it logs, once per reason, why eird is not ready, and puts the reason in
// systemd's status line. It returns early when ctx is done.
func (d *daemon) awaitReady(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		err := d.api.Ready(ctx)
		if err == nil {
			break
		}
		if why := err.Error(); why != last {
			last = why
			d.log.Info("eird not ready yet; /readyz answers 503", zap.String("reason", why))
			d.sd.status("not ready: " + why + " (load lists: eirctl import, a sync source or bootstrap.files)")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	h := d.store.Health()
	d.log.Info("eird ready", zap.String("store", h.State), zap.Int("datasets", h.Datasets), zap.Uint64("entries", h.Entries))
	d.sd.markReady()
}
