package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LoadEnv applies the EIR_* variables of environ (in os.Environ's
// "NAME=value" form) to cfg. Every key has a variable: "EIR_" followed by the
// key path in upper case with "." replaced by "_", for example
// EIR_DIAMETER_ORIGIN_HOST or EIR_REDIS_TLS_CA_FILE.
//
// Values are parsed by the type of the key: strings as is, booleans with
// strconv.ParseBool, integers in decimal, durations with time.ParseDuration,
// lists of strings as comma-separated items (spaces trimmed, empty items
// dropped, an empty value is an empty list) and lists of mappings
// (diameter.peers, admin.tokens) as one YAML or JSON document, decoded as
// strictly as the file.
//
// Bad values and EIR_* variables that name no key are errors; all of them are
// reported at once. The valid variables are applied even when others are not.
func LoadEnv(cfg *Config, environ []string) error {
	keys := make(map[string]envKey)
	eachLeaf(reflect.ValueOf(cfg).Elem(), "", func(path string, v reflect.Value) {
		keys[envName(path)] = envKey{path: path, v: v}
	})

	var errs []error
	var unknown []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "EIR_") {
			continue
		}
		k, ok := keys[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		for _, p := range setFromEnv(k.v, value, k.path) {
			path := p.path
			if path == "" {
				path = k.path
			}
			errs = append(errs, problem{path: path, msg: p.msg}.at(name))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		unknown = slices.Compact(unknown)
		errs = append(errs, fmt.Errorf("unknown environment variables (no such config key): %s", strings.Join(unknown, ", ")))
	}
	return errors.Join(errs...)
}

// envKey is the key an environment variable overrides.
type envKey struct {
	path string
	v    reflect.Value // settable
}

// setFromEnv parses s by the type of v, the key at path, and stores it in v.
func setFromEnv(v reflect.Value, s, path string) []problem {
	t := v.Type()
	fail := func(format string, args ...any) []problem {
		return []problem{{path: path, msg: fmt.Sprintf(format, args...)}}
	}
	switch {
	case t == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fail("%q is not a duration (use e.g. \"30s\")", s)
		}
		v.SetInt(int64(d))
		return nil

	case isStructList(t):
		out := reflect.New(t)
		out.Elem().Set(reflect.MakeSlice(t, 0, 0))
		if ps := decodeStrict([]byte(s), out.Interface(), path); len(ps) > 0 {
			return ps
		}
		v.Set(out.Elem())
		return nil
	}

	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fail("%q is not a boolean (use true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return fail("%q is not a valid %s: %v", s, describe(t), numErr(err))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return fail("%q is not a valid %s: %v", s, describe(t), numErr(err))
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return fail("%q is not a valid %s: %v", s, describe(t), numErr(err))
		}
		v.SetFloat(f)
	case reflect.Slice:
		if t.Elem().Kind() != reflect.String {
			return fail("cannot set a %s from the environment", describe(t))
		}
		items := []string{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items).Convert(t))
	default:
		return fail("cannot set a %s from the environment", describe(t))
	}
	return nil
}

// numErr is the reason inside a strconv error, without the repeated input.
func numErr(err error) error {
	if ne, ok := errors.AsType[*strconv.NumError](err); ok {
		return ne.Err
	}
	return err
}
