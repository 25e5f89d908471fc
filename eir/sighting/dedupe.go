package sighting

import "github.com/eir-sidecar/eir/eir"

// dedupe remembers, per IMSI, the last pair this process wrote, so that a
// subscriber's repeated checks (attach, tracking area updates, handovers
// between MMEs of one pool) do not each cost a Redis write.
//
// It is keyed by IMSI, not by pair, so that a subscriber moving back to an
// IMEI (A, B, A) is written again and the IMSI's current IMEI stays right.
// It holds at most max entries in two generations: when the current one
// reaches max/2 it becomes the previous one and the older is dropped (a
// cheap approximation of LRU; an entry dropped early only costs a write).
// Not safe for concurrent use: Store serializes it with its mutex.
type dedupe struct {
	max       int
	cur, prev map[eir.IMSI]dedupeEntry
}

type dedupeEntry struct {
	imei   eir.IMEI
	day    Day
	peer   uint32
	answer Answer
	at     int64 // unix seconds of the write
}

func newDedupe(max int) *dedupe {
	return &dedupe{max: max, cur: make(map[eir.IMSI]dedupeEntry)}
}

// fresh reports whether e repeats the last write for imsi within interval
// seconds: same IMEI, day, peer and answer.
func (d *dedupe) fresh(imsi eir.IMSI, e dedupeEntry, interval int64) bool {
	if d == nil {
		return false
	}
	last, ok := d.cur[imsi]
	if !ok {
		last, ok = d.prev[imsi]
	}
	return ok && last.imei == e.imei && last.day == e.day && last.peer == e.peer &&
		last.answer == e.answer && e.at >= last.at && e.at-last.at < interval
}

// put records a write for imsi.
func (d *dedupe) put(imsi eir.IMSI, e dedupeEntry) {
	if d == nil {
		return
	}
	if len(d.cur) >= d.max/2 {
		d.prev, d.cur = d.cur, make(map[eir.IMSI]dedupeEntry, len(d.cur))
	}
	d.cur[imsi] = e
}

// forget drops what is known about imsi.
func (d *dedupe) forget(imsi eir.IMSI) {
	if d == nil {
		return
	}
	delete(d.cur, imsi)
	delete(d.prev, imsi)
}
