package fetch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// maxTracked bounds the names a watcher remembers as being written. Names
// are forgotten when closed, moved or deleted, so the table holds the
// uploads in progress; a write to a name beyond the bound is not tracked
// (Settle alone guards that name).
const maxTracked = 100_000

// watchOp is what a filesystem event means for a name in the folder.
type watchOp int

const (
	opWritten watchOp = iota + 1 // created afresh or modified: a writer is at work
	opClosed                     // closed after writing, or moved in complete
	opGone                       // deleted or moved away
)

// watcher remembers which names of one folder were created or modified and
// not closed since. One goroutine (run, per platform) feeds it; Writing
// reads it.
type watcher struct {
	dir   string        // the watched folder, cleaned
	file  *os.File      // the event source; closing it ends run
	done  chan struct{} // closed when run has returned
	limit int           // most names tracked at once

	mu      sync.Mutex
	open    map[string]struct{} // names written and not closed since
	stopped bool                // run has returned: the table says nothing
}

func newWatcher(dir string, limit int) *watcher {
	return &watcher{dir: filepath.Clean(dir), done: make(chan struct{}), limit: limit, open: map[string]struct{}{}}
}

// note applies one event to name. Hidden and partial-upload names are never
// listed, so they are not tracked.
func (w *watcher) note(op watchOp, name string) {
	if isPartialName(name) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch op {
	case opWritten:
		if _, ok := w.open[name]; !ok && len(w.open) < w.limit {
			w.open[name] = struct{}{}
		}
	case opClosed, opGone:
		delete(w.open, name)
	}
}

// forget empties the table: after a queue overflow, the close of a name it
// holds may have been lost, and the name would stay busy for ever. The
// read lease, and Settle, guard the names written meanwhile.
func (w *watcher) forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		clear(w.open)
	}
}

// writing reports whether path, a file directly in the watched folder, was
// written to and not closed since. It reports false for any other path and
// once the watcher has stopped.
func (w *watcher) writing(path string) bool {
	dir, name := filepath.Split(path)
	if filepath.Clean(dir) != w.dir {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.open[name]
	return ok && !w.stopped
}

// halt marks the watcher stopped and forgets its table; run calls it when
// it returns.
func (w *watcher) halt() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped, w.open = true, nil
}

func (w *watcher) running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.stopped
}

// close stops run and waits for it.
func (w *watcher) close() error {
	err := w.file.Close()
	<-w.done
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// Watch starts watching the landing folder for writers at work, for the
// files on which this process cannot take a read lease (see Writing). Only
// writes made after Watch returns are seen. It is idempotent, and starts a
// new watcher when the old one stopped because the folder was removed or
// moved. Where the watcher cannot start (no inotify, not Linux, the folder
// is missing) Watch returns an error and the Dir works on, on leases and
// Settle. Close stops the watcher.
func (d *Dir) Watch() error {
	if d.Path == "" {
		return errors.New("fetch: drop directory path is empty")
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.watch != nil {
		if d.watch.running() {
			return nil
		}
		_ = d.watch.close()
		d.watch = nil
	}
	w, err := startWatcher(d.Path, maxTracked)
	if err != nil {
		return fmt.Errorf("fetch: watch %s: %w", d.Path, err)
	}
	d.watch = w
	return nil
}

// Close stops the watcher Watch started and waits for its goroutine. It is
// safe to call without Watch and more than once; the Dir stays usable, as if
// Watch had never been called.
func (d *Dir) Close() error {
	d.wmu.Lock()
	w := d.watch
	d.watch = nil
	d.wmu.Unlock()
	if w == nil {
		return nil
	}
	if err := w.close(); err != nil {
		return fmt.Errorf("fetch: stop watching %s: %w", d.Path, err)
	}
	return nil
}

// Watching reports whether the watcher Watch started is running (it stops
// when the landing folder is removed or moved; Watch starts a new one).
func (d *Dir) Watching() bool {
	w := d.watcher()
	return w != nil && w.running()
}

func (d *Dir) watcher() *watcher {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	return d.watch
}
