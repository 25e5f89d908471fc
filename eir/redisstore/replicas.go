package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

// errNotReplicated marks a write Redis's master made but fewer than
// Options.WriteReplicas replicas acknowledged in time: it is in force, but
// not acknowledged (a failover may lose it). It wraps eir.ErrUnavailable.
var errNotReplicated = fmt.Errorf("%w: not on enough replicas", eir.ErrUnavailable)

// runSwitch runs a switch script (commit, restore). With
// Options.WriteReplicas it runs it on a connection of its own to the master
// owning keys[0] and sends WAIT on that connection: WAIT waits for the
// replication offset of the connection's own last write, so on any other
// connection it would prove nothing, and on a master that failed over
// meanwhile it fails rather than vouch for a write it never saw. The
// script's command is returned as answered; the error is the WAIT's.
func (s *Store) runSwitch(ctx context.Context, op string, script *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	if s.o.WriteReplicas <= 0 {
		return script.Run(ctx, s.rdb, keys, args...), nil
	}
	c, err := s.masterFor(ctx, keys[0])
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd, nil
	}
	conn := c.Conn()
	defer conn.Close()
	cmd := script.Run(ctx, conn, keys, args...)
	if cmd.Err() != nil {
		return cmd, nil
	}
	return cmd, s.waitReplicas(op, true, conn.Wait(ctx, s.o.WriteReplicas, s.o.WriteReplicasTimeout))
}

// masterFor returns the client of the master owning key: the client itself
// but on a Cluster. A Cluster node's client follows no MOVED answer: a
// write sent while a slot moves fails (and is not acknowledged).
func (s *Store) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	}
	return nil, fmt.Errorf("redisstore: store.write_replicas: a %T cannot wait for replicas", s.rdb)
}

// waitReplicas judges the answer of WAIT sent after a write of op;
// switched tells whether that write put something in force (the switch)
// or only prepared it (replicateWrites: nothing is switched in then).
func (s *Store) waitReplicas(op string, switched bool, cmd *redis.IntCmd) error {
	fate := "nothing was switched in"
	if switched {
		fate = "it is in force, but a failover may lose it"
	}
	n, err := cmd.Result()
	if err != nil {
		s.m.replicasShort.Inc()
		return fmt.Errorf("redisstore: %s: written on the master, but waiting for %d replicas failed (%s): %w: %w",
			op, s.o.WriteReplicas, fate, errNotReplicated, err)
	}
	if n < int64(s.o.WriteReplicas) {
		s.m.replicasShort.Inc()
		return fmt.Errorf("redisstore: %s: written on the master but reached only %d of %d replicas within %s (%s): %w",
			op, n, s.o.WriteReplicas, s.o.WriteReplicasTimeout, fate, errNotReplicated)
	}
	return nil
}

// replicateWrites makes, on a Cluster, every master that owns slots write a
// marker key and WAIT for it on the same connection: the replication stream
// of a master is ordered, so its replicas then have every write made on it
// before (the buckets and overlays of a build, spread over the masters),
// which the WAIT after the switch (on the metadata slot's master only)
// does not cover. Elsewhere there is one master and runSwitch's WAIT covers
// them. A master that failed over between a build's writes and this marker
// is not detected: the marker then lands on the promoted replica.
func (s *Store) replicateWrites(ctx context.Context, op string) error {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok || s.o.WriteReplicas <= 0 {
		return nil
	}
	var mu sync.Mutex
	var errs []error
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		key, ok := s.markerKey(ctx, cc, c.Options().Addr)
		if !ok {
			return nil // no slot: it holds nothing
		}
		conn := c.Conn()
		defer conn.Close()
		err := conn.Set(ctx, key, op, time.Minute).Err()
		if err == nil {
			err = s.waitReplicas(op, false, conn.Wait(ctx, s.o.WriteReplicas, s.o.WriteReplicasTimeout))
		} else {
			err = fmt.Errorf("redisstore: %s: cannot check replicas on %s: %w: %w", op, c.Options().Addr, eir.ErrUnavailable, err)
		}
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return s.unavailable(op, err)
	}
	return errors.Join(errs...)
}

// markerKey returns a key of a slot the master at addr owns in the
// client's slot map: "<prefix>ack:{i}" for the first i that reaches it;
// false when it owns none.
func (s *Store) markerKey(ctx context.Context, cc *redis.ClusterClient, addr string) (string, bool) {
	for i := range 1 << 16 {
		key := s.k.prefix + "ack:{" + strconv.Itoa(i) + "}"
		if c, err := cc.MasterForKey(ctx, key); err == nil && c.Options().Addr == addr {
			return key, true
		}
	}
	return "", false
}
