//go:build !linux

package redisstore

// pidScope is unknown on this platform: a lock is taken over only when its
// TTL ends.
func pidScope() string { return "" }
