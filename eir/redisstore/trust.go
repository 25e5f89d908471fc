package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// Trust: a process never takes an empty or older Redis for the lists in
// force.
//
// Redis holds an identity for its data set (the identity hash): an id,
// created once, and the marker of the last restore (its random id and the
// epoch its content came from). The plan a process installed (manifest,
// epoch, identity) is the state it trusts. Every reading of Redis's state
// is judged against it (judge): the identity gone (an empty restart, a
// failover to an empty replica, a FLUSHALL), another id, the epoch gone
// backwards (a restore from an older snapshot, a failover that lost
// writes), the manifest shrunk or changed without a switch — each makes
// the store diverged: it keeps the plan and the replica it holds, answers
// checks from them, refuses writes (eir.ErrDiverged) and reports the
// reason once. Recovery is explicit: Restore writes the lists in force
// back, Accept takes Redis's state as the truth. A restore by another
// process is taken when its content is at least as new as the trusted one.
//
// Outages: when the epoch cannot be read, the store is down (a circuit
// breaker: checks that need Redis fail at once instead of waiting for the
// timeout) and the replica answers for up to Options.MaxStale since the
// lists were last confirmed.

// identity is the identity hash of a data set.
type identity struct {
	ID           string // created once; "" when Redis holds none
	Restore      string // random id of the last restore; "" when none
	RestoredFrom uint64 // epoch of the content the last restore wrote back
}

func identityOf(m map[string]string) identity {
	from, _ := strconv.ParseUint(m["restored_from"], 10, 64)
	return identity{ID: m["id"], Restore: m["restore"], RestoredFrom: from}
}

// divergence is why the lists in Redis are not the lists in force.
type divergence struct {
	reason string
	since  time.Time // when Redis was first found diverged
	// lost, when set, is the dataset version (and overlay) whose keys
	// Redis lost: its manifest still names it, so only a switch of that
	// dataset (a restore) or an explicit accept ends the divergence.
	lost *planEntry
}

// observed is what one reading of Redis's state found.
type observed struct {
	ident    identity
	epoch    uint64
	datasets int64 // fields of the manifest
}

// readState reads the identity, the epoch and the size of the manifest in
// one round trip (MULTI: the keys share the metadata slot).
func (s *Store) readState(ctx context.Context) (observed, error) {
	var id *redis.MapStringStringCmd
	var ep *redis.StringCmd
	var n *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		id = p.HGetAll(ctx, s.k.identity)
		ep = p.Get(ctx, s.k.epoch)
		n = p.HLen(ctx, s.k.manifest)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return observed{}, err
	}
	epoch, _ := strconv.ParseUint(ep.Val(), 10, 64)
	return observed{ident: identityOf(id.Val()), epoch: epoch, datasets: n.Val()}, nil
}

// judge says why the state o of Redis cannot be trusted by a process that
// trusts plan p, or "" when it can (p nil trusts anything). A restore
// this process has not seen is taken when the content it wrote back is at
// least as new as p.
func judge(p *plan, o observed) string {
	if p == nil || (p.ident.ID == "" && p.ep == 0 && len(p.all) == 0) {
		return ""
	}
	switch {
	case o.ident.ID == "" && p.ident.ID != "":
		return "redis holds no data set identity: it lost its data (an empty restart, a failover to an empty replica or a FLUSHALL)"
	case p.ident.ID != "" && o.ident.ID != p.ident.ID:
		// Before the restore marker: a restore keeps the id, so a marker
		// on another data set is not a restore of this one.
		return fmt.Sprintf("redis holds another data set (id %s; the lists in force are from %s)", short(o.ident.ID), short(p.ident.ID))
	case o.ident.Restore != p.ident.Restore:
		if o.ident.RestoredFrom < p.ep {
			return fmt.Sprintf("redis was restored from an older copy (epoch %d; the lists in force are at epoch %d)", o.ident.RestoredFrom, p.ep)
		}
		return ""
	case o.epoch < p.ep:
		return fmt.Sprintf("the epoch went backwards from %d to %d: redis was restored from an older snapshot or lost writes in a failover", p.ep, o.epoch)
	case o.epoch == p.ep && o.datasets != int64(p.fields):
		return fmt.Sprintf("the manifest of versions in force changed without a switch (%d datasets, %d in force)", o.datasets, p.fields)
	}
	return ""
}

// judgePlan is judge for a whole manifest read: besides the state, a
// manifest never loses a dataset (switches add or update, never delete).
func judgePlan(p, next *plan) string {
	if why := judge(p, observed{ident: next.ident, epoch: next.ep, datasets: int64(next.fields)}); why != "" || p == nil {
		return why
	}
	if next.ident.Restore != p.ident.Restore {
		return "" // a newer restore: its manifest is the truth
	}
	have := make(map[string]bool, len(next.all))
	for _, e := range next.all {
		have[e.name] = true
	}
	for _, e := range p.all {
		if !have[e.name] {
			return fmt.Sprintf("dataset %s vanished from the manifest without a switch", e.name)
		}
	}
	return ""
}

func short(id string) string {
	if id == "" {
		return "none"
	}
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// diverge records that Redis's data is not the lists in force (lost: the
// version whose keys Redis lost, if that is why). The divergence keeps the
// time it began while its reason changes; the first time, it logs an
// error, and a warning when the reason changes.
func (s *Store) diverge(why string, o observed, lost *planEntry) {
	for {
		old := s.div.Load()
		if old != nil && old.reason == why {
			return
		}
		d := &divergence{reason: why, since: time.Now(), lost: lost}
		if old != nil {
			d.since = old.since
			if lost == nil {
				d.lost = old.lost
			}
		}
		if !s.div.CompareAndSwap(old, d) {
			continue
		}
		s.m.diverged.Set(1)
		if old == nil {
			s.log.Error("redis does not hold the lists in force; answering from the lists held and refusing writes until `eirctl store restore` (or `eirctl store accept`)",
				zap.String("reason", why), zap.Uint64("redis_epoch", o.epoch), zap.String("redis_store_id", short(o.ident.ID)))
		} else {
			s.log.Warn("redis still does not hold the lists in force", zap.String("reason", why))
		}
		return
	}
}

// lostVersion reports whether d is keys lost of e's version and overlay.
func (d *divergence) lostVersion(e planEntry) bool {
	return d != nil && d.lost != nil && d.lost.name == e.name && d.lost.Version == e.Version && d.lost.Overlay == e.Overlay
}

// lostStillInForce reports whether the divergence is keys lost of a
// version that next still has in force: a fresh manifest that agrees with
// the plan does not end it.
func lostStillInForce(d *divergence, next *plan) bool {
	if d == nil || d.lost == nil {
		return false
	}
	e, ok := next.find(d.lost.name)
	return ok && d.lostVersion(e)
}

// converge clears a divergence once Redis holds the lists in force again.
func (s *Store) converge(how string) {
	if d := s.div.Swap(nil); d != nil {
		s.m.diverged.Set(0)
		s.log.Info("redis holds the lists in force again", zap.String("how", how), zap.Duration("diverged_for", time.Since(d.since)))
	}
}

// errDiverged is returned by writes (and reads of Redis's lists) while
// Redis does not hold the lists in force.
func (s *Store) errDiverged() error {
	d := s.div.Load()
	if d == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %w: %s (since %s): nothing was changed; restore the lists with `eirctl store restore`",
		eir.ErrDiverged, d.reason, d.since.UTC().Format(time.RFC3339))
}

// newIdentity creates the identity of a data set that has none, when this
// process trusts no other: a new store, or one written by a version of
// eird that kept no identity.
func (s *Store) newIdentity(ctx context.Context) error {
	id := randomID()
	created, err := s.rdb.HSetNX(ctx, s.k.identity, "id", id).Result()
	if err != nil {
		return err
	}
	if created {
		s.log.Info("data set identity created", zap.String("store_id", short(id)))
	}
	return nil
}

// pollState reads Redis's state, installs a newer plan it can trust and
// keeps the outage and divergence state. It is the replica's heartbeat:
// every Options.ReplicaRefresh.
func (s *Store) pollState(ctx context.Context) {
	// A read that takes longer than three refreshes opens the breaker:
	// Redis is down or too slow to be waited for by checks.
	ctx, cancel := context.WithTimeout(ctx, min(max(3*s.o.ReplicaRefresh, 100*time.Millisecond), time.Second))
	defer cancel()
	start := time.Now()
	o, err := s.readState(ctx)
	if err != nil {
		s.pollFailed(ctx, start, err)
		return
	}
	p := s.plan.Load()
	if p == nil || o.epoch != p.ep || o.ident != p.ident || s.div.Load() != nil {
		// refreshPlan judges the manifest it reads.
		if _, err := s.refreshPlan(ctx, ""); err != nil && !errors.Is(err, eir.ErrDiverged) {
			if !errors.Is(err, errBadManifest) {
				s.pollFailed(ctx, start, err)
				return
			}
			s.answeredPoll(ctx)
			s.unavailable("replica", err)
			s.unconfirmable.Store(true)
			s.logPollError(err)
			return
		}
		s.answeredPoll(ctx)
		if s.div.Load() != nil {
			return
		}
	} else if why := judge(p, o); why != "" {
		s.answeredPoll(ctx)
		s.diverge(why, o, nil)
		return
	}
	s.answeredPoll(ctx)
	s.unconfirmable.Store(false)
	s.confirmed.Store(start.UnixNano())
}

// pollFailed counts a poll that Redis did not answer in time, and opens
// the breaker: only a timeout or a failure to reach Redis does (not the
// end of ctx, when the store stops), and only if Redis has answered
// nothing since the poll began (a check that waited out a pause and was
// answered is newer news than a poll sent during it).
func (s *Store) pollFailed(ctx context.Context, start time.Time, err error) {
	if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
		s.unavailable("replica", err)
		s.markDown(start, err)
	}
}

// answeredPoll records that Redis answered a whole poll: the breaker
// closes, and the checks made once Redis answers are made.
func (s *Store) answeredPoll(ctx context.Context) {
	s.markUp()
	s.unverifiedCopy.Store(false)
	if !s.evictChecked.Load() {
		s.checkEviction(ctx)
	}
}

// logPollError logs, at most once a minute, why the manifest Redis
// holds could not be read while Redis answers: the lists in force stay
// unconfirmed meanwhile, and checks stop being answered from them after
// three refreshes.
func (s *Store) logPollError(err error) {
	now := time.Now().UnixNano()
	last := s.pollErrLogged.Load()
	if now-last < int64(time.Minute) || !s.pollErrLogged.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("the manifest of the lists in force cannot be read; checks read redis until it can", zap.Error(err))
}

// markDown opens the circuit breaker: Redis did not answer a request
// sent at start. It stays closed if Redis answered another request after
// start: the failure is older than the news that Redis is back.
func (s *Store) markDown(start time.Time, err error) {
	if start.UnixNano() < s.upAt.Load() {
		return
	}
	now := time.Now().UnixNano()
	if s.down.CompareAndSwap(0, now) {
		s.m.reachable.Set(0)
		s.log.Warn("redis unreachable; answering checks from the lists held (for up to store.max_stale) and refusing writes",
			zap.Duration("max_stale", s.o.MaxStale), zap.Error(err))
	}
}

// markUp closes the circuit breaker.
func (s *Store) markUp() {
	if at := s.down.Swap(0); at != 0 {
		s.upAt.Store(time.Now().UnixNano())
		s.m.reachable.Set(1)
		s.staleLogged.Store(false)
		s.log.Info("redis reachable again", zap.Duration("unreachable_for", time.Since(time.Unix(0, at))))
	}
}

// answered closes the breaker after a check Redis answered: a check
// that was waiting in Redis when the breaker opened (a slow, not a dead,
// Redis) proves it answers again before the next heartbeat does. Only a
// load while the breaker is closed: no shared write per check.
func (s *Store) answered() {
	if s.down.Load() != 0 {
		s.markUp()
	}
}

// errDown fails fast while the breaker is open.
func (s *Store) errDown(op string) error {
	at := s.down.Load()
	if at == 0 {
		return nil
	}
	s.m.errors.WithLabelValues(op).Inc()
	return fmt.Errorf("redisstore: %s: %w: redis unreachable since %s", op, eir.ErrUnavailable,
		time.Unix(0, at).UTC().Format(time.RFC3339))
}

// staleness is how long the lists in force have gone unconfirmed by
// Redis: 0 while the epoch is read on time.
func (s *Store) staleness() time.Duration {
	at := s.confirmed.Load()
	if at == 0 {
		return 0
	}
	age := time.Since(time.Unix(0, at))
	if age < 3*s.o.ReplicaRefresh && s.div.Load() == nil {
		return 0
	}
	return age
}

// replicaServes reports whether checks may be answered from the replica:
// the lists were confirmed recently (within 3 refreshes), or within
// MaxStale while Redis is unreachable or slow (or not asked yet, for lists
// read from the local copy), or Redis diverged (the replica holds the
// lists in force). When Redis answers but the lists cannot be confirmed
// (a manifest that cannot be read), checks read Redis.
func (s *Store) replicaServes() bool {
	if !s.o.Replica {
		return false
	}
	if s.div.Load() != nil {
		return true
	}
	at := s.confirmed.Load()
	if at == 0 {
		return false
	}
	age := time.Since(time.Unix(0, at))
	if age < 3*s.o.ReplicaRefresh {
		return true
	}
	if s.unconfirmable.Load() {
		return false
	}
	if age < s.o.MaxStale {
		return true
	}
	if s.o.MaxStale > 0 && !s.staleLogged.Load() && s.staleLogged.CompareAndSwap(false, true) {
		s.log.Error("the lists held are older than store.max_stale and redis is unreachable; checks now follow policy.on_store_error",
			zap.Duration("max_stale", s.o.MaxStale), zap.Duration("unconfirmed_for", age))
	}
	return false
}

// Health reports whether checks are answered and how: ok, stale (Redis
// unreachable: the lists held answer), diverged (Redis does not hold the
// lists in force: the lists held answer), or unavailable.
func (s *Store) Health() eir.StoreHealth {
	h := eir.StoreHealth{State: eir.StoreOK}
	p := s.plan.Load()
	if p != nil {
		for _, e := range p.entries {
			h.Datasets++
			h.Entries += e.Count
		}
		h.Epoch = p.ep
		h.StoreID = short(p.ident.ID)
	}
	complete := s.replicaComplete(p)
	h.Replica = complete
	switch d, down := s.div.Load(), s.down.Load(); {
	case d != nil:
		h.State, h.Reason, h.Since = eir.StoreDiverged, d.reason, d.since
		h.Serving = complete
	case down != 0:
		h.State, h.Since = eir.StoreStale, time.Unix(0, down)
		h.Reason = "redis is unreachable; answering from the lists held"
		h.Serving = complete && s.replicaServes()
		if !h.Serving {
			h.State, h.Reason = eir.StoreUnavailable, "redis is unreachable and the lists held are not complete or older than store.max_stale"
		}
	case p != nil && s.unconfirmable.Load() && !s.replicaServes():
		h.State, h.Reason = eir.StoreUnavailable, "redis answers but the lists in force cannot be confirmed (its manifest cannot be read; see the log): checks read redis"
	case p != nil && s.unverifiedCopy.Load():
		h.State, h.Reason = eir.StoreStale, "answering from the local copy of the lists; redis has not answered yet"
		h.Serving = complete && s.replicaServes()
	default:
		h.Serving = p != nil
	}
	h.Stale = s.staleness()
	return h
}
