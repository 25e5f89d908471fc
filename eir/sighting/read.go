package sighting

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

// Pairs returns the pairs of imei seen within retention, most recently
// seen first.
func (s *Store) Pairs(ctx context.Context, imei eir.IMEI) ([]Pair, error) {
	s.m.commands.Inc()
	fields, err := s.rdb.HGetAll(ctx, s.imeiKey(imei)).Result()
	if err != nil {
		s.m.errors.WithLabelValues("pairs").Inc()
		return nil, fmt.Errorf("sighting: pairs tac=%s: %w", imei.TAC(), err)
	}
	pairs := s.decodeBucket(fields, s.cutoff(), imei, true)
	if err := s.resolvePeers(ctx, pairs); err != nil {
		s.m.errors.WithLabelValues("peer").Inc()
	}
	sortPairs(pairs)
	return pairs, nil
}

func sortPairs(pairs []Pair) {
	sort.Slice(pairs, func(i, j int) bool {
		if !pairs[i].LastSeen.Equal(pairs[j].LastSeen) {
			return pairs[i].LastSeen.After(pairs[j].LastSeen)
		}
		return pairs[i].IMSI < pairs[j].IMSI
	})
}

// Devices is what is known about one subscriber.
type Devices struct {
	IMSI eir.IMSI
	// Current is the IMEI the IMSI was last seen with, since Since; zero
	// (HasCurrent false) when none within retention.
	Current    eir.IMEI
	HasCurrent bool
	Since      time.Time
	// Pairs are the pairs of the IMSI with every IMEI seen within
	// retention, most recently seen first.
	Pairs []Pair
}

// Devices returns the IMEIs imsi was seen with: its current one and the
// pair with each (read from the IMEI index, one pipeline).
func (s *Store) Devices(ctx context.Context, imsi eir.IMSI) (Devices, error) {
	d := Devices{IMSI: imsi}
	v, err := s.subscriber(ctx, imsi)
	if err != nil {
		s.m.errors.WithLabelValues("devices").Inc()
		return d, err
	}
	imeis := v.live(s.cutoff())
	if len(v) >= entryLen {
		if cur := imeiOf(string(v[4:entryLen])); containsIMEI(imeis, cur) {
			d.Current, d.HasCurrent = cur, true
			d.Since = time.Unix(int64(binary.BigEndian.Uint32([]byte(v[:4]))), 0).UTC()
		}
	}
	if len(imeis) == 0 {
		return d, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(imeis))
	for i, imei := range imeis {
		cmds[i] = pipe.HGet(ctx, s.imeiKey(imei), imeiBytes(imei)+string(imsi))
	}
	s.m.commands.Add(float64(len(imeis)))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		s.m.errors.WithLabelValues("devices").Inc()
		return d, fmt.Errorf("sighting: devices: %w", err)
	}
	cutoff := s.cutoff()
	for i, imei := range imeis {
		v, err := cmds[i].Result()
		if err != nil {
			continue // evicted from the IMEI's bucket (max pairs) or expired
		}
		f := map[string]string{imeiBytes(imei) + string(imsi): v}
		d.Pairs = append(d.Pairs, s.decodeBucket(f, cutoff, imei, true)...)
	}
	if err := s.resolvePeers(ctx, d.Pairs); err != nil {
		s.m.errors.WithLabelValues("peer").Inc()
	}
	sortPairs(d.Pairs)
	return d, nil
}

func containsIMEI(imeis []eir.IMEI, v eir.IMEI) bool {
	for _, i := range imeis {
		if i == v {
			return true
		}
	}
	return false
}

// subscriberValue is the value of an IMSI's field in the IMSI index
// (scripts.go): since, current IMEI, then one entry per IMEI.
type subscriberValue string

// live returns the IMEIs of v last seen at or after cutoff (every one when
// cutoff is 0).
func (v subscriberValue) live(cutoff int64) []eir.IMEI {
	var imeis []eir.IMEI
	for i := entryLen; i+entryLen <= len(v); i += entryLen {
		e := []byte(v[i : i+entryLen])
		if int64(binary.BigEndian.Uint32(e[imeiLen:])) >= cutoff {
			imeis = append(imeis, imeiOf(string(e[:imeiLen])))
		}
	}
	return imeis
}

// subscriber reads the IMSI's field of the IMSI index ("" when none).
func (s *Store) subscriber(ctx context.Context, imsi eir.IMSI) (subscriberValue, error) {
	s.m.commands.Inc()
	v, err := s.rdb.HGet(ctx, s.imsiKey(imsi), string(imsi)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("sighting: subscriber: %w", err)
	}
	return subscriberValue(v), nil
}

// Forget removes the observations of a subscriber: its pair with every
// IMEI its field in the IMSI index names (expired ones too), then that
// field; a bucket left with nothing but its prune mark is deleted. An IMSI
// seen with more than Options.MaxPairs IMEIs within the retention names
// only the latest: its older pairs are not found here and go with the
// retention (or are evicted). A write racing with Forget may leave a pair behind; call it
// again, or after the subscriber is gone from the network. An IMEI the
// IMSI's field already dropped (last seen before retention) may still hold
// the expired record until the next write to its bucket prunes it or the
// bucket expires; no read returns it.
func (s *Store) Forget(ctx context.Context, imsi eir.IMSI) error {
	v, err := s.subscriber(ctx, imsi)
	if err != nil {
		s.m.errors.WithLabelValues("forget").Inc()
		return fmt.Errorf("sighting: forget: %w", err)
	}
	pipe := s.rdb.Pipeline()
	for _, imei := range v.live(0) {
		forgetScript.Eval(ctx, pipe, []string{s.imeiKey(imei)}, imeiBytes(imei)+string(imsi))
	}
	forgetScript.Eval(ctx, pipe, []string{s.imsiKey(imsi)}, string(imsi))
	s.m.commands.Add(float64(pipe.Len()))
	if _, err := pipe.Exec(ctx); err != nil {
		s.m.errors.WithLabelValues("forget").Inc()
		return fmt.Errorf("sighting: forget: %w", err)
	}
	s.mu.Lock()
	s.dd.forget(imsi)
	s.mu.Unlock()
	return nil
}

// scanCount is the COUNT of each SCAN of Day: the keys one call looks at.
const scanCount = 1000

// Day calls fn with every pair seen on day d (within retention), IMEI by
// IMEI (each IMEI's pairs together), for the daily export: a SCAN of the
// IMEI index's buckets (COUNT 1000) on every master, each page read with
// one pipeline of HGETALL. Use Pair.AdmittedOn
// to keep the days the device was let on the network. A pair written
// during the scan may be missed or seen; an error of fn stops the scan and
// is returned. fn is called by one goroutine at a time (the masters of a
// Cluster are scanned concurrently).
func (s *Store) Day(ctx context.Context, d Day, fn func(Pair) error) error {
	// ForEachMaster scans the masters concurrently: fn is called by one
	// goroutine at a time.
	var mu sync.Mutex
	serial := func(p Pair) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(p)
	}
	scan := func(ctx context.Context, c *redis.Client) error { return s.scanDay(ctx, c, d, serial) }
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		err = fmt.Errorf("unsupported client %T", s.rdb)
	}
	if err != nil {
		s.m.errors.WithLabelValues("day").Inc()
		return fmt.Errorf("sighting: day %d: %w", d, err)
	}
	return nil
}

func (s *Store) scanDay(ctx context.Context, c *redis.Client, d Day, fn func(Pair) error) error {
	pattern := s.o.Prefix + "sight:i:{b*"
	var cursor uint64
	cutoff := s.cutoff()
	for {
		s.m.commands.Inc()
		keys, next, err := c.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return err
		}
		if err := s.dayPage(ctx, c, keys, d, cutoff, fn); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

func (s *Store) dayPage(ctx context.Context, c *redis.Client, keys []string, d Day, cutoff int64, fn func(Pair) error) error {
	if len(keys) == 0 {
		return nil
	}
	pipe := c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	s.m.commands.Add(float64(len(keys)))
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	var pairs []Pair
	for i := range keys {
		for _, p := range s.decodeBucket(cmds[i].Val(), cutoff, 0, false) {
			if p.SeenOn(d) {
				pairs = append(pairs, p)
			}
		}
	}
	// An IMEI's pairs are all in its bucket: sorted, they come together.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].IMEI != pairs[j].IMEI {
			return pairs[i].IMEI < pairs[j].IMEI
		}
		return pairs[i].IMSI < pairs[j].IMSI
	})
	if err := s.resolvePeers(ctx, pairs); err != nil {
		return err
	}
	for _, p := range pairs {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
