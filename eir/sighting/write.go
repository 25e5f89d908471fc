package sighting

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

// Result is what recording one observation did.
type Result struct {
	// Written is false when the observation was deduplicated (or Err).
	Written bool
	// NewPair: the IMEI had not been seen with the IMSI within retention.
	NewPair bool
	// NewDay: the first observation of the pair on its day.
	NewDay bool
	// DeviceChanged: the IMSI's current IMEI was another one, PrevIMEI,
	// still seen within retention; this IMEI is now its current one.
	DeviceChanged bool
	PrevIMEI      eir.IMEI
	// Pairs are the IMEI's live pairs after the write (this one included)
	// when there are more than one, so that the rules need no other read;
	// nil otherwise.
	Pairs []Pair
	// Err is why this observation was not recorded (invalid, or Redis).
	Err error
}

// op is one observation being written.
type op struct {
	idx   int
	obs   Observation
	ts    int64
	peer  uint32
	pair  *redis.Cmd
	owner *redis.Cmd
	// notCurrent: written, but the IMSI's current IMEI is another one (the
	// observation was older than the current one's since).
	notCurrent bool
}

// Record records one observation (see Write).
func (s *Store) Record(ctx context.Context, o Observation) (Result, error) {
	rs, err := s.Write(ctx, []Observation{o})
	return rs[0], err
}

// Write records a batch of observations in one pipeline: per observation
// not deduplicated, one script on the IMEI's bucket and one on the IMSI's
// (go-redis splits a Cluster pipeline per node). Results are in the order
// of obs. The error joins the per-observation errors (nil when all were
// recorded or deduplicated); an invalid observation wraps
// ErrInvalidObservation.
func (s *Store) Write(ctx context.Context, obs []Observation) ([]Result, error) {
	res := make([]Result, len(obs))
	now := s.o.Now()
	peers := map[string]uint32{}
	for i, o := range obs {
		if err := o.Validate(); err != nil {
			res[i].Err = err
			s.m.observations.WithLabelValues("invalid").Inc()
			continue
		}
		if _, ok := peers[o.Peer]; !ok {
			id, err := s.peerID(ctx, o.Peer)
			if err != nil {
				// Recorded without its peer rather than lost.
				s.m.errors.WithLabelValues("peer").Inc()
			}
			peers[o.Peer] = id
		}
	}
	ops := s.plan(obs, res, peers, now)
	if len(ops) == 0 {
		return res, joinErrs(res)
	}
	s.exec(ctx, ops)
	var pairs []Pair
	for i := range ops {
		s.collect(&ops[i], &res[ops[i].idx])
		pairs = append(pairs, res[ops[i].idx].Pairs...)
	}
	if err := s.resolvePeers(ctx, pairs); err != nil {
		s.m.errors.WithLabelValues("peer").Inc()
	}
	// resolvePeers filled the flat copy; fill the results' own slices.
	names := make(map[uint32]string, len(pairs))
	for _, p := range pairs {
		names[p.PeerID] = p.Peer
	}
	for i := range res {
		for j := range res[i].Pairs {
			res[i].Pairs[j].Peer = names[res[i].Pairs[j].PeerID]
		}
	}
	return res, joinErrs(res)
}

// plan picks the observations to write, deduplicating within the batch and
// against the writes of this process.
func (s *Store) plan(obs []Observation, res []Result, peers map[string]uint32, now time.Time) []op {
	interval := int64(s.o.MinInterval / time.Second)
	ops := make([]op, 0, len(obs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range obs {
		if res[i].Err != nil {
			continue
		}
		t := o.Time
		if t.IsZero() {
			t = now
		}
		e := dedupeEntry{imei: o.IMEI, day: DayOf(t, s.o.DayOffset), peer: peers[o.Peer], answer: o.Answer, at: t.Unix()}
		if s.dd.fresh(o.IMSI, e, interval) {
			s.m.observations.WithLabelValues("deduplicated").Inc()
			continue
		}
		s.dd.put(o.IMSI, e)
		ops = append(ops, op{idx: i, obs: o, ts: t.Unix(), peer: e.peer})
	}
	return ops
}

// exec sends the scripts of ops in one pipeline. When a node did not have
// them (the first batch, a restarted or failed-over node), it loads them
// (SCRIPT LOAD, on every master of a Cluster) and sends those ops again
// in one pipeline.
func (s *Store) exec(ctx context.Context, ops []op) {
	ret := strconv.FormatInt(s.retentionSeconds(), 10)
	off := strconv.FormatInt(int64(s.o.DayOffset/time.Second), 10)
	maxPairs := strconv.Itoa(s.o.MaxPairs)
	pairArgs := func(o *op) []any {
		svn, _ := svnByte(o.obs.SVN)
		admitted := "0"
		if o.obs.Answer.Admitted() {
			admitted = "1"
		}
		return []any{imeiBytes(o.obs.IMEI) + string(o.obs.IMSI), o.ts, off, ret, admitted, int(svn), o.peer,
			int(o.obs.Interface), packBCD(o.obs.MSISDN), maxPairs, ret}
	}
	ownerArgs := func(o *op) []any { return []any{string(o.obs.IMSI), imeiBytes(o.obs.IMEI), o.ts, ret, ret, maxPairs} }
	send := func(again func(*redis.Cmd) bool) {
		pipe := s.rdb.Pipeline()
		for i := range ops {
			o := &ops[i]
			if again(o.pair) {
				o.pair = pairScript.EvalSha(ctx, pipe, []string{s.imeiKey(o.obs.IMEI)}, pairArgs(o)...)
			}
			if again(o.owner) {
				o.owner = subscriberScript.EvalSha(ctx, pipe, []string{s.imsiKey(o.obs.IMSI)}, ownerArgs(o)...)
			}
		}
		s.m.commands.Add(float64(pipe.Len()))
		if pipe.Len() > 0 {
			_, _ = pipe.Exec(ctx) // errors are read per command
		}
	}
	send(func(*redis.Cmd) bool { return true })
	noScript := func(c *redis.Cmd) bool { return redis.HasErrorPrefix(c.Err(), "NOSCRIPT") }
	missing := false
	for i := range ops {
		missing = missing || noScript(ops[i].pair) || noScript(ops[i].owner)
	}
	if !missing {
		return
	}
	for _, sc := range []*redis.Script{pairScript, subscriberScript} {
		s.m.commands.Inc()
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			s.m.errors.WithLabelValues("write").Inc()
		}
	}
	send(noScript)
}

// collect reads the replies of one op into r.
func (s *Store) collect(o *op, r *Result) {
	err := s.readPair(o, r)
	if err == nil {
		err = s.readOwner(o, r)
	}
	if err != nil {
		r.Err = fmt.Errorf("sighting: write tac=%s: %w", o.obs.IMEI.TAC(), err)
		s.m.observations.WithLabelValues("failed").Inc()
		s.m.errors.WithLabelValues("write").Inc()
		s.mu.Lock()
		s.dd.forget(o.obs.IMSI) // not written: do not deduplicate the next one
		s.mu.Unlock()
		return
	}
	r.Written = true
	s.m.observations.WithLabelValues("written").Inc()
	if o.notCurrent {
		// A reordered observation left another IMEI current: the next one
		// of this pair must be written to swap it back.
		s.mu.Lock()
		s.dd.forget(o.obs.IMSI)
		s.mu.Unlock()
	}
}

func (s *Store) readPair(o *op, r *Result) error {
	v, err := o.pair.Slice()
	if err != nil {
		return err
	}
	if len(v) != 3 {
		return fmt.Errorf("pair script: %d replies, want 3", len(v))
	}
	r.NewPair = v[0] == int64(1)
	r.NewDay = v[1] == int64(1)
	kv, _ := v[2].([]any)
	for i := 0; i+1 < len(kv); i += 2 {
		field, _ := kv[i].(string)
		val, _ := kv[i+1].(string)
		if len(field) <= imeiLen {
			return fmt.Errorf("pair script: field of %d bytes", len(field))
		}
		p, err := decodePair(o.obs.IMEI, field[imeiLen:], []byte(val), s.o.DayOffset)
		if err != nil {
			return err
		}
		r.Pairs = append(r.Pairs, p)
	}
	return nil
}

func (s *Store) readOwner(o *op, r *Result) error {
	v, err := o.owner.Slice()
	if err != nil {
		return err
	}
	if len(v) != 2 {
		return fmt.Errorf("subscriber script: %d replies, want 2", len(v))
	}
	prev, _ := v[1].(string)
	if prev != "" && len(prev) != entryLen {
		return fmt.Errorf("subscriber script: previous of %d bytes, want %d", len(prev), entryLen)
	}
	o.notCurrent = v[0] != int64(1) && prev != "" && prev[:imeiLen] != imeiBytes(o.obs.IMEI)
	if v[0] == int64(1) {
		r.DeviceChanged, r.PrevIMEI = true, imeiOf(prev[:imeiLen])
	}
	return nil
}

func joinErrs(res []Result) error {
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}
