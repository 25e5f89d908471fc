//go:build !linux

package main

import "syscall"

// childAttr is a no-op outside Linux (no Pdeathsig): children are only
// stopped by eirbench itself.
func childAttr() *syscall.SysProcAttr { return nil }
