package sighting

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// BenchmarkRedisCost measures what recording costs Redis: the Redis CPU
// (INFO cpu, and the scripts' own usec from INFO commandstats) and the
// scripts per observation. The store is sized as documented (100,000
// pairs over 2048 buckets: about 49 per bucket), then each iteration
// writes one observation, in batches of 500:
//   - repeat: nine in ten a pair already recorded that day, one in ten a
//     new pair of a recorded IMEI (the case that returns the IMEI's pairs
//     to the rules), as a network's repeated attaches would;
//   - new: every observation a new IMEI with a new IMSI, as eirbench's
//     load gives (a device and subscriber never seen before each time).
//
// go test -run '^$' -bench RedisCost -benchtime 20000x ./eir/sighting/
func BenchmarkRedisCost(b *testing.B) {
	b.Run("repeat", func(b *testing.B) {
		benchRedisCost(b, func(i int) (int, int) {
			if i%10 == 9 {
				return i % costPairs, costPairs + i // the same IMEI, a new IMSI
			}
			return i % costPairs, i % costPairs
		})
	})
	b.Run("new", func(b *testing.B) {
		benchRedisCost(b, func(i int) (int, int) { return costPairs + i, costPairs + i })
	})
}

const costPairs = 100_000

// benchRedisCost fills the store, then writes b.N observations of the
// (IMEI, IMSI) indexes pick gives for each iteration.
func benchRedisCost(b *testing.B, pick func(i int) (imei, imsi int)) {
	const buckets, batch = 2048, 500
	rdb := redistest.Start(b).Client(b)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s, err := New(rdb, Options{Prefix: "c:", MinInterval: -1, Buckets: buckets, Now: func() time.Time { return now }}, nil)
	if err != nil {
		b.Fatal(err)
	}
	obs := func(imei, imsi int) Observation {
		return Observation{
			IMEI: 35_000_000_000_000 + eir.IMEI(imei)*7919, IMSI: eir.IMSI(fmt.Sprintf("20801%010d", imsi)),
			SVN: "12", Interface: S13, Peer: fmt.Sprintf("mme%d.epc.mnc001.mcc208.3gppnetwork.org", imsi%8),
			Answer: AnswerWhitelisted, Time: now.Add(-time.Hour),
		}
	}
	write := func(batch []Observation) {
		if _, err := s.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	var bt []Observation
	for j := range costPairs {
		if bt = append(bt, obs(j, j)); len(bt) == batch {
			write(bt)
			bt = bt[:0]
		}
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu := redisCPU(b, rdb)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := obs(pick(i))
		o.Time = now
		if bt = append(bt, o); len(bt) == batch || i == b.N-1 {
			write(bt)
			bt = bt[:0]
		}
	}
	b.StopTimer()
	calls, usec := scriptStats(b, rdb)
	b.ReportMetric(usec/float64(b.N), "script-µs/obs")
	b.ReportMetric((redisCPU(b, rdb)-cpu)/float64(b.N), "redis-cpu-µs/obs")
	b.ReportMetric(calls/float64(b.N), "scripts/obs")
}

// scriptStats returns the calls of EVAL and EVALSHA and the usec they
// took (the commands they ran included), from INFO commandstats.
func scriptStats(tb testing.TB, rdb *redis.Client) (calls, usec float64) {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			k, n, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(n, 64)
			switch k {
			case "calls":
				calls += f
			case "usec":
				usec += f
			}
		}
	}
	return calls, usec
}

// redisCPU returns Redis's CPU time (user + system) in µs, from INFO cpu.
func redisCPU(tb testing.TB, rdb *redis.Client) float64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			sum += f * 1e6
		}
	}
	return sum
}
