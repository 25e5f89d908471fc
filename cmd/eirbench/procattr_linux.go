//go:build linux

package main

import "syscall"

// childAttr puts a child process (redis-server, eird, the reference
// server) in its own process group, so that a Ctrl-C at the terminal
// reaches eirbench alone and eirbench stops the children in order, and
// makes the kernel SIGKILL it if eirbench dies without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
