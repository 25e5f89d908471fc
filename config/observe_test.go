package config

import (
	"testing"
	"time"
)

func TestValidateObserve(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Observe)
		wants  []string // empty: valid
	}{
		{"defaults", func(*Observe) {}, nil},
		{"rules off", func(o *Observe) {
			o.Rules = ObserveRules{}
		}, nil},
		{"retention", func(o *Observe) { o.Retention = time.Hour }, []string{"observe.retention: 1h: want at least 24h (a Go duration: 4320h is 180 days)"}},
		{"interfaces", func(o *Observe) { o.Interfaces = []string{"s13", "gx", "s13"} },
			[]string{`observe.interfaces[1]: "gx": want s13|n5g`, `observe.interfaces[2]: "s13" listed twice`}},
		{"sample", func(o *Observe) { o.Sample = 0 }, []string{"observe.sample: 0: want a share above 0 and at most 1"}},
		{"sample over 1", func(o *Observe) { o.Sample = 1.5 }, []string{"observe.sample: 1.5"}},
		{"max_pairs", func(o *Observe) { o.MaxPairs = 1 }, []string{"observe.max_pairs: 1: want at least 2"}},
		{"day_offset", func(o *Observe) { o.DayOffset = 15 * time.Hour }, []string{"observe.day_offset: 15h: want whole seconds within ±14h"}},
		{"queue_size", func(o *Observe) { o.QueueSize = 0 }, []string{"observe.queue_size: must be at least 1, got 0"}},
		{"period", func(o *Observe) { o.Rules.DuplicatePeriodDays = 65 },
			[]string{"observe.rules.duplicate_period_days: 65: want 1 to 64"}},
		{"min_seen_days", func(o *Observe) { o.Rules.MinSeenDays = 31 },
			[]string{"observe.rules.min_seen_days: 31: want 0 to duplicate_period_days (30)"}},
		{"negative rules", func(o *Observe) {
			o.Rules.DuplicateThreshold, o.Rules.DailyAvgThreshold, o.Rules.ConcurrentWindow = -1, -1, -time.Second
		}, []string{"observe.rules.duplicate_threshold: must not be negative", "observe.rules.daily_avg_threshold: must not be negative",
			"observe.rules.concurrent_window: must not be negative"}},
		{"detect list", func(o *Observe) { o.Detect.List = "white" }, []string{`observe.detect.list: "white": want grey|black`}},
		{"per_imsi_interval", func(o *Observe) { o.Events.PerIMSIInterval = -time.Second },
			[]string{"observe.events.per_imsi_interval: must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c.Observe)
			wantProblems(t, c.Validate(), tc.wants)
		})
	}
}

// TestObserveFromEnv: the observe keys take environment overrides like the
// others (a float, a list, a nested duration).
func TestObserveFromEnv(t *testing.T) {
	c := Default()
	if err := LoadEnv(&c, []string{"EIR_OBSERVE_SAMPLE=0.25", "EIR_OBSERVE_INTERFACES=n5g", "EIR_OBSERVE_RULES_CONCURRENT_WINDOW=2m",
		"EIR_OBSERVE_DETECT_ENFORCE=true"}); err != nil {
		t.Fatal(err)
	}
	o := c.Observe
	if o.Sample != 0.25 || len(o.Interfaces) != 1 || o.Interfaces[0] != "n5g" || o.Rules.ConcurrentWindow != 2*time.Minute || !o.Detect.Enforce {
		t.Fatalf("%+v", o)
	}
}
