package redisstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"slices"
	"testing"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/redisstore/snapshot"
)

// scaleKeys returns n sorted distinct IMEIs spread as eirbench scale's
// blacklist (20,000 per TAC from TAC 01000000, 2 % of each TAC's serials).
func scaleKeys(n int) []uint64 {
	keys := make([]uint64, n)
	for j := range keys {
		x := uint64(j)
		keys[j] = (1_000_000+x/20_000)*1_000_000 + (x%20_000)*50 + splitmix(x)%50
	}
	return keys
}

// zipfKeys returns about n sorted distinct IMEIs crowded in a few TACs of
// a wide range, as SyntheticIMEIs (5,000 TACs, Zipf-distributed).
func zipfKeys(n int, seed int64) []uint64 {
	rng := rand.New(rand.NewSource(seed))
	tacs := make([]uint64, 5000)
	for i := range tacs {
		tacs[i] = 35_000_000 + uint64(rng.Intn(60_000_000))
	}
	zipf := rand.NewZipf(rng, 1.2, 8, uint64(len(tacs)-1))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = tacs[zipf.Uint64()]*1_000_000 + uint64(rng.Intn(1_000_000))
	}
	sortKeys(keys)
	return slices.Compact(keys)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// TestKeyIndexFind: a lookup through the index returns what a binary
// search of the keys returns, for every key, its neighbours, the extremes
// and random values, on random and adversarial key sets.
func TestKeyIndexFind(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	random := func(n int, mask uint64) []uint64 {
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = rng.Uint64() & mask
		}
		slices.Sort(keys)
		return slices.Compact(keys)
	}
	clustered := append(random(5000, 0xfff), math.MaxUint64-1, math.MaxUint64) // a dense cluster and two far keys
	equalTop := random(3000, 0xffff)
	for i := range equalTop {
		equalTop[i] |= 0xabcd_ef01_2345_0000 // all share the top 48 bits
	}
	sets := map[string][]uint64{
		"empty":         nil,
		"one":           {42},
		"one max":       {math.MaxUint64},
		"below index":   random(indexMin-1, math.MaxUint64),
		"at index":      random(indexMin, math.MaxUint64),
		"random 64-bit": random(20_000, math.MaxUint64),
		"random 20-bit": random(20_000, 1<<20-1),
		"equal top":     equalTop,
		"from 0 to max": append(append([]uint64{0}, random(4000, math.MaxUint64>>1)...), math.MaxUint64),
		"clustered":     clustered,
		"dense": func() []uint64 {
			k := make([]uint64, 1000)
			for i := range k {
				k[i] = uint64(i)
			}
			return k
		}(),
		"scale IMEIs": scaleKeys(50_000),
		"zipf IMEIs":  zipfKeys(50_000, 2),
	}
	for name, keys := range sets {
		ki := newKeyIndex(keys)
		if len(keys) >= indexMin && ki.idx == nil {
			t.Errorf("%s: %d keys, no index", name, len(keys))
		}
		if len(ki.idx)*4 > len(keys)/4+8 {
			t.Errorf("%s: index of %d words for %d keys, over 0.25 B per key", name, len(ki.idx), len(keys))
		}
		qs := []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 1}
		for _, k := range keys {
			qs = append(qs, k, k-1, k+1)
		}
		for range 2000 {
			qs = append(qs, rng.Uint64())
			if len(keys) > 0 {
				lo, span := keys[0], keys[len(keys)-1]-keys[0]
				if span < math.MaxUint64 {
					span++
				}
				qs = append(qs, lo+rng.Uint64()%span)
			}
		}
		for _, x := range qs {
			i, ok := ki.find(keys, x)
			wi, wok := slices.BinarySearch(keys, x)
			if i != wi || ok != wok {
				t.Fatalf("%s: find(%d) = %d, %v; binary search %d, %v", name, x, i, ok, wi, wok)
			}
		}
	}
}

// TestLocalSetsIndexed: the copies built from a Redis read's values, from
// a local copy and with an overlay applied are indexed.
func TestLocalSetsIndexed(t *testing.T) {
	keys := scaleKeys(1000)
	vals := map[uint64]string{}
	for _, k := range keys {
		vals[k] = "x"
	}
	var fromValues localSet
	fromValues.setValues(vals, false)
	imeis := planEntry{ds: eir.Dataset{Target: eir.TargetIMEI}}
	fromCopy := fromSet(&snapshot.Set{Keys: keys}, imeis, 1, false)
	ov := &localSet{version: 2}
	ov.setValues(map[uint64]string{keys[0]: "", 7: "1"}, false)
	merged := localDS{base: fromCopy, ov: ov}.merged(imeis, 3)
	for name, l := range map[string]*localSet{"values": &fromValues, "local copy": fromCopy, "merged": merged} {
		if l.ki.idx == nil {
			t.Errorf("%s: %d keys, no index", name, len(l.keys))
		}
		for _, x := range append(slices.Clone(keys), 7, 8) {
			i, ok := l.find(x)
			if wi, wok := slices.BinarySearch(l.keys, x); i != wi || ok != wok {
				t.Fatalf("%s: find(%d) = %d, %v; binary search %d, %v", name, x, i, ok, wi, wok)
			}
		}
	}
}

// TestSortKeys: sortKeys sorts as slices.Sort, through both of its ways
// (the in-place split when the scratch buffer is small, LSD passes).
func TestSortKeys(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	gens := map[string]func(n int) []uint64{
		"random": func(n int) []uint64 {
			a := make([]uint64, n)
			for i := range a {
				a[i] = rng.Uint64()
			}
			return a
		},
		"small values, duplicates": func(n int) []uint64 {
			a := make([]uint64, n)
			for i := range a {
				a[i] = uint64(rng.Intn(300))
			}
			return a
		},
		"IMEIs with extremes": func(n int) []uint64 {
			a := zipfKeys(n, rng.Int63())
			rng.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
			return append(a, 0, math.MaxUint64, math.MaxUint64, 0)
		},
		"sorted, reversed": func(n int) []uint64 {
			a := scaleKeys(n)
			slices.Reverse(a)
			return a
		},
		"all equal": func(n int) []uint64 { return slices.Repeat([]uint64{7}, n) },
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 2, 64, 65, 1000, 30_000} {
			for _, scratch := range []int{0, 100, 5000, radixScratch} {
				a := gen(n)
				want := slices.Clone(a)
				slices.Sort(want)
				if scratch == 0 {
					sortKeys(a)
				} else {
					sortSpan(a, make([]uint64, scratch))
				}
				if !slices.Equal(a, want) {
					t.Fatalf("%s, %d values, scratch %d: not sorted as slices.Sort", name, n, scratch)
				}
			}
		}
	}
}

// FuzzSortKeys: sortKeys and sortSpan with a small scratch buffer sort any
// values as slices.Sort.
func FuzzSortKeys(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(make([]byte, 8*100))
	f.Fuzz(func(t *testing.T, b []byte) {
		a := make([]uint64, len(b)/8)
		for i := range a {
			a[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		want := slices.Clone(a)
		slices.Sort(want)
		c := slices.Clone(a)
		sortKeys(a)
		sortSpan(c, make([]uint64, 70))
		if !slices.Equal(a, want) || !slices.Equal(c, want) {
			t.Fatalf("%d values: not sorted as slices.Sort", len(a))
		}
		ki := newKeyIndex(want)
		for _, x := range append(slices.Clone(want), 0, math.MaxUint64) {
			i, ok := ki.find(want, x)
			if wi, wok := slices.BinarySearch(want, x); i != wi || ok != wok {
				t.Fatalf("find(%d) = %d, %v; binary search %d, %v", x, i, ok, wi, wok)
			}
		}
	})
}

// benchSizes are the key counts of the benchmarks below: 100 million (800
// MB of keys) only with EIR_BENCH_LARGE=1.
func benchSizes(small int) []int {
	if os.Getenv("EIR_BENCH_LARGE") == "1" {
		return []int{small, 100_000_000}
	}
	return []int{small}
}

// BenchmarkKeyLookup: one replica lookup, half of them keys held, half
// absent values in the keys' range, by binary search of the whole array
// ("binary") and through the prefix index ("index").
func BenchmarkKeyLookup(b *testing.B) {
	for _, n := range benchSizes(1_000_000) {
		for _, dist := range []string{"scale", "zipf"} {
			var keys []uint64
			if dist == "scale" {
				keys = scaleKeys(n)
			} else {
				keys = zipfKeys(n, 1)
			}
			rng := rand.New(rand.NewSource(4))
			qs := make([]uint64, 1<<20)
			lo, hi := keys[0], keys[len(keys)-1]
			for i := range qs {
				if i%2 == 0 {
					qs[i] = keys[rng.Intn(len(keys))]
				} else {
					qs[i] = lo + rng.Uint64()%(hi-lo+1)
				}
			}
			ki := newKeyIndex(keys)
			for _, way := range []string{"binary", "index"} {
				b.Run(fmt.Sprintf("%s/%dM/%s", dist, n/1_000_000, way), func(b *testing.B) {
					found := 0
					for i := 0; b.Loop(); i++ {
						var ok bool
						if way == "binary" {
							_, ok = slices.BinarySearch(keys, qs[i&(len(qs)-1)])
						} else {
							_, ok = ki.find(keys, qs[i&(len(qs)-1)])
						}
						if ok {
							found++
						}
					}
					b.ReportMetric(float64(len(ki.idx)*4)/float64(len(keys)), "index-B/key")
				})
			}
			keys, qs = nil, nil
		}
	}
}

// BenchmarkTACLookup: one lookup of a TAC rule, as eirbench scale's
// checks make (the TACs of the load, 35000000 to 94999999, in a list of
// TACs spread over 00000000-99999999 but 01000000-02999999): 90,000 TACs
// in its 1 M run, 9,000,000 in its 100 M run.
func BenchmarkTACLookup(b *testing.B) {
	rng := rand.New(rand.NewSource(5))
	for _, n := range []int{90_000, 9_000_000} {
		keys := make([]uint64, 0, n)
		for len(keys) < n {
			if t := uint64(rng.Intn(100_000_000)); t < 1_000_000 || t >= 3_000_000 {
				keys = append(keys, t)
			}
		}
		sortKeys(keys)
		keys = slices.Compact(keys)
		qs := make([]uint64, 1<<20)
		for i := range qs {
			qs[i] = 35_000_000 + uint64(rng.Intn(60_000_000))
		}
		ki := newKeyIndex(keys)
		for _, way := range []string{"binary", "index"} {
			b.Run(fmt.Sprintf("%d/%s", n, way), func(b *testing.B) {
				found := 0
				for i := 0; b.Loop(); i++ {
					var ok bool
					if way == "binary" {
						_, ok = slices.BinarySearch(keys, qs[i&(len(qs)-1)])
					} else {
						_, ok = ki.find(keys, qs[i&(len(qs)-1)])
					}
					if ok {
						found++
					}
				}
				b.ReportMetric(float64(found)/float64(b.N), "hits/op")
			})
		}
	}
}

// BenchmarkSortKeys: sorting a replica's keys as loaded from Redis (bucket
// by bucket: key = member*B + bucket, B = n/128) by slices.Sort and by
// sortKeys; and building the index of the sorted keys.
func BenchmarkSortKeys(b *testing.B) {
	for _, n := range benchSizes(10_000_000) {
		keys := scaleKeys(n)
		B := uint64(n / 128)
		loaded := keys // the order of a load: bucket by bucket, each bucket's members ascending
		sortByBucket(loaded, B)
		keys = nil
		a := make([]uint64, n)
		b.Run(fmt.Sprintf("%dM/index", n/1_000_000), func(b *testing.B) {
			copy(a, loaded)
			sortKeys(a)
			for b.Loop() {
				newKeyIndex(a)
			}
		})
		for _, way := range []string{"slices.Sort", "radix"} {
			b.Run(fmt.Sprintf("%dM/%s", n/1_000_000, way), func(b *testing.B) {
				for b.Loop() {
					copy(a, loaded)
					if way == "radix" {
						sortKeys(a)
					} else {
						slices.Sort(a)
					}
				}
			})
		}
	}
}
