package regsync

import (
	"context"
	"time"
)

// lockingStore is a store whose TryLock returns its own lease type, such
// as *redisstore.Lock.
type lockingStore[L interface {
	Lease
	comparable
}] interface {
	TryLock(ctx context.Context, name string, ttl time.Duration) (L, error)
	MetaSet(ctx context.Context, name, field, value string) error
	MetaGetAll(ctx context.Context, name string) (map[string]string, error)
	MetaDel(ctx context.Context, name string, fields ...string) error
	MetaPush(ctx context.Context, name, value string, keep int) error
	MetaList(ctx context.Context, name string, n int) ([]string, error)
}

// CoordinatorFor adapts such a store to Coordinator.
func CoordinatorFor[L interface {
	Lease
	comparable
}](s lockingStore[L]) Coordinator {
	return coordinator[L]{s}
}

type coordinator[L interface {
	Lease
	comparable
}] struct{ lockingStore[L] }

func (c coordinator[L]) TryLock(ctx context.Context, name string, ttl time.Duration) (Lease, error) {
	l, err := c.lockingStore.TryLock(ctx, name, ttl)
	var zero L
	if err != nil || l == zero {
		return nil, err
	}
	return l, nil
}
