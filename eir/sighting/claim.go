package sighting

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// claimTTL keeps a detection's claim past the end of its day, whatever the
// day offset.
const claimTTL = 48 * time.Hour

// ClaimDetection reports whether the caller is the first, among every
// process sharing the store, to claim the detection of rule on imei on day
// d, so that several eird publish a detection once a day rather than once
// each: SET NX of <prefix>sight:det:<IMEI>:<rule>:<day>, expiring after 48
// hours (one small key per detection and day).
func (s *Store) ClaimDetection(ctx context.Context, imei eir.IMEI, rule string, d Day) (bool, error) {
	s.m.commands.Inc()
	key := s.o.Prefix + "sight:det:" + imei.String() + ":" + rule + ":" + strconv.FormatInt(int64(d), 10)
	ok, err := s.rdb.SetNX(ctx, key, "1", claimTTL).Result()
	if err != nil {
		s.m.errors.WithLabelValues("claim").Inc()
		return false, fmt.Errorf("sighting: claim detection tac=%s: %w", imei.TAC(), err)
	}
	return ok, nil
}
