package sighting

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

// Defaults of Options.
const (
	DefaultRetention     = 180 * 24 * time.Hour
	DefaultMinInterval   = 60 * time.Second
	DefaultDedupeEntries = 100_000
	DefaultMaxPairs      = 256
	// DefaultBuckets suits up to about 4 M pairs (64 per bucket).
	DefaultBuckets = 1 << 16
)

// maxPeers bounds the interned peer names cached by a Store; names beyond
// it still work, at the cost of a round trip each time.
const maxPeers = 4096

// Options configures a Store.
type Options struct {
	// Prefix is put before every key ("eir:" gives "eir:sight:i:{...}").
	Prefix string
	// Retention is how long a pair is kept after it was last seen: writes
	// drop older fields and set the keys' TTL to it, reads ignore older
	// fields. 0 is DefaultRetention; at least 1 day.
	Retention time.Duration
	// DayOffset is the offset from UTC of the zone whose days the bitmaps
	// count (0: UTC days), between -14h and +14h, in whole seconds.
	DayOffset time.Duration
	// MinInterval: an observation of a pair this process wrote less than
	// MinInterval ago with the same day, peer and answer is not written. 0
	// is DefaultMinInterval; negative disables the deduplication.
	MinInterval time.Duration
	// DedupeEntries bounds the deduplication cache (IMSIs). 0 is
	// DefaultDedupeEntries.
	DedupeEntries int
	// MaxPairs bounds the IMSIs kept per IMEI (a new pair over it evicts
	// the one seen longest ago) and the IMEIs an IMSI's field of the IMSI
	// index names (the one seen longest ago is dropped from it: Devices
	// and Forget no longer find that pair, which expires with the
	// retention or is evicted). 0 is DefaultMaxPairs.
	MaxPairs int
	// Buckets is the number of hashes each index is spread over (doc.go:
	// Redis layout), a power of two. Size it to the pairs kept / 64: a
	// bucket of at most ~100 fields stays a listpack
	// (hash-max-listpack-entries, 128 by default), the compact encoding
	// the memory figures assume. 0 is DefaultBuckets.
	Buckets int
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	o.Retention = cmp.Or(o.Retention, DefaultRetention)
	o.MinInterval = cmp.Or(o.MinInterval, DefaultMinInterval)
	o.DedupeEntries = cmp.Or(o.DedupeEntries, DefaultDedupeEntries)
	o.MaxPairs = cmp.Or(o.MaxPairs, DefaultMaxPairs)
	o.Buckets = cmp.Or(o.Buckets, DefaultBuckets)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports every invalid option, each under its name.
func (o Options) Validate() error {
	var errs []error
	if o.Retention != 0 && o.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("retention: %v: want at least 24h", o.Retention))
	}
	if o.DayOffset < -14*time.Hour || o.DayOffset > 14*time.Hour || o.DayOffset%time.Second != 0 {
		errs = append(errs, fmt.Errorf("day_offset: %v: want whole seconds within ±14h", o.DayOffset))
	}
	if o.DedupeEntries < 0 {
		errs = append(errs, fmt.Errorf("dedupe_entries: %d: want ≥ 0", o.DedupeEntries))
	}
	if o.MaxPairs < 0 || o.MaxPairs == 1 {
		errs = append(errs, fmt.Errorf("max_pairs: %d: want ≥ 2", o.MaxPairs))
	}
	if o.Buckets < 0 || o.Buckets&(o.Buckets-1) != 0 {
		errs = append(errs, fmt.Errorf("buckets: %d: want a power of two", o.Buckets))
	}
	return errors.Join(errs...)
}

// Store records observations in Redis (standalone, Sentinel or Cluster) and
// reads them back. It is safe for concurrent use and starts no goroutines.
type Store struct {
	rdb redis.UniversalClient
	o   Options
	m   *metrics

	mu      sync.Mutex
	dd      *dedupe
	peerIDs map[string]uint32
	names   map[uint32]string
}

// New returns a Store writing through rdb. reg may be nil.
func New(rdb redis.UniversalClient, o Options, reg prometheus.Registerer) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("sighting: %w", err)
	}
	o = o.withDefaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("sighting: metrics: %w", err)
	}
	s := &Store{rdb: rdb, o: o, m: m, peerIDs: make(map[string]uint32), names: make(map[uint32]string)}
	if o.MinInterval > 0 {
		s.dd = newDedupe(o.DedupeEntries)
	}
	return s, nil
}

// Today returns the current day in the store's zone.
func (s *Store) Today() Day { return DayOf(s.o.Now(), s.o.DayOffset) }

// DayOf returns the day of t in the store's zone.
func (s *Store) DayOf(t time.Time) Day { return DayOf(t, s.o.DayOffset) }

// imeiKey is the bucket of the IMEI index holding imei's pairs.
func (s *Store) imeiKey(imei eir.IMEI) string {
	return s.bucketKey("sight:i:{b", fnv32a(imei.String()))
}

// imsiKey is the bucket of the IMSI index holding imsi's field.
func (s *Store) imsiKey(imsi eir.IMSI) string {
	return s.bucketKey("sight:s:{b", fnv32a(string(imsi)))
}

func (s *Store) bucketKey(kind string, h uint32) string {
	return s.o.Prefix + kind + strconv.FormatUint(uint64(h&uint32(s.o.Buckets-1)), 10) + "}"
}

// imeiBytes is the 6-byte big-endian form of imei (< 10^14 < 2^48) that
// starts the fields of the IMEI index and the entries of the IMSI index.
func imeiBytes(imei eir.IMEI) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(imei))
	return string(b[2:])
}

func imeiOf(b string) eir.IMEI {
	var v [8]byte
	copy(v[2:], b)
	return eir.IMEI(binary.BigEndian.Uint64(v[:]))
}

func (s *Store) peerKey(id uint32) string {
	return s.o.Prefix + "sight:peer:" + strconv.FormatUint(uint64(id), 10)
}

func (s *Store) retentionSeconds() int64 { return int64(s.o.Retention / time.Second) }

// cutoff returns the unix time before which a pair last seen is expired.
func (s *Store) cutoff() int64 { return s.o.Now().Unix() - s.retentionSeconds() }

// peerID interns name: <prefix>sight:peer:<id> = name, id = FNV-32a of the
// name, written with SET NX once per process per name. Another name already
// holding the id (a collision) makes it probe FNV-32a(name + "#n") for n =
// 1, 2, .... The empty name is 0.
func (s *Store) peerID(ctx context.Context, name string) (uint32, error) {
	if name == "" {
		return 0, nil
	}
	s.mu.Lock()
	id, ok := s.peerIDs[name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	for n := 0; n < 16; n++ {
		h := fnv.New32a()
		h.Write([]byte(name))
		if n > 0 {
			h.Write([]byte("#" + strconv.Itoa(n)))
		}
		id = h.Sum32()
		if id == 0 {
			continue
		}
		key := s.peerKey(id)
		s.m.commands.Inc()
		set, err := s.rdb.SetNX(ctx, key, name, 0).Result()
		if err != nil {
			return 0, fmt.Errorf("sighting: intern peer: %w", err)
		}
		if !set {
			s.m.commands.Inc()
			held, err := s.rdb.Get(ctx, key).Result()
			if err != nil {
				return 0, fmt.Errorf("sighting: intern peer: %w", err)
			}
			if held != name {
				continue // collision: probe the next id
			}
		}
		s.cachePeer(name, id)
		return id, nil
	}
	return 0, fmt.Errorf("sighting: intern peer: no free id after 16 probes")
}

func (s *Store) cachePeer(name string, id uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.names) < maxPeers {
		s.peerIDs[name] = id
		s.names[id] = name
	}
}

// resolvePeers fills in the peer names of pairs, reading the ids this
// process has not interned or read before (one pipeline).
func (s *Store) resolvePeers(ctx context.Context, pairs []Pair) error {
	missing := map[uint32]*redis.StringCmd{}
	s.mu.Lock()
	for i := range pairs {
		if name, ok := s.names[pairs[i].PeerID]; ok {
			pairs[i].Peer = name
		} else if pairs[i].PeerID != 0 {
			missing[pairs[i].PeerID] = nil
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for id := range missing {
		missing[id] = pipe.Get(ctx, s.peerKey(id))
	}
	s.m.commands.Add(float64(len(missing)))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("sighting: peer names: %w", err)
	}
	for id, cmd := range missing {
		if name, err := cmd.Result(); err == nil {
			s.cachePeer(name, id)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range pairs {
		if pairs[i].Peer == "" {
			pairs[i].Peer = s.names[pairs[i].PeerID]
		}
	}
	return nil
}

// decodeBucket decodes the fields of a bucket of the IMEI index, keeping
// the pairs last seen at or after cutoff, of only imei when only is set.
func (s *Store) decodeBucket(fields map[string]string, cutoff int64, imei eir.IMEI, only bool) []Pair {
	pre := imeiBytes(imei)
	var pairs []Pair
	for f, v := range fields {
		if len(f) <= imeiLen || (only && f[:imeiLen] != pre) || lastSeenOf([]byte(v)) < cutoff {
			continue
		}
		p, err := decodePair(imeiOf(f[:imeiLen]), f[imeiLen:], []byte(v), s.o.DayOffset)
		if err != nil {
			continue // a foreign or truncated value: not ours to report
		}
		pairs = append(pairs, p)
	}
	return pairs
}

func fnv32a(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
