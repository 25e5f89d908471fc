package config

import (
	"reflect"
	"strings"
	"time"
)

var durationType = reflect.TypeFor[time.Duration]()

// field is one key of a configuration struct: its yaml name and its index in
// the struct.
type field struct {
	name  string
	index int
}

// fieldsOf lists the keys of struct type t in declaration order, named as
// yaml.v3 names them: the yaml tag, or the lower-cased field name.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs = append(fs, field{name: name, index: i})
	}
	return fs
}

// isSection reports whether t is a struct holding further keys (as opposed to
// a leaf value; a time.Duration is a leaf).
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// isStructList reports whether t is a list of sections, like diameter.peers.
func isStructList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && isSection(t.Elem())
}

// joinPath appends key to the key path prefix.
func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// envName is the environment variable overriding the key at path.
func envName(path string) string {
	return "EIR_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// eachLeaf calls fn for every leaf key below the section v, depth first in
// declaration order. A list of sections is one leaf. When v is addressable,
// so are the values passed to fn.
func eachLeaf(v reflect.Value, prefix string, fn func(path string, v reflect.Value)) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		path := joinPath(prefix, f.name)
		if isSection(fv.Type()) {
			eachLeaf(fv, path, fn)
			continue
		}
		fn(path, fv)
	}
}

// describe names the kind of value type t holds, for error messages.
func describe(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "unsigned integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if isSection(t.Elem()) {
			return "list of mappings"
		}
		return "list of " + describe(t.Elem()) + "s"
	case reflect.Struct:
		return "mapping"
	}
	return t.String()
}

// Changed lists the keys whose values differ between a and b, in
// declaration order (a list of mappings is one key).
func Changed(a, b Config) []string {
	var paths []string
	var values []reflect.Value
	eachLeaf(reflect.ValueOf(a), "", func(path string, v reflect.Value) {
		paths, values = append(paths, path), append(values, v)
	})
	var out []string
	i := 0
	eachLeaf(reflect.ValueOf(b), "", func(path string, v reflect.Value) {
		if !reflect.DeepEqual(values[i].Interface(), v.Interface()) {
			out = append(out, paths[i])
		}
		i++
	})
	return out
}
