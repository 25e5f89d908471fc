package storetest

import (
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

func testEmpty(t *testing.T, s Store) {
	expectHits(t, s, 35209900176148, "001010000000001")
	d, err := s.Datasets(ctx(t))
	if err != nil || len(d) != 0 {
		t.Fatalf("datasets of an empty store: %v %v", d, err)
	}
}

func testIMEILists(t *testing.T, s Store) {
	apply(t, s,
		eir.Change{Dataset: ds("manual", eir.TargetIMEI, eir.ListBlack), Add: imeis(35209900176148, 1)},
		eir.Change{Dataset: ds("manual", eir.TargetIMEI, eir.ListGrey), Add: imeis(49015420323751)},
		eir.Change{Dataset: ds("manual", eir.TargetIMEI, eir.ListWhite), Add: imeis(26053179311383, eir.MaxIMEI)},
		eir.Change{Dataset: ds("manual", eir.TargetIMEI, eir.ListOverride), Add: imeis(26053179311383)},
	)
	expectHits(t, s, 35209900176148, "", "manual/imei/black")
	expectHits(t, s, 1, "", "manual/imei/black")
	expectHits(t, s, 49015420323751, "", "manual/imei/grey")
	expectHits(t, s, 26053179311383, "", "manual/imei/white", "manual/imei/override")
	expectHits(t, s, eir.MaxIMEI, "", "manual/imei/white")
	expectHits(t, s, 35209900176149, "")
	expectHits(t, s, 0, "")
}

func testTAC(t *testing.T, s Store) {
	apply(t, s, eir.Change{Dataset: ds("national", eir.TargetTAC, eir.ListBlack), Add: []eir.Entry{{TAC: 1001001}, {TAC: 35209900}}})
	expectHits(t, s, 1001001123456, "", "national/tac/black") // TAC 01001001
	expectHits(t, s, 35209900000000, "", "national/tac/black")
	expectHits(t, s, 35209900999999, "", "national/tac/black")
	expectHits(t, s, 35209901000000, "")
	expectHits(t, s, 10010011234567, "") // TAC 10010011: the leading zero matters
}

func testRanges(t *testing.T, s Store) {
	r := func(from, to eir.IMEI) eir.Entry { return eir.Entry{From: from, To: to} }
	d := ds("gsma", eir.TargetRange, eir.ListBlack)
	apply(t, s, eir.Change{Dataset: d, Add: []eir.Entry{
		r(10000000000000, 10000000000099),
		r(10000000000050, 10000000000200), // overlaps the first
		r(10000000000100, 10000000000120), // inside the second
		r(20000000000000, 20000000000000), // a single IMEI
		r(30000000000000, 30000000000009),
		r(30000000000010, 30000000000019), // adjacent
	}})
	for _, c := range []struct {
		imei eir.IMEI
		hit  bool
	}{
		{9999999999999, false}, {10000000000000, true}, {10000000000099, true}, {10000000000150, true},
		{10000000000200, true}, {10000000000201, false}, {20000000000000, true}, {19999999999999, false},
		{20000000000001, false}, {30000000000009, true}, {30000000000010, true}, {30000000000019, true},
		{30000000000020, false}, {0, false}, {eir.MaxIMEI, false},
	} {
		if got := hitsOf(t, s, c.imei, "")[d.String()]; got != c.hit {
			t.Errorf("%s: hit %v, want %v", c.imei, got, c.hit)
		}
	}
	// Removing one of two overlapping ranges keeps the other.
	apply(t, s, eir.Change{Dataset: d, Remove: []eir.Entry{r(10000000000050, 10000000000200)}})
	for _, c := range []struct {
		imei eir.IMEI
		hit  bool
	}{{10000000000099, true}, {10000000000100, true}, {10000000000150, false}, {10000000000121, false}} {
		if got := hitsOf(t, s, c.imei, "")[d.String()]; got != c.hit {
			t.Errorf("after removal %s: hit %v, want %v", c.imei, got, c.hit)
		}
	}
}

func testPairs(t *testing.T, s Store) {
	d := ds("national", eir.TargetPair, eir.ListException)
	apply(t, s, eir.Change{Dataset: d, Add: []eir.Entry{
		{IMEI: 35209900176148, IMSI: "111018001111111"},
		{IMEI: 35209900176148, IMSI: "111018001111112"},
		{IMEI: 49015420323751, IMSI: "00101"},
	}})
	expectHits(t, s, 35209900176148, "111018001111111", d.String())
	expectHits(t, s, 35209900176148, "111018001111112", d.String())
	expectHits(t, s, 35209900176148, "111025111111111")
	expectHits(t, s, 35209900176148, "11101800111111") // a prefix is not a match
	expectHits(t, s, 35209900176148, "")
	expectHits(t, s, 49015420323751, "00101", d.String())
	apply(t, s, eir.Change{Dataset: d, Remove: []eir.Entry{{IMEI: 35209900176148, IMSI: "111018001111111"}}})
	expectHits(t, s, 35209900176148, "111018001111111")
	expectHits(t, s, 35209900176148, "111018001111112", d.String())
}

func testProvenance(t *testing.T, s Store) {
	national, gsma := ds("national", eir.TargetIMEI, eir.ListBlack), ds("gsma", eir.TargetIMEI, eir.ListBlack)
	apply(t, s, eir.Change{Dataset: national, Add: imeis(35209900176148)}, eir.Change{Dataset: gsma, Add: imeis(35209900176148)})
	expectHits(t, s, 35209900176148, "", "national/imei/black", "gsma/imei/black")
	apply(t, s, eir.Change{Dataset: national, Remove: imeis(35209900176148)})
	expectHits(t, s, 35209900176148, "", "gsma/imei/black")
	apply(t, s, eir.Change{Dataset: national, Replace: true})
	expectHits(t, s, 35209900176148, "", "gsma/imei/black")
}

func testNotifications(t *testing.T, s Store) {
	d := ds("national", eir.TargetPair, eir.ListGrey)
	apply(t, s, eir.Change{Dataset: d, Add: []eir.Entry{{IMEI: 7, IMSI: "00101"}, {IMEI: 7, IMSI: "00102"}}})
	expectHits(t, s, 7, "", d.String())
	expectHits(t, s, 7, "99999", d.String())
	apply(t, s, eir.Change{Dataset: d, Remove: []eir.Entry{{IMEI: 7, IMSI: "00101"}}})
	expectHits(t, s, 7, "", d.String())
	apply(t, s, eir.Change{Dataset: d, Remove: []eir.Entry{{IMEI: 7, IMSI: "00102"}}})
	expectHits(t, s, 7, "")
}
