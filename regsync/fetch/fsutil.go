package fetch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/eir-sidecar/eir/internal/atomicfile"
)

// rename is os.Rename; tests replace it to exercise the EXDEV fallback.
var rename = os.Rename

// moveFile renames src to dst, falling back to copy+fsync+remove when they
// are on different filesystems.
func moveFile(src, dst string) error {
	err := rename(src, dst)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := copyFile(src, dst); err != nil {
		return fmt.Errorf("copy across filesystems: %w", err)
	}
	if err := os.Remove(src); err != nil {
		return fmt.Errorf("remove after copy: %w", err)
	}
	return nil
}

// copyFile copies src to dst atomically, keeping the permission bits and
// modification time.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := atomicfile.Create(dst, info.Mode().Perm())
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := os.Chtimes(out.Name(), info.ModTime(), info.ModTime()); err != nil {
		return err
	}
	return out.Commit()
}
