// Package atomicfile writes files that appear whole or not at all: the
// content goes to a temporary file in the destination's folder, which is
// synced, renamed over the destination, and the folder synced so that the
// rename survives a power loss. A reader never sees a half-written file,
// and a crash leaves either the old file or the new one (plus, at worst, a
// temporary file named ".<name>.*.tmp").
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is a file being written in place of a destination: nothing is at
// the destination until Commit.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path, with permission bits perm.
func Create(path string, perm os.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{File: tmp, path: path}, nil
}

// Commit syncs the content, puts it at the destination and syncs the
// folder. After an error nothing is at the destination that was not there
// before, and the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	f.done = true
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	SyncDir(filepath.Dir(f.path))
	return nil
}

// Abort abandons the file unless it was committed; it may always be
// deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically, with permission bits perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir makes the renames and removals in dir durable. It is best
// effort: not every platform can sync a folder.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
