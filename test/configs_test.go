package test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exampleConfigs are the example configurations shipped in deploy/config/,
// one per deployment scenario (README, Example configurations).
var exampleConfigs = []string{
	"diameter-peers.yaml",
	"diameter-tls.yaml",
	"events-webhook.yaml",
	"n5g-tls-oauth-nrf.yaml",
	"redis-cluster.yaml",
	"redis-sentinel.yaml",
	"redis-tls-acl.yaml",
	"sync-sources.yaml",
}

// checkConfig runs eird -check-config on the config at path from another
// working directory (a fresh temp dir), without any EIR_* variable of the
// test's environment, and returns its output and exit code.
func checkConfig(t *testing.T, path string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "eird"), "-config", path, "-check-config")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{noRaceExitSleep}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EIR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestConfigsExamplesValid: every example in deploy/config/ is listed here
// and passes eird -check-config run from another folder, its relative file
// names resolving from the example's folder.
func TestConfigsExamplesValid(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "deploy", "config"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range shipped {
		shipped[i] = filepath.Base(p)
	}
	if !slices.Equal(shipped, exampleConfigs) {
		t.Errorf("deploy/config/ holds %q, want %q (update exampleConfigs and the README)", shipped, exampleConfigs)
	}
	for _, name := range exampleConfigs {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := checkConfig(t, filepath.Join(dir, name))
			if code != 0 || stdout != "configuration ok\n" {
				t.Errorf("exit %d, stdout %q, want 0 and \"configuration ok\"; stderr:\n%s", code, stdout, stderr)
			}
		})
	}
}

// TestConfigsMissingFile: a copy of an example whose referenced files are
// missing fails -check-config, naming the key and the file (resolved from
// the copy's folder).
func TestConfigsMissingFile(t *testing.T) {
	src := filepath.Join("..", "deploy", "config")
	for _, tc := range []struct {
		config, missing, key string
	}{
		{"n5g-tls-oauth-nrf.yaml", "FAKE-nrf-public.pem", "n5g.oauth.key_file"}, // checked by Validate
		{"redis-tls-acl.yaml", "FAKE-redis.password", "redis.password_file"},    // a secret, read by Load
	} {
		t.Run(tc.key, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			missing := filepath.Join(dir, "samples", tc.missing)
			if err := os.Remove(missing); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := checkConfig(t, filepath.Join(dir, tc.config))
			if code != 2 || stdout != "" {
				t.Errorf("exit %d, stdout %q: want 2 and nothing", code, stdout)
			}
			for _, want := range []string{tc.key, missing, "no such file or directory"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not name %q:\n%s", want, stderr)
				}
			}
		})
	}
}
