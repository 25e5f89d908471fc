package redisstore

import (
	"cmp"
	"math"
	"math/rand"
	"slices"
	"testing"
)

// TestSortByBucket: sortByBucket orders as the comparison of (v%B, v),
// duplicates and extreme values included, and leaves a permutation.
func TestSortByBucket(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, tc := range []struct {
		B   uint64
		top uint64
	}{{1, 99_999_999_999_999}, {7, 1000}, {781_250, 99_999_999_999_999}, {704, 99_999_999}, {3, math.MaxUint64}, {1 << 20, math.MaxUint64 - 5}} {
		vals := make([]uint64, 5000)
		for i := range vals {
			vals[i] = rng.Uint64() % tc.top
			if i%10 == 0 && i > 0 {
				vals[i] = vals[i-1] // duplicates
			}
		}
		vals[0], vals[1] = tc.top, 0
		want := slices.Clone(vals)
		slices.SortFunc(want, func(x, y uint64) int {
			if bx, by := x%tc.B, y%tc.B; bx != by {
				return cmp.Compare(bx, by)
			}
			return cmp.Compare(x, y)
		})
		sortByBucket(vals, tc.B)
		if !slices.Equal(vals, want) {
			t.Fatalf("B %d, top %d: sortByBucket differs from the comparison", tc.B, tc.top)
		}
	}
}
