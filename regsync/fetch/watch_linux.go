//go:build linux

package fetch

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// watchMask selects the events a watcher needs. IN_EXCL_UNLINK drops the
// events of a file after it left the folder (a writer still appending to a
// file that a rename replaced), IN_ONLYDIR refuses a path that is not a
// folder. IN_DELETE_SELF, IN_MOVE_SELF (and IN_IGNORED, IN_UNMOUNT, always
// sent) end the watch.
const watchMask = unix.IN_CREATE | unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO |
	unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_EXCL_UNLINK | unix.IN_ONLYDIR

// watchEnd marks the events after which the watch is gone.
const watchEnd = unix.IN_IGNORED | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_UNMOUNT

// watchBufSize holds many events (each at most 16+NAME_MAX+1 bytes).
const watchBufSize = 64 << 10

// startWatcher watches dir with inotify and starts the goroutine that
// reads its events.
func startWatcher(dir string, limit int) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("inotify_add_watch", err)
	}
	w := newWatcher(dir, limit)
	// A non-blocking descriptor goes to the Go poller: a blocked Read
	// returns when close closes the file.
	w.file = os.NewFile(uintptr(fd), "inotify:"+dir)
	go w.run()
	return w, nil
}

// run reads events until the file is closed or the watch is gone.
func (w *watcher) run() {
	defer close(w.done)
	defer w.halt()
	buf := make([]byte, watchBufSize)
	for {
		n, err := w.file.Read(buf)
		if err != nil || !w.handle(buf[:n]) {
			return
		}
	}
}

// handle applies a buffer of inotify events (the kernel only writes whole
// events). It reports false once the watch is gone.
//
// After a queue overflow (IN_Q_OVERFLOW, no name) the table is emptied
// (forget): a name whose close was lost would otherwise stay busy for
// ever. Every name is then unknown until it is written again; the read
// lease, and Settle, guard it meanwhile.
func (w *watcher) handle(buf []byte) bool {
	for len(buf) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(buf[4:8])
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[12:16]))
		if end > len(buf) {
			return true
		}
		name := buf[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		buf = buf[end:]
		if mask&watchEnd != 0 {
			return false
		}
		if mask&unix.IN_Q_OVERFLOW != 0 {
			w.forget()
			continue
		}
		if op, ok := w.opOf(mask, string(name)); ok {
			w.note(op, string(name))
		}
	}
	return true
}

// opOf says what an event means for name.
func (w *watcher) opOf(mask uint32, name string) (watchOp, bool) {
	switch {
	case name == "" || mask&unix.IN_ISDIR != 0:
		return 0, false
	case mask&(unix.IN_MOVED_FROM|unix.IN_DELETE) != 0:
		return opGone, true
	case mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0:
		return opClosed, true
	case mask&unix.IN_MODIFY != 0:
		return opWritten, true
	case mask&unix.IN_CREATE != 0 && w.fresh(name):
		return opWritten, true
	}
	return 0, false
}

// fresh reports whether a name just created is a new regular file (which
// its creator may still be writing), rather than a symlink or a hard link
// to existing content, which nobody writes through the new name.
func (w *watcher) fresh(name string) bool {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(w.dir, name), &st); err != nil {
		return false // gone already: a later event says more
	}
	return st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1
}
