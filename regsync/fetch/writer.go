package fetch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrBusy is matched (errors.Is) by the error of a move that was refused
// because a writer may still be writing the file or one of its sidecars.
// The file stays where it was; the caller tries again on a later pass.
var ErrBusy = errors.New("fetch: file is still being written")

// Reasons Writing gives.
const (
	reasonLease   = "open for writing by another process (read lease refused)"
	reasonInotify = "modified since its last close (inotify)"
)

// Errors of a leaseFunc.
var (
	errLeaseRefused     = errors.New("read lease refused: the file is open for writing")
	errLeaseUnavailable = errors.New("read lease not available")
)

// leaseFunc takes a read lease on path. While the lease lasts no process
// can open path for writing (its open waits until release is called). It
// returns an error wrapping errLeaseRefused when a process holds path open
// for writing, and one wrapping errLeaseUnavailable when this process cannot
// take a lease on path (not the file's owner and no CAP_LEASE, a filesystem
// without leases, a platform without them).
type leaseFunc func(path string) (release func(), err error)

func (d *Dir) takeLease(path string) (func(), error) {
	if d.lease != nil {
		return d.lease(path)
	}
	return readLease(path)
}

// Writing reports whether a writer may still be writing f or one of its
// sidecars, and why, in words for a report. It asks the kernel first (a
// read lease is refused while any process holds the file open for
// writing); where leases are not available it asks the watcher Watch
// started (the file was modified and not closed since). Without either it
// knows nothing and reports false: Settle is then the only guard.
func (d *Dir) Writing(f File) (bool, string) {
	release, why := d.hold(f.paths())
	if release != nil {
		release()
	}
	return why != "", why
}

// Complete reports whether f may be read, applied or filed away now: its
// size and modification time are those Ready listed, and no writer may
// still be writing it or its sidecars (Writing). When it is not, the string
// says why, for a report. The error is that of the stat (a file that is
// gone matches fs.ErrNotExist).
func (d *Dir) Complete(f File) (bool, string, error) {
	info, err := os.Stat(f.Path)
	if err != nil {
		return false, "", fmt.Errorf("fetch: stat %s: %w", f.Path, err)
	}
	if info.Size() != f.Size {
		return false, fmt.Sprintf("size changed from %d to %d bytes since it was listed", f.Size, info.Size()), nil
	}
	if !info.ModTime().Equal(f.ModTime) {
		return false, "modified since it was listed", nil
	}
	if busy, why := d.Writing(f); busy {
		return false, why, nil
	}
	return true, "", nil
}

// paths returns the path of f, then those of its sidecars.
func (f File) paths() []string {
	out := []string{f.Path}
	for _, s := range SidecarSuffixes {
		if p := f.Sidecars[s]; p != "" {
			out = append(out, p)
		}
	}
	return out
}

// hold makes sure no writer is at work on paths (a file, then its
// sidecars). Where it can, it takes a read lease on a path and keeps it
// until release is called, so that no writer can open that path meanwhile;
// elsewhere it asks the watcher. When a writer may be at work it returns why,
// holding nothing.
func (d *Dir) hold(paths []string) (release func(), busy string) {
	var held []func()
	release = func() {
		for _, r := range held {
			r()
		}
	}
	for i, p := range paths {
		r, why := d.holdOne(p)
		if why != "" {
			release()
			if i > 0 {
				why = "sidecar " + filepath.Base(p) + ": " + why
			}
			return nil, why
		}
		if r != nil {
			held = append(held, r)
		}
	}
	return release, ""
}

func (d *Dir) holdOne(path string) (func(), string) {
	release, err := d.takeLease(path)
	switch {
	case err == nil:
		return release, ""
	case errors.Is(err, errLeaseRefused):
		return nil, reasonLease
	}
	// No lease here, or the file cannot be opened (gone, unreadable): the
	// watcher decides. A file that is gone fails the caller's stat or move.
	if w := d.watcher(); w != nil && w.writing(path) {
		return nil, reasonInotify
	}
	return nil, ""
}
