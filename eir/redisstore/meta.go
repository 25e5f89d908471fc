package redisstore

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Lock is a lease on a name, held in Redis with an expiry so that a crashed
// holder does not block others for longer than its TTL.
type Lock struct {
	s     *Store
	key   string
	token string
	ttl   time.Duration
}

// ErrLockLost reports a lock that expired or was taken over.
var ErrLockLost = errors.New("redisstore: lock lost")

// TryLock takes the lock name for ttl. It returns nil and no error when
// another holder has it. A lock held by a process that is gone — in this
// pid namespace on this boot of this host, a pid that no longer runs, or
// an earlier life of this process — is taken over at once instead of
// blocking until its TTL ends. A holder whose pids this process cannot
// compare with its own (another host, container or boot) keeps the lock
// until its TTL ends: a live holder is never taken over.
func (s *Store) TryLock(ctx context.Context, name string, ttl time.Duration) (*Lock, error) {
	l := &Lock{s: s, key: s.k.lockKey(name), token: holderSelf.String() + "|" + randomID(), ttl: ttl}
	ok, err := s.rdb.SetNX(ctx, l.key, l.token, ttl).Result()
	if err != nil {
		return nil, s.unavailable("lock", err)
	}
	if ok {
		return l, nil
	}
	held, err := s.rdb.Get(ctx, l.key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil // released meanwhile: the next pass takes it
	}
	if err != nil {
		return nil, s.unavailable("lock", err)
	}
	h, ok := parseHolder(held)
	if !ok || !h.gone(holderSelf) {
		return nil, nil
	}
	n, err := takeOverScript.Run(ctx, s.rdb, []string{l.key}, held, l.token, ttl.Milliseconds()).Int()
	if err != nil {
		return nil, s.unavailable("lock", err)
	}
	if n == 0 {
		return nil, nil
	}
	s.log.Info("lock of a process that is gone taken over", zap.String("lock", name), zap.String("holder", h.String()))
	return l, nil
}

var takeOverScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

// holder names the process holding a lock: "host|scope|pid|instance".
type holder struct {
	host     string
	scope    string // the pid namespace and boot (pidScope); "" when unknown
	pid      int
	instance string // random, per process start
}

func (h holder) String() string {
	return h.host + "|" + h.scope + "|" + strconv.Itoa(h.pid) + "|" + h.instance
}

// holderSelf is this process.
var holderSelf = func() holder {
	host, _ := os.Hostname()
	return holder{host: host, scope: pidScope(), pid: os.Getpid(), instance: randomID()}
}()

func parseHolder(v string) (holder, bool) {
	parts := strings.Split(v, "|")
	if len(parts) != 5 {
		return holder{}, false
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil {
		return holder{}, false
	}
	return holder{host: parts[0], scope: parts[1], pid: pid, instance: parts[3]}, true
}

// gone reports whether h is known not to run any more, judged by self:
// only a holder whose pids self can compare with its own (same host, pid
// namespace and boot) can be.
func (h holder) gone(self holder) bool {
	switch {
	case h.host == "" || h.host != self.host || h.scope == "" || h.scope != self.scope:
		return false
	case h.pid == self.pid:
		return h.instance != self.instance // an earlier life of this process
	}
	return !processAlive(h.pid)
}

var refreshScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Refresh extends the lock by its TTL; it fails with ErrLockLost when the
// lock is no longer held.
func (l *Lock) Refresh(ctx context.Context) error {
	n, err := refreshScript.Run(ctx, l.s.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return l.s.unavailable("lock", err)
	}
	if n == 0 {
		return ErrLockLost
	}
	return nil
}

// Unlock releases the lock if it is still held.
func (l *Lock) Unlock(ctx context.Context) error {
	if err := unlockScript.Run(ctx, l.s.rdb, []string{l.key}, l.token).Err(); err != nil {
		return l.s.unavailable("lock", err)
	}
	return nil
}

// MetaSet sets field of the metadata hash name (status records that need
// no atomicity with list versions).
func (s *Store) MetaSet(ctx context.Context, name, field, value string) error {
	if err := s.rdb.HSet(ctx, s.k.meta+name, field, value).Err(); err != nil {
		return s.unavailable("meta", err)
	}
	return nil
}

// MetaGetAll returns the metadata hash name.
func (s *Store) MetaGetAll(ctx context.Context, name string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.meta+name).Result()
	if err != nil {
		return nil, s.unavailable("meta", err)
	}
	return m, nil
}

// MetaGet returns fields of the metadata hash name, "" for those absent.
func (s *Store) MetaGet(ctx context.Context, name string, fields ...string) ([]string, error) {
	out := make([]string, len(fields))
	if len(fields) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.k.meta+name, fields...).Result()
	if err != nil {
		return nil, s.unavailable("meta", err)
	}
	for i, v := range vals {
		out[i], _ = v.(string)
	}
	return out, nil
}

// MetaDel deletes fields of the metadata hash name.
func (s *Store) MetaDel(ctx context.Context, name string, fields ...string) error {
	if len(fields) == 0 {
		return nil
	}
	if err := s.rdb.HDel(ctx, s.k.meta+name, fields...).Err(); err != nil {
		return s.unavailable("meta", err)
	}
	return nil
}

// MetaPush prepends value to the metadata list name and keeps its newest
// keep elements.
func (s *Store) MetaPush(ctx context.Context, name, value string, keep int) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, s.k.meta+name, value)
		p.LTrim(ctx, s.k.meta+name, 0, int64(keep-1))
		return nil
	})
	if err != nil {
		return s.unavailable("meta", err)
	}
	return nil
}

// MetaList returns the newest n elements of the metadata list name.
func (s *Store) MetaList(ctx context.Context, name string, n int) ([]string, error) {
	v, err := s.rdb.LRange(ctx, s.k.meta+name, 0, int64(n-1)).Result()
	if err != nil {
		return nil, s.unavailable("meta", err)
	}
	return v, nil
}

// UsedMemory returns Redis's used_memory (INFO memory), for measuring the
// layout.
func (s *Store) UsedMemory(ctx context.Context) (int64, error) {
	info, err := s.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, s.unavailable("info", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redisstore: no used_memory in INFO memory")
}

// Purge deletes every key under the store's prefix (eirbench's clean-up; not
// for production use: it scans the key space).
func (s *Store) Purge(ctx context.Context) error {
	purge := func(ctx context.Context, c *redis.Client) error {
		for _, pattern := range []string{s.k.prefix + "*", "{" + s.k.prefix + "meta}*"} {
			iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
			for iter.Next(ctx) {
				if err := c.Unlink(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			if err := iter.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, purge)
	case *redis.Client:
		err = purge(ctx, c)
	default:
		err = errors.New("unsupported client")
	}
	if err != nil {
		return s.unavailable("purge", err)
	}
	return nil
}

// AppendStream appends JSON documents to the stream <prefix><name>, keeping
// about maxLen records (0: no limit) and, when maxAge > 0, none older.
func (s *Store) AppendStream(ctx context.Context, name string, docs []string, maxLen int64, maxAge time.Duration) error {
	key := s.k.prefix + name
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range docs {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: maxLen, Approx: maxLen > 0, Values: []any{"doc", d}})
		}
		if maxAge > 0 {
			minID := strconv.FormatInt(unixMilli(s.o.Now().Add(-maxAge)), 10)
			p.XTrimMinIDApprox(ctx, key, minID, 0)
		}
		return nil
	})
	if err != nil {
		return s.unavailable("stream", err)
	}
	return nil
}

// ReadStream returns up to count records of the stream <prefix><name> with
// IDs from start to end ("-", "+", a Unix-millisecond time, a full ID, or
// "(" and an ID for an exclusive bound), in order, or newest first when rev:
// their IDs and JSON documents.
func (s *Store) ReadStream(ctx context.Context, name, start, end string, count int64, rev bool) (ids, docs []string, err error) {
	key := s.k.prefix + name
	var msgs []redis.XMessage
	if rev {
		msgs, err = s.rdb.XRevRangeN(ctx, key, end, start, count).Result()
	} else {
		msgs, err = s.rdb.XRangeN(ctx, key, start, end, count).Result()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, s.unavailable("stream", err)
	}
	for _, m := range msgs {
		d, _ := m.Values["doc"].(string)
		ids, docs = append(ids, m.ID), append(docs, d)
	}
	return ids, docs, nil
}
