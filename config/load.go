package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration: Default(), then the YAML file at path decoded
// strictly over it, then the EIR_* environment variables (see LoadEnv). An
// empty path skips the file.
//
// The file holds at most one YAML document. Unknown keys, values of the wrong
// type and durations that are not Go duration strings ("30s", "1m") are errors
// naming the file, the line and the key path. Every problem in the file and
// in the environment is reported at once.
//
// Secrets given as files (redis.password_file, admin.tokens[].token_file,
// events.webhook.bearer_token_file, sync.sources[].https.bearer_token_file)
// are read here, once: the secret's key holds the file's content, trimmed
// of surrounding white space, and the _file key is cleared. A file that
// cannot be read is an error naming the key and the file.
//
// Relative file and directory names in the file (TLS certificates, keys and
// CAs, *_file secrets, store.snapshot_dir, bootstrap.files, sync directories)
// are relative to the file's folder, not to the working directory: they are
// made absolute here, before the environment is applied. Names given by
// EIR_* variables are taken as they are, so relative ones are relative to
// the working directory, like any name on a command line.
//
// Load does not call Validate; the caller does, after any flag overrides.
func Load(path string) (Config, error) {
	return load(path, os.Environ())
}

// load is Load with an injected environment.
func load(path string, environ []string) (Config, error) {
	cfg := Default()
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		for _, p := range decodeStrict(data, &cfg, "") {
			where := path
			if p.line > 0 {
				where += ":" + strconv.Itoa(p.line)
			}
			errs = append(errs, p.at(where))
		}
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		resolvePaths(&cfg, dir)
	}
	if err := LoadEnv(&cfg, environ); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := resolveSecrets(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// problem is one decoding error: the line (0 if unknown), the key path (""
// if none) and what is wrong.
type problem struct {
	line int
	path string
	msg  string
}

// at renders the problem as an error located at where (a file:line or an
// environment variable).
func (p problem) at(where string) error {
	if p.path == "" {
		return fmt.Errorf("%s: %s", where, p.msg)
	}
	return fmt.Errorf("%s: %s: %s", where, p.path, p.msg)
}

// decodeStrict decodes the single YAML document in data into out, a pointer
// to the value whose key path is root ("" for a whole Config). Keys of out
// the document does not mention keep their values; no document at all (empty
// input, only comments) leaves out untouched.
//
// The document is first checked against the type of out, so that unknown
// keys, bare-integer durations and values of the wrong type are all reported
// with their line and key path; only a document without problems is decoded
// (by yaml.v3 with KnownFields, as a second line of defence).
func decodeStrict(data []byte, out any, root string) []problem {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return []problem{{msg: err.Error()}}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return []problem{{line: extra.Line, msg: "a second YAML document: want exactly one"}}
	case !errors.Is(err, io.EOF):
		return []problem{{msg: err.Error()}}
	}

	var ps []problem
	for _, n := range doc.Content {
		checkNode(n, reflect.TypeOf(out).Elem(), root, &ps)
	}
	if len(ps) > 0 {
		return ps
	}

	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return []problem{{path: root, msg: err.Error()}}
	}
	return nil
}

// checkNode appends to ps every reason why yaml.v3 would not or should not
// decode n into a value of type t at key path path.
func checkNode(n *yaml.Node, t reflect.Type, path string, ps *[]problem) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // yaml.v3 keeps the current value (or clears a list)
	}
	add := func(line int, path, format string, args ...any) {
		*ps = append(*ps, problem{line: line, path: path, msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			add(n.Line, path, "want a duration such as \"30s\", got a %s", nodeKind(n))
			return
		}
		_, err := time.ParseDuration(n.Value)
		if err != nil || n.ShortTag() != "!!str" {
			add(n.Line, path, "%q is not a duration (use e.g. \"30s\")", n.Value)
		}

	case isSection(t):
		if n.Kind != yaml.MappingNode {
			add(n.Line, path, "want a mapping, got a %s", nodeKind(n))
			return
		}
		fields := make(map[string]reflect.Type)
		for _, f := range fieldsOf(t) {
			fields[f.name] = t.Field(f.index).Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				checkMerge(v, t, path, ps)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				if msg, removed := removedKeys[t][k.Value]; removed {
					add(k.Line, joinPath(path, k.Value), "%s", msg)
					continue
				}
				add(k.Line, joinPath(path, k.Value), "unknown key")
				continue
			}
			checkNode(v, ft, joinPath(path, k.Value), ps)
		}

	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			add(n.Line, path, "want a list, got a %s", nodeKind(n))
			return
		}
		for i, el := range n.Content {
			checkNode(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i), ps)
		}

	case n.Kind != yaml.ScalarNode:
		add(n.Line, path, "want a %s, got a %s", describe(t), nodeKind(n))

	default:
		// Let yaml.v3 itself say whether it can decode the scalar, but name
		// the key in the message.
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			add(n.Line, path, "%q is not a valid %s", n.Value, describe(t))
		}
	}
}

// removedKeys are keys earlier versions accepted, by the section type that
// held them: a configuration that still sets one is refused with what
// replaced it rather than a bare "unknown key" (see the README's
// Upgrading).
var removedKeys = map[reflect.Type]map[string]string{
	reflect.TypeFor[SyncGuards](): {
		"max_delta_unblocks": "removed: use max_unblocks, which holds any file (full list, delta or reconciliation) unblocking more entries, by content; " +
			"its default is guards.max_unblocks (10000), where max_delta_unblocks held deltas only, beyond 100000",
	},
}

// checkMerge checks the value of a "<<" merge key: a mapping or a list of
// mappings whose keys merge into the section of type t.
func checkMerge(n *yaml.Node, t reflect.Type, path string, ps *[]problem) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for _, el := range n.Content {
			checkNode(el, t, path, ps)
		}
		return
	}
	checkNode(n, t, path, ps)
}

// nodeKind names the kind of a YAML node for error messages.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("scalar (%q)", n.Value)
	}
	return "node"
}
