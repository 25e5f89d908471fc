package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// ClientOptions describes the Redis deployment.
type ClientOptions struct {
	Mode             string // standalone | sentinel | cluster
	Addresses        []string
	MasterName       string
	Username         string
	Password         string
	SentinelPassword string
	DB               int
	DialTimeout      time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	PoolSize         int
	TLS              *TLSOptions // nil: plain TCP
}

// TLSOptions configures TLS to Redis.
type TLSOptions struct {
	CAFile, CertFile, KeyFile, ServerName string
	InsecureSkipVerify                    bool
}

func (t *TLSOptions) config() (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	f := tlsconf.Files{CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile}
	if t.CertFile == "" {
		f.Key = "" // a key without its certificate was never read
	}
	return tlsconf.Client(f, t.ServerName, t.InsecureSkipVerify)
}

// clusterStateReload is how old the cluster client's slot map may get
// before it is read again (CLUSTER SLOTS on one node). go-redis reads it
// again at once only on a MOVED, ASK or READONLY answer, which a dead master
// never gives: with its default (60 s) every command for the slots of a
// killed master kept going to the dead address for up to a minute after the
// cluster had promoted its replica (seen in test/hosts_test.go: writes,
// sync passes and the epoch read failing 30 s after a 2.5 s failover).
const clusterStateReload = time.Second

// NewClient returns a go-redis client for the deployment. Every command
// honours its context's deadline (ContextTimeoutEnabled).
func NewClient(o ClientOptions) (redis.UniversalClient, error) {
	tc, err := o.TLS.config()
	if err != nil {
		return nil, fmt.Errorf("redisstore: tls: %w", err)
	}
	if len(o.Addresses) == 0 {
		return nil, errors.New("redisstore: no redis address")
	}
	switch strings.ToLower(o.Mode) {
	case "", "standalone":
		return redis.NewClient(&redis.Options{
			Addr: o.Addresses[0], Username: o.Username, Password: o.Password, DB: o.DB,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolSize: o.PoolSize, TLSConfig: tc, ContextTimeoutEnabled: true,
		}), nil
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: o.MasterName, SentinelAddrs: o.Addresses, SentinelPassword: o.SentinelPassword,
			Username: o.Username, Password: o.Password, DB: o.DB,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolSize: o.PoolSize, TLSConfig: tc, ContextTimeoutEnabled: true,
		}), nil
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: o.Addresses, Username: o.Username, Password: o.Password,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolSize: o.PoolSize, TLSConfig: tc, ContextTimeoutEnabled: true,
			ClusterStateReloadInterval: clusterStateReload,
		}), nil
	}
	return nil, fmt.Errorf("redisstore: mode %q: want standalone, sentinel or cluster", o.Mode)
}

// Open connects to Redis and returns a store that owns the client (Close
// closes it).
func Open(ctx context.Context, co ClientOptions, o Options, log *zap.Logger, reg prometheus.Registerer) (*Store, error) {
	rdb, err := NewClient(co)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, rdb, o, log, reg)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Close closes the Redis client if the store opened it.
func (s *Store) Close() error {
	if s.owned {
		return s.rdb.Close()
	}
	return nil
}

// Client is the store's Redis client, for the stores that share it (the
// sighting store of eir/sighting: same servers, same key prefix).
func (s *Store) Client() redis.UniversalClient { return s.rdb }
