package sighting

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// TestSharedBucket puts every IMEI in one bucket and every IMSI in one
// (Buckets 1): reads, write results, Forget and pruning must keep each
// IMEI's and IMSI's fields apart.
func TestSharedBucket(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{Buckets: 1, Retention: 10 * 24 * time.Hour, MinInterval: -1})
	ctx := context.Background()
	const sub1, sub2, sub3 = "001010000000001", "001010000000002", "001010000000003"
	record(t, s, obs(imeiA, sub1, "mme1"))
	record(t, s, obs(imeiA, sub2, "mme1"))
	c.Add(time.Hour)
	record(t, s, obs(imeiB, sub1, "mme1"))
	r := record(t, s, obs(imeiB, sub3, "mme1"))
	if !r.NewPair || len(r.Pairs) != 2 || r.Pairs[0].IMEI != imeiB || r.Pairs[1].IMEI != imeiB {
		t.Fatalf("write result: %+v", r)
	}
	imsis := func(imei eir.IMEI) []eir.IMSI {
		var out []eir.IMSI
		for _, p := range pairsOf(t, s, imei) {
			if p.IMEI != imei {
				t.Fatalf("pairs of %v: %+v", imei, p)
			}
			out = append(out, p.IMSI)
		}
		return out
	}
	if a, b := imsis(imeiA), imsis(imeiB); len(a) != 2 || len(b) != 2 {
		t.Fatalf("pairs: A %v, B %v", a, b)
	}
	d, err := s.Devices(ctx, sub1)
	if err != nil || !d.HasCurrent || d.Current != imeiB || len(d.Pairs) != 2 {
		t.Fatalf("devices: %+v %v", d, err)
	}
	if err := s.Forget(ctx, sub1); err != nil {
		t.Fatal(err)
	}
	if a, b := imsis(imeiA), imsis(imeiB); len(a) != 1 || a[0] != sub2 || len(b) != 1 || b[0] != sub3 {
		t.Fatalf("after forget: A %v, B %v", a, b)
	}
	if d, err := s.Devices(ctx, sub3); err != nil || d.Current != imeiB || len(d.Pairs) != 1 {
		t.Fatalf("devices of sub3: %+v %v", d, err)
	}
	// Past retention, a write to another IMEI and IMSI prunes the buckets.
	c.Add(11 * 24 * time.Hour)
	record(t, s, obs(imeiA+1, "001010000000004", "mme1"))
	if n := dataFields(t, rdb, s.imeiKey(imeiA)); n != 1 {
		t.Fatalf("imei bucket: %d fields after pruning, want 1", n)
	}
	if n := dataFields(t, rdb, s.imsiKey(sub2)); n != 1 {
		t.Fatalf("imsi bucket: %d fields after pruning, want 1", n)
	}
}

func TestDayIterationFewBuckets(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{Buckets: 4})
	testDay(t, s, c)
}

func TestBucketsOption(t *testing.T) {
	for _, n := range []int{-1, 3, 1000} {
		if err := (Options{Buckets: n}).Validate(); err == nil {
			t.Errorf("buckets %d: valid", n)
		}
	}
	if err := (Options{Buckets: 1 << 10}).Validate(); err != nil {
		t.Error(err)
	}
}

// dataFields counts the fields of a bucket other than its prune mark ("").
func dataFields(t *testing.T, rdb *redis.Client, key string) int {
	t.Helper()
	keys, err := rdb.HKeys(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		if k != "" {
			n++
		}
	}
	return n
}

// TestScans checks when the scripts read more than their own field: the
// whole bucket (HGETALL) on its first write of a day (pruning), the IMEI's
// fields (HSCAN MATCH) for a new pair or a new day of a pair, and for a
// pair of an IMEI with other pairs (concurrent use needs them); nothing
// more for a pair of an IMEI alone, already recorded that day, the common
// write.
func TestScans(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{Buckets: 1, MinInterval: -1})
	ctx := context.Background()
	const sub1, sub2, sub3 = "001010000000001", "001010000000002", "001010000000003"
	scans := func(want int, o Observation) Result {
		t.Helper()
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		r := record(t, s, o)
		n := 0
		for _, line := range strings.Split(rdb.Info(ctx, "commandstats").Val(), "\r\n") {
			for _, cmd := range []string{"cmdstat_hgetall:calls=", "cmdstat_hscan:calls="} {
				if v, ok := strings.CutPrefix(line, cmd); ok {
					c, _ := strconv.Atoi(v[:strings.IndexByte(v, ',')])
					n += c
				}
			}
		}
		if n != want {
			t.Fatalf("%v: %d bucket scans, want %d", o, n, want)
		}
		return r
	}
	scans(2, obs(imeiA, sub1, "mme1")) // the buckets' first write of the day: both pruned
	scans(1, obs(imeiB, sub3, "mme1")) // a new pair
	if r := scans(0, obs(imeiB, sub3, "mme1")); r.NewPair || r.NewDay || r.Pairs != nil {
		t.Fatalf("repeat of a lone pair: %+v", r)
	}
	r := scans(1, obs(imeiA, sub2, "mme2"))
	if !r.NewPair || len(r.Pairs) != 2 {
		t.Fatalf("second IMSI: %+v", r)
	}
	for _, p := range r.Pairs {
		if p.Interfaces != Interfaces(S13) {
			t.Fatalf("interfaces %b: the siblings flag leaked", p.Interfaces)
		}
	}
	// The first pair of A was flagged by the second's write: repeated, it
	// returns both (two IMSIs at two MMEs: concurrent use).
	c.Add(time.Minute)
	r = scans(1, obs(imeiA, sub1, "mme1"))
	if r.NewPair || len(r.Pairs) != 2 {
		t.Fatalf("repeat of a pair with a sibling: %+v", r)
	}
	if d, ok := (Rules{ConcurrentWindow: 5 * time.Minute}).ConcurrentUse(r.Pairs, c.Now()); !ok || d.Count != 2 {
		t.Fatalf("concurrent use: %+v %v", d, ok)
	}
	// Its sibling forgotten, the next write finds it alone and clears the
	// flag: the one after reads no bucket.
	if err := s.Forget(ctx, sub2); err != nil {
		t.Fatal(err)
	}
	if r := scans(1, obs(imeiA, sub1, "mme1")); r.Pairs != nil {
		t.Fatalf("after forget: %+v", r)
	}
	scans(0, obs(imeiA, sub1, "mme1"))
	// The next day: a new day of the pair, and the buckets' first write.
	c.Add(24 * time.Hour)
	if r := scans(2, obs(imeiA, sub1, "mme1")); !r.NewDay {
		t.Fatalf("next day: %+v", r)
	}
	scans(0, obs(imeiA, sub1, "mme1"))
}

func TestClaimDetection(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, _ := newTestStore(t, rdb, Options{})
	other, _, _ := newTestStore(t, rdb, Options{}) // a second eird
	ctx := context.Background()
	claim := func(s *Store, imei eir.IMEI, rule string, d Day, want bool) {
		t.Helper()
		if ok, err := s.ClaimDetection(ctx, imei, rule, d); err != nil || ok != want {
			t.Fatalf("claim %v %s day %d: %v %v, want %v", imei, rule, d, ok, err, want)
		}
	}
	d := s.Today()
	claim(s, imeiA, RuleDuplicateThreshold, d, true)
	claim(other, imeiA, RuleDuplicateThreshold, d, false)
	claim(other, imeiA, RuleConcurrentUse, d, true)
	claim(other, imeiB, RuleDuplicateThreshold, d, true)
	claim(other, imeiA, RuleDuplicateThreshold, d+1, true)
	keys := rdb.Keys(ctx, "t:sight:det:*").Val()
	if len(keys) != 4 {
		t.Fatalf("claim keys %v", keys)
	}
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl <= 47*time.Hour || ttl > 48*time.Hour {
		t.Fatalf("claim ttl %v", ttl)
	}
}

// TestGlobBytes: the IMEI's fields are found with HSCAN MATCH on its 6
// bytes; an IMEI whose bytes are glob characters (* ? [ ] \) must match
// its own fields only, not a neighbour's in the same bucket.
func TestGlobBytes(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, _ := newTestStore(t, rdb, Options{Buckets: 1, MinInterval: -1})
	imeiOfBytes := func(b ...byte) eir.IMEI { return imeiOf(string(b)) }
	for _, special := range []byte{'*', '?', '[', ']', '\\'} {
		glob := imeiOfBytes(0x01, 0x02, special, 0x5c, 0x2a, 0x03)
		neighbour := imeiOfBytes(0x01, 0x02, 'x', 0x5c, 0x2a, 0x03)
		if glob > eir.MaxIMEI || neighbour > eir.MaxIMEI {
			t.Fatal("test IMEI over 14 digits")
		}
		record(t, s, obs(neighbour, "001010000000009", "mme1"))
		r := record(t, s, obs(glob, "001010000000001", "mme1"))
		if r.Pairs != nil {
			t.Fatalf("%q: the first pair of an IMEI got pairs %+v", special, r.Pairs)
		}
		r = record(t, s, obs(glob, "001010000000002", "mme1"))
		if len(r.Pairs) != 2 || r.Pairs[0].IMEI != glob || r.Pairs[1].IMEI != glob {
			t.Fatalf("%q: pairs %+v", special, r.Pairs)
		}
	}
}

// TestScriptsFlushed: a Redis without the scripts (restarted, failed over)
// gets them loaded once per batch, and the batch's writes sent again.
func TestScriptsFlushed(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, _ := newTestStore(t, rdb, Options{MinInterval: -1})
	ctx := context.Background()
	record(t, s, obs(imeiA, "001010000000001", "mme1"))
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := testutil.ToFloat64(s.m.commands)
	batch := []Observation{obs(imeiA, "001010000000001", "mme1"), obs(imeiB, "001010000000002", "mme1")}
	res, err := s.Write(ctx, batch)
	if err != nil || !res[0].Written || !res[1].Written || !res[1].NewPair {
		t.Fatalf("write after SCRIPT FLUSH: %+v %v", res, err)
	}
	// 4 scripts refused, 2 SCRIPT LOAD, the 4 sent again.
	if n := testutil.ToFloat64(s.m.commands) - before; n != 10 {
		t.Fatalf("%v commands, want 10", n)
	}
	if n := len(pairsOf(t, s, imeiB)); n != 1 {
		t.Fatalf("%d pairs of B", n)
	}
}
