package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/config"
)

// TestREADMEDocumentsEveryKey keeps the configuration reference complete:
// every key and its environment variable appear in README.md.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, k := range config.Keys() {
		if !strings.Contains(readme, "`"+k.Path+"`") {
			t.Errorf("README.md does not document `%s`", k.Path)
		}
		if k.Env != "" && !strings.Contains(readme, k.Env) {
			t.Errorf("README.md does not name %s", k.Env)
		}
	}
}

// TestREADMEPathsExist keeps the README's pointers into the repository
// true: every relative link ](path) and every backticked path under one of
// the repository's folders (`deploy/config/`, `demo/`, `test/ops_test.go`)
// names a file or folder of the repository, and nothing points outside it
// (../): documents kept elsewhere are cited by title.
func TestREADMEPathsExist(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Code blocks hold commands and sample files, not pointers.
	text := regexp.MustCompile("(?ms)^```.*?^```").ReplaceAllString(string(b), "")
	// The repository's tracked top-level folders (bin/ and dist/ are build
	// output, absent on a clean checkout).
	folders := map[string]bool{}
	for _, f := range []string{"admin", "cmd", "config", "demo", "deploy", "diameter", "docs", "eir", "internal", "n5g", "regsync", "scripts", "test"} {
		folders[f] = true
	}
	exists := func(what, path string) {
		t.Helper()
		clean := filepath.Clean(path)
		if clean == ".." || strings.HasPrefix(clean, "../") || filepath.IsAbs(clean) {
			t.Errorf("README.md %s %q points outside the repository: cite the document by title", what, path)
			return
		}
		if _, err := os.Stat(filepath.Join("..", clean)); err != nil {
			t.Errorf("README.md %s %q: no such file in the repository", what, path)
		}
	}
	links := 0
	for _, m := range regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(text, -1) {
		target, _, _ := strings.Cut(m[1], "#")
		if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		links++
		exists("link", target)
	}
	paths := 0
	for _, m := range regexp.MustCompile("`([^`\\s]+)`").FindAllStringSubmatch(text, -1) {
		p := m[1]
		if strings.HasPrefix(p, "../") {
			exists("path", p)
			continue
		}
		first, _, ok := strings.Cut(p, "/")
		if !ok || !folders[first] || strings.ContainsAny(p, "<>{}*[]") {
			continue
		}
		paths++
		exists("path", p)
	}
	// The test would pass vacuously if the patterns stopped matching.
	if links < 3 || paths < 10 {
		t.Errorf("found %d file links and %d repository paths in README.md; the patterns no longer match", links, paths)
	}
}
