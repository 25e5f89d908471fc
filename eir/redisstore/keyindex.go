package redisstore

import (
	"math"
	"math/bits"
	"slices"
)

// The replica's sorted keys are looked up through a prefix index: the
// range of the keys (first to last) is cut into len/16 slots of equal
// width, and idx[s] is the position of the first key of slot s. A lookup
// reads one index word and binary-searches the keys of its slot (16 on
// average) instead of the whole array, whose last steps miss the caches
// at 100 million keys (800 MB). The index costs 0.25 bytes per key (4
// bytes per slot). Keys crowded in a few slots (IMEIs of a few TACs in a
// wide range) fall back on a binary search of their slot: never more steps
// than without the index. The keys' range, not their top bits, is cut:
// IMEIs and TACs use the low 47 bits. The slot of x is the high word of
// (x-first)*mult, mult = slots*2^64/(last-first+1): a multiplication, and
// the slots are exactly as many as wanted, not a power of two.
const (
	keysPerSlot = 16
	indexMin    = 256 // below, the keys fit the caches: no index
)

// keyIndex is the prefix index of a sorted []uint64 (see above); the zero
// value is no index.
type keyIndex struct {
	lo   uint64 // the first key
	mult uint64 // the slot of x is (x-lo)*mult / 2^64
	idx  []uint32
}

// newKeyIndex returns the index of the sorted keys (none when they are
// few, or too many for 32-bit positions).
func newKeyIndex(keys []uint64) keyIndex {
	n := len(keys)
	if n < indexMin || uint64(n) > math.MaxUint32 {
		return keyIndex{}
	}
	lo, span := keys[0], keys[n-1]-keys[0]
	slots := uint64(n / keysPerSlot)
	if span < slots {
		slots = span // keys repeated: slots <= span < span+1
	}
	if slots == 0 {
		return keyIndex{}
	}
	mult := slots // span+1 is 2^64
	if span < math.MaxUint64 {
		mult, _ = bits.Div64(slots, 0, span+1)
	}
	idx := make([]uint32, slots+1)
	s := uint64(0)
	for i, x := range keys {
		t, _ := bits.Mul64(x-lo, mult)
		for ; s <= t; s++ {
			idx[s] = uint32(i)
		}
	}
	for ; s <= slots; s++ {
		idx[s] = uint32(n)
	}
	return keyIndex{lo: lo, mult: mult, idx: idx}
}

// find returns what slices.BinarySearch(keys, x) returns, keys being the
// sorted keys the index was built from.
func (k *keyIndex) find(keys []uint64, x uint64) (int, bool) {
	if k.idx == nil {
		return slices.BinarySearch(keys, x)
	}
	if x < k.lo {
		return 0, false
	}
	s, _ := bits.Mul64(x-k.lo, k.mult)
	if s >= uint64(len(k.idx)-1) {
		return len(keys), false
	}
	a, b := int(k.idx[s]), int(k.idx[s+1])
	i, ok := slices.BinarySearch(keys[a:b], x)
	return a + i, ok
}

// find looks x up in l's keys (see keyIndex.find).
func (l *localSet) find(x uint64) (int, bool) { return l.ki.find(l.keys, x) }

// indexKeys builds the index of l's keys, once they are final: every
// localSet that answers lookups goes through it.
func (l *localSet) indexKeys() { l.ki = newKeyIndex(l.keys) }

// radixScratch bounds the scratch buffer of sortKeys: 1 Mi keys, 8 MiB.
const radixScratch = 1 << 20

// sortKeys sorts a like slices.Sort, by radix: larger spans are split in
// place by their top 8 varying bits (American flag sort) until they fit
// the scratch buffer, then sorted by LSD radix passes of 8 bits over the
// bits that vary in the span. Extra memory: min(len(a), 1 Mi) keys.
func sortKeys(a []uint64) {
	if len(a) <= 64 {
		slices.Sort(a)
		return
	}
	sortSpan(a, make([]uint64, min(len(a), radixScratch)))
}

func sortSpan(a, scratch []uint64) {
	if len(a) <= 64 {
		slices.Sort(a)
		return
	}
	var diff uint64 // the bits that vary in a
	for _, x := range a {
		diff |= x ^ a[0]
	}
	if diff == 0 {
		return
	}
	if len(a) <= len(scratch) {
		lsdSort(a, scratch[:len(a)], diff)
		return
	}
	shift := uint(max(bits.Len64(diff)-8, 0))
	var end [256]int
	flagSplit(a, shift, &end)
	start := 0
	for _, e := range end {
		sortSpan(a[start:e], scratch)
		start = e
	}
}

// flagSplit permutes a in place so that the values of digit (x>>shift)&0xff
// come in order, and sets end[d] to the end of digit d's values.
func flagSplit(a []uint64, shift uint, end *[256]int) {
	var next [256]int
	for _, x := range a {
		end[(x>>shift)&0xff]++
	}
	sum := 0
	for d, c := range end {
		next[d] = sum
		sum += c
		end[d] = sum
	}
	for d := range next {
		for next[d] < end[d] {
			x := a[next[d]]
			for dx := (x >> shift) & 0xff; int(dx) != d; dx = (x >> shift) & 0xff {
				x, a[next[dx]] = a[next[dx]], x
				next[dx]++
			}
			a[next[d]] = x
			next[d]++
		}
	}
}

// lsdSort sorts a by 8-bit digits from the lowest varying bit up, skipping
// the digits that do not vary, through buf (len(buf) == len(a)).
func lsdSort(a, buf []uint64, diff uint64) {
	src, dst := a, buf
	for shift := uint(bits.TrailingZeros64(diff)); shift < 64; shift += 8 {
		if (diff>>shift)&0xff == 0 {
			continue
		}
		var pos [256]int
		for _, x := range src {
			pos[(x>>shift)&0xff]++
		}
		sum := 0
		for d, c := range pos {
			pos[d] = sum
			sum += c
		}
		for _, x := range src {
			d := (x >> shift) & 0xff
			dst[pos[d]] = x
			pos[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}
