package main

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machineInfo describes where a measurement ran.
type machineInfo struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	Redis  string `json:"redis"`
	// TimerLateness is how late a 250 µs Go timer fires here (p50, p99,
	// ms): the floor of what the open-loop generator adds to the latency
	// it measures from scheduled send times.
	TimerLateness [2]float64 `json:"timer_lateness_ms"`
}

// timerLateness measures how late n short Go timers fire, idle: p50 and
// p99 in milliseconds. On a machine whose kernel wakes sleepers on a
// coarse tick, this is up to a millisecond.
func timerLateness(n int) [2]float64 {
	late := make([]time.Duration, 0, n)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for range n {
		target := time.Now().Add(250 * time.Microsecond)
		t.Reset(time.Until(target))
		<-t.C
		late = append(late, time.Since(target))
	}
	slices.Sort(late)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return [2]float64{ms(late[n/2]), ms(late[n*99/100])}
}

// redisVersion returns the version from `redis-server --version` output
// ("Redis server v=7.0.15 sha=... "), or the line as is.
func redisVersion(line string) string {
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return "Redis " + v
		}
	}
	return line
}

// describeMachine reads the CPU model from /proc/cpuinfo and the kernel
// release from /proc/sys/kernel/osrelease.
func describeMachine(redisVersion string) machineInfo {
	m := machineInfo{CPU: "unknown", Cores: runtime.NumCPU(), Kernel: "unknown", Go: runtime.Version(), Redis: redisVersion,
		TimerLateness: timerLateness(400)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = runtime.GOOS + " " + strings.TrimSpace(string(b))
	}
	return m
}
