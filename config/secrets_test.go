package config

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestLoadReadsSecretFiles: every *_file secret is read by Load, once, into
// its value (trimmed), and its _file key cleared.
func TestLoadReadsSecretFiles(t *testing.T) {
	pw := writeFile(t, "redis", " s3cret\n")
	tok := writeFile(t, "token", "ops-token\n")
	hook := writeFile(t, "hook", "hook-token")
	src := writeFile(t, "src", "\tsrc-token \n")
	yaml := fmt.Sprintf(`redis:
  password_file: %s
admin:
  tokens:
    - {name: ops, token_file: %s, role: write}
    - {name: ci, token: inline, role: read}
events:
  webhook:
    url: https://siem.example.org/eir
    bearer_token_file: %s
sync:
  sources:
    - name: national
      format: dirbs
      https:
        urls: [https://registry.example.org/list]
        bearer_token_file: %s
`, pw, tok, hook, src)
	c, err := load(writeFile(t, "eird.yaml", yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, got, file, want string }{
		{"redis.password", c.Redis.Password, c.Redis.PasswordFile, "s3cret"},
		{"admin.tokens[0].token", c.Admin.Tokens[0].Token, c.Admin.Tokens[0].TokenFile, "ops-token"},
		{"admin.tokens[1].token", c.Admin.Tokens[1].Token, c.Admin.Tokens[1].TokenFile, "inline"},
		{"events.webhook.bearer_token", c.Events.Webhook.BearerToken, c.Events.Webhook.BearerTokenFile, "hook-token"},
		{"sync.sources[0].https.bearer_token", c.Sync.Sources[0].HTTPS.BearerToken, c.Sync.Sources[0].HTTPS.BearerTokenFile, "src-token"},
	} {
		if tc.got != tc.want || tc.file != "" {
			t.Errorf("%s = %q (file %q), want %q and no file", tc.key, tc.got, tc.file, tc.want)
		}
	}
}

func TestLoadSecretFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	empty := writeFile(t, "empty", "\n")
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"redis password file missing", "redis:\n  password_file: " + missing + "\n",
			[]string{"redis.password_file: open " + missing + ": no such file or directory"}},
		{"token file missing", "admin:\n  tokens:\n    - {name: ops, token_file: " + missing + ", role: read}\n",
			[]string{"admin.tokens[0].token_file: open " + missing}},
		{"token file empty", "admin:\n  tokens:\n    - {name: ops, token_file: " + empty + ", role: read}\n",
			[]string{"admin.tokens[0].token_file: " + empty + " is empty"}},
		{"webhook token file is a directory", "events:\n  webhook:\n    url: https://x.example\n    bearer_token_file: " + t.TempDir() + "\n",
			[]string{"events.webhook.bearer_token_file: read "}},
		{"every file reported", "redis:\n  password_file: " + missing + "\nevents:\n  webhook:\n    url: https://x.example\n    bearer_token_file: " + missing + "\n",
			[]string{"redis.password_file: open", "events.webhook.bearer_token_file: open"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(writeFile(t, "eird.yaml", tc.yaml), nil)
			wantErr(t, err, tc.want...)
		})
	}
}

// TestLoadLeavesBothSetToValidate: a secret set both inline and as a file
// is not read; Validate reports it as before.
func TestLoadLeavesBothSetToValidate(t *testing.T) {
	pw := writeFile(t, "redis", "from-file")
	c, err := load(writeFile(t, "eird.yaml", "redis:\n  password: inline\n  password_file: "+pw+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Diameter.AllowAnyPeer = true
	wantErr(t, c.Validate(), "redis.password_file: set either redis.password or redis.password_file, not both")
}
