package fetch

import (
	"bufio"
	"bytes"
	"crypto/md5" //nolint:gosec // registries publish .md5 sidecars; it detects corruption, not tampering.
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Checksum algorithms, as ReadChecksum returns them and FileChecksum takes
// them.
const (
	SHA256 = "sha256"
	MD5    = "md5"
)

// maxChecksumFile bounds how much of a checksum sidecar is read.
const maxChecksumFile = 1 << 20

var bsdChecksumLine = regexp.MustCompile(`^(?i:(SHA256|MD5)) ?\((.*)\) ?= ?([0-9A-Fa-f]+)$`)

// ReadChecksum parses a .sha256 or .md5 sidecar in the format sha256sum and
// md5sum write ("<hex>  <name>", "<hex> *<name>", or just "<hex>"; the BSD
// "SHA256 (<name>) = <hex>" form is accepted too). The algorithm comes from
// the file's suffix, else from the digest length. When the file lists
// several digests, the one for the file the sidecar belongs to (its name
// without the suffix) is returned. sum is lower-case hex.
func ReadChecksum(p string) (algo string, sum string, err error) {
	fail := func(format string, args ...any) (string, string, error) {
		return "", "", fmt.Errorf("fetch: checksum file %s: "+format, append([]any{p}, args...)...)
	}
	f, err := os.Open(p)
	if err != nil {
		return fail("%w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxChecksumFile+1))
	if err != nil {
		return fail("%w", err)
	}
	if len(data) > maxChecksumFile {
		return fail("larger than %d bytes", maxChecksumFile)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	base := filepath.Base(p)
	lower := strings.ToLower(base)
	switch {
	case strings.HasSuffix(lower, ".sha256"):
		algo, base = SHA256, base[:len(base)-len(".sha256")]
	case strings.HasSuffix(lower, ".md5"):
		algo, base = MD5, base[:len(base)-len(".md5")]
	}

	type line struct{ algo, sum, name string }
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxChecksumFile)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if m := bsdChecksumLine.FindStringSubmatch(text); m != nil {
			lines = append(lines, line{algo: strings.ToLower(m[1]), sum: m[3], name: m[2]})
			continue
		}
		// GNU: a leading '\' says the name is escaped.
		text = strings.TrimPrefix(text, "\\")
		sum, name := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			sum, name = text[:i], text[i+1:]
		}
		name = strings.TrimPrefix(strings.TrimLeft(name, " \t"), "*")
		lines = append(lines, line{sum: sum, name: strings.TrimSpace(name)})
	}
	if err := sc.Err(); err != nil {
		return fail("%w", err)
	}
	var l line
	switch {
	case len(lines) == 0:
		return fail("no checksum")
	case len(lines) == 1:
		l = lines[0]
	default:
		found := false
		for _, c := range lines {
			if path.Base(filepath.ToSlash(c.name)) == base {
				l, found = c, true
				break
			}
		}
		if !found {
			return fail("%d checksums, none for %q", len(lines), base)
		}
	}

	if _, err := hex.DecodeString(l.sum); err != nil {
		return fail("digest %q is not hex", l.sum)
	}
	if algo == "" {
		algo = l.algo
	}
	if algo == "" {
		switch len(l.sum) {
		case 64:
			algo = SHA256
		case 32:
			algo = MD5
		default:
			return fail("cannot tell the algorithm of a %d-digit digest", len(l.sum))
		}
	}
	if l.algo != "" && l.algo != algo {
		return fail("%s digest in a %s file", l.algo, algo)
	}
	if want := digestHexLen(algo); len(l.sum) != want {
		return fail("%s digest has %d hex digits, want %d", algo, len(l.sum), want)
	}
	return algo, strings.ToLower(l.sum), nil
}

func digestHexLen(algo string) int {
	if algo == MD5 {
		return 2 * md5.Size
	}
	return 2 * sha256.Size
}

// FileSHA256 returns the lower-case hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	return FileChecksum(path, SHA256)
}

// FileChecksum returns the lower-case hex digest of the file at path with
// algo (SHA256 or MD5, as ReadChecksum returns it).
func FileChecksum(path, algo string) (string, error) {
	var h hash.Hash
	switch algo {
	case SHA256:
		h = sha256.New()
	case MD5:
		h = md5.New() //nolint:gosec // see import
	default:
		return "", fmt.Errorf("fetch: checksum of %s: unknown algorithm %q", path, algo)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("fetch: checksum of %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("fetch: checksum of %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
