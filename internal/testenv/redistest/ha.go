package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// GroupOptions configures a replicated group: a Cluster with replicas
// (StartClusterWith) or a Sentinel group (StartSentinelGroup).
type GroupOptions struct {
	// Host is the address every process binds and announces (an address of
	// this machine, e.g. a test bridge's); "" is 127.0.0.1.
	Host string
	// NodeTimeout is cluster-node-timeout, or the sentinels'
	// down-after-milliseconds: how long a dead master goes unnoticed. 0 is
	// 2s.
	NodeTimeout time.Duration
}

func (o GroupOptions) nodeTimeout() time.Duration {
	if o.NodeTimeout <= 0 {
		return 2 * time.Second
	}
	return o.NodeTimeout
}

// ClusterOptions configures StartClusterWith.
type ClusterOptions struct {
	GroupOptions
	Masters  int // at least 3
	Replicas int // replicas per master
}

// StartClusterWith starts a Redis Cluster of o.Masters masters with
// o.Replicas replicas each (`redis-cli --cluster create ...
// --cluster-replicas N`), every node on o.Host with a free port, and
// returns once every node reports cluster_state:ok with all slots assigned
// and every replica's link to its master is up.
func StartClusterWith(tb testing.TB, o ClusterOptions) *Cluster {
	tb.Helper()
	if o.Masters < 3 {
		tb.Fatalf("redistest: a cluster needs at least 3 masters, got %d", o.Masters)
	}
	cli := lookPath(tb, "redis-cli")
	c := &Cluster{}
	timeout := strconv.FormatInt(o.nodeTimeout().Milliseconds(), 10)
	for i := range o.Masters * (1 + o.Replicas) {
		c.nodes = append(c.nodes, startServer(tb, &Server{
			name:      fmt.Sprintf("cluster node %d", i),
			mode:      modeCluster,
			host:      o.Host,
			extraArgs: []string{"--cluster-node-timeout", timeout, "--repl-diskless-sync-delay", "0"},
		}))
	}
	c.create(tb, cli, o.Replicas)
	if err := waitReplicasLinked(c.nodes); err != nil {
		tb.Fatalf("redistest: cluster %v: %v", c.Addrs(), err)
	}
	return c
}

// waitReplicasLinked polls INFO replication on every server until each
// replica among them reports master_link_status:up.
func waitReplicasLinked(servers []*Server) error {
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		err := replicasLinked(servers, deadline)
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("replicas not linked after %v: %v", clusterReadyTimeout, err)
		}
		time.Sleep(5 * pollInterval)
	}
}

func replicasLinked(servers []*Server, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for _, s := range servers {
		info, err := s.info(ctx, "replication")
		if err != nil {
			return err
		}
		if infoField(info, "role") == "slave" && infoField(info, "master_link_status") != "up" {
			return fmt.Errorf("replica %s: master_link_status %q", s.Addr(), infoField(info, "master_link_status"))
		}
	}
	return nil
}

// info runs INFO section on the server with a short-lived client.
func (s *Server) info(ctx context.Context, section string) (string, error) {
	c := redis.NewClient(adminOptions(s.Addr(), s.cfg.password))
	defer c.Close()
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", fmt.Errorf("INFO %s on %s: %w", section, s.Addr(), err)
	}
	return info, nil
}

// Role returns "master" or "slave" (INFO replication) of a running server.
func (s *Server) Role(ctx context.Context) (string, error) {
	info, err := s.info(ctx, "replication")
	if err != nil {
		return "", err
	}
	return infoField(info, "role"), nil
}

// MasterOf returns the node serving key's slot as master, as the running
// nodes see it (CLUSTER SLOTS on the first node that answers).
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Server, error) {
	var lastErr error
	for _, n := range c.nodes {
		if n.Pid() == 0 {
			continue
		}
		cl := redis.NewClient(adminOptions(n.Addr(), n.cfg.password))
		addr, err := slotMaster(ctx, cl, key)
		cl.Close()
		if err != nil {
			lastErr = err
			continue
		}
		for _, m := range c.nodes {
			if m.Addr() == addr {
				return m, nil
			}
		}
		return nil, fmt.Errorf("redistest: slot of %q served by %s, not a node of this cluster", key, addr)
	}
	return nil, fmt.Errorf("redistest: no node answered CLUSTER SLOTS: %v", lastErr)
}

func slotMaster(ctx context.Context, cl *redis.Client, key string) (string, error) {
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", err
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, r := range slots {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			return r.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("slot %d unassigned", slot)
}

// WaitHealed polls the running nodes until every one reports
// cluster_state:ok, all slots assigned, and serves no slot from a node that
// is not running (after a Kill: a replica was promoted). It returns how
// long that took.
func (c *Cluster) WaitHealed(tb testing.TB, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := c.healed(deadline)
		if err == nil {
			return time.Since(start)
		}
		if !time.Now().Before(deadline) {
			tb.Fatalf("redistest: cluster not healed within %v: %v", timeout, err)
		}
		time.Sleep(5 * pollInterval)
	}
}

func (c *Cluster) healed(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	live := map[string]bool{}
	for _, n := range c.nodes {
		if n.Pid() != 0 {
			live[n.Addr()] = true
		}
	}
	for _, n := range c.nodes {
		if !live[n.Addr()] {
			continue
		}
		cl := redis.NewClient(adminOptions(n.Addr(), n.cfg.password))
		err := func() error {
			defer cl.Close()
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if st := infoField(info, "cluster_state"); st != "ok" {
				return fmt.Errorf("%s: cluster_state %s", n.Addr(), st)
			}
			slots, err := cl.ClusterSlots(ctx).Result()
			if err != nil {
				return err
			}
			covered := 0
			for _, r := range slots {
				if len(r.Nodes) == 0 || !live[r.Nodes[0].Addr] {
					return fmt.Errorf("%s: slots %d-%d served by a dead node", n.Addr(), r.Start, r.End)
				}
				covered += int(r.End-r.Start) + 1
			}
			if covered != clusterSlots {
				return fmt.Errorf("%s: %d slots assigned", n.Addr(), covered)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// SentinelGroup is one master, its replicas and several Redis Sentinels
// monitoring it under the name "mymaster", owned by a test.
type SentinelGroup struct {
	servers   []*Server // the first one started as master
	sentinels []*Server
}

// StartSentinelGroup starts a master, replicas replicas of it (replicaof)
// and sentinels sentinels (quorum: a majority of them;
// down-after-milliseconds: o.NodeTimeout), all on o.Host, and returns once
// every replica is linked and every sentinel reports the master and knows
// the replicas and the other sentinels. All are stopped at cleanup, the
// sentinels first.
func StartSentinelGroup(tb testing.TB, replicas, sentinels int, o GroupOptions) *SentinelGroup {
	tb.Helper()
	if sentinels < 1 {
		tb.Fatalf("redistest: a sentinel group needs a sentinel")
	}
	g := &SentinelGroup{}
	master := startServer(tb, &Server{name: "master", mode: modeStandalone, host: o.Host,
		extraArgs: []string{"--repl-diskless-sync-delay", "0"}})
	g.servers = append(g.servers, master)
	mhost, mport, _ := net.SplitHostPort(master.Addr())
	for i := range replicas {
		g.servers = append(g.servers, startServer(tb, &Server{
			name: fmt.Sprintf("replica %d", i+1), mode: modeStandalone, host: o.Host,
			extraArgs: []string{"--replicaof", mhost, mport, "--repl-diskless-sync-delay", "0"},
		}))
	}
	if err := waitReplicasLinked(g.servers); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	port, _ := strconv.Atoi(mport)
	for i := range sentinels {
		g.sentinels = append(g.sentinels, startServer(tb, &Server{
			name: fmt.Sprintf("sentinel %d", i+1), mode: modeSentinel, host: o.Host,
			masterPort: port, quorum: sentinels/2 + 1, downAfter: o.nodeTimeout(),
		}))
	}
	if err := g.waitReady(replicas, sentinels); err != nil {
		tb.Fatalf("redistest: sentinels of %s: %v", master.Addr(), err)
	}
	return g
}

func (g *SentinelGroup) waitReady(replicas, sentinels int) error {
	deadline := time.Now().Add(clusterReadyTimeout)
	want := map[string]string{
		"num-slaves":          strconv.Itoa(replicas),
		"num-other-sentinels": strconv.Itoa(sentinels - 1),
		"flags":               "master",
	}
	for {
		err := func() error {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			for _, s := range g.sentinels {
				sc := redis.NewSentinelClient(adminOptions(s.Addr(), ""))
				m, err := sc.Master(ctx, masterName).Result()
				sc.Close()
				if err != nil {
					return fmt.Errorf("%s: SENTINEL MASTER: %w", s.Addr(), err)
				}
				for k, v := range want {
					if m[k] != v {
						return fmt.Errorf("%s: %s is %q, want %q", s.Addr(), k, m[k], v)
					}
				}
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("after %v: %v", clusterReadyTimeout, err)
		}
		time.Sleep(5 * pollInterval)
	}
}

// MasterName returns "mymaster".
func (g *SentinelGroup) MasterName() string { return masterName }

// SentinelAddrs returns the addresses of the sentinels.
func (g *SentinelGroup) SentinelAddrs() []string {
	addrs := make([]string, len(g.sentinels))
	for i, s := range g.sentinels {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Servers returns the data servers, the one started as master first.
func (g *SentinelGroup) Servers() []*Server { return append([]*Server(nil), g.servers...) }

// Master asks the sentinels which server is the master now.
func (g *SentinelGroup) Master(ctx context.Context) (*Server, error) {
	var lastErr error
	for _, s := range g.sentinels {
		if s.Pid() == 0 {
			continue
		}
		sc := redis.NewSentinelClient(adminOptions(s.Addr(), ""))
		addr, err := sc.GetMasterAddrByName(ctx, masterName).Result()
		sc.Close()
		if err != nil || len(addr) != 2 {
			lastErr = fmt.Errorf("%s: SENTINEL get-master-addr-by-name: %v %v", s.Addr(), addr, err)
			continue
		}
		hp := net.JoinHostPort(addr[0], addr[1])
		for _, srv := range g.servers {
			if srv.Addr() == hp {
				return srv, nil
			}
		}
		return nil, fmt.Errorf("redistest: sentinels name %s, not a server of this group", hp)
	}
	return nil, fmt.Errorf("redistest: no sentinel answered: %v", lastErr)
}

// WaitFailover polls until every running sentinel names a running master
// other than old, and that server says it is a master; it returns the new
// master and how long that took.
func (g *SentinelGroup) WaitFailover(tb testing.TB, old *Server, timeout time.Duration) (*Server, time.Duration) {
	tb.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		m, err := g.agreedMaster(ctx)
		if err == nil && m != old && m.Pid() != 0 {
			role, rerr := m.Role(ctx)
			if rerr == nil && role == "master" {
				cancel()
				return m, time.Since(start)
			}
			err = fmt.Errorf("%s: role %q %v", m.Addr(), role, rerr)
		} else if err == nil {
			err = fmt.Errorf("sentinels still name %s", m.Addr())
		}
		cancel()
		lastErr = err
		time.Sleep(5 * pollInterval)
	}
	tb.Fatalf("redistest: no failover from %s within %v: %v", old.Addr(), timeout, lastErr)
	return nil, 0
}

// agreedMaster returns the master every running sentinel names.
func (g *SentinelGroup) agreedMaster(ctx context.Context) (*Server, error) {
	var names []string
	for _, s := range g.sentinels {
		sc := redis.NewSentinelClient(adminOptions(s.Addr(), ""))
		addr, err := sc.GetMasterAddrByName(ctx, masterName).Result()
		sc.Close()
		if err != nil || len(addr) != 2 {
			return nil, fmt.Errorf("%s: %v %v", s.Addr(), addr, err)
		}
		names = append(names, net.JoinHostPort(addr[0], addr[1]))
	}
	for _, n := range names[1:] {
		if n != names[0] {
			return nil, fmt.Errorf("sentinels disagree: %s", strings.Join(names, ", "))
		}
	}
	for _, srv := range g.servers {
		if srv.Addr() == names[0] {
			return srv, nil
		}
	}
	return nil, fmt.Errorf("sentinels name %s, not a server of this group", names[0])
}

// WaitReplicated reads the master's replication offset, then polls INFO
// replication until each of its replicas has acknowledged the stream up to
// that offset: a master killed afterwards loses no write it acknowledged
// before the call (writes made meanwhile may be lost). It fails the test
// after timeout.
func (s *Server) WaitReplicated(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var want int64 = -1
	var lastErr error
	for time.Now().Before(deadline) {
		lastErr = s.replicated(deadline, &want)
		if lastErr == nil {
			return
		}
		time.Sleep(pollInterval)
	}
	tb.Fatalf("redistest: replicas of %s not caught up within %v: %v", s.Addr(), timeout, lastErr)
}

// replicated sets *want to the master's offset when it is -1, and reports
// whether every replica has reached it.
func (s *Server) replicated(deadline time.Time, want *int64) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	info, err := s.info(ctx, "replication")
	if err != nil {
		return err
	}
	if infoField(info, "role") != "master" {
		return fmt.Errorf("%s is not a master", s.Addr())
	}
	if *want < 0 {
		*want, _ = strconv.ParseInt(infoField(info, "master_repl_offset"), 10, 64)
	}
	n, _ := strconv.Atoi(infoField(info, "connected_slaves"))
	if n == 0 {
		return fmt.Errorf("%s has no replica", s.Addr())
	}
	for i := range n {
		// slave0:ip=...,port=...,state=online,offset=N,lag=0
		var offset int64 = -1
		for kv := range strings.SplitSeq(infoField(info, fmt.Sprintf("slave%d", i)), ",") {
			if v, ok := strings.CutPrefix(kv, "offset="); ok {
				offset, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if offset < *want {
			return fmt.Errorf("replica %d of %s at offset %d, want %d", i, s.Addr(), offset, *want)
		}
	}
	return nil
}

// WaitLinked polls until the running nodes are healed (as WaitHealed) and
// every running replica's link to its master is up, and every master
// serving slots has a replica: the cluster can fail over again.
func (c *Cluster) WaitLinked(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		lastErr = c.healed(deadline)
		if lastErr == nil {
			lastErr = c.linked(deadline)
		}
		if lastErr == nil {
			return
		}
		time.Sleep(5 * pollInterval)
	}
	tb.Fatalf("redistest: cluster replicas not linked within %v: %v", timeout, lastErr)
}

func (c *Cluster) linked(deadline time.Time) error {
	var live []*Server
	for _, n := range c.nodes {
		if n.Pid() != 0 {
			live = append(live, n)
		}
	}
	if err := replicasLinked(live, deadline); err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for _, n := range live {
		info, err := n.info(ctx, "replication")
		if err != nil {
			return err
		}
		if infoField(info, "role") == "master" && infoField(info, "connected_slaves") == "0" {
			cl := redis.NewClient(adminOptions(n.Addr(), n.cfg.password))
			nodes, err := cl.ClusterNodes(ctx).Result()
			cl.Close()
			if err != nil {
				return err
			}
			for line := range strings.SplitSeq(nodes, "\n") {
				f := strings.Fields(line)
				// a master of ours with slots: "id addr flags ... slot-range"
				if len(f) > 8 && strings.Contains(f[2], "myself") {
					return fmt.Errorf("master %s serves slots without a replica", n.Addr())
				}
			}
		}
	}
	return nil
}

// WaitLinked polls until every running server but the master the
// sentinels name is its replica with the link up, and the sentinels count
// them: the group can fail over again.
func (g *SentinelGroup) WaitLinked(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		lastErr = g.linked(deadline)
		if lastErr == nil {
			return
		}
		time.Sleep(5 * pollInterval)
	}
	tb.Fatalf("redistest: sentinel group replicas not linked within %v: %v", timeout, lastErr)
}

func (g *SentinelGroup) linked(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	m, err := g.agreedMaster(ctx)
	if err != nil {
		return err
	}
	mhost, mport, _ := net.SplitHostPort(m.Addr())
	running := 0
	for _, s := range g.servers {
		if s == m || s.Pid() == 0 {
			continue
		}
		running++
		info, err := s.info(ctx, "replication")
		if err != nil {
			return err
		}
		if infoField(info, "role") != "slave" || infoField(info, "master_host") != mhost ||
			infoField(info, "master_port") != mport || infoField(info, "master_link_status") != "up" {
			return fmt.Errorf("%s is not a linked replica of %s", s.Addr(), m.Addr())
		}
	}
	for _, s := range g.sentinels {
		sc := redis.NewSentinelClient(adminOptions(s.Addr(), ""))
		reps, err := sc.Replicas(ctx, masterName).Result()
		sc.Close()
		if err != nil {
			return err
		}
		up := 0
		for _, r := range reps {
			if r["flags"] == "slave" {
				up++
			}
		}
		if up < running {
			return fmt.Errorf("sentinel %s sees %d replicas up, want %d", s.Addr(), up, running)
		}
	}
	return nil
}

// ReplicasOf returns the running nodes that replicate m (INFO replication
// on m).
func (c *Cluster) ReplicasOf(ctx context.Context, m *Server) ([]*Server, error) {
	info, err := m.info(ctx, "replication")
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(infoField(info, "connected_slaves"))
	var out []*Server
	for i := range n {
		var ip, port string
		for kv := range strings.SplitSeq(infoField(info, fmt.Sprintf("slave%d", i)), ",") {
			if v, ok := strings.CutPrefix(kv, "ip="); ok {
				ip = v
			}
			if v, ok := strings.CutPrefix(kv, "port="); ok {
				port = v
			}
		}
		for _, s := range c.nodes {
			if s.Addr() == net.JoinHostPort(ip, port) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// CutReplication stops replica from receiving its master's writes while
// both run, the way a network partition between them would: it is given a
// wrong masterauth and its link is cut, so every reconnection fails. The
// master goes on acknowledging writes that the replica never gets. Undo
// with RestoreReplication.
func (s *Server) CutReplication(ctx context.Context) error {
	c := redis.NewClient(adminOptions(s.Addr(), s.cfg.password))
	defer c.Close()
	if err := c.ConfigSet(ctx, "masterauth", "a-wrong-password").Err(); err != nil {
		return fmt.Errorf("CONFIG SET masterauth on %s: %w", s.Addr(), err)
	}
	if err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "master").Err(); err != nil {
		return fmt.Errorf("CLIENT KILL TYPE master on %s: %w", s.Addr(), err)
	}
	return nil
}

// RestoreReplication undoes CutReplication.
func (s *Server) RestoreReplication(ctx context.Context) error {
	c := redis.NewClient(adminOptions(s.Addr(), s.cfg.password))
	defer c.Close()
	return c.ConfigSet(ctx, "masterauth", s.cfg.password).Err()
}
