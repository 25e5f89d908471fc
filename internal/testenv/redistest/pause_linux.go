//go:build linux

package redistest

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

// sigStop and sigCont pause and resume a process (Server.Pause, Resume).
var sigStop, sigCont os.Signal = syscall.SIGSTOP, syscall.SIGCONT

// processStopped reports whether pid is in the stopped state ("T" in
// /proc/<pid>/stat), i.e. whether a SIGSTOP has taken effect.
func processStopped(pid int) (bool, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	// The command name in parentheses may itself hold spaces or
	// parentheses; the state is the field after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false, fmt.Errorf("unexpected %s: %q", path, data)
	}
	state := data[i+2]
	return state == 'T' || state == 't', nil
}
