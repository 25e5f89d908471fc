// Package storetest is the contract every list store must pass: lookups by
// IMEI, TAC, range and IMEI–IMSI pair, per-source provenance, replacement
// and delta semantics, counts, versions, and atomicity of a write as seen by
// concurrent checks. Run it from each store's tests with Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// Store is what the suite exercises.
type Store interface {
	eir.Lookup
	Apply(ctx context.Context, changes []eir.Change) (eir.ApplyResult, error)
	ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error)
	Datasets(ctx context.Context) ([]eir.DatasetInfo, error)
	SyncState(ctx context.Context) (map[string]string, error)
	SweepExpired(ctx context.Context) ([]eir.DatasetEntry, error)
	ListEntries(ctx context.Context, ds eir.Dataset, cursor string, limit int) ([]eir.Entry, string, error)
	EntriesFor(ctx context.Context, q eir.Query) ([]eir.DatasetEntry, error)
}

// Run runs the contract; newStore must return an empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Empty", testEmpty},
		{"IMEILists", testIMEILists},
		{"TAC", testTAC},
		{"Ranges", testRanges},
		{"Pairs", testPairs},
		{"Provenance", testProvenance},
		{"ReplaceAndDelta", testReplaceAndDelta},
		{"Counts", testCounts},
		{"Large", testLarge},
		{"InvalidChangeWritesNothing", testInvalid},
		{"AtomicMove", testAtomicMove},
		{"ConcurrentWriters", testConcurrentWriters},
		{"SetHash", testSetHash},
		{"Keys", testKeys},
		{"SyncState", testSyncState},
		{"Strict", testStrict},
		{"Notifications", testNotifications},
		{"Expiry", testExpiry},
		{"ExpiryUpdateAndSweep", testExpiryUpdateAndSweep},
		{"ListEntries", testListEntries},
		{"EntriesFor", testEntriesFor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func ds(source string, target eir.Target, list eir.List) eir.Dataset {
	return eir.Dataset{Source: source, Target: target, List: list}
}

func apply(t *testing.T, s Store, changes ...eir.Change) eir.ApplyResult {
	t.Helper()
	res, err := s.Apply(ctx(t), changes)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

// hitsOf returns the datasets matching q, as strings.
func hitsOf(t *testing.T, s Store, imei eir.IMEI, imsi eir.IMSI) map[string]bool {
	t.Helper()
	hits, err := s.Match(ctx(t), eir.Query{IMEI: imei, IMSI: imsi}, nil)
	if err != nil {
		t.Fatalf("match %s: %v", imei, err)
	}
	out := map[string]bool{}
	for _, h := range hits {
		if out[h.Dataset.String()] {
			t.Fatalf("dataset %s reported twice", h.Dataset)
		}
		out[h.Dataset.String()] = true
	}
	return out
}

// expectHits checks the hits of a query; a store that can answer from
// memory (eir.LocalLookup) must give the same hits there when it answers.
func expectHits(t *testing.T, s Store, imei eir.IMEI, imsi eir.IMSI, want ...string) {
	t.Helper()
	got := hitsOf(t, s, imei, imsi)
	if l, ok := s.(eir.LocalLookup); ok {
		if hits, ok := l.MatchLocal(eir.Query{IMEI: imei, IMSI: imsi}, nil); ok {
			local := map[string]bool{}
			for _, h := range hits {
				local[h.Dataset.String()] = true
			}
			same := len(local) == len(got)
			for k := range got {
				same = same && local[k]
			}
			if !same {
				t.Fatalf("%s/%q: MatchLocal %v, Match %v", imei, imsi, keys(local), keys(got))
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s/%q: hits %v, want %v", imei, imsi, keys(got), want)
	}
	for _, w := range want {
		if !got[w] {
			t.Fatalf("%s/%q: hits %v, want %v", imei, imsi, keys(got), want)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func imeis(vs ...eir.IMEI) []eir.Entry {
	out := make([]eir.Entry, len(vs))
	for i, v := range vs {
		out[i] = eir.Entry{IMEI: v}
	}
	return out
}

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

// testAtomicMove moves IMEIs between two lists in one write, many times,
// while checks run: every check must see each IMEI on exactly one list.
func testAtomicMove(t *testing.T, s Store) {
	black, grey := ds("manual", eir.TargetIMEI, eir.ListBlack), ds("manual", eir.TargetIMEI, eir.ListGrey)
	moving := imeis(35209900176148, 49015420323751, 26053179311383)
	apply(t, s, eir.Change{Dataset: black, Add: moving})
	var stop atomic.Bool
	var bad atomic.Value
	var checks atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, e := range moving {
					hits, err := s.Match(context.Background(), eir.Query{IMEI: e.IMEI}, nil)
					if err != nil {
						bad.Store(err.Error())
						return
					}
					if len(hits) != 1 {
						bad.Store(fmt.Sprintf("%s on %d lists: %v", e.IMEI, len(hits), hits))
						return
					}
					checks.Add(1)
				}
			}
		}()
	}
	from, to := black, grey
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 20; i++ {
		// Let the readers run between moves, so that checks really
		// interleave with the switches.
		for seen := checks.Load(); checks.Load() < seen+int64(len(moving)) && bad.Load() == nil; {
			if time.Now().After(deadline) {
				t.Fatal("readers made no progress")
			}
			runtime.Gosched()
		}
		if _, err := s.Apply(ctx(t), []eir.Change{{Dataset: from, Remove: moving}, {Dataset: to, Add: moving}}); err != nil {
			t.Fatal(err)
		}
		from, to = to, from
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if checks.Load() == 0 {
		t.Fatal("no check ran during the moves")
	}
}

// testConcurrentWriters runs deltas on one dataset from several goroutines:
// every addition must survive.
func testConcurrentWriters(t *testing.T, s Store) {
	d := ds("manual", eir.TargetIMEI, eir.ListBlack)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				_, err := s.Apply(ctx(t), []eir.Change{{Dataset: d, Add: imeis(eir.IMEI(1000 + w*10 + i))}})
				if err != nil && !errors.Is(err, eir.ErrConflict) {
					errs <- err
					return
				}
				if errors.Is(err, eir.ErrConflict) {
					i-- // retry: the contract allows a conflict under contention
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := 0; w < 4; w++ {
		for i := 0; i < 5; i++ {
			expectHits(t, s, eir.IMEI(1000+w*10+i), "", d.String())
		}
	}
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

// testExpiry checks that an expiring entry stops applying at its expiry,
// exactly, with no sweeper involved: a check that starts after the expiry
// never sees it, one that ends before always does.
func testExpiry(t *testing.T, s Store) {
	exp := time.Now().Add(300 * time.Millisecond).UnixMilli()
	imeiDS := eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListBlack, Expiring: true}
	tacDS := eir.Dataset{Source: "manual", Target: eir.TargetTAC, List: eir.ListGrey, Expiring: true}
	pairDS := eir.Dataset{Source: "manual", Target: eir.TargetPair, List: eir.ListException, Expiring: true}
	apply(t, s,
		eir.Change{Dataset: imeiDS, Add: []eir.Entry{{IMEI: 35209900176148, Expires: exp}, {IMEI: 49015420323751}}},
		eir.Change{Dataset: tacDS, Add: []eir.Entry{{TAC: 86000000, Expires: exp}}},
		eir.Change{Dataset: pairDS, Add: []eir.Entry{{IMEI: 35209900176148, IMSI: "00101", Expires: exp}}},
	)
	expectHits(t, s, 49015420323751, "", imeiDS.String()) // never expires
	deadline := time.Now().Add(5 * time.Second)
	for {
		t0 := time.Now().UnixMilli()
		hits := hitsOf(t, s, 35209900176148, "00101")
		tac := hitsOf(t, s, 86000000123456, "")
		t1 := time.Now().UnixMilli()
		seen := hits[imeiDS.String()] || hits[pairDS.String()] || tac[tacDS.String()]
		all := hits[imeiDS.String()] && hits[pairDS.String()] && tac[tacDS.String()]
		if t0 > exp && seen {
			t.Fatalf("an entry expired at %d still applies in a check started at %d", exp, t0)
		}
		if t1 < exp && !all {
			t.Fatalf("an entry expiring at %d no longer applies in a check ended at %d: %v %v", exp, t1, hits, tac)
		}
		if t0 > exp+50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no time passed")
		}
	}
	expectHits(t, s, 49015420323751, "", imeiDS.String())
}

func testExpiryUpdateAndSweep(t *testing.T, s Store) {
	d := eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListBlack, Expiring: true}
	past := time.Now().Add(-time.Hour).UnixMilli()
	future := time.Now().Add(time.Hour).UnixMilli()
	apply(t, s, eir.Change{Dataset: d, Add: []eir.Entry{{IMEI: 1, Expires: past}, {IMEI: 2, Expires: past}, {IMEI: 3}}})
	expectHits(t, s, 1, "")
	// Extending an expired entry revives it.
	res := apply(t, s, eir.Change{Dataset: d, Add: []eir.Entry{{IMEI: 2, Expires: future}}})
	if r := res.Datasets[0]; r.Updated != 1 || r.Added != 0 {
		t.Fatalf("update %+v", r)
	}
	expectHits(t, s, 2, "", d.String())
	// A removal that names an old expiry does not remove the extended entry.
	res = apply(t, s, eir.Change{Dataset: d, Remove: []eir.Entry{{IMEI: 2, Expires: past}}})
	if r := res.Datasets[0]; r.Removed != 0 || r.NoopRemoves != 1 {
		t.Fatalf("conditional removal %+v", r)
	}
	gone, err := s.SweepExpired(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0].Entry.IMEI != 1 || gone[0].Entry.Expires != past || gone[0].Dataset != d {
		t.Fatalf("swept %+v, want IMEI 1 with its expiry", gone)
	}
	if again, _ := s.SweepExpired(ctx(t)); len(again) != 0 {
		t.Fatalf("swept twice: %+v", again)
	}
	infos, _ := s.Datasets(ctx(t))
	for _, in := range infos {
		if in.Dataset == d && in.Count != 2 {
			t.Fatalf("count %d after the sweep, want 2", in.Count)
		}
	}
	expectHits(t, s, 3, "", d.String())
}

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
