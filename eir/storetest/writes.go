package storetest

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

func testReplaceAndDelta(t *testing.T, s Store) {
	black, grey := ds("national", eir.TargetIMEI, eir.ListBlack), ds("national", eir.TargetIMEI, eir.ListGrey)
	apply(t, s, eir.Change{Dataset: black, Add: imeis(1, 2, 3)}, eir.Change{Dataset: grey, Add: imeis(9)})
	apply(t, s, eir.Change{Dataset: black, Replace: true, Add: imeis(3, 4)})
	for _, c := range []struct {
		imei eir.IMEI
		want []string
	}{{1, nil}, {2, nil}, {3, []string{black.String()}}, {4, []string{black.String()}}, {9, []string{grey.String()}}} {
		expectHits(t, s, c.imei, "", c.want...)
	}
	// Delta: removals of absent and additions of present entries are no-ops.
	res := apply(t, s, eir.Change{Dataset: black, Add: imeis(4, 5), Remove: imeis(3, 7)})
	if r := res.Datasets[0]; r.Added != 1 || r.Removed != 1 || r.Count != 2 {
		t.Fatalf("delta result %+v: want added 1, removed 1, count 2", r)
	}
	expectHits(t, s, 3, "")
	expectHits(t, s, 5, "", black.String())
	// Several changes to one dataset in one write apply in order.
	apply(t, s, eir.Change{Dataset: black, Remove: imeis(5)}, eir.Change{Dataset: black, Add: imeis(5, 6)})
	expectHits(t, s, 5, "", black.String())
	expectHits(t, s, 6, "", black.String())
}

// testReplaceIfExists checks that an IfExists replacement empties a
// dataset that exists, fills one it adds to, and creates no empty one,
// while a plain empty replacement creates the dataset.
func testReplaceIfExists(t *testing.T, s Store) {
	black, grey, white := ds("manual", eir.TargetIMEI, eir.ListBlack), ds("manual", eir.TargetIMEI, eir.ListGrey), ds("manual", eir.TargetIMEI, eir.ListWhite)
	tac, empty := ds("manual", eir.TargetTAC, eir.ListBlack), ds("gsma", eir.TargetTAC, eir.ListGrey)
	apply(t, s, eir.Change{Dataset: black, Add: imeis(1, 2)}, eir.Change{Dataset: grey, Add: imeis(3)})
	res := apply(t, s,
		eir.Change{Dataset: black, Replace: true, IfExists: true},
		eir.Change{Dataset: grey, Replace: true, IfExists: true, Add: imeis(3, 4)},
		eir.Change{Dataset: white, Replace: true, IfExists: true},
		eir.Change{Dataset: tac, Replace: true, IfExists: true, Add: []eir.Entry{{TAC: 35209900}}},
		eir.Change{Dataset: empty, Replace: true})
	got := map[eir.Dataset]eir.DatasetResult{}
	for _, r := range res.Datasets {
		got[r.Dataset] = r
	}
	if len(got) != 4 || got[black].Count != 0 || got[grey].Count != 2 ||
		got[tac].Count != 1 || got[empty].Count != 0 {
		t.Fatalf("results %+v: want black emptied, grey replaced, manual/tac/black created, gsma/tac/grey created empty, manual/imei/white absent", res.Datasets)
	}
	infos, err := s.Datasets(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	in := map[eir.Dataset]uint64{}
	for _, i := range infos {
		in[i.Dataset] = i.Count
	}
	if _, ok := in[white]; ok || len(in) != 4 || in[black] != 0 || in[grey] != 2 || in[tac] != 1 {
		t.Fatalf("datasets %+v: want %s, %s, %s and %s, not %s", infos, black, grey, tac, empty, white)
	}
}

// testBeforeRefuses checks that ApplyOptions.Before is told what a write
// does, counted against the lists in force (a replacement by content),
// and that its error refuses the write whole (a guard, a dry run).
func testBeforeRefuses(t *testing.T, s Store) {
	black, grey := ds("national", eir.TargetIMEI, eir.ListBlack), ds("national", eir.TargetIMEI, eir.ListGrey)
	apply(t, s, eir.Change{Dataset: black, Add: imeis(1, 2, 3)}, eir.Change{Dataset: grey, Add: imeis(9)})
	before, err := s.Datasets(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	var told []eir.DatasetResult
	_, err = s.ApplyWith(ctx(t), []eir.Change{{Dataset: black, Replace: true, Add: imeis(3, 4)}, {Dataset: grey, Add: imeis(10), Remove: imeis(9)}},
		eir.ApplyOptions{Before: func(res []eir.DatasetResult, _ map[string]string) error {
			told = append(told, res...)
			return refused
		}})
	if !errors.Is(err, refused) {
		t.Fatalf("apply: %v, want Before's error", err)
	}
	want := map[eir.Dataset][4]uint64{black: {1, 2, 2, 3}, grey: {1, 1, 1, 1}} // added, removed, count, previous
	if len(told) != 2 {
		t.Fatalf("Before told %+v", told)
	}
	for _, r := range told {
		if got := [4]uint64{r.Added, r.Removed, r.Count, r.Previous}; got != want[r.Dataset] {
			t.Errorf("%s: added, removed, count, previous %v, want %v", r.Dataset, got, want[r.Dataset])
		}
	}
	after, err := s.Datasets(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("datasets %+v after a refused write, want %+v", after, before)
	}
	for i := range before {
		if after[i].Dataset != before[i].Dataset || after[i].Version != before[i].Version || after[i].Count != before[i].Count {
			t.Fatalf("datasets %+v after a refused write, want %+v", after, before)
		}
	}
	expectHits(t, s, 1, "", black.String())
	expectHits(t, s, 4, "")
}

func testCounts(t *testing.T, s Store) {
	d := ds("manual", eir.TargetIMEI, eir.ListBlack)
	r1 := apply(t, s, eir.Change{Dataset: d, Add: imeis(1, 2, 2, 3)})
	if r := r1.Datasets[0]; r.Count != 3 || r.Added != 3 {
		t.Fatalf("first write %+v: want 3 entries (duplicates collapse)", r)
	}
	r2 := apply(t, s, eir.Change{Dataset: d, Remove: imeis(1)})
	if r2.Datasets[0].Version <= r1.Datasets[0].Version {
		t.Fatalf("version did not increase: %d then %d", r1.Datasets[0].Version, r2.Datasets[0].Version)
	}
	infos, err := s.Datasets(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Dataset != d || infos[0].Count != 2 || infos[0].Version != r2.Datasets[0].Version {
		t.Fatalf("datasets %+v", infos)
	}
}

func testLarge(t *testing.T, s Store) {
	d := ds("national", eir.TargetIMEI, eir.ListBlack)
	rng := rand.New(rand.NewSource(1))
	set := map[eir.IMEI]bool{}
	var list []eir.Entry
	for len(set) < 20000 {
		// Realistic skew: few TACs, random serial numbers.
		v := eir.IMEI(uint64(35000000+rng.Intn(40))*1_000_000 + uint64(rng.Intn(1_000_000)))
		if !set[v] {
			set[v] = true
			list = append(list, eir.Entry{IMEI: v})
		}
	}
	apply(t, s, eir.Change{Dataset: d, Replace: true, Add: list})
	// A delta that more than doubles the dataset.
	var more []eir.Entry
	for len(more) < 30000 {
		v := eir.IMEI(uint64(35000000+rng.Intn(40))*1_000_000 + uint64(rng.Intn(1_000_000)))
		if !set[v] {
			set[v] = true
			more = append(more, eir.Entry{IMEI: v})
		}
	}
	res := apply(t, s, eir.Change{Dataset: d, Add: more, Remove: list[:100]})
	for _, e := range list[:100] {
		delete(set, e.IMEI)
	}
	if got := res.Datasets[0].Count; got != uint64(len(set)) {
		t.Fatalf("count %d, want %d", got, len(set))
	}
	n := 0
	for v := range set {
		if n++; n > 2000 {
			break
		}
		if !hitsOf(t, s, v, "")[d.String()] {
			t.Fatalf("%s missing", v)
		}
	}
	for _, e := range list[:100] {
		if hitsOf(t, s, e.IMEI, "")[d.String()] {
			t.Fatalf("%s still listed after removal", e.IMEI)
		}
	}
	for i := 0; i < 500; i++ {
		v := eir.IMEI(uint64(36000000+rng.Intn(40))*1_000_000 + uint64(rng.Intn(1_000_000)))
		if hitsOf(t, s, v, "")[d.String()] {
			t.Fatalf("%s listed but never added", v)
		}
	}
}

func testInvalid(t *testing.T, s Store) {
	good := eir.Change{Dataset: ds("manual", eir.TargetIMEI, eir.ListBlack), Add: imeis(1)}
	for _, bad := range []eir.Change{
		{Dataset: ds("Bad Source", eir.TargetIMEI, eir.ListBlack), Add: imeis(2)},
		{Dataset: ds("manual", eir.TargetPair, eir.ListBlack), Add: []eir.Entry{{IMEI: 2, IMSI: "00101"}}},
		{Dataset: ds("manual", eir.TargetIMEI, eir.ListException), Add: imeis(2)},
		{Dataset: ds("manual", eir.TargetRange, eir.ListBlack), Add: []eir.Entry{{From: 5, To: 4}}},
		{Dataset: ds("manual", eir.TargetPair, eir.ListException), Add: []eir.Entry{{IMEI: 2, IMSI: "12a"}}},
		{Dataset: ds("manual", eir.TargetIMEI, eir.ListBlack), Add: imeis(eir.MaxIMEI + 1)},
	} {
		if _, err := s.Apply(ctx(t), []eir.Change{good, bad}); !errors.Is(err, eir.ErrInvalidEntry) && !errors.Is(err, eir.ErrInvalidIMSI) {
			t.Errorf("%s: err %v, want an invalid entry error", bad.Dataset, err)
		}
	}
	expectHits(t, s, 1, "")
}

// setHash is the XOR of eir.Entry.Hash over distinct entries.
func setHash(t eir.Target, es []eir.Entry) uint64 {
	seen := map[eir.Entry]bool{}
	var h uint64
	for _, e := range es {
		if !seen[e] {
			seen[e] = true
			h ^= e.Hash(t)
		}
	}
	return h
}

func testSetHash(t *testing.T, s Store) {
	for _, tc := range []struct {
		d    eir.Dataset
		full []eir.Entry
		add  []eir.Entry
		rem  []eir.Entry
	}{
		{ds("national", eir.TargetIMEI, eir.ListBlack), imeis(1, 2, 3, 3, 35209900176148), imeis(4, 1), imeis(2, 99)},
		{ds("national", eir.TargetTAC, eir.ListBlack), []eir.Entry{{TAC: 1}, {TAC: 35209900}}, []eir.Entry{{TAC: 2}}, []eir.Entry{{TAC: 1}}},
		{ds("national", eir.TargetPair, eir.ListException), []eir.Entry{{IMEI: 1, IMSI: "00101"}, {IMEI: 1, IMSI: "001010"}},
			[]eir.Entry{{IMEI: 2, IMSI: "00101"}}, []eir.Entry{{IMEI: 1, IMSI: "00101"}}},
		{ds("gsma", eir.TargetRange, eir.ListBlack), []eir.Entry{{From: 1, To: 5}, {From: 3, To: 9}}, []eir.Entry{{From: 20, To: 20}}, []eir.Entry{{From: 1, To: 5}}},
	} {
		res := apply(t, s, eir.Change{Dataset: tc.d, Replace: true, Add: tc.full})
		if want := setHash(tc.d.Target, tc.full); res.Datasets[0].Hash != want {
			t.Fatalf("%s: hash %x after replace, want %x", tc.d, res.Datasets[0].Hash, want)
		}
		res = apply(t, s, eir.Change{Dataset: tc.d, Add: tc.add, Remove: tc.rem})
		final := map[eir.Entry]bool{}
		for _, e := range tc.full {
			final[e] = true
		}
		for _, e := range tc.rem {
			delete(final, e)
		}
		for _, e := range tc.add {
			final[e] = true
		}
		var list []eir.Entry
		for e := range final {
			list = append(list, e)
		}
		if want := setHash(tc.d.Target, list); res.Datasets[0].Hash != want || res.Datasets[0].Count != uint64(len(list)) {
			t.Fatalf("%s: hash %x count %d after delta, want %x %d", tc.d, res.Datasets[0].Hash, res.Datasets[0].Count, want, len(list))
		}
		infos, _ := s.Datasets(ctx(t))
		for _, in := range infos {
			if in.Dataset == tc.d && in.Hash != res.Datasets[0].Hash {
				t.Fatalf("%s: Datasets hash %x, Apply hash %x", tc.d, in.Hash, res.Datasets[0].Hash)
			}
		}
	}
}

func testKeys(t *testing.T, s Store) {
	d, tacs := ds("national", eir.TargetIMEI, eir.ListBlack), ds("national", eir.TargetTAC, eir.ListBlack)
	res := apply(t, s, eir.Change{Dataset: d, Replace: true, AddKeys: []uint64{35209900176148, 7, 7, 8}},
		eir.Change{Dataset: tacs, AddKeys: []uint64{1001001}})
	if res.Datasets[0].Count != 3 {
		t.Fatalf("count %d, want 3", res.Datasets[0].Count)
	}
	expectHits(t, s, 35209900176148, "", d.String())
	expectHits(t, s, 1001001000001, "", tacs.String())
	res = apply(t, s, eir.Change{Dataset: d, RemoveKeys: []uint64{7}, AddKeys: []uint64{9}})
	if r := res.Datasets[0]; r.Added != 1 || r.Removed != 1 || r.Count != 3 {
		t.Fatalf("delta %+v", r)
	}
	expectHits(t, s, 7, "")
	expectHits(t, s, 9, "", d.String())
	if _, err := s.Apply(ctx(t), []eir.Change{{Dataset: ds("x", eir.TargetRange, eir.ListBlack), AddKeys: []uint64{1}}}); !errors.Is(err, eir.ErrInvalidEntry) {
		t.Fatalf("keys on a range dataset: %v", err)
	}
}

func testSyncState(t *testing.T, s Store) {
	d := ds("national", eir.TargetIMEI, eir.ListBlack)
	if _, err := s.ApplyWith(ctx(t), []eir.Change{{Dataset: d, Add: imeis(1)}},
		eir.ApplyOptions{State: map[string]string{"national/blacklist": "run 42"}, ExpectState: map[string]string{"national/blacklist": ""}}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.SyncState(ctx(t))
	if st["national/blacklist"] != "run 42" {
		t.Fatalf("state %v", st)
	}
	// A second writer that expects the old state loses and changes nothing.
	_, err := s.ApplyWith(ctx(t), []eir.Change{{Dataset: d, Add: imeis(2)}},
		eir.ApplyOptions{State: map[string]string{"national/blacklist": "run 43"}, ExpectState: map[string]string{"national/blacklist": ""}})
	if !errors.Is(err, eir.ErrConflict) {
		t.Fatalf("stale expectation: %v", err)
	}
	expectHits(t, s, 2, "")
	if st, _ := s.SyncState(ctx(t)); st["national/blacklist"] != "run 42" {
		t.Fatalf("state changed by a refused write: %v", st)
	}
	// State alone, without a change, is written too.
	if _, err := s.ApplyWith(ctx(t), nil, eir.ApplyOptions{State: map[string]string{"national/blacklist": "run 44"}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.SyncState(ctx(t)); st["national/blacklist"] != "run 44" {
		t.Fatalf("state %v", st)
	}
}

func testStrict(t *testing.T, s Store) {
	d := ds("national", eir.TargetIMEI, eir.ListBlack)
	apply(t, s, eir.Change{Dataset: d, Add: imeis(1, 2)})
	res := apply(t, s, eir.Change{Dataset: d, Add: imeis(2, 3), Remove: imeis(4)})
	if r := res.Datasets[0]; r.NoopAdds != 1 || r.NoopRemoves != 1 || r.Added != 1 {
		t.Fatalf("result %+v: want 1 added, 1 no-op add, 1 no-op removal", r)
	}
	_, err := s.ApplyWith(ctx(t), []eir.Change{{Dataset: d, Add: imeis(5), Remove: imeis(6)}}, eir.ApplyOptions{Strict: true})
	if !errors.Is(err, eir.ErrNoop) {
		t.Fatalf("strict: %v", err)
	}
	expectHits(t, s, 5, "")
}
