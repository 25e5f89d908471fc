package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/internal/tlsconf"
)

const defaultServer = "http://127.0.0.1:9468"

// configKeys are the keys of the config file, with their environment
// variables and flags.
var configKeys = []struct{ key, env, flag string }{
	{"server", "EIRCTL_SERVER", "server"},
	{"token", "EIRCTL_TOKEN", "token"},
	{"token_file", "EIRCTL_TOKEN_FILE", "token-file"},
	{"output", "EIRCTL_OUTPUT", "o"},
	{"cacert", "EIRCTL_CACERT", "cacert"},
	{"cert", "EIRCTL_CERT", "cert"},
	{"key", "EIRCTL_KEY", "key"},
}

// pathKeys hold file names; in a config file they are relative to the
// file's directory.
var pathKeys = map[string]bool{"token_file": true, "cacert": true, "cert": true, "key": true}

// globalFlags are the flags before the command.
type globalFlags struct {
	vals    map[string]*string // by config key
	config  string
	timeout time.Duration
	version bool            // -version: print the version and exit
	set     map[string]bool // by flag name: given on the command line
}

func (g *globalFlags) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("eirctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	g.vals = map[string]*string{}
	g.set = map[string]bool{}
	help := map[string]string{
		"server":     "eird admin API `URL`, http:// or https:// (EIRCTL_SERVER; default " + defaultServer + ")",
		"token":      "bearer `token` (EIRCTL_TOKEN); prefer -token-file, a command line is visible to other users",
		"token_file": "`file` holding the bearer token (EIRCTL_TOKEN_FILE)",
		"output":     "output `format`: table or json (EIRCTL_OUTPUT; default table)",
		"cacert":     "`file` of PEM CA certificates to verify an https server with (EIRCTL_CACERT)",
		"cert":       "PEM client certificate `file` for mTLS, with -key (EIRCTL_CERT)",
		"key":        "PEM private key `file` of -cert (EIRCTL_KEY)",
	}
	for _, k := range configKeys {
		g.vals[k.key] = fs.String(k.flag, "", help[k.key])
	}
	fs.StringVar(&g.config, "config", "", "config `file` (EIRCTL_CONFIG; default $XDG_CONFIG_HOME/eirctl/config.yaml when it exists)")
	fs.DurationVar(&g.timeout, "timeout", 30*time.Second, "request timeout, a `duration` (imports, sync passes, store restore and accept: 10× this)")
	fs.BoolVar(&g.version, "version", false, "print eirctl's version, commit and Go version, and exit (eird's: eirctl status)")
	return fs
}

// configError is a bad setting; eirctl exits with exitUsage.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, a ...any) error { return &configError{fmt.Sprintf(format, a...)} }

// layer is one source of settings: the flags, the environment or the
// config file.
type layer struct {
	kind  string            // "flag", "env" or "file"
	vals  map[string]string // by config key; only non-empty values
	where map[string]string // by config key: where the value comes from, for messages
}

// settings is the resolved configuration.
type settings struct {
	server, token, output, cacert, cert, key string
	tokenFrom                                string // where the token comes from, for messages; "" without a token
}

// tokenFrom says where the token of l comes from: its flag, its
// environment variable or its line of the config file, and the name of a
// token file. It names no secret.
func (l layer) tokenFrom(key string) string {
	name := l.vals[key]
	switch {
	case l.kind == "flag" && key == "token_file":
		return "-token-file " + name
	case l.kind == "env" && key == "token_file":
		return "EIRCTL_TOKEN_FILE (" + name + ")"
	case l.kind == "file" && key == "token_file":
		return "token_file " + name + " of the config file " + l.where[key]
	case l.kind == "file":
		return "token of the config file " + l.where[key]
	}
	return l.where[key] // -token, EIRCTL_TOKEN
}

// resolve merges the flags, the environment and the config file:
// flag > environment > file > default. Within one layer, a token beats a
// token file.
func (g *globalFlags) resolve() (settings, error) {
	flags := layer{kind: "flag", vals: map[string]string{}, where: map[string]string{}}
	env := layer{kind: "env", vals: map[string]string{}, where: map[string]string{}}
	for _, k := range configKeys {
		if g.set[k.flag] && *g.vals[k.key] != "" {
			flags.vals[k.key], flags.where[k.key] = *g.vals[k.key], "-"+k.flag
		}
		if v := os.Getenv(k.env); v != "" {
			env.vals[k.key], env.where[k.key] = v, k.env
		}
	}
	layers := []layer{flags, env}
	file, err := g.configFile()
	if err != nil {
		return settings{}, err
	}
	if file != nil {
		layers = append(layers, *file)
	}
	pick := func(key, def string) (string, string) {
		for _, l := range layers {
			if v, ok := l.vals[key]; ok {
				return v, l.where[key]
			}
		}
		return def, "default"
	}
	var s settings
	var where string
	s.server, where = pick("server", defaultServer)
	if s.server, err = normalizeServer(s.server); err != nil {
		return settings{}, configErrorf("server (%s): %v", where, err)
	}
	s.output, where = pick("output", "table")
	if s.output != "table" && s.output != "json" {
		return settings{}, configErrorf("output (%s): %q: want table or json", where, s.output)
	}
	s.cacert, _ = pick("cacert", "")
	s.cert, _ = pick("cert", "")
	s.key, _ = pick("key", "")
	for _, l := range layers {
		if tok, ok := l.vals["token"]; ok {
			s.token, s.tokenFrom = tok, l.tokenFrom("token")
			break
		}
		if name, ok := l.vals["token_file"]; ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return settings{}, configErrorf("token_file (%s): %v", l.where["token_file"], err)
			}
			s.token, s.tokenFrom = strings.TrimSpace(string(b)), l.tokenFrom("token_file")
			if s.token == "" {
				return settings{}, configErrorf("token_file (%s): %s is empty", l.where["token_file"], name)
			}
			break
		}
	}
	for _, r := range s.token {
		if r < 0x21 || r > 0x7e {
			return settings{}, configErrorf("the token holds a space or a character that is not printable ASCII")
		}
	}
	return s, nil
}

// configFile reads the config file: -config, else EIRCTL_CONFIG (both must
// exist), else the default path when it exists.
func (g *globalFlags) configFile() (*layer, error) {
	path, explicit := g.config, true
	if path == "" {
		path = os.Getenv("EIRCTL_CONFIG")
	}
	if path == "" {
		path, explicit = defaultConfigPath(), false
		if path == "" {
			return nil, nil
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, configErrorf("config file: %v", err)
	}
	vals, lines, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	l := &layer{kind: "file", vals: map[string]string{}, where: map[string]string{}}
	for k, v := range vals {
		if v == "" {
			continue
		}
		if pathKeys[k] && !filepath.IsAbs(v) {
			v = filepath.Join(filepath.Dir(path), v)
		}
		l.vals[k], l.where[k] = v, fmt.Sprintf("%s:%d", path, lines[k])
	}
	return l, nil
}

// defaultConfigPath is $XDG_CONFIG_HOME/eirctl/config.yaml, with
// XDG_CONFIG_HOME defaulting to ~/.config; "" when there is no home.
func defaultConfigPath() string {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "eirctl", "config.yaml")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "eirctl", "config.yaml")
}

// parseConfig parses the config file: "key: value" lines, blank lines and
// '#' comments (whole lines, or after a value following a space); values
// may be quoted with "..." (Go/YAML escapes) or '...' (” for a quote).
// It returns the values and the line of each key. Errors name the file,
// the line and the key, never a value (the token is one).
func parseConfig(path string, data []byte) (map[string]string, map[string]int, error) {
	known := map[string]bool{}
	names := make([]string, 0, len(configKeys))
	for _, k := range configKeys {
		known[k.key] = true
		names = append(names, k.key)
	}
	vals, lines := map[string]string{}, map[string]int{}
	text := strings.TrimPrefix(string(data), "\ufeff")
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		t := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		key, raw, ok := strings.Cut(t, ":")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, nil, configErrorf("config file %s line %d: want \"key: value\"", path, n)
		}
		if !known[key] {
			return nil, nil, configErrorf("config file %s line %d: unknown key %q (known: %s)", path, n, key, strings.Join(names, ", "))
		}
		if first, dup := lines[key]; dup {
			return nil, nil, configErrorf("config file %s line %d: key %q given twice (first on line %d)", path, n, key, first)
		}
		v, err := configValue(strings.TrimSpace(raw))
		if err != nil {
			return nil, nil, configErrorf("config file %s line %d: key %q: %v", path, n, key, err)
		}
		vals[key], lines[key] = v, n
	}
	return vals, lines, nil
}

// configValue unquotes a value and strips a trailing comment.
func configValue(s string) (string, error) {
	var v, rest string
	switch {
	case strings.HasPrefix(s, `"`):
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", errors.New("unterminated or invalid double-quoted value")
		}
		if v, err = strconv.Unquote(q); err != nil {
			return "", errors.New("invalid double-quoted value")
		}
		rest = s[len(q):]
	case strings.HasPrefix(s, "'"):
		var b strings.Builder
		i := 1
		for {
			j := strings.IndexByte(s[i:], '\'')
			if j < 0 {
				return "", errors.New("unterminated single-quoted value")
			}
			b.WriteString(s[i : i+j])
			i += j + 1
			if i < len(s) && s[i] == '\'' { // '' is a quote
				b.WriteByte('\'')
				i++
				continue
			}
			break
		}
		v, rest = b.String(), s[i:]
	default:
		if s == "#" || strings.HasPrefix(s, "#") {
			return "", nil
		}
		if i := strings.Index(s, " #"); i >= 0 {
			s = s[:i]
		}
		if i := strings.Index(s, "\t#"); i >= 0 {
			s = s[:i]
		}
		return strings.TrimSpace(s), nil
	}
	rest = strings.TrimSpace(rest)
	if rest != "" && !strings.HasPrefix(rest, "#") {
		return "", errors.New("unexpected text after the closing quote")
	}
	return v, nil
}

// normalizeServer checks the server URL; a bare host:port gets http://.
func normalizeServer(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	if u.User != nil {
		return "", errors.New("credentials in the URL: use a token instead")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("the URL has a query or a fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// transport returns the HTTP transport, with the CA certificates and the
// client certificate when given.
func (s settings) transport() (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if s.cacert == "" && s.cert == "" && s.key == "" {
		return t, nil
	}
	if (s.cert == "") != (s.key == "") {
		return nil, configErrorf("cert and key go together: give both or neither")
	}
	tc, err := tlsconf.Client(tlsconf.Files{CA: s.cacert, Cert: s.cert, Key: s.key}, "", false)
	var te *tlsconf.Error
	switch {
	case errors.As(err, &te) && te.Part == tlsconf.PartCA:
		return nil, configErrorf("cacert: %v", err)
	case err != nil:
		return nil, configErrorf("cert %s, key %s: %v", s.cert, s.key, err)
	}
	t.TLSClientConfig = tc
	return t, nil
}

// configure resolves the settings and builds the HTTP client, once.
func (c *cli) configure() error {
	if c.http != nil {
		return nil
	}
	if c.flags.timeout <= 0 {
		return configErrorf("-timeout %s: must be > 0", c.flags.timeout)
	}
	s, err := c.flags.resolve()
	if err != nil {
		return err
	}
	t, err := s.transport()
	if err != nil {
		return err
	}
	c.server, c.token, c.tokenFrom, c.output, c.timeout = s.server, s.token, s.tokenFrom, s.output, c.flags.timeout
	c.http = &http.Client{Transport: t}
	return nil
}
