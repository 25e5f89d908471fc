package sighting

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// today is the day the crafted histories are evaluated on.
const today Day = 20_000

// hist builds a pair last seen lastAgo days before today whose Days bitmap
// has a bit for each of agos (days before today).
func hist(imsi string, agos ...int) Pair {
	p := Pair{IMEI: imeiA, IMSI: eir.IMSI(imsi), PeerID: 1, Peer: "mme1"}
	last := 1 << 30
	for _, a := range agos {
		last = min(last, a)
	}
	p.LastDay = today - Day(last)
	p.LastSeen = p.LastDay.Time(0).Add(12 * time.Hour)
	for _, a := range agos {
		if a-last < 64 {
			p.Days |= 1 << uint(a-last)
		}
	}
	return p
}

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Rules
		want string // substring of the error, "" for none
	}{
		{"zero disables all", Rules{}, ""},
		{"dirbs example", Rules{PeriodDays: 30, Threshold: 10, AvgThreshold: 2.5, MinSeenDays: 5, ConcurrentWindow: 5 * time.Minute}, ""},
		{"period 64", Rules{PeriodDays: 64, Threshold: 2}, ""},
		{"period 65", Rules{PeriodDays: 65, Threshold: 2}, "period_days"},
		{"period 0 with a threshold", Rules{Threshold: 2}, "period_days"},
		{"negative threshold", Rules{PeriodDays: 3, Threshold: -1}, "threshold"},
		{"min seen over period", Rules{PeriodDays: 3, AvgThreshold: 1, MinSeenDays: 4}, "min_seen_days"},
		{"negative window", Rules{ConcurrentWindow: -time.Second}, "concurrent_window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestDuplicateThreshold(t *testing.T) {
	r := Rules{PeriodDays: 30, Threshold: 3}
	tests := []struct {
		name  string
		pairs []Pair
		want  int // 0: no detection
	}{
		{"three today", []Pair{hist("1", 0), hist("2", 0), hist("3", 0)}, 3},
		{"two", []Pair{hist("1", 0), hist("2", 5)}, 0},
		{"last day of the period (29 days ago) counts", []Pair{hist("1", 0), hist("2", 5), hist("3", 29)}, 3},
		{"30 days ago is outside", []Pair{hist("1", 0), hist("2", 5), hist("3", 30)}, 0},
		{"seen in the period earlier, last seen in it", []Pair{hist("1", 0), hist("2", 3, 40), hist("3", 29, 63)}, 3},
		{"a future day (clock skew) counts", []Pair{hist("1", 0), hist("2", 1), hist("3", -1)}, 3},
		{"four", []Pair{hist("1", 0), hist("2", 1), hist("3", 2), hist("4", 3)}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := r.DuplicateThreshold(tc.pairs, today)
			if got := map[bool]int{true: d.Count}[ok]; got != tc.want {
				t.Fatalf("count %d (fired %v), want %d", d.Count, ok, tc.want)
			}
			if ok && (d.Rule != RuleDuplicateThreshold || len(d.IMSIs) != d.Count || !slices.IsSorted(d.IMSIs) || d.IMEI != imeiA) {
				t.Fatalf("detection %+v", d)
			}
		})
	}
	if _, ok := (Rules{PeriodDays: 30}).DuplicateThreshold([]Pair{hist("1", 0)}, today); ok {
		t.Fatal("threshold 0 fired")
	}
}

func TestDuplicateDailyAvg(t *testing.T) {
	r := Rules{PeriodDays: 10, AvgThreshold: 2, MinSeenDays: 3}
	tests := []struct {
		name           string
		pairs          []Pair
		fire           bool
		seen, imsiDays int
		avg            float64
	}{
		// 3 IMSIs each on days 0,1,2: 9 IMSI-days over 3 seen days = 3.
		{"three a day", []Pair{hist("1", 0, 1, 2), hist("2", 0, 1, 2), hist("3", 0, 1, 2)}, true, 3, 9, 3},
		// Exactly the threshold fires (DIRBS: >=).
		{"exactly two", []Pair{hist("1", 0, 1, 2), hist("2", 0, 1, 2)}, true, 3, 6, 2},
		// Averaged over the days the IMEI was seen, not the period: 1 + 2 + 2
		// IMSI-days... 1: days 0,1,2; 2: days 0 → 4 IMSI-days / 3 days.
		{"below", []Pair{hist("1", 0, 1, 2), hist("2", 0)}, false, 3, 4, 4.0 / 3},
		// Two days seen < min_seen_days 3, however many IMSIs.
		{"min seen days", []Pair{hist("1", 0, 1), hist("2", 0, 1), hist("3", 0, 1), hist("4", 0, 1)}, false, 2, 8, 4},
		// Days outside the period (10+ days ago) are not counted: 9 is in, 10 is out.
		{"window edge", []Pair{hist("1", 0, 5, 9, 10, 11), hist("2", 0, 5, 9, 10, 11)}, true, 3, 6, 2},
		// The same IMSI is one pair, counted once a day.
		{"days apart", []Pair{hist("1", 0, 2, 4), hist("2", 1, 3, 5)}, false, 6, 6, 1},
		{"none in period", []Pair{hist("1", 20), hist("2", 20)}, false, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := r.DuplicateDailyAvg(tc.pairs, today)
			if ok != tc.fire {
				t.Fatalf("fired %v, want %v (%+v)", ok, tc.fire, d)
			}
			if !ok {
				// Compute the figures without the thresholds to check them.
				loose := Rules{PeriodDays: r.PeriodDays, AvgThreshold: 1e-9}
				d, ok = loose.DuplicateDailyAvg(tc.pairs, today)
				if !ok {
					if tc.seen != 0 {
						t.Fatalf("no figures, want seen %d", tc.seen)
					}
					return
				}
			}
			if d.SeenDays != tc.seen || d.IMSIDays != tc.imsiDays || d.Average != tc.avg {
				t.Fatalf("figures seen %d imsi-days %d avg %v, want %d %d %v", d.SeenDays, d.IMSIDays, d.Average, tc.seen, tc.imsiDays, tc.avg)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	at := func(imsi, peer string, ago time.Duration) Pair {
		return Pair{IMEI: imeiA, IMSI: eir.IMSI(imsi), Peer: peer, PeerID: fnv32a(peer), LastSeen: now.Add(-ago)}
	}
	r := Rules{ConcurrentWindow: 5 * time.Minute}
	tests := []struct {
		name  string
		pairs []Pair
		want  []string // peers, nil: no detection
	}{
		{"two peers now", []Pair{at("1", "mme1", 0), at("2", "mme2", time.Minute)}, []string{"mme1", "mme2"}},
		{"same peer", []Pair{at("1", "mme1", 0), at("2", "mme1", time.Minute)}, nil},
		{"edge of the window", []Pair{at("1", "mme1", 0), at("2", "mme2", 5*time.Minute)}, []string{"mme1", "mme2"}},
		{"outside the window", []Pair{at("1", "mme1", 0), at("2", "mme2", 5*time.Minute+time.Second)}, nil},
		{"one pair", []Pair{at("1", "mme1", 0)}, nil},
		{"no peer", []Pair{at("1", "mme1", 0), {IMEI: imeiA, IMSI: "2", LastSeen: now}}, nil},
		{"three, two peers", []Pair{at("1", "mme1", 0), at("2", "mme1", 0), at("3", "amf", time.Minute), at("4", "x", time.Hour)}, []string{"amf", "mme1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := r.ConcurrentUse(tc.pairs, now)
			if ok != (tc.want != nil) || !slices.Equal(d.Peers, tc.want) {
				t.Fatalf("got %+v (fired %v), want peers %v", d, ok, tc.want)
			}
		})
	}
	if _, ok := (Rules{}).ConcurrentUse([]Pair{at("1", "mme1", 0), at("2", "mme2", 0)}, now); ok {
		t.Fatal("window 0 fired")
	}
}

func TestEvaluate(t *testing.T) {
	r := Rules{PeriodDays: 30, Threshold: 2, AvgThreshold: 1.5, MinSeenDays: 1}
	ds := r.Evaluate([]Pair{hist("1", 0), hist("2", 0)}, today, today.Time(0))
	if len(ds) != 2 || ds[0].Rule != RuleDuplicateThreshold || ds[1].Rule != RuleDuplicateDailyAvg || ds[1].Average != 2 {
		t.Fatalf("%+v", ds)
	}
	if ds := r.Evaluate(nil, today, today.Time(0)); ds != nil {
		t.Fatalf("%+v", ds)
	}
}

func TestPairAligned(t *testing.T) {
	p := hist("1", 3, 4, 67) // last seen 3 days ago; day 67 is beyond the bitmap
	if p.Days != 0b11 {
		t.Fatalf("%b", p.Days)
	}
	if got := p.daysIn(today, 5); got != 2 {
		t.Fatalf("daysIn 5: %d", got)
	}
	if got := p.daysIn(today, 4); got != 1 {
		t.Fatalf("daysIn 4: %d", got)
	}
	if p.aligned(p.Days, today+100, 64) != 0 || p.aligned(p.Days, today-70, 64) != 0 {
		t.Fatal("far alignments")
	}
	if !p.SeenOn(today-4) || p.SeenOn(today-2) {
		t.Fatal("SeenOn")
	}
}

func TestDayOf(t *testing.T) {
	if d := DayOf(time.Unix(0, 0), 0); d != 0 {
		t.Fatal(d)
	}
	if d := DayOf(time.Unix(-1, 0), 0); d != -1 {
		t.Fatal(d)
	}
	t1 := time.Date(2026, 3, 2, 22, 30, 0, 0, time.UTC)
	if DayOf(t1, 2*time.Hour) != DayOf(t1, 0)+1 || DayOf(t1, -23*time.Hour) != DayOf(t1, 0)-1 {
		t.Fatal("offsets")
	}
	if d := DayOf(t1, 0); !d.Time(0).Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatal(d.Time(0))
	}
}

func TestBCD(t *testing.T) {
	for _, s := range []string{"", "1", "33612345678", "123456789012345"} {
		if got := unpackBCD(packBCD(s)); got != s {
			t.Fatalf("%q → %q", s, got)
		}
	}
	if b := packBCD("123"); len(b) != 2 || b[0] != 0x21 || b[1] != 0xf3 {
		t.Fatalf("% x", b)
	}
}

func TestClassify(t *testing.T) {
	o := obs(imeiA, "001010000000001", "mme1")
	tests := []struct {
		name   string
		answer Answer
		r      Result
		want   []string
	}{
		{"deduplicated", AnswerBlacklisted, Result{NewPair: true}, nil},
		{"nothing new", AnswerWhitelisted, Result{Written: true}, nil},
		{"new pair, white", AnswerWhitelisted, Result{Written: true, NewPair: true}, nil},
		{"new pair, grey", AnswerGreylisted, Result{Written: true, NewPair: true}, []string{EventListedIMEINewIMSI}},
		{"new pair, unknown", AnswerUnknown, Result{Written: true, NewPair: true}, nil},
		{"device change", AnswerWhitelisted, Result{Written: true, DeviceChanged: true, PrevIMEI: imeiB}, []string{EventIMSINewDevice}},
		{"both", AnswerBlacklisted, Result{Written: true, NewPair: true, DeviceChanged: true, PrevIMEI: imeiB,
			Pairs: []Pair{{IMSI: "001010000000001"}, {IMSI: "001019"}}}, []string{EventIMSINewDevice, EventListedIMEINewIMSI}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o.Answer = tc.answer
			var kinds []string
			for _, e := range Classify(o, tc.r) {
				kinds = append(kinds, e.Kind)
				if e.Kind == EventListedIMEINewIMSI && len(tc.r.Pairs) > 0 && !slices.Equal(e.PrevIMSIs, []eir.IMSI{"001019"}) {
					t.Fatalf("prev imsis %v", e.PrevIMSIs)
				}
			}
			if !slices.Equal(kinds, tc.want) {
				t.Fatalf("kinds %v, want %v", kinds, tc.want)
			}
		})
	}
}
