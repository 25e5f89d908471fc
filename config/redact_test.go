package config

import (
	"reflect"
	"testing"
)

// withSecrets returns a configuration with every secret and every slice set.
func withSecrets() Config {
	c := valid()
	c.Diameter.HostIPAddresses = []string{"192.0.2.1"}
	c.Diameter.Peers = []Peer{{OriginHost: "mme1", Addresses: []string{"10.0.0.0/8"}}}
	c.Redis.Password = "redis-secret"
	c.Redis.SentinelPassword = "sentinel-secret"
	c.Admin.Tokens = []Token{
		{Name: "ops", Token: "token-secret", Role: "write"},
		{Name: "ci", TokenFile: "/run/secrets/ci", Role: "read"},
	}
	c.Log.IdentityHashKey = "hash-secret"
	c.Bootstrap.Files = []string{"lists.csv"}
	return c
}

func TestRedacted(t *testing.T) {
	orig := withSecrets()
	r := orig.Redacted()

	want := withSecrets()
	want.Redis.Password = "REDACTED"
	want.Redis.SentinelPassword = "REDACTED"
	want.Admin.Tokens[0].Token = "REDACTED"
	want.Log.IdentityHashKey = "REDACTED"
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	if !reflect.DeepEqual(orig, withSecrets()) {
		t.Errorf("Redacted modified the original: %+v", orig)
	}

	// Writing through every slice of the copy leaves the original alone.
	r.Diameter.HostIPAddresses[0] = "x"
	r.Diameter.Peers[0].OriginHost = "x"
	r.Diameter.Peers[0].Addresses[0] = "x"
	r.Redis.Addresses[0] = "x"
	r.Admin.Tokens[1].Name = "x"
	r.Bootstrap.Files[0] = "x"
	if !reflect.DeepEqual(orig, withSecrets()) {
		t.Errorf("the copy shares slices with the original: %+v", orig)
	}
}

func TestRedactedKeepsEmptySecretsEmpty(t *testing.T) {
	c := Default()
	c.Admin.Tokens = []Token{{Name: "ci", TokenFile: "/run/secrets/ci", Role: "read"}}
	if r := c.Redacted(); !reflect.DeepEqual(r, c) {
		t.Errorf("got %+v, want %+v", r, c)
	}
}

// TestConfigHoldsOnlyCopyableKinds guards deepCopy and the reflection in
// LoadEnv and Keys: Config may hold structs, slices and plain values only.
func TestConfigHoldsOnlyCopyableKinds(t *testing.T) {
	var check func(path string, ty reflect.Type)
	check = func(path string, ty reflect.Type) {
		switch ty.Kind() {
		case reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.Array, reflect.UnsafePointer:
			t.Errorf("%s: a %s; deepCopy, LoadEnv and Keys do not handle it", path, ty.Kind())
		case reflect.Slice:
			check(path+"[]", ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				f := ty.Field(i)
				if !f.IsExported() {
					t.Errorf("%s.%s: unexported field", path, f.Name)
				}
				check(path+"."+f.Name, f.Type)
			}
		}
	}
	check("Config", reflect.TypeFor[Config]())
}
