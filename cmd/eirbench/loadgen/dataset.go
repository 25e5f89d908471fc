package loadgen

import (
	"math/rand/v2"

	"github.com/eir-sidecar/eir/eir"
)

// IMSI prefixes (MCC 001, test network): exception pairs use MNC 01, the
// IMSIs of other requests MNC 02, so that a request never hits an
// exception by chance.
const (
	exceptionIMSIBase = 1_01_0000000000 // 00101xxxxxxxxxx
	otherIMSIBase     = 1_02_0000000000 // 00102xxxxxxxxxx
	msinSpace         = 10_000_000_000
)

// Pair is an IMEI–IMSI exception: the IMEI is black-listed, but WHITELISTED
// with this IMSI.
type Pair struct {
	IMEI eir.IMEI
	IMSI uint64 // IMSIDigits digits, leading zeros implied
}

// IMSIString returns the IMSI's digits.
func (p Pair) IMSIString() string { return IMSIString(p.IMSI) }

// IMSIString returns the IMSIDigits digits of an IMSI held as a number.
func IMSIString(v uint64) string { return digits(v, IMSIDigits) }

// Dataset is the generated lists: N IMEIs per list, spread over many TACs
// with random serial numbers (a sparse, stolen-phone-like list), N unknown
// IMEIs on no list, and N exception pairs on the black-listed IMEIs.
type Dataset struct {
	Seed       uint64
	N          int
	Black      []eir.IMEI
	Grey       []eir.IMEI
	White      []eir.IMEI
	Unknown    []eir.IMEI
	Exceptions []Pair // Exceptions[i].IMEI == Black[i]
}

// Generate returns the lists for seed and n, always the same for the same
// arguments: n IMEIs on each of black, grey and white, n IMEIs on no list,
// all distinct, and one exception pair per black-listed IMEI. TACs are
// random 8-digit codes, about 200 IMEIs each (at most 5,000 TACs); serial
// numbers are uniform.
func Generate(seed uint64, n int) *Dataset {
	if n < 1 {
		n = 1
	}
	rng := rand.New(rand.NewPCG(seed, 0x6569726c6f6164)) // "eirload"
	total := 4 * n
	ntac := min(max(total/200, 8), 5000)
	tacs := make([]uint64, ntac)
	for i := range tacs {
		tacs[i] = 10_000_000 + rng.Uint64N(90_000_000)
	}
	seen := make(map[eir.IMEI]struct{}, total)
	draw := func() []eir.IMEI {
		out := make([]eir.IMEI, 0, n)
		for len(out) < n {
			v := eir.IMEI(tacs[rng.IntN(ntac)]*1_000_000 + rng.Uint64N(1_000_000))
			if _, dup := seen[v]; dup {
				continue
			}
			seen[v] = struct{}{}
			out = append(out, v)
		}
		return out
	}
	d := &Dataset{Seed: seed, N: n}
	d.Black = draw()
	d.Grey = draw()
	d.White = draw()
	d.Unknown = draw()
	d.Exceptions = make([]Pair, n)
	for i, imei := range d.Black {
		d.Exceptions[i] = Pair{IMEI: imei, IMSI: exceptionIMSIBase + rng.Uint64N(msinSpace)}
	}
	return d
}

// list returns the IMEIs requests of category c draw from.
func (d *Dataset) list(c Category) []eir.IMEI {
	switch c {
	case Black, Exception:
		return d.Black
	case Grey:
		return d.Grey
	case White:
		return d.White
	}
	return d.Unknown
}

// span returns the indexes [lo, lo+n) of d.list(c) that requests of
// category c draw from. The black-listed IMEIs are split: the first half
// is drawn as black (with their subscriber's IMSI), the second as
// exception (with the exception's IMSI), so that no device is used by two
// SIMs at once, which eird's observations would rightly flag as a clone
// (concurrent use). A list of one IMEI is drawn whole by both.
func (d *Dataset) span(c Category) (lo, n int) {
	n = len(d.list(c))
	half := n / 2
	switch {
	case half == 0:
		return 0, n
	case c == Black:
		return 0, half
	case c == Exception:
		return half, n - half
	}
	return 0, n
}

// subscriberIMSI returns the IMSI that uses the idx-th IMEI of category
// cat, never in an exception pair: each device has its SIM, as a network
// sees it (a random IMSI per request would make every check a new
// IMEI–IMSI pair for eird's observations, which no network does).
func subscriberIMSI(cat Category, idx int) uint64 {
	h := (uint64(cat)<<32 | uint64(idx)) * 0x9E3779B97F4A7C15
	return otherIMSIBase + (h>>16)%msinSpace
}
