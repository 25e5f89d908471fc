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
	checkDocPaths(t, "README.md", 3, 10)
}

// TestDocsPathsExist holds the pages under docs/ to the same rule: a link
// is relative to the page's folder (docs/), a backticked path to the
// repository's root.
func TestDocsPathsExist(t *testing.T) {
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no page in docs/")
	}
	for _, p := range pages {
		checkDocPaths(t, filepath.Join("docs", filepath.Base(p)), 1, 3)
	}
}

// checkDocPaths checks the links and repository paths of one markdown file
// (a path from the repository's root), and that at least minLinks links and
// minPaths paths were found (the patterns still match).
func checkDocPaths(t *testing.T, doc string, minLinks, minPaths int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", doc))
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
	// exists checks path, relative to the repository's folder dir.
	exists := func(what, dir, path string) {
		t.Helper()
		clean := filepath.Clean(filepath.Join(dir, path))
		if clean == ".." || strings.HasPrefix(clean, "../") || filepath.IsAbs(path) {
			t.Errorf("%s %s %q points outside the repository: cite the document by title", doc, what, path)
			return
		}
		if _, err := os.Stat(filepath.Join("..", clean)); err != nil {
			t.Errorf("%s %s %q: no such file in the repository", doc, what, path)
		}
	}
	links := 0
	for _, m := range regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(text, -1) {
		target, _, _ := strings.Cut(m[1], "#")
		if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		links++
		exists("link", filepath.Dir(doc), target)
	}
	paths := 0
	for _, m := range regexp.MustCompile("`([^`\\s]+)`").FindAllStringSubmatch(text, -1) {
		p := m[1]
		if strings.HasPrefix(p, "../") {
			exists("path", filepath.Dir(doc), p)
			continue
		}
		first, _, ok := strings.Cut(p, "/")
		if !ok || !folders[first] || strings.ContainsAny(p, "<>{}*[]") {
			continue
		}
		paths++
		exists("path", ".", p)
	}
	// The test would pass vacuously if the patterns stopped matching.
	if links < minLinks || paths < minPaths {
		t.Errorf("found %d file links and %d repository paths in %s; the patterns no longer match", links, paths, doc)
	}
}
