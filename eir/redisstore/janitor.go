package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Collect deletes the versions that are due: replaced versions whose grace
// period is over, and builds whose lease expired (a writer that crashed or
// was killed). Each version is claimed with ZREM before its keys are
// deleted, so that several processes can run the janitor at once. It returns
// how many versions it deleted.
func (s *Store) Collect(ctx context.Context) (int, error) {
	now := strconv.FormatInt(unixMilli(s.o.Now()), 10)
	deleted := 0
	for _, set := range []struct{ key, reason string }{{s.k.retired, "retired"}, {s.k.building, "abandoned"}} {
		due, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: set.key, Start: "-inf", Stop: now, ByScore: true, Count: 100}).Result()
		if err != nil {
			return deleted, s.unavailable("janitor", err)
		}
		for _, member := range due {
			n, err := s.rdb.ZRem(ctx, set.key, member).Result()
			if err != nil {
				return deleted, s.unavailable("janitor", err)
			}
			if n == 0 {
				continue // another process claimed it, or it was committed
			}
			ref, err := parseBuildRef(member)
			if err != nil {
				s.log.Warn("dropping malformed version reference", zap.String("member", member), zap.Error(err))
				continue
			}
			if err := s.deleteVersion(ctx, ref); err != nil {
				// Put it back so that a later pass retries.
				s.rdb.ZAdd(context.Background(), s.k.retired, redis.Z{Score: float64(unixMilli(s.o.Now())), Member: member})
				return deleted, err
			}
			deleted++
			s.m.deleted.WithLabelValues(set.reason).Inc()
			s.log.Info("deleted dataset version", zap.String("dataset", ref.ds.String()),
				zap.Uint64("version", ref.version), zap.String("reason", set.reason))
		}
	}
	return deleted, nil
}

func (s *Store) deleteVersion(ctx context.Context, ref buildRef) error {
	keys := s.k.dataKeys(ref)
	for len(keys) > 0 {
		n := min(len(keys), 512)
		pipe := s.rdb.Pipeline()
		for _, k := range keys[:n] {
			pipe.Unlink(ctx, k) // one key per command: works across cluster slots
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return s.unavailable("janitor", err)
		}
		keys = keys[n:]
	}
	return nil
}

// RunJanitor compacts the overlays that grew large (Compact) and deletes
// the versions that are due (Collect) every interval until ctx is done.
// During a Redis outage every pass fails: the first failure is logged at
// warn, the next ones at debug, and one info line when a pass succeeds.
func (s *Store) RunJanitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	compact := failureLog{log: s.log, failed: "overlay compaction failed", recovered: "overlay compaction succeeds again"}
	collect := failureLog{log: s.log, failed: "janitor pass failed", recovered: "janitor pass succeeds again"}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, max(interval, time.Minute))
		if _, err := s.Compact(cctx); ctx.Err() == nil {
			compact.report(err)
		}
		if _, err := s.Collect(cctx); ctx.Err() == nil {
			collect.report(err)
		}
		cancel()
	}
}

// failureLog logs the outcomes of a periodic task: the first failure of a
// run of failures at warn, the others at debug, and one info line when
// the task succeeds again. An outage costs two lines, not one per pass.
type failureLog struct {
	log               *zap.Logger
	failed, recovered string // static messages
	failing           bool
}

func (f *failureLog) report(err error) {
	switch {
	case err == nil && f.failing:
		f.failing = false
		f.log.Info(f.recovered)
	case err == nil:
	case f.failing:
		f.log.Debug(f.failed, zap.Error(err))
	default:
		f.failing = true
		f.log.Warn(f.failed, zap.Error(err), zap.String("next_failures", "logged at debug until the task succeeds"))
	}
}
