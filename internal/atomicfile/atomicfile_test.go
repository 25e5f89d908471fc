package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "new" {
		t.Fatalf("read %q %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	if n := names(t, dir); len(n) != 1 {
		t.Fatalf("files left: %v", n)
	}
}

// Nothing is at the destination before Commit, and an aborted file leaves
// nothing behind.
func TestNothingBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "set.bin")
	f, err := Create(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half")
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("destination exists before Commit: %v", err)
	}
	f.Abort()
	f.Abort() // twice is harmless
	if n := names(t, dir); len(n) != 0 {
		t.Fatalf("files left after Abort: %v", n)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}

	f, err = Create(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort() // harmless after Commit
	f.WriteString("whole")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "whole" {
		t.Fatalf("read %q", b)
	}
}

func TestCreateInMissingFolder(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "no", "f"), 0o600); err == nil {
		t.Fatal("Create in a missing folder succeeded")
	}
}
