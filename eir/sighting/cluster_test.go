package sighting

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// TestCluster runs the scripts, the cross-slot reads, Day's SCAN on every
// master, Forget and the NOSCRIPT fallback on a 3-master Redis Cluster.
func TestCluster(t *testing.T) {
	cl := redistest.StartClusterWith(t, redistest.ClusterOptions{Masters: 3})
	rdb := cl.Client(t)
	s, c, _ := newTestStore(t, rdb, Options{})
	ctx := context.Background()

	sub := eir.IMSI("001010000000001")
	res, err := s.Write(ctx, []Observation{
		obs(imeiA, string(sub), "mme1"),
		obs(imeiA, "001010000000002", "mme2"),
		obs(imeiB, "001010000000003", "mme1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].NewPair || !res[1].NewPair || len(res[1].Pairs) != 2 {
		t.Fatalf("batch: %+v", res)
	}
	if d, ok := (Rules{ConcurrentWindow: time.Minute}).ConcurrentUse(res[1].Pairs, c.Now()); !ok || len(d.Peers) != 2 {
		t.Fatalf("concurrent use from the write's pairs: %+v %v", d, ok)
	}
	c.Add(time.Hour)
	if r := record(t, s, obs(imeiB, string(sub), "mme1")); !r.DeviceChanged || r.PrevIMEI != imeiA {
		t.Fatalf("device change: %+v", r)
	}
	d, err := s.Devices(ctx, sub)
	if err != nil || d.Current != imeiB || len(d.Pairs) != 2 {
		t.Fatalf("devices: %+v %v", d, err)
	}

	// Scripts flushed on every master (a restarted node): EVAL fallback.
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		return c.ScriptFlush(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	if r := record(t, s, obs(imeiA, "001010000000004", "mme1")); !r.Written || !r.NewPair {
		t.Fatalf("after SCRIPT FLUSH: %+v", r)
	}

	if err := s.Forget(ctx, sub); err != nil {
		t.Fatal(err)
	}
	for _, imei := range []eir.IMEI{imeiA, imeiB} {
		for _, p := range pairsOf(t, s, imei) {
			if p.IMSI == sub {
				t.Fatalf("forgotten pair still on %v", imei)
			}
		}
	}
	s2, c2, _ := newTestStore(t, rdb, Options{Prefix: "day:"})
	testDay(t, s2, c2)
}

// TestDedupe checks the deduplication within a batch and across batches,
// and measures the Redis commands per 1,000 observations of a realistic
// mix: 250 subscribers on 2 MMEs of a pool, 1,000 checks in 10 minutes
// (attach, then tracking area updates and handovers: a subscriber is
// checked again within a minute or two, 10% of them at the other MME),
// written in batches of 50, as a queue flushed every 100 ms would at about
// 500 checks/s.
func TestDedupe(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{})
	ctx := context.Background()
	o := obs(imeiA, "001010000000001", "mme1")
	res, err := s.Write(ctx, []Observation{o, o, o})
	if err != nil || !res[0].Written || res[1].Written || res[2].Written {
		t.Fatalf("within a batch: %+v %v", res, err)
	}
	c.Add(59 * time.Second)
	if r := record(t, s, o); r.Written {
		t.Fatal("within MinInterval: written")
	}
	o2 := o
	o2.Answer = AnswerBlacklisted
	if r := record(t, s, o2); !r.Written {
		t.Fatal("another answer class: deduplicated")
	}
	c.Add(61 * time.Second)
	if r := record(t, s, o2); !r.Written {
		t.Fatal("after MinInterval: deduplicated")
	}

	// Spread: 250 subscribers each checked about every 2.5 minutes.
	mixCommands(t, rdb, "spread:", func(rng *rand.Rand, emit func(sub int, after time.Duration)) {
		for range 1000 {
			emit(rng.IntN(250), 600*time.Millisecond)
		}
	})
	// Bursty: an attach every 1.5 s among 1,000 subscribers, each followed
	// by a geometric number (mean 1) of checks 0-5 s apart (tracking area
	// updates, an inter-MME handover, retries).
	mixCommands(t, rdb, "bursty:", func(rng *rand.Rand, emit func(sub int, after time.Duration)) {
		for i := 0; i < 1000; {
			sub := rng.IntN(1000)
			emit(sub, 1500*time.Millisecond)
			i++
			for ; i < 1000 && rng.IntN(2) == 0; i++ {
				emit(sub, time.Duration(rng.IntN(5000))*time.Millisecond)
			}
		}
	})
}

// mixCommands writes the 1,000 observations gen emits (a subscriber, and
// the time since the previous observation), in batches of 50, and logs the
// Redis commands they cost.
func mixCommands(t *testing.T, rdb redis.UniversalClient, prefix string, gen func(*rand.Rand, func(int, time.Duration))) {
	t.Helper()
	ctx := context.Background()
	s, c, _ := newTestStore(t, rdb, Options{Prefix: prefix})
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []Observation
	n := 0
	flush := func() {
		if _, err := s.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	gen(rng, func(sub int, after time.Duration) {
		c.Add(after)
		peer := fmt.Sprintf("mme%d", sub%2)
		if rng.IntN(10) == 0 {
			peer = fmt.Sprintf("mme%d", 1-sub%2) // handover to the other MME of the pool
		}
		batch = append(batch, Observation{
			Time: c.Now(), IMEI: imeiA + eir.IMEI(sub), IMSI: eir.IMSI(fmt.Sprintf("00101%010d", sub)),
			Interface: S13, Peer: peer, Answer: AnswerWhitelisted,
		})
		n++
		if len(batch) == 50 {
			flush()
		}
	})
	if len(batch) > 0 {
		flush()
	}
	cmds := testutil.ToFloat64(s.m.commands)
	written := testutil.ToFloat64(s.m.observations.WithLabelValues("written"))
	dedup := testutil.ToFloat64(s.m.observations.WithLabelValues("deduplicated"))
	t.Logf("%s %d observations → %.0f written, %.0f deduplicated, %.0f Redis commands (2 scripts per write, %d peer interning)",
		prefix, n, written, dedup, cmds, int(cmds)-2*int(written))
	if written+dedup != float64(n) || cmds >= float64(2*n) {
		t.Fatalf("written %v + deduplicated %v, %v commands", written, dedup, cmds)
	}
}
