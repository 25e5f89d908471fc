//go:build !linux

package fetch

import (
	"errors"
	"fmt"
)

// startWatcher: inotify is a Linux feature.
func startWatcher(dir string, limit int) (*watcher, error) {
	return nil, fmt.Errorf("inotify: %w", errors.ErrUnsupported)
}
