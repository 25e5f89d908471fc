//go:build !linux

package fetch

import "fmt"

// readLease: leases are a Linux feature; elsewhere Writing relies on the
// watcher (none outside Linux either) and Settle.
func readLease(path string) (func(), error) {
	return nil, fmt.Errorf("lease %s: %w", path, errLeaseUnavailable)
}
