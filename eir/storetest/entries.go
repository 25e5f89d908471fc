package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

func testListEntries(t *testing.T, s Store) {
	imeiDS := ds("manual", eir.TargetIMEI, eir.ListBlack)
	expDS := eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListGrey, Expiring: true}
	rangeDS := ds("manual", eir.TargetRange, eir.ListBlack)
	pairDS := ds("manual", eir.TargetPair, eir.ListException)
	want := map[eir.Dataset]map[string]bool{imeiDS: {}, expDS: {}, rangeDS: {}, pairDS: {}}
	var many []eir.IMEI
	for i := range 250 {
		v := eir.IMEI(35209900000000 + uint64(i)*7919)
		many = append(many, v)
		want[imeiDS][eir.Entry{IMEI: v}.KeyString(eir.TargetIMEI)] = true
	}
	exp := time.Now().Add(time.Hour).UnixMilli()
	adds := append([]eir.Change{{Dataset: imeiDS, Add: imeis(many...)}},
		eir.Change{Dataset: expDS, Add: []eir.Entry{{IMEI: 1, Expires: exp}, {IMEI: 2}}},
		eir.Change{Dataset: rangeDS, Add: []eir.Entry{{From: 10, To: 20}, {From: 5, To: 7}, {From: 30, To: 40}}},
		eir.Change{Dataset: pairDS, Add: []eir.Entry{{IMEI: 9, IMSI: "00101"}, {IMEI: 9, IMSI: "00102"}, {IMEI: 8, IMSI: "00101"}}},
	)
	apply(t, s, adds...)
	for _, e := range []eir.Entry{{From: 10, To: 20}, {From: 5, To: 7}, {From: 30, To: 40}} {
		want[rangeDS][e.KeyString(eir.TargetRange)] = true
	}
	for _, e := range []eir.Entry{{IMEI: 9, IMSI: "00101"}, {IMEI: 9, IMSI: "00102"}, {IMEI: 8, IMSI: "00101"}} {
		want[pairDS][e.KeyString(eir.TargetPair)] = true
	}
	want[expDS]["00000000000001"], want[expDS]["00000000000002"] = true, true
	for d, keys := range want {
		for _, limit := range []int{1, 2, 7, 1000} {
			got := map[string]bool{}
			cursor, pages := "", 0
			for {
				page, next, err := s.ListEntries(ctx(t), d, cursor, limit)
				if err != nil {
					t.Fatalf("%s limit %d: %v", d, limit, err)
				}
				if len(page) > limit {
					t.Fatalf("%s: page of %d entries over limit %d", d, len(page), limit)
				}
				for _, e := range page {
					k := e.KeyString(d.Target)
					if got[k] {
						t.Fatalf("%s limit %d: %s listed twice", d, limit, k)
					}
					got[k] = true
					if d == expDS && e.IMEI == 1 && e.Expires != exp {
						t.Fatalf("%s: entry 1 listed with expiry %d, want %d", d, e.Expires, exp)
					}
				}
				pages++
				if next == "" {
					break
				}
				if pages > len(keys)+1 {
					t.Fatalf("%s limit %d: cursor never ends", d, limit)
				}
				cursor = next
			}
			if len(got) != len(keys) {
				t.Fatalf("%s limit %d: listed %d entries, want %d", d, limit, len(got), len(keys))
			}
			for k := range keys {
				if !got[k] {
					t.Fatalf("%s limit %d: %s not listed", d, limit, k)
				}
			}
		}
	}
	_, next, err := s.ListEntries(ctx(t), imeiDS, "", 10)
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, %v", next, err)
	}
	apply(t, s, eir.Change{Dataset: imeiDS, Add: imeis(49015420323751)})
	if _, _, err := s.ListEntries(ctx(t), imeiDS, next, 10); !errors.Is(err, eir.ErrCursorStale) {
		t.Fatalf("cursor after a change: %v, want ErrCursorStale", err)
	}
	if page, next, err := s.ListEntries(ctx(t), ds("nobody", eir.TargetIMEI, eir.ListBlack), "", 10); err != nil || len(page) != 0 || next != "" {
		t.Fatalf("absent dataset: %v %q %v", page, next, err)
	}
}

func testEntriesFor(t *testing.T, s Store) {
	const imei = eir.IMEI(35209900176148)
	exp := time.Now().Add(time.Hour).UnixMilli()
	apply(t, s,
		eir.Change{Dataset: ds("manual", eir.TargetIMEI, eir.ListBlack), Add: imeis(imei, 49015420323751)},
		eir.Change{Dataset: eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListGrey, Expiring: true}, Add: []eir.Entry{{IMEI: imei, Expires: exp}}},
		eir.Change{Dataset: ds("ceir", eir.TargetTAC, eir.ListGrey), Add: []eir.Entry{{TAC: imei.TAC()}, {TAC: 49015420}}},
		eir.Change{Dataset: ds("ceir", eir.TargetRange, eir.ListWhite), Add: []eir.Entry{{From: imei - 5, To: imei + 5}, {From: imei + 6, To: imei + 10}}},
		eir.Change{Dataset: ds("ceir", eir.TargetPair, eir.ListException), Add: []eir.Entry{{IMEI: imei, IMSI: "00101"}, {IMEI: imei, IMSI: "00102"}, {IMEI: 1, IMSI: "00101"}}},
	)
	got, err := s.EntriesFor(ctx(t), eir.Query{IMEI: imei})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range got {
		k := e.Dataset.String() + " " + e.Entry.KeyString(e.Dataset.Target)
		if e.Entry.Expires != 0 {
			k += fmt.Sprintf(" exp=%v", e.Entry.Expires == exp)
		}
		keys = append(keys, k)
	}
	want := []string{
		"ceir/pair/exception 35209900176148/00101",
		"ceir/pair/exception 35209900176148/00102",
		"ceir/range/white 35209900176143-35209900176153",
		"ceir/tac/grey 35209900",
		"manual/imei/black 35209900176148",
		"manual/imei/grey/exp 35209900176148 exp=true",
	}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("EntriesFor:\n got %q\nwant %q", keys, want)
	}
	got, err = s.EntriesFor(ctx(t), eir.Query{IMEI: imei, IMSI: "00102"})
	if err != nil || len(got) != 5 {
		t.Fatalf("with IMSI: %d entries, %v", len(got), err)
	}
	if got, err := s.EntriesFor(ctx(t), eir.Query{IMEI: 12345678901234}); err != nil || len(got) != 0 {
		t.Fatalf("unlisted IMEI: %v %v", got, err)
	}
}
