package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// resolveSecrets reads the secrets given as files, once, into their values:
// redis.password_file, admin.tokens[].token_file,
// events.webhook.bearer_token_file and sync.sources[].https.bearer_token_file.
// Each value becomes the file's content without surrounding white space and
// the _file key is cleared, so that the rest of eird sees one value. A file
// that cannot be read is an error naming the key and the file. A key set
// together with its _file key is left as it is, for Validate to report.
func resolveSecrets(c *Config) error {
	var errs []error
	resolve := func(fileKey string, value, file *string) {
		if *file == "" || *value != "" {
			return
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fileKey, err))
			return
		}
		*value, *file = strings.TrimSpace(string(b)), ""
	}
	resolve("redis.password_file", &c.Redis.Password, &c.Redis.PasswordFile)
	for i := range c.Admin.Tokens {
		t := &c.Admin.Tokens[i]
		at := fmt.Sprintf("admin.tokens[%d]", i)
		name := t.TokenFile
		resolve(at+".token_file", &t.Token, &t.TokenFile)
		if name != "" && t.TokenFile == "" && t.Token == "" {
			errs = append(errs, fmt.Errorf("%s.token_file: %s is empty", at, name))
		}
	}
	w := &c.Events.Webhook
	resolve("events.webhook.bearer_token_file", &w.BearerToken, &w.BearerTokenFile)
	for i := range c.Sync.Sources {
		h := &c.Sync.Sources[i].HTTPS
		at := fmt.Sprintf("sync.sources[%d].https", i)
		resolve(at+".bearer_token_file", &h.BearerToken, &h.BearerTokenFile)
	}
	return errors.Join(errs...)
}
