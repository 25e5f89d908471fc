package loadgen

import (
	"slices"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

func TestGenerate(t *testing.T) {
	d := Generate(3, 2000)
	again := Generate(3, 2000)
	other := Generate(4, 2000)
	if !slices.Equal(d.Black, again.Black) || !slices.Equal(d.Unknown, again.Unknown) || !slices.Equal(d.Exceptions, again.Exceptions) {
		t.Fatal("same seed, different lists")
	}
	if slices.Equal(d.Black, other.Black) {
		t.Fatal("different seeds, same lists")
	}
	seen := map[eir.IMEI]bool{}
	tacs := map[eir.TAC]bool{}
	for _, l := range [][]eir.IMEI{d.Black, d.Grey, d.White, d.Unknown} {
		if len(l) != 2000 {
			t.Fatalf("list of %d", len(l))
		}
		for _, v := range l {
			if seen[v] {
				t.Fatalf("IMEI %s twice", v)
			}
			if v > eir.MaxIMEI || v.TAC() < 10_000_000 {
				t.Fatalf("IMEI %s out of range", v)
			}
			seen[v] = true
			tacs[v.TAC()] = true
		}
	}
	if len(tacs) < 20 {
		t.Fatalf("only %d TACs", len(tacs))
	}
	for i, p := range d.Exceptions {
		if p.IMEI != d.Black[i] || !strings.HasPrefix(p.IMSIString(), "00101") || len(p.IMSIString()) != IMSIDigits {
			t.Fatalf("exception %d: %+v (%s)", i, p, p.IMSIString())
		}
		if _, err := eir.ParseIMSI(p.IMSIString()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSpanOneSIMPerDevice: black and exception requests draw disjoint
// halves of the black-listed IMEIs, so no IMEI is sent with two IMSIs.
func TestSpanOneSIMPerDevice(t *testing.T) {
	d := &Dataset{Black: make([]eir.IMEI, 5), Grey: make([]eir.IMEI, 3)}
	for _, tc := range []struct {
		c     Category
		lo, n int
	}{{Black, 0, 2}, {Exception, 2, 3}, {Grey, 0, 3}} {
		if lo, n := d.span(tc.c); lo != tc.lo || n != tc.n {
			t.Errorf("%v: [%d, +%d), want [%d, +%d)", tc.c, lo, n, tc.lo, tc.n)
		}
	}
	one := &Dataset{Black: make([]eir.IMEI, 1)}
	if lo, n := one.span(Exception); lo != 0 || n != 1 {
		t.Errorf("one black IMEI: exception [%d, +%d)", lo, n)
	}
}
