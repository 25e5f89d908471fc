package sighting

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// BenchmarkMemoryPerPair writes 100,000 pairs (each a new IMEI with a new
// IMSI, with a 11-digit MSISDN, an SVN and one of 8 peers) per iteration
// into a standalone Redis and reports INFO memory's used_memory delta per
// pair. Run it once: go test -run '^$' -bench MemoryPerPair -benchtime 1x.
func BenchmarkMemoryPerPair(b *testing.B) {
	const pairs = 100_000
	rdb := redistest.Start(b).Client(b)
	ctx := context.Background()
	before := usedMemory(b, rdb)
	for i := 0; i < b.N; i++ {
		s, err := New(rdb, Options{Prefix: fmt.Sprintf("m%d:", i), MinInterval: -1}, nil)
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]Observation, 0, 1000)
		for j := range pairs {
			batch = append(batch, Observation{
				IMEI: 35_000_000_000_000 + eir.IMEI(j)*7919, IMSI: eir.IMSI(fmt.Sprintf("20801%010d", j)),
				SVN: "12", MSISDN: fmt.Sprintf("336%08d", j), Interface: S13,
				Peer: fmt.Sprintf("mme%d.epc.mnc001.mcc208.3gppnetwork.org", j%8), Answer: AnswerWhitelisted,
			})
			if len(batch) == cap(batch) {
				if _, err := s.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	delta := usedMemory(b, rdb) - before
	b.ReportMetric(float64(delta)/float64(pairs*b.N), "bytes/pair")
	// MEMORY USAGE of one key of each kind (excludes the key space's own
	// dict and expires entries).
	s, _ := New(rdb, Options{Prefix: "m0:"}, nil)
	b.ReportMetric(float64(rdb.MemoryUsage(ctx, s.imeiKey(35_000_000_000_000)).Val()), "imei-key-bytes")
	b.ReportMetric(float64(rdb.MemoryUsage(ctx, s.imsiKey("208010000000000")).Val()), "imsi-key-bytes")
	b.ReportMetric(0, "ns/op")
}

func usedMemory(tb testing.TB, rdb *redis.Client) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}
