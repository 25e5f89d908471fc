package sighting

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// memPairs is the pairs BenchmarkMemoryPerPair writes: 100,000 by default;
// -sighting.pairs 10000000 measures 10 million (about 1.1 GB of Redis,
// several minutes).
var memPairs = flag.Int("sighting.pairs", 100_000, "pairs written by BenchmarkMemoryPerPair")

// BenchmarkMemoryPerPair writes -sighting.pairs pairs (default 100,000;
// each with a new IMSI, a 11-digit MSISDN, an SVN and one of 8 peers) per
// iteration into a standalone Redis, with Buckets sized as documented
// (pairs / 64, rounded up to a power of two: 2048 for 100,000, 262,144 for
// 10 million), and reports INFO memory's used_memory delta per pair.
// "distinct": each pair a new IMEI; "shared": the pairs over half as many
// IMEIs, two each. Run it once:
// go test -run '^$' -bench MemoryPerPair -benchtime 1x.
func BenchmarkMemoryPerPair(b *testing.B) {
	b.Run("distinct", func(b *testing.B) { benchMemory(b, *memPairs) })
	b.Run("shared", func(b *testing.B) { benchMemory(b, *memPairs/2) })
}

func benchMemory(b *testing.B, imeis int) {
	pairs := *memPairs
	buckets := 1
	for buckets*64 < pairs {
		buckets <<= 1
	}
	rdb := redistest.Start(b).Client(b)
	ctx := context.Background()
	before := usedMemory(b, rdb)
	for i := 0; i < b.N; i++ {
		s, err := New(rdb, Options{Prefix: fmt.Sprintf("m%d:", i), MinInterval: -1, Buckets: buckets}, nil)
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]Observation, 0, 1000)
		for j := range pairs {
			batch = append(batch, Observation{
				IMEI: 35_000_000_000_000 + eir.IMEI(j%imeis)*7919, IMSI: eir.IMSI(fmt.Sprintf("20801%010d", j)),
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
	// MEMORY USAGE of one bucket of each index, and its encoding (the
	// figures assume listpack).
	s, _ := New(rdb, Options{Prefix: "m0:", Buckets: buckets}, nil)
	ik, sk := s.imeiKey(35_000_000_000_000), s.imsiKey("208010000000000")
	b.ReportMetric(float64(buckets), "buckets")
	b.ReportMetric(float64(rdb.MemoryUsage(ctx, ik).Val()), "imei-bucket-bytes")
	b.ReportMetric(float64(rdb.MemoryUsage(ctx, sk).Val()), "imsi-bucket-bytes")
	for _, k := range []string{ik, sk} {
		if enc := rdb.ObjectEncoding(ctx, k).Val(); enc != "listpack" {
			b.Errorf("%s: encoding %q, want listpack", k, enc)
		}
	}
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
