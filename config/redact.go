package config

import "reflect"

// redacted replaces a secret in Redacted.
const redacted = "REDACTED"

// Redacted returns a deep copy of c, safe to print or log: the secrets that
// are set (redis.password, redis.sentinel_password, admin.tokens[].token,
// log.identity_hash_key, sync.sources[].https.bearer_token,
// events.webhook.bearer_token) read "REDACTED". Files holding secrets are left as
// they are: their names are not secret. The copy shares no slice with c.
func (c Config) Redacted() Config {
	var r Config
	reflect.ValueOf(&r).Elem().Set(deepCopy(reflect.ValueOf(c)))
	hide := func(s *string) {
		if *s != "" {
			*s = redacted
		}
	}
	hide(&r.Redis.Password)
	hide(&r.Redis.SentinelPassword)
	for i := range r.Admin.Tokens {
		hide(&r.Admin.Tokens[i].Token)
	}
	hide(&r.Log.IdentityHashKey)
	for i := range r.Sync.Sources {
		hide(&r.Sync.Sources[i].HTTPS.BearerToken)
	}
	hide(&r.Events.Webhook.BearerToken)
	return r
}

// deepCopy copies v, giving every slice (also inside structs and slices) its
// own backing array. nil slices stay nil. Config holds no maps, pointers or
// interfaces; a test guards that.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			out.Field(i).Set(deepCopy(v.Field(i)))
		}
		return out
	default:
		return v
	}
}
