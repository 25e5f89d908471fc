package sighting

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// Rule names, as in Detection.Rule. The first two are DIRBS-Core's
// duplicate dimensions (src/dirbs/dimensions/duplicate_threshold.py and
// duplicate_daily_avg.py).
const (
	RuleDuplicateThreshold = "duplicate_threshold"
	RuleDuplicateDailyAvg  = "duplicate_daily_avg"
	RuleConcurrentUse      = "concurrent_use"
)

// Rules are the duplicate-IMEI rules, evaluated on the pairs of one IMEI.
// A zero threshold or window disables its rule.
type Rules struct {
	// PeriodDays is the analysis window: today and the PeriodDays-1 days
	// before (DIRBS: [end - period_days, end) with end = the day after the
	// analysis date). 1 to 64, the days the bitmaps hold.
	PeriodDays int
	// Threshold: distinct IMSIs seen with the IMEI within the period (DIRBS
	// duplicate_threshold, e.g. 10 in 30 days).
	Threshold int
	// AvgThreshold: average distinct IMSIs per day the IMEI was seen on,
	// within the period (DIRBS duplicate_daily_avg threshold, a float).
	AvgThreshold float64
	// MinSeenDays: the daily average applies only to IMEIs seen on at
	// least this many days of the period (DIRBS min_seen_days, ≤ period).
	MinSeenDays int
	// ConcurrentWindow: the IMEI seen with two IMSIs at two different peers
	// within this window of each other and of now.
	ConcurrentWindow time.Duration
}

// Validate reports every invalid field, each under its name.
func (r Rules) Validate() error {
	var errs []error
	if (r.Threshold > 0 || r.AvgThreshold > 0) && (r.PeriodDays < 1 || r.PeriodDays > 64) {
		errs = append(errs, fmt.Errorf("period_days: %d: want 1 to 64 (the days the store's bitmaps hold)", r.PeriodDays))
	}
	if r.Threshold < 0 {
		errs = append(errs, fmt.Errorf("threshold: %d: want ≥ 0", r.Threshold))
	}
	if r.AvgThreshold < 0 {
		errs = append(errs, fmt.Errorf("avg_threshold: %v: want ≥ 0", r.AvgThreshold))
	}
	if r.MinSeenDays < 0 || (r.AvgThreshold > 0 && r.MinSeenDays > r.PeriodDays) {
		// DIRBS: "min_seen_days is greater than period_days".
		errs = append(errs, fmt.Errorf("min_seen_days: %d: want 0 to period_days (%d)", r.MinSeenDays, r.PeriodDays))
	}
	if r.ConcurrentWindow < 0 {
		errs = append(errs, fmt.Errorf("concurrent_window: %v: want ≥ 0", r.ConcurrentWindow))
	}
	return errors.Join(errs...)
}

// Detection is one rule that fired on an IMEI, with its figures.
type Detection struct {
	Rule string
	IMEI eir.IMEI
	// IMSIs are the IMSIs that made the rule fire, sorted.
	IMSIs []eir.IMSI
	// Count is the distinct IMSIs counted (duplicate_threshold,
	// concurrent_use) within the period or window.
	Count int
	// SeenDays, IMSIDays and Average are the daily average's figures: days
	// of the period the IMEI was seen on, the sum over its IMSIs of the days
	// each was seen on, and IMSIDays/SeenDays.
	SeenDays int
	IMSIDays int
	Average  float64
	// Peers are the distinct last peers of the concurrent pairs, sorted.
	Peers []string
}

// Evaluate runs every enabled rule on the pairs of one IMEI, today being
// the store's current day and now its clock.
func (r Rules) Evaluate(pairs []Pair, today Day, now time.Time) []Detection {
	var out []Detection
	if d, ok := r.DuplicateThreshold(pairs, today); ok {
		out = append(out, d)
	}
	if d, ok := r.DuplicateDailyAvg(pairs, today); ok {
		out = append(out, d)
	}
	if d, ok := r.ConcurrentUse(pairs, now); ok {
		out = append(out, d)
	}
	return out
}

// DuplicateThreshold counts the distinct IMSIs seen with the IMEI within
// the period and fires at Threshold or more. DIRBS counts
// DISTINCT imei_norm, imsi with last_seen >= start AND first_seen < end;
// here a pair counts when its LastDay is within the period (a LastDay after
// today, a skewed clock, counts too).
func (r Rules) DuplicateThreshold(pairs []Pair, today Day) (Detection, bool) {
	if r.Threshold <= 0 || len(pairs) < r.Threshold {
		return Detection{}, false
	}
	start := today - Day(r.PeriodDays-1)
	var imsis []eir.IMSI
	for _, p := range pairs {
		if p.LastDay >= start {
			imsis = append(imsis, p.IMSI)
		}
	}
	if len(imsis) < r.Threshold {
		return Detection{}, false
	}
	return Detection{Rule: RuleDuplicateThreshold, IMEI: pairs[0].IMEI, IMSIs: sortIMSIs(imsis), Count: len(imsis)}, true
}

// DuplicateDailyAvg follows DIRBS-Core's duplicate_daily_avg.py: "the
// average number of IMSIs an IMEI is seen with on a daily basis. If an
// IMEI-IMSI pair is seen across multiple operators on a day, pair is only
// counted once for that day. The averaging is done over the number of days
// that the IMEI was observed on within the lookback window", and IMEIs
// seen on fewer than min_seen_days days are skipped. Its SQL: days_seen =
// bitcount(bit_or(date bitmasks within the window)), imsis_per_imei =
// SUM(bitcount(each pair's bitmask within the window)), HAVING days_seen
// >= min_seen_days AND imsis_per_imei/days_seen >= threshold. The same
// sums here, on the pairs' day bitmaps aligned to today.
func (r Rules) DuplicateDailyAvg(pairs []Pair, today Day) (Detection, bool) {
	if r.AvgThreshold <= 0 || len(pairs) == 0 {
		return Detection{}, false
	}
	var union uint64
	imsiDays := 0
	var imsis []eir.IMSI
	for _, p := range pairs {
		b := p.aligned(p.Days, today, r.PeriodDays)
		if b == 0 {
			continue
		}
		union |= b
		imsiDays += bits.OnesCount64(b)
		imsis = append(imsis, p.IMSI)
	}
	seen := bits.OnesCount64(union)
	if seen == 0 || seen < r.MinSeenDays {
		return Detection{}, false
	}
	avg := float64(imsiDays) / float64(seen)
	if avg < r.AvgThreshold {
		return Detection{}, false
	}
	return Detection{
		Rule: RuleDuplicateDailyAvg, IMEI: pairs[0].IMEI, IMSIs: sortIMSIs(imsis), Count: len(imsis),
		SeenDays: seen, IMSIDays: imsiDays, Average: avg,
	}, true
}

// ConcurrentUse fires when, among the pairs last seen within
// ConcurrentWindow before now (or after it: a skewed clock), two with
// different IMSIs were last seen at different peers: one device cannot be
// attached at two MMEs/AMFs at once with two SIMs, a clone can. Only the
// last peer of each pair is kept, so this sees the latest observations only.
func (r Rules) ConcurrentUse(pairs []Pair, now time.Time) (Detection, bool) {
	if r.ConcurrentWindow <= 0 || len(pairs) < 2 {
		return Detection{}, false
	}
	from := now.Add(-r.ConcurrentWindow)
	var recent []Pair
	peers := map[string]bool{}
	for _, p := range pairs {
		if p.LastSeen.Before(from) || p.PeerID == 0 {
			continue
		}
		recent = append(recent, p)
		peers[peerName(p)] = true
	}
	if len(peers) < 2 || len(recent) < 2 {
		return Detection{}, false
	}
	d := Detection{Rule: RuleConcurrentUse, IMEI: pairs[0].IMEI, Count: len(recent)}
	for _, p := range recent {
		d.IMSIs = append(d.IMSIs, p.IMSI)
	}
	for name := range peers {
		d.Peers = append(d.Peers, name)
	}
	sort.Strings(d.Peers)
	d.IMSIs = sortIMSIs(d.IMSIs)
	return d, true
}

// peerName names a peer for comparison: its name, or its id when the name
// is unknown (ids are unique per name).
func peerName(p Pair) string {
	if p.Peer != "" {
		return p.Peer
	}
	return fmt.Sprintf("#%d", p.PeerID)
}

func sortIMSIs(s []eir.IMSI) []eir.IMSI {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}
