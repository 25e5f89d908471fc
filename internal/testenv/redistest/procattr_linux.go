//go:build linux

package redistest

import "syscall"

// sysProcAttr makes the kernel SIGKILL the child when the thread that started
// it dies, so Redis processes do not outlive a killed `go test` binary.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
