package redisstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/storetest"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// writeTimeout is the WriteReplicasTimeout of these tests: short, so that
// a write to a master whose replica lags fails quickly.
const writeTimeout = 300 * time.Millisecond

func waiting(n int) func(*Options) {
	return func(o *Options) { o.WriteReplicas, o.WriteReplicasTimeout = n, writeTimeout }
}

// addOne adds imei to a black list and returns the error and how long the
// write took.
func addOne(t *testing.T, s *Store, imei eir.IMEI) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	_, err := s.Apply(ctxT(t), []eir.Change{{Dataset: black("national"), Add: entries(imei)}})
	return time.Since(start), err
}

// wantShort checks that err is the error of a write too few replicas
// acknowledged, mentioning want (e.g. "reached only 0 of 1").
func wantShort(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, eir.ErrUnavailable) || !errors.Is(err, errNotReplicated) || !strings.Contains(err.Error(), want) {
		t.Fatalf("write: %v; want errNotReplicated (%q)", err, want)
	}
}

// waitStreaming polls until a write of key on master c reaches a replica
// (SET and WAIT on one connection): a replica whose link is up streams once
// the master has its first ACK, up to a second later, and WAIT does not
// count it until then.
func waitStreaming(t *testing.T, c *redis.Client, key string) {
	t.Helper()
	ctx := ctxT(t)
	deadline := time.Now().Add(10 * time.Second)
	conn := c.Conn()
	defer conn.Close()
	for {
		err := conn.Set(ctx, key, "probe", time.Minute).Err()
		n, werr := conn.Wait(ctx, 1, 100*time.Millisecond).Result()
		if err == nil && werr == nil && n >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica of %s acknowledges writes: %v, %d, %v", c.Options().Addr, err, n, werr)
		}
	}
}

// TestWriteReplicas runs on a master with one replica, through a plain
// client (standalone) and through the sentinels. The replica is frozen
// (SIGSTOP), so that the master still counts it as connected but it
// acknowledges nothing new: a WAIT sent on a connection that wrote nothing
// would return at once with 1 (its offset is 0); sent on the connection
// of the switch it times out with 0. So the failures below show the WAIT
// is sent where the write was.
func TestWriteReplicas(t *testing.T) {
	g := redistest.StartSentinelGroup(t, 1, 1, redistest.GroupOptions{})
	master, replica := g.Servers()[0], g.Servers()[1]
	plain := redis.NewClient(&redis.Options{Addr: master.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { plain.Close() })
	waitStreaming(t, plain, "probe")
	failover := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: g.MasterName(), SentinelAddrs: g.SentinelAddrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { failover.Close() })

	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
	}{{"standalone", plain}, {"sentinel", failover}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, tc.rdb, freshPrefix(), waiting(1))
			if _, err := addOne(t, s, 35209900176148); err != nil {
				t.Fatalf("write with the replica linked: %v", err)
			}
			two := newStore(t, tc.rdb, freshPrefix(), waiting(2))
			_, err := addOne(t, two, 35209900176148)
			wantShort(t, err, "reached only 1 of 2 replicas")

			replica.Pause(t)
			resumed := false
			defer func() {
				if !resumed {
					replica.Resume(t)
				}
			}()
			idle := plain.Conn() // has written nothing
			n, err := idle.Wait(ctxT(t), 1, writeTimeout).Result()
			idle.Close()
			if n != 1 || err != nil {
				t.Fatalf("WAIT on a connection that wrote nothing: %d, %v; want 1 at once (the frozen replica still counts)", n, err)
			}
			took, err := addOne(t, s, 35209900176149)
			wantShort(t, err, "reached only 0 of 1 replicas within 300ms (it is in force")
			if took < writeTimeout {
				t.Errorf("the write failed after %s, before the %s WAIT", took, writeTimeout)
			}
			if n := testutil.ToFloat64(s.m.replicasShort); n != 1 {
				t.Errorf("eir_store_write_replicas_short_total = %v, want 1", n)
			}
			// The master has it: it is in force, though not acknowledged.
			if !listed(t, s, 35209900176149) {
				t.Error("the switch made on the master is not in force")
			}
			none := newStore(t, tc.rdb, freshPrefix(), nil)
			if _, err := addOne(t, none, 35209900176148); err != nil {
				t.Errorf("write without write_replicas, replica frozen: %v", err)
			}

			replica.Resume(t)
			resumed = true
			if _, err := addOne(t, s, 35209900176150); err != nil {
				t.Fatalf("write with the replica resumed: %v", err)
			}
		})
	}
	t.Run("restore", func(t *testing.T) {
		s := trustStore(t, plain, freshPrefix(), waiting(1))
		loadStolen(t, s)
		replica.Pause(t)
		_, err := s.Restore(ctxT(t), eir.RecoverOptions{Always: true})
		replica.Resume(t)
		wantShort(t, err, "restore: written on the master but reached only 0 of 1 replicas within 300ms (it is in force")
		if _, err := s.Restore(ctxT(t), eir.RecoverOptions{Always: true}); err != nil {
			t.Fatalf("restore with the replica resumed: %v", err)
		}
	})
}

// TestWriteReplicasCluster runs on a Cluster of 3 masters with a replica
// each. The metadata slot's master runs the switch and its WAIT; every
// master is checked before a switch of builds (replicateWrites: a build
// writes on any of them). Replicas are frozen as in TestWriteReplicas.
func TestWriteReplicasCluster(t *testing.T) {
	c := redistest.StartClusterWith(t, redistest.ClusterOptions{Masters: 3, Replicas: 1})
	ctx := ctxT(t)
	rdb := c.Client(t)
	s := newStore(t, rdb, freshPrefix(), waiting(1))
	for _, n := range c.Nodes() {
		if role, err := n.Role(ctx); err == nil && role == "master" {
			key, ok := s.markerKey(ctx, rdb, n.Addr())
			m, err := rdb.MasterForKey(ctx, key)
			if !ok || err != nil {
				t.Fatalf("no key on master %s: %v", n.Addr(), err)
			}
			waitStreaming(t, m, key)
		}
	}
	if _, err := addOne(t, s, 35209900176148); err != nil {
		t.Fatalf("write with the replicas linked: %v", err)
	}

	metaMaster, err := c.MasterOf(ctx, s.k.manifest)
	if err != nil {
		t.Fatal(err)
	}
	var other *redistest.Server // a master not owning the metadata slot
	for _, n := range c.Nodes() {
		if role, err := n.Role(ctx); err == nil && role == "master" && n.Addr() != metaMaster.Addr() {
			other = n
			break
		}
	}
	if other == nil {
		t.Fatal("no second master")
	}
	replicaOf := func(m *redistest.Server) *redistest.Server {
		t.Helper()
		rs, err := c.ReplicasOf(ctx, m)
		if err != nil || len(rs) != 1 {
			t.Fatalf("replicas of %s: %v, %v", m.Addr(), rs, err)
		}
		return rs[0]
	}

	t.Run("another master's replica frozen", func(t *testing.T) {
		r := replicaOf(other)
		r.Pause(t)
		defer r.Resume(t)
		took, err := addOne(t, s, 35209900176149)
		if took < writeTimeout {
			t.Errorf("the write failed after %s, before the %s WAIT", took, writeTimeout)
		}
		wantShort(t, err, "reached only 0 of 1 replicas within 300ms (nothing was switched in")
		if listed(t, s, 35209900176149) {
			t.Error("a write that failed before its switch is in force")
		}
		if n, err := rdb.ZCard(ctx, s.k.building).Result(); err != nil || n != 0 {
			t.Errorf("builds registered: %d, %v; want the build abandoned", n, err)
		}
	})
	t.Run("the metadata master's replica frozen", func(t *testing.T) {
		r := replicaOf(metaMaster)
		r.Pause(t)
		defer r.Resume(t)
		// A write of the sync state alone builds nothing: only the
		// switch's WAIT, on the connection of the switch, judges it.
		_, err := s.ApplyWith(ctx, nil, eir.ApplyOptions{State: map[string]string{"run": "1"}})
		wantShort(t, err, "reached only 0 of 1 replicas within 300ms (it is in force")
		if st, err := s.SyncState(ctx); err != nil || st["run"] != "1" {
			t.Errorf("sync state %v, %v: the switch made on the master is not in force", st, err)
		}
	})
	if _, err := addOne(t, s, 35209900176151); err != nil {
		t.Fatalf("write with the replicas resumed: %v", err)
	}
	if n := testutil.ToFloat64(s.m.replicasShort); n != 2 {
		t.Errorf("eir_store_write_replicas_short_total = %v, want 2", n)
	}
}

// TestContractWriteReplicas runs the contract suite on a master with a
// replica, every write waiting for it: every write path acknowledges.
func TestContractWriteReplicas(t *testing.T) {
	g := redistest.StartSentinelGroup(t, 1, 1, redistest.GroupOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: g.Servers()[0].Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	waitStreaming(t, rdb, "probe")
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s := newStore(t, rdb, freshPrefix(), func(o *Options) { o.WriteReplicas, o.WriteReplicasTimeout = 1, 5*time.Second })
		t.Cleanup(func() {
			if n := testutil.ToFloat64(s.m.replicasShort); n != 0 {
				t.Errorf("eir_store_write_replicas_short_total = %v, want 0", n)
			}
		})
		return s
	})
}
