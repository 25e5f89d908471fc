//go:build linux

package fetch

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// readLease takes a read lease (fcntl F_SETLEASE, F_RDLCK) on path; see
// leaseFunc. The descriptor is opened non-blocking, so that a write lease
// another process holds (Samba, NFS server) refuses the open instead of
// waiting for a lease break.
func readLease(path string) (func(), error) {
	fd, err := openNoEINTR(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC)
	if err != nil {
		e := os.NewSyscallError("open", err)
		switch {
		case errors.Is(err, unix.EWOULDBLOCK):
			return nil, fmt.Errorf("lease %s: %w: %w", path, errLeaseRefused, e)
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return nil, fmt.Errorf("lease %s: %w: %w", path, errLeaseUnavailable, e)
		}
		return nil, fmt.Errorf("lease %s: %w", path, e)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		_ = unix.Close(fd)
		e := os.NewSyscallError("fcntl F_SETLEASE", err)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil, fmt.Errorf("lease %s: %w: %w", path, errLeaseRefused, e)
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL),
			errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
			return nil, fmt.Errorf("lease %s: %w: %w", path, errLeaseUnavailable, e)
		}
		return nil, fmt.Errorf("lease %s: %w", path, e)
	}
	return func() {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		_ = unix.Close(fd)
	}, nil
}

// openNoEINTR is unix.Open, retried when a signal interrupts it (possible
// on network filesystems).
func openNoEINTR(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
