package config

import (
	"fmt"
	"time"
)

// validateObserve checks the observe section. The bounds are those of
// eir/sighting (the store's bitmaps hold 64 days; a record's day offset is
// whole seconds within ±14h); they are checked here so that eird names
// the key at fault before it starts.
func (c Config) validateObserve(p *problems) {
	o := c.Observe
	if o.Retention < 24*time.Hour {
		p.addf("observe.retention", "%s: want at least 24h (a Go duration: 4320h is 180 days)", formatDuration(o.Retention))
	}
	seen := map[string]bool{}
	for i, s := range o.Interfaces {
		key := fmt.Sprintf("observe.interfaces[%d]", i)
		p.oneOf(key, s, "s13", "n5g")
		if seen[s] {
			p.addf(key, "%q listed twice", s)
		}
		seen[s] = true
	}
	if !(o.Sample > 0 && o.Sample <= 1) {
		p.addf("observe.sample", "%g: want a share above 0 and at most 1 (1: every check)", o.Sample)
	}
	if o.MinInterval < 0 {
		p.addf("observe.min_interval", "must not be negative")
	}
	if o.MaxWritesPerSecond < 0 {
		p.addf("observe.max_writes_per_second", "%g: want ≥ 0", o.MaxWritesPerSecond)
	}
	if o.Buckets < 1 || o.Buckets&(o.Buckets-1) != 0 {
		p.addf("observe.buckets", "%d: want a power of two", o.Buckets)
	}
	if o.DedupeEntries < 1000 {
		p.addf("observe.dedupe_entries", "%d: want at least 1000", o.DedupeEntries)
	}
	if o.MaxPairs < 2 {
		p.addf("observe.max_pairs", "%d: want at least 2", o.MaxPairs)
	}
	if o.DayOffset < -14*time.Hour || o.DayOffset > 14*time.Hour || o.DayOffset%time.Second != 0 {
		p.addf("observe.day_offset", "%s: want whole seconds within ±14h", formatDuration(o.DayOffset))
	}
	if o.QueueSize < 1 {
		p.addf("observe.queue_size", "must be at least 1, got %d", o.QueueSize)
	}
	r := o.Rules
	if (r.DuplicateThreshold > 0 || r.DailyAvgThreshold > 0) && (r.DuplicatePeriodDays < 1 || r.DuplicatePeriodDays > 64) {
		p.addf("observe.rules.duplicate_period_days", "%d: want 1 to 64 (the days the store's bitmaps hold)", r.DuplicatePeriodDays)
	}
	if r.DuplicateThreshold < 0 {
		p.addf("observe.rules.duplicate_threshold", "must not be negative (0: off)")
	}
	if r.DailyAvgThreshold < 0 {
		p.addf("observe.rules.daily_avg_threshold", "must not be negative (0: off)")
	}
	if r.MinSeenDays < 0 || (r.DailyAvgThreshold > 0 && r.MinSeenDays > r.DuplicatePeriodDays) {
		p.addf("observe.rules.min_seen_days", "%d: want 0 to duplicate_period_days (%d)", r.MinSeenDays, r.DuplicatePeriodDays)
	}
	if r.ConcurrentWindow < 0 {
		p.addf("observe.rules.concurrent_window", "must not be negative (0: off)")
	}
	p.oneOf("observe.detect.list", o.Detect.List, "grey", "black")
	if o.Events.PerIMSIInterval < 0 {
		p.addf("observe.events.per_imsi_interval", "must not be negative (0: no limit)")
	}
}
