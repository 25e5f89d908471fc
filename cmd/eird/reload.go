package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/admin"
	"github.com/eir-sidecar/eir/config"
	"github.com/eir-sidecar/eir/diameter"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/events"
	"github.com/eir-sidecar/eir/internal/tlsconf"
	"github.com/eir-sidecar/eir/n5g/oauth"
)

// reloadable are the keys a reload applies; a change of any other key is
// reported as needing a restart.
var reloadable = []string{"diameter.allow_any_peer", "diameter.peers", "admin.tokens",
	"policy.unknown_equipment", "policy.on_store_error", "policy.shadow_all", "policy.shadow_sources"}

// reloader re-reads the configuration file (SIGHUP, POST /v1/reload) and
// applies the Diameter allow-list, the admin tokens and the decision policy
// without closing a connection: open peers stay; the allow-list applies to
// the next CER. It re-reads the files of diameter.tls (certificate, key,
// client CAs; the same paths): new handshakes use them, open connections
// keep theirs. An invalid file changes nothing.
type reloader struct {
	path     string
	dsrv     *diameter.Server
	checker  *eir.Decider
	api      *admin.Server
	trail    *audit.Log
	verifier *oauth.Verifier   // nil without OAuth2 on N5g-eir
	dtls     *tlsconf.Reloader // nil without Diameter over TLS
	log      *zap.Logger

	mu  sync.Mutex
	cfg config.Config // in force
	// keySum is the SHA-256 of n5g.oauth.key_file as last loaded (see
	// fileSum): a reload reports the keys when the file's content changed.
	keySum [32]byte
}

// sectionOf names what a reloadable key reloads, as a reload reports it.
func sectionOf(key string) string {
	switch {
	case strings.HasPrefix(key, "diameter."):
		return "diameter.peers"
	case strings.HasPrefix(key, "policy."):
		return "policy"
	}
	return key // admin.tokens
}

// fileSum is the SHA-256 of a file's content (zero when it cannot be
// read).
func fileSum(path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

func (r *reloader) reload(ctx context.Context, actor string) (admin.ReloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.prepare()
	if err != nil {
		r.log.Error("configuration not reloaded; nothing changed", zap.String("actor", actor), zap.Error(err))
		return admin.ReloadResult{}, err
	}
	// What changed is reported (a token file's new content changes
	// admin.tokens: config.Load reads it); everything reloadable is
	// applied.
	res := admin.ReloadResult{Reloaded: []string{}}
	var applied []string
	for _, k := range config.Changed(r.cfg, next.cfg) {
		if !slices.Contains(reloadable, k) {
			res.RestartNeeded = append(res.RestartNeeded, k)
			continue
		}
		applied = append(applied, k)
		if s := sectionOf(k); !slices.Contains(res.Reloaded, s) {
			res.Reloaded = append(res.Reloaded, s)
		}
	}
	r.dsrv.SetPeers(next.cfg.Diameter.AllowAnyPeer, next.peers)
	r.api.SetTokens(next.tokens)
	r.checker.SetPolicy(next.policy)
	if r.verifier != nil {
		// The NRF may have rotated its signing key: re-read the file.
		sum := fileSum(r.cfg.N5g.OAuth.KeyFile)
		if err := r.verifier.Reload(); err != nil {
			r.log.Error("n5g.oauth.key_file not reloaded; the keys in use stay", zap.Error(err))
		} else if sum != r.keySum {
			r.keySum = sum
			applied = append(applied, "n5g.oauth.key_file")
			res.Reloaded = append(res.Reloaded, "n5g.oauth keys")
		}
	}
	if r.dtls != nil {
		// Certificates are renewed in place: re-read the files.
		if changed, err := r.dtls.Reload(); err != nil {
			r.log.Error("diameter.tls not reloaded; the certificates in use stay", zap.Error(tlsconf.Name(err, "diameter.tls", "diameter.tls.client_ca_file")))
		} else if changed {
			applied = append(applied, "diameter.tls")
			res.Reloaded = append(res.Reloaded, "diameter.tls")
		}
	}
	// The file's values of the keys needing a restart are not in force:
	// keep the old ones, so that the next reload reports them again.
	kept := r.cfg
	kept.Diameter.AllowAnyPeer, kept.Diameter.Peers = next.cfg.Diameter.AllowAnyPeer, next.cfg.Diameter.Peers
	kept.Admin.Tokens, kept.Policy = next.cfg.Admin.Tokens, next.cfg.Policy
	r.cfg = kept
	res.Time = time.Now().UTC()
	r.log.Info("configuration reloaded", zap.String("actor", actor), zap.Strings("changed", applied),
		zap.Strings("restart_needed", res.RestartNeeded))
	if len(res.RestartNeeded) > 0 {
		r.log.Warn("changed keys apply only after a restart", zap.Strings("keys", res.RestartNeeded))
	}
	if err := r.trail.Record(ctx, audit.Record{Actor: actor, Action: audit.ActionReload, Target: r.path,
		After: map[string][]string{"changed": applied, "restart_needed": res.RestartNeeded}}); err != nil {
		r.log.Error("audit record not written", zap.Error(err))
	}
	return res, nil
}

// prepared is a configuration read, validated and turned into what the
// servers take, before anything is applied.
type prepared struct {
	cfg    config.Config
	peers  []diameter.PeerRule
	tokens []admin.Token
	policy eir.Policy
}

func (r *reloader) prepare() (prepared, error) {
	if r.path == "" {
		return prepared{}, errors.New("eird was started without -config: there is no file to reload")
	}
	var p prepared
	var err error
	if p.cfg, err = config.Load(r.path); err == nil {
		err = p.cfg.Validate()
	}
	if err != nil {
		return p, err
	}
	dopts, err := diameterOptions(p.cfg)
	if err != nil {
		return p, err
	}
	p.peers = dopts.Peers
	p.tokens = adminTokens(p.cfg.Admin.Tokens)
	if p.policy, err = policyFrom(p.cfg.Policy); err != nil {
		return p, err
	}
	// observe.* needs a restart: the running one decides whether source
	// detected is shadowed.
	p.policy = shadowDetected(p.policy, r.cfg.Observe)
	// A listener bound to a non-loopback address was accepted at start
	// because tokens or client certificates protect it; a reload must not
	// remove the last protection.
	if len(p.tokens) == 0 && r.cfg.Admin.TLS.ClientCAFile == "" && !config.IsLoopback(r.cfg.Admin.Listen) {
		return p, fmt.Errorf("admin.tokens: the admin API listens on %s, not a loopback address: it cannot lose its tokens", r.cfg.Admin.Listen)
	}
	return p, nil
}

// certRoles maps client certificate names to their role (true: write).
func certRoles(t config.AdminTLS) map[string]bool {
	m := map[string]bool{}
	for _, n := range t.Readers {
		m[n] = false
	}
	for _, n := range t.Writers {
		m[n] = true
	}
	return m
}

// eventsOptions are the options of the hit events publisher
// (bearer_token_file was read by config.Load into bearer_token).
func eventsOptions(c config.Events) events.Options {
	o := events.Options{IncludeUnknown: c.IncludeUnknown, StreamMaxLen: c.StreamMaxLen, QueueSize: c.QueueSize}
	if w := c.Webhook; w.URL != "" {
		retries := w.Retries
		if retries == 0 {
			retries = -1 // none; events.Webhook reads 0 as its default
		}
		o.Webhook = &events.Webhook{URL: w.URL, Client: &http.Client{Timeout: w.Timeout}, BearerToken: w.BearerToken, Retries: retries}
	}
	return o
}
