package fetch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	helloSHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // sha256("hello")
	helloMD5    = "5d41402abc4b2a76b9719d911017c592"                                 // md5("hello")
)

func TestFileChecksums(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "hello.csv")
	if err := os.WriteFile(p, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := FileSHA256(p); err != nil || got != helloSHA256 {
		t.Errorf("FileSHA256 = %q, %v", got, err)
	}
	if got, err := FileChecksum(p, MD5); err != nil || got != helloMD5 {
		t.Errorf("FileChecksum md5 = %q, %v", got, err)
	}
	if _, err := FileChecksum(p, "crc32"); err == nil {
		t.Error("unknown algorithm: no error")
	}
	if _, err := FileSHA256(p + ".missing"); err == nil {
		t.Error("missing file: no error")
	}
}

func TestReadChecksum(t *testing.T) {
	t.Parallel()
	upper := strings.ToUpper(helloSHA256)
	tests := []struct {
		file, content string
		algo, sum     string // "" algo: an error is expected
	}{
		{"a.csv.sha256", helloSHA256 + "  a.csv\n", SHA256, helloSHA256},
		{"a.csv.sha256", helloSHA256 + "\n", SHA256, helloSHA256},
		{"a.csv.sha256", helloSHA256, SHA256, helloSHA256},
		{"a.csv.sha256", "\ufeff" + upper + " *a.csv\r\n", SHA256, helloSHA256},
		{"a.csv.sha256", "# generated\n\n" + helloSHA256 + "  /export/a.csv\n", SHA256, helloSHA256},
		{"a.csv.SHA256", "SHA256 (a.csv) = " + helloSHA256 + "\n", SHA256, helloSHA256},
		{"a.csv.md5", helloMD5 + "  a.csv\n", MD5, helloMD5},
		{"a.csv.md5", "MD5 (a.csv) = " + helloMD5, MD5, helloMD5},
		{"a.csv.sha256", strings.Repeat("0", 64) + "  b.csv\n" + helloSHA256 + "  a.csv\n", SHA256, helloSHA256},
		{"sums.txt", helloMD5 + "  a.csv\n", MD5, helloMD5},          // algorithm from the length
		{"sums.txt", helloSHA256 + "  a.csv\n", SHA256, helloSHA256}, // algorithm from the length
		{"a.csv.sha256", "", "", ""},
		{"a.csv.sha256", "# nothing\n", "", ""},
		{"a.csv.sha256", helloMD5 + "  a.csv\n", "", ""},               // md5 in a .sha256 file
		{"a.csv.sha256", "zz" + helloSHA256[2:] + "  a.csv\n", "", ""}, // not hex
		{"a.csv.sha256", "MD5 (a.csv) = " + helloMD5, "", ""},
		{"a.csv.sha256", helloSHA256 + "  b.csv\n" + helloSHA256 + "  c.csv\n", "", ""}, // none for a.csv
		{"sums.txt", "abcd  a.csv\n", "", ""},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sub, tt.file)
		if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		algo, sum, err := ReadChecksum(p)
		if tt.algo == "" {
			if err == nil {
				t.Errorf("%s %q: got %s %s, want an error", tt.file, tt.content, algo, sum)
			}
			continue
		}
		if err != nil || algo != tt.algo || sum != tt.sum {
			t.Errorf("%s %q = %q, %q, %v; want %q, %q", tt.file, tt.content, algo, sum, err, tt.algo, tt.sum)
		}
	}
	if _, _, err := ReadChecksum(filepath.Join(dir, "missing.sha256")); err == nil {
		t.Error("missing file: no error")
	}
}
