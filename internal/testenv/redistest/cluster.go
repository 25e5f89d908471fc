package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// clusterCreateTimeout bounds `redis-cli --cluster create`.
	clusterCreateTimeout = 30 * time.Second
	// clusterReadyTimeout bounds the wait for cluster_state:ok on all nodes.
	clusterReadyTimeout = 30 * time.Second
	clusterSlots        = 16384
)

// create joins the nodes of c into a cluster with replicas replicas per
// master (`redis-cli --cluster create`) and waits until it is ready.
func (c *Cluster) create(tb testing.TB, cli string, replicas int) {
	tb.Helper()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterCreateTimeout)
	defer cancel()
	cmd := execCommand(ctx, cli, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli %v failed: %v (timeout %v)\n%s", args, err, clusterCreateTimeout, out)
	}
	if err := c.waitReady(); err != nil {
		tb.Fatalf("redistest: cluster %v not ready: %v", c.Addrs(), err)
	}
}

// Cluster is a Redis Cluster owned by a test: masters only (StartCluster), or
// masters with replicas (StartClusterWith).
type Cluster struct {
	nodes []*Server
}

// StartCluster starts masters (at least 3) cluster-enabled redis-server
// processes, each with its own free port, free bus port and temporary
// directory, joins them with `redis-cli --cluster create`, and returns once
// every node reports cluster_state:ok, knows all other nodes and all 16384
// slots are assigned. All nodes are stopped at cleanup.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("redistest: StartCluster needs at least 3 masters, got %d", masters)
	}
	cli := lookPath(tb, "redis-cli")
	c := &Cluster{}
	for i := range masters {
		c.nodes = append(c.nodes, startServer(tb, &Server{
			name: fmt.Sprintf("cluster node %d", i),
			mode: modeCluster,
		}))
	}

	c.create(tb, cli, 0)
	return c
}

// execCommand is a command that dies with the test and does not hang on
// its output pipe after a kill.
func execCommand(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = time.Second
	return cmd
}

// waitReady polls CLUSTER INFO on every node until all of them report
// cluster_state:ok, all slots assigned and all nodes known.
func (c *Cluster) waitReady() error {
	deadline := time.Now().Add(clusterReadyTimeout)
	clients := make([]*redis.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(adminOptions(n.Addr(), ""))
		defer clients[i].Close()
	}
	ticker := time.NewTicker(5 * pollInterval)
	defer ticker.Stop()
	for {
		err := c.checkReady(clients, deadline)
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("after %v: %v", clusterReadyTimeout, err)
		}
		<-ticker.C
	}
}

func (c *Cluster) checkReady(clients []*redis.Client, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for i, cl := range clients {
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("CLUSTER INFO on %s: %w", cl.Options().Addr, err)
		}
		checks := []struct{ key, want string }{
			{"cluster_state", "ok"},
			{"cluster_slots_assigned", strconv.Itoa(clusterSlots)},
			{"cluster_known_nodes", strconv.Itoa(len(clients))},
		}
		for _, ch := range checks {
			if got := infoField(info, ch.key); got != ch.want {
				return fmt.Errorf("node %d (%s): %s is %q, want %q", i, cl.Options().Addr, ch.key, got, ch.want)
			}
		}
	}
	return nil
}

// Addrs returns the "host:port" addresses of all nodes.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the nodes as Servers, e.g. to Stop or Restart one of them.
func (c *Cluster) Nodes() []*Server {
	return append([]*Server(nil), c.nodes...)
}

// Client returns a new go-redis cluster client seeded with all nodes. It is
// closed at the cleanup of tb, before the nodes are stopped.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// Stop stops all nodes. It is idempotent and also called at cleanup.
func (c *Cluster) Stop() {
	for _, n := range c.nodes {
		n.Stop()
	}
}
