package redisstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eir-sidecar/eir/eir"
)

// Batching the reads of checks.
//
// A check that reads Redis (the replica off or not fresh, or a dataset
// beyond Options.ReplicaMaxEntries) is a lookup: the query, the plan and
// the datasets to read. While Run runs, batchSenders senders each take
// every lookup queued (up to maxBatch) and send them as one pipeline: the
// epoch once, then each lookup's commands. Each check then reads its own
// replies. There is no timer: a lookup queued while a sender is idle is
// sent at once, and the lookups that arrive while pipelines are out go in
// the next one. Batches grow with the load, and an idle eird adds no
// latency. Without Run (tests, tools) a check sends its own pipeline
// through the same code (lookUp), and reads its replies the same way
// (lookup.result): there is one copy of the rules.
const (
	batchSenders = 2    // pipelines out at once
	maxBatch     = 256  // lookups per pipeline
	batchQueue   = 4096 // lookups waiting; beyond, a check waits under its deadline
)

// States of a queued lookup: a sender takes it, or its check withdraws it
// (deadline, shutdown), whichever comes first.
const (
	lookupQueued int32 = iota
	lookupTaken
	lookupWithdrawn
)

// lookup is the Redis read of one check.
type lookup struct {
	ctx     context.Context
	q       eir.Query
	p       *plan
	entries []planEntry // the datasets read
	// exact: the epoch is read with the datasets, and a switch since p was
	// loaded repeats the read on the new manifest (matchExact).
	exact bool
	cmds  []lookupCmds // the commands, one per entry
	err   error        // the read failed as a whole (transport, epoch, manifest)
	own   []planEntry  // storage of entries when they are not p.entries
	// pipe holds the commands, queued by the check (queueAll) so that the
	// senders only send.
	pipe  redis.Pipeliner
	state atomic.Int32
	done  chan struct{} // a sender answered: buffered, signalled once
	one   [1]*lookup
}

func (s *Store) getLookup() *lookup {
	if l, ok := s.lookups.Get().(*lookup); ok {
		return l
	}
	return &lookup{done: make(chan struct{}, 1), pipe: s.rdb.Pipeline()}
}

// putLookup recycles l; only a lookup no sender can still see.
func (s *Store) putLookup(l *lookup) {
	clear(l.own)
	clear(l.cmds)
	l.pipe.Discard()
	*l = lookup{own: l.own[:0], cmds: l.cmds[:0], pipe: l.pipe, done: l.done}
	s.lookups.Put(l)
}

// queueAll queues the commands of l in l.pipe.
func (s *Store) queueAll(ctx context.Context, l *lookup) {
	l.pipe.Discard()
	l.cmds = l.cmds[:0]
	for i := range l.entries {
		l.cmds = append(l.cmds, s.queue(ctx, l.pipe, &l.entries[i], &l.q))
	}
}

// readRedis reads entries of p for q from Redis (batched while Run runs)
// and appends the datasets that match to hits.
func (s *Store) readRedis(ctx context.Context, q eir.Query, p *plan, l *lookup, exact bool, hits []eir.Hit) ([]eir.Hit, error) {
	l.ctx, l.q, l.p, l.exact = ctx, q, p, exact
	if exact {
		l.entries = p.entries
	} else {
		l.entries = l.own
	}
	s.queueAll(ctx, l)
	if b := s.batch.Load(); b != nil {
		switch out := b.do(l); out {
		case sentAnswered:
		case sentExpired, sentAbandoned:
			err := s.unavailable("match", context.Cause(ctx))
			if out == sentExpired {
				s.putLookup(l)
			}
			return hits, err
		case sentNot, sentWithdrawn:
			l.one[0] = l
			s.lookUp(ctx, l.one[:], nil)
			if out == sentWithdrawn {
				return l.result(s, hits) // still in the queue: not recycled
			}
		}
	} else {
		l.one[0] = l
		s.lookUp(ctx, l.one[:], nil)
	}
	hits, err := l.result(s, hits)
	s.putLookup(l)
	return hits, err
}

// result reads the replies of l's commands: the datasets that match, or
// the error of the read. A command's own error fails this check only.
func (l *lookup) result(s *Store, hits []eir.Hit) ([]eir.Hit, error) {
	if l.err != nil {
		return hits, s.unavailable("match", l.err)
	}
	for _, c := range l.cmds {
		if err := c.err(); err != nil {
			return hits, s.unavailable("match", err)
		}
	}
	now := unixMilli(s.o.Now())
	for i := range l.entries {
		if e := &l.entries[i]; l.cmds[i].matched(e, &l.q, now) {
			hits = append(hits, eir.Hit{Dataset: e.ds})
		}
	}
	return hits, nil
}

// lookUp sends the commands of the lookups ls in one pipeline, after one
// read of the epoch when one of them is exact; an exact lookup whose plan
// is older than the epoch read is repeated (at most twice) on the manifest
// reloaded. Each lookup gets its replies, or its err. all is scratch space,
// returned for reuse.
func (s *Store) lookUp(ctx context.Context, ls []*lookup, all []redis.Cmder) []redis.Cmder {
	s.m.batchSize.Observe(float64(len(ls)))
	for attempt := 0; ; attempt++ {
		all = all[:0]
		var ep *redis.StringCmd
		for _, l := range ls {
			if l.exact {
				ep = redis.NewStringCmd(ctx, "get", s.k.epoch)
				all = append(all, ep)
				break
			}
		}
		for _, l := range ls {
			all = append(all, l.pipe.Cmds()...)
		}
		pipe := s.rdb.Pipeline()
		pipe.BatchProcess(ctx, all...)
		_, err := pipe.Exec(ctx)
		if err == nil || errors.Is(err, redis.Nil) {
			s.answered()
		}
		var seen string
		var epErr error
		if ep != nil {
			if seen, epErr = ep.Val(), ep.Err(); errors.Is(epErr, redis.Nil) {
				epErr = nil
			}
		}
		var again []*lookup
		for _, l := range ls {
			switch {
			case !l.exact:
			case epErr != nil:
				l.err = epErr
			case seen != l.p.epoch && attempt < 2:
				// A switch happened since the manifest was cached.
				again = append(again, l)
			}
		}
		if len(again) == 0 {
			clear(all)
			return all
		}
		p, err := s.refreshPlan(ctx, seen)
		for _, l := range again {
			if l.err = err; err == nil {
				l.p, l.entries = p, p.entries
				s.queueAll(ctx, l)
			}
		}
		if err != nil {
			clear(all)
			return all
		}
		ls = again
	}
}

// err is the error of the commands, a missing field or key aside.
func (c lookupCmds) err() error {
	if c.base != nil {
		if err := c.base.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	if c.ov != nil {
		if err := c.ov.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// batcher is the queue of lookups of a running Store.Run.
type batcher struct {
	queue   chan *lookup
	stopped chan struct{} // closed when Run ends: checks read alone
}

// runBatcher runs the senders until ctx is done.
func (s *Store) runBatcher(ctx context.Context) {
	b := &batcher{queue: make(chan *lookup, batchQueue), stopped: make(chan struct{})}
	var wg sync.WaitGroup
	for range batchSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(ctx, b)
		}()
	}
	s.batch.Store(b)
	<-ctx.Done()
	s.batch.CompareAndSwap(b, nil)
	close(b.stopped)
	wg.Wait()
}

// send takes what is queued, up to maxBatch lookups, sends it as one
// pipeline and answers each lookup, until ctx is done.
func (s *Store) send(ctx context.Context, b *batcher) {
	batch := make([]*lookup, 0, maxBatch)
	var all []redis.Cmder
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-b.queue:
			batch = take(batch, l)
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case l := <-b.queue:
				batch = take(batch, l)
			default:
				break gather
			}
		}
		if len(batch) == 0 {
			continue
		}
		bctx, cancel := batchContext(batch)
		all = s.lookUp(bctx, batch, all)
		cancel()
		for i, l := range batch {
			l.done <- struct{}{}
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

// take adds l to batch unless its check withdrew it; a lookup whose
// deadline passed is answered with its error, unsent.
func take(batch []*lookup, l *lookup) []*lookup {
	if !l.state.CompareAndSwap(lookupQueued, lookupTaken) {
		return batch
	}
	if err := l.ctx.Err(); err != nil {
		l.err = err
		l.done <- struct{}{}
		return batch
	}
	return append(batch, l)
}

// batchContext bounds a pipeline by the latest deadline of its lookups (a
// lookup without one leaves it to redis.read_timeout).
func batchContext(ls []*lookup) (context.Context, context.CancelFunc) {
	var last time.Time
	for _, l := range ls {
		d, ok := l.ctx.Deadline()
		if !ok {
			return context.Background(), func() {}
		}
		if d.After(last) {
			last = d
		}
	}
	return context.WithDeadline(context.Background(), last)
}

// Outcomes of batcher.do.
const (
	sentAnswered  = iota // a sender answered l
	sentNot              // not queued (Run ended): read alone
	sentWithdrawn        // queued, withdrawn at the end of Run: read alone, l stays referenced by the queue
	sentExpired          // the deadline passed before l was queued
	sentAbandoned        // the deadline passed while l was queued or sent: l stays referenced
)

// do queues l and waits for its answer, under l's deadline.
func (b *batcher) do(l *lookup) int {
	select {
	case b.queue <- l:
	case <-l.ctx.Done():
		return sentExpired
	case <-b.stopped:
		return sentNot
	}
	select {
	case <-l.done:
		return sentAnswered
	case <-l.ctx.Done():
		select {
		case <-l.done:
			return sentAnswered
		default:
		}
		l.state.CompareAndSwap(lookupQueued, lookupWithdrawn)
		return sentAbandoned
	case <-b.stopped:
		if l.state.CompareAndSwap(lookupQueued, lookupWithdrawn) {
			return sentWithdrawn
		}
		<-l.done // a sender took it: it finishes its pipeline before it stops
		return sentAnswered
	}
}
