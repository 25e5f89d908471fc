package redisstore

import (
	"os"
	"strings"
)

// pidScope names the pid namespace of this process on this boot of this
// host: two processes may compare their pids only when they share it (a
// container has its own namespace, a reboot reuses pids).
func pidScope() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns
}
