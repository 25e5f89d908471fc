package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Category is a kind of request, by what the EIR should answer.
type Category uint8

// Categories.
const (
	Black     Category = iota // a black-listed IMEI: 2001, Equipment-Status 1
	Grey                      // a grey-listed IMEI: 2001, Equipment-Status 2
	White                     // a white-listed IMEI: 2001, Equipment-Status 0
	Unknown                   // an IMEI on no list: Experimental-Result 5422
	Exception                 // a black-listed IMEI with its exception IMSI: 2001, Equipment-Status 0
	numCategories
)

var categoryNames = [numCategories]string{"black", "grey", "white", "unknown", "exception"}

// String returns the category's name as used in -mix.
func (c Category) String() string {
	if c < numCategories {
		return categoryNames[c]
	}
	return fmt.Sprintf("category(%d)", uint8(c))
}

// Expect returns the answer the category must get: the Equipment-Status
// with Result-Code 2001, or -1 and Experimental-Result-Code 5422.
func (c Category) Expect() (status int, experimental uint32) {
	switch c {
	case Black:
		return 1, 0
	case Grey:
		return 2, 0
	case White, Exception:
		return 0, 0
	}
	return -1, resultUnknownEq
}

// Matches reports whether a is the answer category c expects.
func (c Category) Matches(a Answer) bool {
	status, exp := c.Expect()
	if exp != 0 {
		return a.ResultCode == 0 && a.ExperimentalResultCode == exp && a.EquipmentStatus < 0 && !a.ErrorBit
	}
	return a.ResultCode == resultSuccess && a.ExperimentalResultCode == 0 && a.EquipmentStatus == status && !a.ErrorBit
}

// DefaultMix is the mix used when none is given: mostly unknown equipment,
// as on a live network where most devices are on no list.
const DefaultMix = "black=5,grey=3,white=2,unknown=85,exception=5"

// Mix is the relative weight of each category.
type Mix [numCategories]float64

// ParseMix parses "name=weight,..." (names: black, grey, white, unknown,
// exception; weights are non-negative numbers, at least one positive).
// Categories left out weigh 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	total := 0.0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return Mix{}, fmt.Errorf("loadgen: mix %q: want name=weight", part)
		}
		c := numCategories
		for i, n := range categoryNames {
			if strings.EqualFold(strings.TrimSpace(name), n) {
				c = Category(i)
			}
		}
		if c == numCategories {
			return Mix{}, fmt.Errorf("loadgen: mix: unknown category %q: want black, grey, white, unknown or exception", name)
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return Mix{}, fmt.Errorf("loadgen: mix: %s: weight %q: want a number >= 0", name, value)
		}
		m[c] = w
		total += w
	}
	if total <= 0 {
		return Mix{}, fmt.Errorf("loadgen: mix %q: no positive weight", s)
	}
	return m, nil
}

// check reports a mix that cannot draw: a negative weight, or none positive.
func (m Mix) check() error {
	total := 0.0
	for _, w := range m {
		if w < 0 {
			return errors.New("mix: negative weight")
		}
		total += w
	}
	if total <= 0 {
		return errors.New("mix: no positive weight")
	}
	return nil
}

// String returns the mix in the form ParseMix reads.
func (m Mix) String() string {
	var parts []string
	for c, w := range m {
		if w > 0 {
			parts = append(parts, categoryNames[c]+"="+strconv.FormatFloat(w, 'g', -1, 64))
		}
	}
	return strings.Join(parts, ",")
}

// picker draws categories with the mix's weights from 32 random bits.
type picker struct {
	limits [numCategories]uint64 // cumulative upper bounds in [0, 2^32]
}

func newPicker(m Mix) picker {
	total := 0.0
	for _, w := range m {
		total += w
	}
	var p picker
	cum := 0.0
	for c, w := range m {
		cum += w
		p.limits[c] = uint64(cum / total * (1 << 32))
	}
	p.limits[numCategories-1] = 1 << 32
	for c := numCategories - 1; c > 0 && m[c] == 0; c-- {
		// keep rounding from giving a zero-weight tail category a draw
		p.limits[c-1] = 1 << 32
	}
	return p
}

// pick returns the category for r, a uniform 32-bit value.
func (p *picker) pick(r uint32) Category {
	v := uint64(r)
	for c := Category(0); c < numCategories; c++ {
		if v < p.limits[c] {
			return c
		}
	}
	return numCategories - 1
}
