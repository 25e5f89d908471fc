package main

import (
	"bytes"
	"io"
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

// TestUsage keeps eirbench to eirctl's rule: -h and help print the usage
// once on standard output and exit 0; a usage error (bad flag, stray or
// missing argument, unknown command) prints the error and the usage once on
// standard error and exits 2.
func TestUsage(t *testing.T) {
	const main = "usage: eirbench <command>"
	for _, tc := range []struct {
		args   []string
		code   int
		usage  string // the usage's first words
		stderr string // the error's first line (usage errors)
	}{
		{[]string{"-h"}, exitOK, main, ""},
		{[]string{"--help"}, exitOK, main, ""},
		{[]string{"help"}, exitOK, main, ""},
		{[]string{"help", "sync"}, exitOK, "usage: eirbench sync", ""},
		{[]string{}, exitUsage, main, "eirbench: want a command"},
		{[]string{"bogus"}, exitUsage, main, `eirbench: unknown command "bogus"`},
		{[]string{"help", "bogus"}, exitUsage, main, `eirbench help: want one command, got "bogus"`},
		{[]string{"-h", "x"}, exitUsage, main, "eirbench: -h takes no argument"},
		{[]string{"check"}, exitUsage, "usage: eirbench check", "eirbench check: want at least one IMEI"},
	} {
		checkUsage(t, tc.args, tc.code, tc.usage, tc.stderr)
	}
	for _, cmd := range []string{"check", "load", "amf", "ref", "ratio", "lists", "layout", "sync", "edits"} {
		usage := "usage: eirbench " + cmd + " "
		checkUsage(t, []string{cmd, "-h"}, exitOK, usage, "")
		// Every command's help has the same shape: usage line, a blank
		// line, what the command does, then its flags.
		var out bytes.Buffer
		run([]string{cmd, "-h"}, &out, io.Discard)
		if lines := strings.Split(out.String(), "\n"); len(lines) < 4 || lines[1] != "" || lines[2] == "" || !strings.Contains(out.String(), "\nflags:\n") {
			t.Errorf("eirbench %s -h: want usage, a blank line, a description and flags:, got:\n%s", cmd, out.String())
		}
		checkUsage(t, []string{cmd, "-bogus"}, exitUsage, usage, "eirbench "+cmd+": flag provided but not defined: -bogus")
		if cmd != "check" {
			checkUsage(t, []string{cmd, "extra"}, exitUsage, usage, "eirbench "+cmd+`: unexpected argument "extra"`)
		}
	}
}

// checkUsage runs eirbench with args and checks the exit code and that the
// usage (starting with usage) is printed once: on standard output when code
// is 0, else on standard error after the line errLine.
func checkUsage(t *testing.T, args []string, code int, usage, errLine string) {
	t.Helper()
	var out, errb bytes.Buffer
	got := run(args, &out, &errb)
	if got != code {
		t.Errorf("%q: exit %d, want %d; stdout %q, stderr %q", args, got, code, out.String(), errb.String())
		return
	}
	printed, other := out.String(), errb.String()
	if code != exitOK {
		printed, other = errb.String(), out.String()
		rest, ok := strings.CutPrefix(printed, errLine+"\n")
		if !ok {
			t.Errorf("%q: stderr %q, want first line %q", args, printed, errLine)
		}
		printed = rest
	}
	if !strings.HasPrefix(printed, usage) || strings.Count(printed, "usage: ") != 1 {
		t.Errorf("%q: want the usage %q... once, got %q", args, usage, printed)
	}
	if other != "" {
		t.Errorf("%q: want nothing on the other stream, got %q", args, other)
	}
}
