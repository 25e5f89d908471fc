package config

import (
	"fmt"
	"path/filepath"
)

// pathKey is one path-valued key: its key path and the value.
type pathKey struct {
	path string
	v    *string
}

// pathKeys lists every key of c that holds a file or directory name, with a
// pointer to its value. TestPathKeysComplete keeps the list in step with the
// Config struct.
func pathKeys(c *Config) []pathKey {
	ks := []pathKey{
		{"redis.password_file", &c.Redis.PasswordFile},
		{"diameter.tls.cert_file", &c.Diameter.TLS.CertFile},
		{"diameter.tls.key_file", &c.Diameter.TLS.KeyFile},
		{"diameter.tls.client_ca_file", &c.Diameter.TLS.ClientCAFile},
		{"redis.tls.ca_file", &c.Redis.TLS.CAFile},
		{"redis.tls.cert_file", &c.Redis.TLS.CertFile},
		{"redis.tls.key_file", &c.Redis.TLS.KeyFile},
		{"store.snapshot_dir", &c.Store.SnapshotDir},
		{"admin.tls.cert_file", &c.Admin.TLS.CertFile},
		{"admin.tls.key_file", &c.Admin.TLS.KeyFile},
		{"admin.tls.client_ca_file", &c.Admin.TLS.ClientCAFile},
		{"n5g.tls.cert_file", &c.N5g.TLS.CertFile},
		{"n5g.tls.key_file", &c.N5g.TLS.KeyFile},
		{"n5g.tls.client_ca_file", &c.N5g.TLS.ClientCAFile},
		{"n5g.oauth.key_file", &c.N5g.OAuth.KeyFile},
		{"nrf.tls.ca_file", &c.NRF.TLS.CAFile},
		{"nrf.tls.cert_file", &c.NRF.TLS.CertFile},
		{"nrf.tls.key_file", &c.NRF.TLS.KeyFile},
		{"events.webhook.bearer_token_file", &c.Events.Webhook.BearerTokenFile},
	}
	ks = append(ks, pathKey{"export.operator_data.dir", &c.Export.OperatorData.Dir},
		pathKey{"export.operator_data.msisdn_file", &c.Export.OperatorData.MSISDNFile})
	for i := range c.Admin.Tokens {
		ks = append(ks, pathKey{fmt.Sprintf("admin.tokens[%d].token_file", i), &c.Admin.Tokens[i].TokenFile})
	}
	for i := range c.Bootstrap.Files {
		ks = append(ks, pathKey{fmt.Sprintf("bootstrap.files[%d]", i), &c.Bootstrap.Files[i]})
	}
	for i := range c.Sync.Sources {
		s := &c.Sync.Sources[i]
		at := fmt.Sprintf("sync.sources[%d]", i)
		ks = append(ks,
			pathKey{at + ".dir", &s.Dir},
			pathKey{at + ".https.spool_dir", &s.HTTPS.SpoolDir},
			pathKey{at + ".https.bearer_token_file", &s.HTTPS.BearerTokenFile},
			pathKey{at + ".https.ca_file", &s.HTTPS.CAFile},
			pathKey{at + ".https.cert_file", &s.HTTPS.CertFile},
			pathKey{at + ".https.key_file", &s.HTTPS.KeyFile},
		)
	}
	return ks
}

// resolvePaths makes the relative file and directory names of c relative to
// dir, the configuration file's folder: "certs/eir.pem" in /etc/eird/eird.yaml
// is /etc/eird/certs/eir.pem whatever the working directory. Empty and
// absolute names are left as they are.
func resolvePaths(c *Config, dir string) {
	for _, k := range pathKeys(c) {
		if *k.v != "" && !filepath.IsAbs(*k.v) {
			*k.v = filepath.Join(dir, *k.v)
		}
	}
}
