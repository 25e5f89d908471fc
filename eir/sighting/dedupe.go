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
// Its maps hold no pointers (the IMSI as a number, see imsiKey), so that
// the garbage collector does not scan a million entries on every cycle.
// Not safe for concurrent use: Store serializes it with its mutex.
type dedupe struct {
	max       int
	cur, prev map[uint64]dedupeEntry
}

// imsiKey is imsi as a number, its length in the top byte (so that
// "001..." and "01..." differ). The store validated imsi: up to 15 digits.
func imsiKey(imsi eir.IMSI) uint64 {
	var v uint64
	for i := 0; i < len(imsi); i++ {
		v = v*10 + uint64(imsi[i]-'0')
	}
	return v | uint64(len(imsi))<<56
}

type dedupeEntry struct {
	imei   eir.IMEI
	day    Day
	peer   uint32
	answer Answer
	at     int64 // unix seconds of the write
}

func newDedupe(max int) *dedupe {
	return &dedupe{max: max, cur: make(map[uint64]dedupeEntry)}
}

// fresh reports whether e repeats the last write for imsi within interval
// seconds: same IMEI, day, peer and answer.
func (d *dedupe) fresh(imsi eir.IMSI, e dedupeEntry, interval int64) bool {
	if d == nil {
		return false
	}
	k := imsiKey(imsi)
	last, ok := d.cur[k]
	if !ok {
		last, ok = d.prev[k]
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
		d.prev, d.cur = d.cur, make(map[uint64]dedupeEntry, len(d.cur))
	}
	d.cur[imsiKey(imsi)] = e
}

// forget drops what is known about imsi.
func (d *dedupe) forget(imsi eir.IMSI) {
	if d == nil {
		return
	}
	k := imsiKey(imsi)
	delete(d.cur, k)
	delete(d.prev, k)
}
