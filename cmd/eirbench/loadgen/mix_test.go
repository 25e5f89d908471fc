package loadgen

import (
	"math"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Mix
		wantErr string
	}{
		{"default", DefaultMix, Mix{5, 3, 2, 85, 5}, ""},
		{"partial, spaces, case", " Black=1 , unknown=0.5", Mix{1, 0, 0, 0.5, 0}, ""},
		{"unknown name", "red=1", Mix{}, "unknown category"},
		{"negative", "black=-1,white=2", Mix{}, "weight"},
		{"not a number", "black=x", Mix{}, "weight"},
		{"no equals", "black", Mix{}, "name=weight"},
		{"all zero", "black=0", Mix{}, "no positive weight"},
		{"empty", "", Mix{}, "no positive weight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMix(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			again, err := ParseMix(got.String())
			if err != nil || again != got {
				t.Fatalf("String() %q does not parse back: %v", got.String(), err)
			}
		})
	}
}

// TestPicker draws over an even grid of the 32-bit range: each category's
// share is its weight's, and a zero weight is never drawn.
func TestPicker(t *testing.T) {
	m := Mix{5, 3, 0, 85, 5}
	p := newPicker(m)
	var counts [numCategories]float64
	const n = 1 << 20
	for i := range n {
		counts[p.pick(uint32(i<<12))]++
	}
	total := 98.0
	for c := range numCategories {
		want := m[c] / total
		if got := counts[c] / n; math.Abs(got-want) > 0.001 {
			t.Errorf("%s: share %.4f, want %.4f", c, got, want)
		}
	}
	if counts[White] != 0 {
		t.Error("zero-weight category drawn")
	}
	single := newPicker(Mix{0, 0, 0, 1, 0})
	if got := single.pick(math.MaxUint32); got != Unknown {
		t.Errorf("single category: drew %s", got)
	}
}
