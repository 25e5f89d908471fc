package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	masterName = "mymaster"
	// sentinelReadyTimeout bounds the wait for the sentinel to report the
	// master.
	sentinelReadyTimeout = 10 * time.Second
)

// Sentinel is one master and one Redis Sentinel monitoring it under the name
// "mymaster" (quorum 1, down-after-milliseconds 2000), owned by a test.
type Sentinel struct {
	master   *Server
	sentinel *Server
}

// StartSentinel starts a master (as Start does) and a sentinel process with
// its config file in a temporary directory, and returns once the sentinel
// reports the master's address and is connected to it. Both are stopped at
// cleanup, the sentinel first.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	master := Start(tb)
	_, portStr, _ := net.SplitHostPort(master.Addr())
	mport, _ := strconv.Atoi(portStr)
	sent := startServer(tb, &Server{
		name:       "redis-sentinel",
		mode:       modeSentinel,
		masterPort: mport,
	})
	s := &Sentinel{master: master, sentinel: sent}
	if err := s.waitReady(); err != nil {
		tb.Fatalf("redistest: sentinel %s does not report master %s: %v\n%s",
			sent.Addr(), master.Addr(), err, sent.Tail())
	}
	return s
}

// waitReady polls the sentinel until it names our master for mymaster and
// flags it as a plain, connected master.
func (s *Sentinel) waitReady() error {
	deadline := time.Now().Add(sentinelReadyTimeout)
	sc := redis.NewSentinelClient(adminOptions(s.sentinel.Addr(), ""))
	defer sc.Close()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	want := s.master.Addr()
	for {
		err := func() error {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			addr, err := sc.GetMasterAddrByName(ctx, masterName).Result()
			if err != nil {
				return fmt.Errorf("SENTINEL get-master-addr-by-name: %w", err)
			}
			if len(addr) != 2 || net.JoinHostPort(addr[0], addr[1]) != want {
				return fmt.Errorf("SENTINEL get-master-addr-by-name = %v, want %s", addr, want)
			}
			m, err := sc.Master(ctx, masterName).Result()
			if err != nil {
				return fmt.Errorf("SENTINEL MASTER: %w", err)
			}
			if m["flags"] != "master" {
				return fmt.Errorf("master flags are %q, want \"master\"", m["flags"])
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("after %v: %v", sentinelReadyTimeout, err)
		}
		<-ticker.C
	}
}

// MasterName returns the name the sentinel monitors the master under:
// "mymaster".
func (s *Sentinel) MasterName() string { return masterName }

// SentinelAddrs returns the "host:port" addresses of the sentinels.
func (s *Sentinel) SentinelAddrs() []string { return []string{s.sentinel.Addr()} }

// Master returns the monitored master.
func (s *Sentinel) Master() *Server { return s.master }

// Client returns a new go-redis failover client (redis.NewFailoverClient)
// that finds the master through the sentinel. It is closed at the cleanup
// of tb, before the processes are stopped.
func (s *Sentinel) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    masterName,
		SentinelAddrs: s.SentinelAddrs(),
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the sentinel, then the master. It is idempotent and also
// called at cleanup.
func (s *Sentinel) Stop() {
	s.sentinel.Stop()
	s.master.Stop()
}
