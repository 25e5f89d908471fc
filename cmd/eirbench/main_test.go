package main

import (
	"bytes"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersion keeps eirbench's version line in eird's format: name, version,
// commit and Go version, on standard output.
func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v0.1.0", "1bc3fea"
	want := "eirbench v0.1.0 (commit 1bc3fea, " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"-version"}, {"--version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != exitOK || out.String() != want || errb.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 0 and %q", args, code, out.String(), errb.String(), want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-version", "x"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "takes no argument") {
		t.Errorf("-version x: exit %d, stderr %q; want exit 2 and an error", code, errb.String())
	}
}

// TestVersionDefaults: a plain go build (no -ldflags) says dev and unknown.
func TestVersionDefaults(t *testing.T) {
	var out, errb bytes.Buffer
	run([]string{"-version"}, &out, &errb)
	if !regexp.MustCompile(`^eirbench dev \(commit unknown, go[^)]+\)\n$`).MatchString(out.String()) {
		t.Errorf("stdout %q, want eirbench dev (commit unknown, go...)", out.String())
	}
}
