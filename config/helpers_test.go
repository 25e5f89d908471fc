package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes content to a new file in a test temp dir and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// valid returns a configuration that passes Validate.
func valid() Config {
	c := Default()
	c.Diameter.AllowAnyPeer = true
	return c
}

// wantErr fails t unless err is non-nil and contains every want.
func wantErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}
