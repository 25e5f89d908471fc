package main

import (
	"os"
	"runtime"
	"strings"
)

// machineInfo describes where a measurement ran.
type machineInfo struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	Redis  string `json:"redis"`
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
	m := machineInfo{CPU: "unknown", Cores: runtime.NumCPU(), Kernel: "unknown", Go: runtime.Version(), Redis: redisVersion}
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
