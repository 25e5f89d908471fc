package sighting

import (
	"context"
	"testing"
	"time"

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
	if n := rdb.HLen(ctx, s.imeiKey(imeiA)).Val(); n != 1 {
		t.Fatalf("imei bucket: %d fields after pruning, want 1", n)
	}
	if n := rdb.HLen(ctx, s.imsiKey(sub2)).Val(); n != 1 {
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
