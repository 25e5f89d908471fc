//go:build !linux

package redistest

import "syscall"

// sysProcAttr is a no-op outside Linux: Pdeathsig does not exist there, so
// child processes are only stopped by the tb.Cleanup hooks.
func sysProcAttr() *syscall.SysProcAttr { return nil }
