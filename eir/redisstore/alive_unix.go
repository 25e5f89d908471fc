//go:build unix

package redisstore

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this pid runs (or may: a
// process of another user answers EPERM).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
