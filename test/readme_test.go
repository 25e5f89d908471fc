package test

import (
	"os"
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
