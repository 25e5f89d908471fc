package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// switchLua is the Lua the switch scripts (commitScript, restoreScript)
// share. KEYS are those of keys.switchKeys (3: building, 4: retired).
// num prints a number of a decoded manifest entry; tag mirrors
// manifestEntry.tag ("0" for no entry) and ref buildRef.String (see
// TestSwitchLuaMirrorsGo); unleased returns the first of refs whose build
// is no longer registered (the janitor reclaimed it), or nil; retire
// retires, at time at, the version and the overlay of the manifest entry
// c (decoded) of dataset name that e, the entry replacing it (decoded; nil
// for none), does not keep.
const switchLua = `
local function num(x) return string.format('%.0f', x or 0) end
local function tag(raw)
  if not raw then return '0' end
  local d = cjson.decode(raw)
  return num(d.v) .. '.' .. num(d.o)
end
local function ref(name, v, b, overlay)
  local s = name .. '|' .. num(v) .. '|' .. num(b)
  if overlay then s = s .. '|o' end
  return s
end
local function unleased(refs)
  for _, r in ipairs(refs) do
    if not redis.call('ZSCORE', KEYS[3], r) then return r end
  end
  return nil
end
local function retire(at, name, c, e)
  if not e or num(c.v) ~= num(e.v) then
    redis.call('ZADD', KEYS[4], at, ref(name, c.v, c.b, false))
  end
  if num(c.o) ~= '0' and (not e or num(c.o) ~= num(e.o)) then
    redis.call('ZADD', KEYS[4], at, ref(name, c.o, 0, true))
  end
end
`

// commitScript switches the built versions in: it checks that Redis still
// holds the data set the writer read (its identity, an epoch not older),
// the expected sync-state fields, that each build is still registered (the
// janitor has not reclaimed it) and that the content in force (version
// and overlay) is still the one the build started from; then it updates
// the manifest, retires the replaced versions and overlays, writes the
// sync state and increments the epoch.
//
// KEYS: manifest, epoch, building, retired, sync state, identity.
// ARGV: retire-at (unix ms), n builds, n × (dataset, expected tag
// ("<version>.<overlay>", "0" for none) or "*", manifest entry JSON, build
// reference), store id ("" for none), minimum epoch, m expectations, m ×
// (field, value or "" for absent), k state fields, k × (field, value).
var commitScript = redis.NewScript(switchLua + `
local n = tonumber(ARGV[2])
local i = 3 + n * 4
if (redis.call('HGET', KEYS[6], 'id') or '') ~= ARGV[i] then
  return redis.error_reply('DIVERGED the data set identity changed')
end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[i + 1]) then
  return redis.error_reply('DIVERGED the epoch went backwards')
end
i = i + 2
local m = tonumber(ARGV[i])
for j = 0, m - 1 do
  local field, want = ARGV[i + 1 + j*2], ARGV[i + 2 + j*2]
  local got = redis.call('HGET', KEYS[5], field)
  if (got or '') ~= want then
    return redis.error_reply('STATE ' .. field .. ' changed')
  end
end
local k0 = i + 1 + m * 2
local refs = {}
for j = 0, n - 1 do refs[#refs + 1] = ARGV[6 + j*4] end
local gone = unleased(refs)
if gone then
  return redis.error_reply('EXPIRED build ' .. gone .. ' was reclaimed')
end
for j = 0, n - 1 do
  local name, expected = ARGV[3 + j*4], ARGV[4 + j*4]
  if expected ~= '*' and expected ~= tag(redis.call('HGET', KEYS[1], name)) then
    return redis.error_reply('CONFLICT ' .. name .. ' changed since ' .. expected)
  end
end
for j = 0, n - 1 do
  local name, entry, ref = ARGV[3 + j*4], ARGV[5 + j*4], ARGV[6 + j*4]
  local cur = redis.call('HGET', KEYS[1], name)
  if cur then
    retire(ARGV[1], name, cjson.decode(cur), cjson.decode(entry))
  end
  redis.call('HSET', KEYS[1], name, entry)
  redis.call('ZREM', KEYS[3], ref)
end
local k = tonumber(ARGV[k0])
for j = 0, k - 1 do
  redis.call('HSET', KEYS[5], ARGV[k0 + 1 + j*2], ARGV[k0 + 2 + j*2])
end
if n > 0 then
  return redis.call('INCR', KEYS[2])
end
return tonumber(redis.call('GET', KEYS[2]) or '0')
`)

// commit switches builds in, as read from plan p. With
// Options.WriteReplicas, a switch made that too few replicas acknowledged
// returns its epoch and an error wrapping errNotReplicated.
func (s *Store) commit(ctx context.Context, p *plan, builds []*built, o eir.ApplyOptions) (int64, error) {
	args := []any{unixMilli(s.o.Now().Add(s.o.Grace)), len(builds)}
	for _, b := range builds {
		entry, err := json.Marshal(b.entry)
		if err != nil {
			return 0, err
		}
		args = append(args, b.w.name, b.expected, string(entry), b.ref.String())
	}
	args = append(args, p.ident.ID, p.ep)
	args = appendFields(args, o.ExpectState)
	args = appendFields(args, o.State)
	cmd, short := s.runSwitch(ctx, "apply", commitScript, s.k.switchKeys(), args...)
	epoch, err := cmd.Int64()
	switch {
	case err == nil:
		return epoch, short
	case strings.HasPrefix(err.Error(), "CONFLICT"):
		return 0, fmt.Errorf("redisstore: %w: %s", errDatasetRace, err.Error())
	case strings.HasPrefix(err.Error(), "STATE"):
		return 0, fmt.Errorf("redisstore: %w: sync state %s", eir.ErrConflict, strings.TrimPrefix(err.Error(), "STATE "))
	case strings.HasPrefix(err.Error(), "EXPIRED"):
		return 0, fmt.Errorf("redisstore: apply: %s (the build took longer than build_lease)", err.Error())
	case strings.HasPrefix(err.Error(), "DIVERGED"):
		return 0, fmt.Errorf("redisstore: apply: %w: %s during the write; nothing was changed", eir.ErrDiverged, strings.TrimPrefix(err.Error(), "DIVERGED "))
	}
	s.m.errors.WithLabelValues("apply").Inc()
	return 0, fmt.Errorf("redisstore: apply: %w: the switch may or may not have been made (the answer was lost): %w", eir.ErrUnavailable, err)
}

// abandon deletes versions that were built and not switched in (a failed
// or refused write, a dry run, a build that changed nothing): no reader
// saw them, the manifest never named them. Each is claimed from the
// building set first, as the janitor claims a build whose lease expired
// (the one that removes it deletes it); one that cannot be deleted now is
// handed to the janitor.
func (s *Store) abandon(builds []*built) {
	if len(builds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, b := range builds {
		member := b.ref.String()
		n, err := s.rdb.ZRem(ctx, s.k.building, member).Result()
		if err == nil && n == 0 {
			continue // claimed by the janitor
		}
		if err == nil {
			err = s.deleteVersion(ctx, b.ref)
		}
		if err == nil {
			continue
		}
		if rerr := s.rdb.ZAdd(ctx, s.k.retired, redis.Z{Score: float64(unixMilli(s.o.Now())), Member: member}).Err(); rerr != nil {
			s.log.Warn("cannot delete or hand a failed build to the janitor; its lease will expire",
				zap.String("dataset", b.ref.ds.String()), zap.Uint64("version", b.ref.version), zap.Error(err))
		}
	}
}

// pipeWriter sends the commands of a build, writes and reads, in
// pipelines of at most 512 commands, runs the function queued with each
// command once it is answered, and keeps the build's lease alive (a long
// read too). A reader (newPipeReader) batches reads outside a build: it has
// no lease.
type pipeWriter struct {
	s         *Store
	ctx       context.Context
	op        string // of the errors reported (see Store.unavailable)
	ref       buildRef
	lease     bool
	pipe      redis.Pipeliner
	cmds      []redis.Cmder
	done      []func() error
	lastTouch time.Time
}

func (s *Store) newPipeWriter(ctx context.Context, ref buildRef) *pipeWriter {
	return &pipeWriter{s: s, ctx: ctx, op: "apply", ref: ref, lease: true, pipe: s.rdb.Pipeline(), lastTouch: s.o.Now()}
}

func (s *Store) newPipeReader(ctx context.Context, op string) *pipeWriter {
	return &pipeWriter{s: s, ctx: ctx, op: op, pipe: s.rdb.Pipeline()}
}

// add queues c, just added to w.pipe, and done (nil: none), run with c
// answered; it sends the pipeline when it is full.
func (w *pipeWriter) add(c redis.Cmder, done func() error) error {
	w.cmds = append(w.cmds, c)
	w.done = append(w.done, done)
	if len(w.cmds) >= 512 {
		return w.flush()
	}
	return nil
}

// flush sends the commands queued, runs their functions (the first error
// is returned) and, in a build, extends the lease when a quarter of it
// went by.
func (w *pipeWriter) flush() error {
	if len(w.cmds) > 0 {
		_, err := w.pipe.Exec(w.ctx)
		done := w.done
		w.cmds, w.done = w.cmds[:0], nil
		if err != nil && !errors.Is(err, redis.Nil) {
			return w.s.unavailable(w.op, err)
		}
		for _, f := range done {
			if f != nil {
				if err := f(); err != nil {
					return err
				}
			}
		}
	}
	if !w.lease {
		return nil
	}
	if now := w.s.o.Now(); now.Sub(w.lastTouch) > w.s.o.BuildLease/4 {
		n, err := w.s.rdb.ZAddArgs(w.ctx, w.s.k.building, redis.ZAddArgs{XX: true, Ch: true, Members: []redis.Z{{
			Score: float64(unixMilli(now.Add(w.s.o.BuildLease))), Member: w.ref.String(),
		}}}).Result()
		if err != nil {
			return w.s.unavailable("apply", err)
		}
		if n == 0 {
			return fmt.Errorf("redisstore: apply: build %s was reclaimed by the janitor (slower than build_lease)", w.ref)
		}
		w.lastTouch = now
	}
	return nil
}
