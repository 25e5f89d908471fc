package sighting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// Interface is the interface a check came in on.
type Interface uint8

// Interfaces, as bits of Interfaces.
const (
	S13 Interface = 1 << iota
	N5G
)

// String returns "s13" or "n5g".
func (i Interface) String() string {
	switch i {
	case S13:
		return "s13"
	case N5G:
		return "n5g"
	}
	return fmt.Sprintf("interface(%d)", uint8(i))
}

// Interfaces is a set of Interface bits: the interfaces a pair was seen on.
type Interfaces uint8

// Has reports whether i is in the set.
func (s Interfaces) Has(i Interface) bool { return uint8(s)&uint8(i) != 0 }

// Answer is the equipment status a check was answered with.
type Answer uint8

// Answers. AnswerUnknown is a refused unknown device (S13 Experimental-Result
// 5422, N5g-eir 404).
const (
	AnswerWhitelisted Answer = iota
	AnswerGreylisted
	AnswerBlacklisted
	AnswerUnknown
)

// AnswerOf returns the Answer of an Equipment-Status.
func AnswerOf(s eir.Status) Answer {
	switch s {
	case eir.Blacklisted:
		return AnswerBlacklisted
	case eir.Greylisted:
		return AnswerGreylisted
	}
	return AnswerWhitelisted
}

// String returns WHITELISTED, GREYLISTED, BLACKLISTED or UNKNOWN.
func (a Answer) String() string {
	switch a {
	case AnswerWhitelisted:
		return "WHITELISTED"
	case AnswerGreylisted:
		return "GREYLISTED"
	case AnswerBlacklisted:
		return "BLACKLISTED"
	case AnswerUnknown:
		return "UNKNOWN"
	}
	return fmt.Sprintf("ANSWER(%d)", uint8(a))
}

// Admitted reports whether the EIR let the device on the network: every
// answer but BLACKLISTED. The registry export counts only these days
// (DIRBS excludes the attempts an operator already blocked). An unknown
// equipment answer (S13 5422, N5g-eir 404) blocks nothing by itself: the
// MME or AMF applies its own policy, and most admit the device, so it is
// admitted here (DIRBS needs exactly those devices to find duplicates).
func (a Answer) Admitted() bool { return a != AnswerBlacklisted }

// Listed reports whether the answer came from the black or grey list.
func (a Answer) Listed() bool { return a == AnswerBlacklisted || a == AnswerGreylisted }

// Observation is one answered check that carried an IMSI.
type Observation struct {
	Time      time.Time // when it was answered; zero: Options.Now()
	IMEI      eir.IMEI  // 14 digits (TAC+SNR)
	IMSI      eir.IMSI
	SVN       string // the 2-digit software version of an IMEISV, "" when not sent
	MSISDN    string // GPSI/MSISDN digits (no "msisdn-" prefix), "" when not sent
	Interface Interface
	Peer      string // MME Origin-Host or AMF instance id
	Answer    Answer
}

// Sentinel errors of Validate.
var (
	ErrInvalidObservation = errors.New("sighting: invalid observation")
)

// Validate reports an observation the store cannot record.
func (o Observation) Validate() error {
	switch {
	case o.IMEI > eir.MaxIMEI:
		return fmt.Errorf("%w: imei over 14 digits", ErrInvalidObservation)
	case o.IMSI == "":
		return fmt.Errorf("%w: no imsi", ErrInvalidObservation)
	case o.Interface != S13 && o.Interface != N5G:
		return fmt.Errorf("%w: interface %d", ErrInvalidObservation, o.Interface)
	case o.Answer > AnswerUnknown:
		return fmt.Errorf("%w: answer %d", ErrInvalidObservation, o.Answer)
	case !o.Time.IsZero() && (o.Time.Unix() < 0 || o.Time.Unix() > math.MaxUint32):
		// The record keeps unix seconds in 32 bits (until 2106).
		return fmt.Errorf("%w: time %v out of range", ErrInvalidObservation, o.Time)
	case len(o.MSISDN) > 15 || !digits(o.MSISDN):
		return fmt.Errorf("%w: msisdn: want up to 15 digits", ErrInvalidObservation)
	}
	if _, err := eir.ParseIMSI(string(o.IMSI)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidObservation, err)
	}
	if _, ok := svnByte(o.SVN); !ok {
		return fmt.Errorf("%w: svn %q: want 2 digits", ErrInvalidObservation, o.SVN)
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// noSVN is the record's SVN byte when none was sent.
const noSVN = 0xff

func svnByte(s string) (byte, bool) {
	switch {
	case s == "":
		return noSVN, true
	case len(s) == 2 && digits(s):
		return (s[0]-'0')*10 + s[1] - '0', true
	}
	return 0, false
}

// packBCD packs digits two per byte, the first digit in the low nibble
// (TBCD, TS 29.002), 0xf filling the last high nibble of an odd count.
func packBCD(s string) []byte {
	b := make([]byte, (len(s)+1)/2)
	for i := range b {
		lo := s[2*i] - '0'
		hi := byte(0xf)
		if 2*i+1 < len(s) {
			hi = s[2*i+1] - '0'
		}
		b[i] = hi<<4 | lo
	}
	return b
}

func unpackBCD(b []byte) string {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		if d := c & 0xf; d <= 9 {
			out = append(out, '0'+d)
		}
		if d := c >> 4; d <= 9 {
			out = append(out, '0'+d)
		}
	}
	return string(out)
}

// Day is a calendar day: days since 1970-01-01 in the store's time zone
// (UTC shifted by Options.DayOffset).
type Day int64

// DayOf returns the day of t in the zone UTC+offset.
func DayOf(t time.Time, offset time.Duration) Day {
	s := t.Unix() + int64(offset/time.Second)
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return Day(d)
}

// Time returns the start of d in the zone UTC+offset.
func (d Day) Time(offset time.Duration) time.Time {
	return time.Unix(int64(d)*86400-int64(offset/time.Second), 0).UTC()
}

// Pair is what the store holds about one (IMEI, IMSI) pair.
type Pair struct {
	IMEI       eir.IMEI
	IMSI       eir.IMSI
	FirstSeen  time.Time
	LastSeen   time.Time
	LastDay    Day    // the day of LastSeen, bit 0 of Days and Admitted
	DaysSeen   int    // days seen since FirstSeen (saturates at 65535; may exceed the bitmap's 64 days)
	Days       uint64 // bit k: seen k days before LastDay
	Admitted   uint64 // bit k: admitted (not blocked) k days before LastDay
	SVN        string // last SVN, "" when never sent
	Peer       string // last peer ("" when the name is unknown)
	PeerID     uint32
	Interfaces Interfaces
	MSISDN     string // last MSISDN, "" when never sent
}

// aligned returns b, a bitmap relative to p.LastDay, relative to today (bit
// k = k days before today), keeping the days of the last n days only.
func (p Pair) aligned(b uint64, today Day, n int) uint64 {
	shift := int64(today - p.LastDay)
	switch {
	case shift >= 64 || shift <= -64:
		return 0
	case shift >= 0:
		b <<= uint(shift)
	default:
		b >>= uint(-shift)
	}
	if n < 64 {
		b &= 1<<uint(n) - 1
	}
	return b
}

// SeenOn reports whether the pair was seen on day d (within the 64 days
// before LastDay).
func (p Pair) SeenOn(d Day) bool { return p.aligned(p.Days, d, 1) != 0 }

// AdmittedOn reports whether the pair was seen and admitted on day d.
func (p Pair) AdmittedOn(d Day) bool { return p.aligned(p.Admitted, d, 1) != 0 }

// daysIn returns the number of days of the last n days (up to today) the
// pair was seen on.
func (p Pair) daysIn(today Day, n int) int { return bits.OnesCount64(p.aligned(p.Days, today, n)) }

// decodePair decodes a record (see scripts.go) into p, except the peer name.
func decodePair(imei eir.IMEI, imsi string, v []byte, offset time.Duration) (Pair, error) {
	if len(v) < recordFixed {
		return Pair{}, fmt.Errorf("sighting: record of %d bytes, want at least %d", len(v), recordFixed)
	}
	be := binary.BigEndian
	p := Pair{
		IMEI:       imei,
		IMSI:       eir.IMSI(imsi),
		FirstSeen:  time.Unix(int64(be.Uint32(v[0:])), 0).UTC(),
		LastSeen:   time.Unix(int64(be.Uint32(v[4:])), 0).UTC(),
		DaysSeen:   int(be.Uint16(v[8:])),
		Days:       be.Uint64(v[10:]),
		Admitted:   be.Uint64(v[18:]),
		PeerID:     be.Uint32(v[27:]),
		Interfaces: Interfaces(v[31] &^ flagSiblings),
		MSISDN:     unpackBCD(v[32:]),
	}
	if s := v[26]; s != noSVN {
		p.SVN = string([]byte{'0' + s/10, '0' + s%10})
	}
	p.LastDay = DayOf(p.LastSeen, offset)
	return p, nil
}

// lastSeenOf returns the last seen time of a record, for filtering.
func lastSeenOf(v []byte) int64 {
	if len(v) < 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint32(v[4:]))
}
