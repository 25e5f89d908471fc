package sighting

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// t0 is a Monday noon UTC.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func newTestStore(t *testing.T, rdb redis.UniversalClient, o Options) (*Store, *clock, *prometheus.Registry) {
	t.Helper()
	c := &clock{t: t0}
	if o.Now == nil {
		o.Now = c.Now
	}
	if o.Prefix == "" {
		o.Prefix = "t:"
	}
	reg := prometheus.NewRegistry()
	s, err := New(rdb, o, reg)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, reg
}

func obs(imei eir.IMEI, imsi, peer string) Observation {
	return Observation{IMEI: imei, IMSI: eir.IMSI(imsi), Interface: S13, Peer: peer, Answer: AnswerWhitelisted}
}

func record(t *testing.T, s *Store, o Observation) Result {
	t.Helper()
	r, err := s.Record(context.Background(), o)
	if err != nil {
		t.Fatalf("record %v: %v", o, err)
	}
	return r
}

func pairsOf(t *testing.T, s *Store, imei eir.IMEI) []Pair {
	t.Helper()
	ps, err := s.Pairs(context.Background(), imei)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

const imeiA, imeiB eir.IMEI = 35_209_900_176_148, 49_015_420_323_751

func TestRecordAndPairs(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{})
	o := obs(imeiA, "001010123456789", "mme1.epc.example")
	o.SVN, o.MSISDN = "07", "33612345678"
	r := record(t, s, o)
	if !r.Written || !r.NewPair || !r.NewDay || r.DeviceChanged || r.Pairs != nil {
		t.Fatalf("first write: %+v", r)
	}
	c.Add(2 * time.Hour)
	o2 := obs(imeiA, "001010123456789", "amf-7")
	o2.Interface = N5G
	r = record(t, s, o2)
	if !r.Written || r.NewPair || r.NewDay {
		t.Fatalf("same day: %+v", r)
	}
	ps := pairsOf(t, s, imeiA)
	if len(ps) != 1 {
		t.Fatalf("pairs: %+v", ps)
	}
	p := ps[0]
	want := Pair{
		IMEI: imeiA, IMSI: "001010123456789", FirstSeen: t0, LastSeen: t0.Add(2 * time.Hour), LastDay: DayOf(t0, 0),
		DaysSeen: 1, Days: 1, Admitted: 1, SVN: "07", Peer: "amf-7", PeerID: p.PeerID,
		Interfaces: Interfaces(S13 | N5G), MSISDN: "33612345678",
	}
	if p != want {
		t.Fatalf("pair\n got %+v\nwant %+v", p, want)
	}
	if !p.Interfaces.Has(S13) || !p.Interfaces.Has(N5G) {
		t.Fatal("interfaces")
	}
	// A fresh store (another process) resolves the peer name from Redis.
	s2, _, _ := newTestStore(t, rdb, Options{Now: c.Now})
	if got := pairsOf(t, s2, imeiA)[0].Peer; got != "amf-7" {
		t.Fatalf("peer from another store: %q", got)
	}
}

func TestDaysBitmaps(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{})
	o := obs(imeiA, "001010000000001", "mme1")
	record(t, s, o) // day 0
	c.Add(24 * time.Hour)
	o.Answer = AnswerBlacklisted
	if r := record(t, s, o); !r.NewDay || r.NewPair { // day 1, blocked
		t.Fatalf("day 1: %+v", r)
	}
	c.Add(2 * 24 * time.Hour)
	o.Answer = AnswerGreylisted
	record(t, s, o) // day 3
	// A reordered observation of day 2 sets its bit, not the last fields.
	late := o
	late.Time, late.Peer = c.Now().Add(-24*time.Hour), "mme-late"
	if r := record(t, s, late); !r.NewDay {
		t.Fatalf("late: %+v", r)
	}
	p := pairsOf(t, s, imeiA)[0]
	if p.Days != 0b1111 || p.Admitted != 0b1011 || p.DaysSeen != 4 || p.Peer != "mme1" || !p.LastSeen.Equal(c.Now()) {
		t.Fatalf("bitmaps: days %b admitted %b seen %d peer %q last %v", p.Days, p.Admitted, p.DaysSeen, p.Peer, p.LastSeen)
	}
	today := s.Today()
	if !p.SeenOn(today-1) || p.AdmittedOn(today-2) || !p.AdmittedOn(today-3) || p.SeenOn(today-4) || p.SeenOn(today+1) {
		t.Fatal("SeenOn/AdmittedOn")
	}
	// 70 days later the bitmap shifted out every earlier day.
	c.Add(70 * 24 * time.Hour)
	o.Time = time.Time{}
	record(t, s, o)
	p = pairsOf(t, s, imeiA)[0]
	if p.Days != 1 || p.DaysSeen != 5 || !p.FirstSeen.Equal(t0) {
		t.Fatalf("after 70 days: %+v", p)
	}
}

func TestDayOffset(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	// UTC+3: 22:00 UTC and 23:30 UTC are on two different local days.
	s, c, _ := newTestStore(t, rdb, Options{DayOffset: 3 * time.Hour, MinInterval: -1})
	c.t = time.Date(2026, 3, 2, 20, 30, 0, 0, time.UTC)
	o := obs(imeiA, "001010000000001", "mme1")
	record(t, s, o)
	c.Add(time.Hour)
	if r := record(t, s, o); !r.NewDay {
		t.Fatalf("local midnight crossed: %+v", r)
	}
	if p := pairsOf(t, s, imeiA)[0]; p.Days != 0b11 || p.LastDay != DayOf(c.Now(), 3*time.Hour) {
		t.Fatalf("%+v", p)
	}
}

func TestRetention(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{Retention: 10 * 24 * time.Hour})
	ctx := context.Background()
	record(t, s, obs(imeiA, "001010000000001", "mme1"))
	c.Add(5 * 24 * time.Hour)
	record(t, s, obs(imeiA, "001010000000002", "mme1"))
	// The TTL is set on a bucket's first write of a day, to the retention
	// and a day (the writes later that day are within it).
	if ttl := rdb.TTL(ctx, s.imeiKey(imeiA)).Val(); ttl <= 10*24*time.Hour || ttl > 11*24*time.Hour {
		t.Fatalf("ttl %v, want the retention and a day", ttl)
	}
	if ttl := rdb.TTL(ctx, s.imsiKey("001010000000002")).Val(); ttl <= 10*24*time.Hour {
		t.Fatalf("imsi key ttl %v", ttl)
	}
	// Day 10 + 1s: the first pair is past retention: reads ignore it...
	c.Add(5*24*time.Hour + time.Second)
	ps := pairsOf(t, s, imeiA)
	if len(ps) != 1 || ps[0].IMSI != "001010000000002" {
		t.Fatalf("after retention: %+v", ps)
	}
	if n := dataFields(t, rdb, s.imeiKey(imeiA)); n != 2 {
		t.Fatalf("before a write the hash holds %d fields, want 2", n)
	}
	d, err := s.Devices(ctx, "001010000000001")
	if err != nil || d.HasCurrent || len(d.Pairs) != 0 {
		t.Fatalf("devices of an expired subscriber: %+v %v", d, err)
	}
	// ...and the next write to the IMEI drops it.
	r := record(t, s, obs(imeiA, "001010000000003", "mme1"))
	if !r.NewPair || len(r.Pairs) != 2 {
		t.Fatalf("write after retention: %+v", r)
	}
	if n := dataFields(t, rdb, s.imeiKey(imeiA)); n != 2 {
		t.Fatalf("after a write the hash holds %d fields, want 2", n)
	}
	// An expired pair seen again is new again, its history gone.
	c.Add(11 * 24 * time.Hour)
	r = record(t, s, obs(imeiA, "001010000000003", "mme1"))
	if !r.NewPair || r.Pairs != nil {
		t.Fatalf("pair seen again after retention: %+v", r)
	}
	if p := pairsOf(t, s, imeiA)[0]; p.DaysSeen != 1 || p.Days != 1 || !p.FirstSeen.Equal(c.Now()) {
		t.Fatalf("history kept past retention: %+v", p)
	}
}

func TestDevicesAndClassify(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{})
	ctx := context.Background()
	sub := "001010000000001"
	oA := obs(imeiA, sub, "mme1")
	rA := record(t, s, oA)
	if ev := Classify(oA, rA); len(ev) != 0 {
		t.Fatalf("first sighting: %+v", ev)
	}
	c.Add(time.Hour)
	oB := obs(imeiB, sub, "mme2")
	oB.Answer = AnswerBlacklisted
	record(t, s, obs(imeiB, "001010000000009", "mme2")) // B's earlier SIM
	c.Add(time.Minute)
	rB := record(t, s, oB)
	ev := Classify(oB, rB)
	if len(ev) != 2 || ev[0].Kind != EventIMSINewDevice || ev[0].PrevIMEI != imeiA ||
		ev[1].Kind != EventListedIMEINewIMSI || len(ev[1].PrevIMSIs) != 1 || ev[1].PrevIMSIs[0] != "001010000000009" {
		t.Fatalf("events: %+v", ev)
	}
	d, err := s.Devices(ctx, eir.IMSI(sub))
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasCurrent || d.Current != imeiB || !d.Since.Equal(c.Now()) || len(d.Pairs) != 2 || d.Pairs[0].IMEI != imeiB {
		t.Fatalf("devices: %+v", d)
	}
	// A reordered observation on A, older than B's since, does not swap back.
	late := oA
	late.Time = c.Now().Add(-30 * time.Second)
	if r := record(t, s, late); r.DeviceChanged {
		t.Fatalf("late observation changed the device: %+v", r)
	}
	// Back on A later: a change again (dedupe is by IMSI, so A after B is written).
	c.Add(time.Second)
	if r := record(t, s, oA); !r.DeviceChanged || r.PrevIMEI != imeiB {
		t.Fatalf("back on A: %+v", r)
	}
}

func TestForget(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{})
	ctx := context.Background()
	sub := eir.IMSI("001010000000001")
	record(t, s, obs(imeiA, string(sub), "mme1"))
	record(t, s, obs(imeiA, "001010000000002", "mme1"))
	c.Add(time.Hour)
	record(t, s, obs(imeiB, string(sub), "mme1"))
	if err := s.Forget(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if ps := pairsOf(t, s, imeiA); len(ps) != 1 || ps[0].IMSI != "001010000000002" {
		t.Fatalf("imei A after forget: %+v", ps)
	}
	if ps := pairsOf(t, s, imeiB); len(ps) != 0 {
		t.Fatalf("imei B after forget: %+v", ps)
	}
	if n := rdb.Exists(ctx, s.imsiKey(sub), s.imeiKey(imeiB)).Val(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	// Seen again right away: written (the dedupe entry was dropped), a new pair.
	if r := record(t, s, obs(imeiB, string(sub), "mme1")); !r.Written || !r.NewPair {
		t.Fatalf("after forget: %+v", r)
	}
}

func TestDayIteration(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{})
	testDay(t, s, c)
}

// testDay writes 2,500 IMEIs (more than a SCAN page) over two days and
// checks Day returns exactly the pairs of each day.
func testDay(t *testing.T, s *Store, c *clock) {
	t.Helper()
	ctx := context.Background()
	day0 := s.Today()
	var batch []Observation
	for i := range 2500 {
		o := obs(imeiA+eir.IMEI(i), "00101"+strings.Repeat("0", 6)+itoa4(i), "mme1")
		if i%5 == 0 {
			o.Answer = AnswerBlacklisted
		}
		batch = append(batch, o)
	}
	if _, err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	c.Add(24 * time.Hour)
	if _, err := s.Write(ctx, batch[:100]); err != nil {
		t.Fatal(err)
	}
	count := func(d Day) (seen, admitted int) {
		t.Helper()
		err := s.Day(ctx, d, func(p Pair) error {
			seen++
			if p.AdmittedOn(d) {
				admitted++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return seen, admitted
	}
	if seen, adm := count(day0); seen != 2500 || adm != 2000 {
		t.Fatalf("day 0: %d seen, %d admitted; want 2500, 2000", seen, adm)
	}
	if seen, _ := count(day0 + 1); seen != 100 {
		t.Fatalf("day 1: %d seen, want 100", seen)
	}
	if seen, _ := count(day0 - 1); seen != 0 {
		t.Fatalf("day -1: %d seen", seen)
	}
	stop := errors.New("stop")
	if err := s.Day(ctx, day0, func(Pair) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn error: %v", err)
	}
}

func itoa4(i int) string {
	return string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestMaxPairs(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{MaxPairs: 3})
	for i := range 5 {
		record(t, s, obs(imeiA, "00101000000000"+string(rune('0'+i)), "mme1"))
		c.Add(time.Second)
	}
	ps := pairsOf(t, s, imeiA)
	if len(ps) != 3 || ps[2].IMSI != "001010000000002" {
		t.Fatalf("cap: %+v", ps)
	}
	// One IMSI through 5 IMEIs: its field names the 3 seen last.
	for i := range 5 {
		record(t, s, obs(imeiB+eir.IMEI(i), "001010000000009", "mme1"))
		c.Add(time.Second)
	}
	d, err := s.Devices(context.Background(), "001010000000009")
	if err != nil || len(d.Pairs) != 3 || d.Current != imeiB+4 || d.Pairs[2].IMEI != imeiB+2 {
		t.Fatalf("devices over the cap: %+v %v", d, err)
	}
}

func TestInvalidObservations(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, reg := newTestStore(t, rdb, Options{})
	bad := []Observation{
		{IMEI: imeiA, Interface: S13},
		{IMEI: imeiA, IMSI: "0010x", Interface: S13},
		{IMEI: imeiA, IMSI: "001010000000001"},
		{IMEI: imeiA, IMSI: "001010000000001", Interface: S13, SVN: "7"},
		{IMEI: imeiA, IMSI: "001010000000001", Interface: S13, MSISDN: "+336"},
		{IMEI: eir.MaxIMEI + 1, IMSI: "001010000000001", Interface: S13},
		{IMEI: imeiA, IMSI: "001010000000001", Interface: S13, Time: time.Unix(-5, 0)},
	}
	good := obs(imeiB, "001010000000001", "")
	res, err := s.Write(context.Background(), append(bad, good))
	if !errors.Is(err, ErrInvalidObservation) {
		t.Fatalf("err %v", err)
	}
	for i := range bad {
		if !errors.Is(res[i].Err, ErrInvalidObservation) || res[i].Written {
			t.Errorf("bad[%d]: %+v", i, res[i])
		}
	}
	if !res[len(bad)].Written {
		t.Fatalf("good one: %+v", res[len(bad)])
	}
	if got := testutil.ToFloat64(s.m.observations.WithLabelValues("invalid")); got != float64(len(bad)) {
		t.Fatalf("invalid counted %v", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Fatalf("gather: %d %v", n, err)
	}
}

func TestPeerCollision(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, _ := newTestStore(t, rdb, Options{})
	ctx := context.Background()
	// Another name already holds the id of "mme1".
	id0, err := s.peerID(ctx, "squatter")
	if err != nil {
		t.Fatal(err)
	}
	s2, _, _ := newTestStore(t, rdb, Options{})
	if err := rdb.Set(ctx, s2.peerKey(fnv32a("mme1")), "not-mme1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	id, err := s2.peerID(ctx, "mme1")
	if err != nil || id == fnv32a("mme1") || id == 0 || id == id0 {
		t.Fatalf("collision: id %d err %v", id, err)
	}
	if again, _ := s2.peerID(ctx, "mme1"); again != id {
		t.Fatal("not stable")
	}
	record(t, s2, obs(imeiA, "001010000000001", "mme1"))
	s3, _, _ := newTestStore(t, rdb, Options{})
	if p := pairsOf(t, s3, imeiA)[0]; p.Peer != "mme1" {
		t.Fatalf("peer %q", p.Peer)
	}
}

func TestSubscriberRetention(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, c, _ := newTestStore(t, rdb, Options{Retention: 10 * 24 * time.Hour})
	ctx := context.Background()
	sub := "001010000000001"
	const imeiC eir.IMEI = 1_234_567_890_123
	record(t, s, obs(imeiA, sub, "mme1"))
	c.Add(5 * 24 * time.Hour)
	record(t, s, obs(imeiB, sub, "mme1"))
	c.Add(6 * 24 * time.Hour)
	if r := record(t, s, obs(imeiC, sub, "mme1")); !r.DeviceChanged || r.PrevIMEI != imeiB {
		t.Fatalf("%+v", r)
	}
	v := subscriberValue(rdb.HGet(ctx, s.imsiKey(eir.IMSI(sub)), sub).Val())
	if imeis := v.live(0); len(imeis) != 2 || containsIMEI(imeis, imeiA) {
		t.Fatalf("imsi field's imeis %v: want B, C", imeis)
	}
	// The current IMEI past retention is no previous device.
	c.Add(11 * 24 * time.Hour)
	if r := record(t, s, obs(imeiA, sub, "mme1")); r.DeviceChanged {
		t.Fatalf("previous device past retention: %+v", r)
	}
	d, err := s.Devices(ctx, eir.IMSI(sub))
	if err != nil || !d.HasCurrent || d.Current != imeiA || len(d.Pairs) != 1 {
		t.Fatalf("%+v %v", d, err)
	}
}

// TestConcurrentWrites runs writes and reads from several goroutines (for
// the race detector) and checks every pair and day count is right.
func TestConcurrentWrites(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s, _, _ := newTestStore(t, rdb, Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				o := obs(imeiA, "0010100000"+itoa4(g)+string(rune('0'+i%10)), "mme"+itoa4(g))
				if _, err := s.Record(ctx, o); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Pairs(ctx, imeiA); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ps := pairsOf(t, s, imeiA)
	if len(ps) != 80 {
		t.Fatalf("%d pairs, want 80", len(ps))
	}
	for _, p := range ps {
		if p.DaysSeen != 1 || p.Days != 1 || p.Peer == "" {
			t.Fatalf("%+v", p)
		}
	}
}
