package redisstore

import (
	"math/rand"

	"github.com/eir-sidecar/eir/eir"
)

// SyntheticIMEIs returns n distinct IMEIs shaped like a stolen-phone list:
// a few thousand TACs with a skewed popularity (a handful of models account
// for most entries) and random serial numbers. It is used to measure the
// layout (eirbench layout, tests).
func SyntheticIMEIs(n int, seed int64) []eir.Entry {
	rng := rand.New(rand.NewSource(seed))
	tacs := make([]uint64, 5000)
	for i := range tacs {
		tacs[i] = 35_000_000 + uint64(rng.Intn(60_000_000))
	}
	zipf := rand.NewZipf(rng, 1.2, 8, uint64(len(tacs)-1))
	seen := make(map[eir.IMEI]struct{}, n)
	out := make([]eir.Entry, 0, n)
	for len(out) < n {
		v := eir.IMEI(tacs[zipf.Uint64()]*1_000_000 + uint64(rng.Intn(1_000_000)))
		if _, ok := seen[v]; ok {
			continue
		}
		seen[v] = struct{}{}
		out = append(out, eir.Entry{IMEI: v})
	}
	return out
}
