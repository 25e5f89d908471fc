package redisstore

import (
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

func pair(imei eir.IMEI, imsi string) eir.Entry { return eir.Entry{IMEI: imei, IMSI: eir.IMSI(imsi)} }

// TestReplacementCounts: a replacement reports what it adds and removes by
// content, against the content in force (a dataset's overlay applied), on
// every path: SINTERCARD inside Redis, lookups when the bucket counts differ
// or Redis has no SINTERCARD (before 7), pairs, ranges, expiring entries.
func TestReplacementCounts(t *testing.T) {
	shared := redistest.Start(t)
	exception := eir.Dataset{Source: "national", Target: eir.TargetPair, List: eir.ListException}
	ranges := eir.Dataset{Source: "manual", Target: eir.TargetRange, List: eir.ListGrey}
	expiring := eir.Dataset{Source: "manual", Target: eir.TargetIMEI, List: eir.ListBlack, Expiring: true}
	later := time.Now().Add(time.Hour).UnixMilli()
	// In force after base and edit: 1-6, 9, 10 (7 and 8 removed, 9 and
	// 10 added through the overlay).
	base, edit := entries(1, 2, 3, 4, 5, 6, 7, 8), eir.Change{Dataset: black("national"), Remove: entries(7, 8), Add: entries(9, 10)}
	for _, tc := range []struct {
		name         string
		ds           eir.Dataset
		mod          func(*Options)
		noInterCard  bool // Redis refuses SINTERCARD, as before 7.0
		base         []eir.Entry
		edit         *eir.Change // applied between the base and the replacement
		replace      []eir.Entry
		interCard    bool // SINTERCARD counts (same bucket counts)
		readsInForce bool // the entries in force are read (the smaller side)
		wantOverlay  bool
		wantAdded    uint64
		wantRemoved  uint64
		wantPrevious uint64
		wantCount    uint64
	}{{
		// 7 is in the version and removed by the overlay, 9 and 10 are
		// added by it: 2 added (7, 11), 6 removed (1-6).
		name: "imei with an overlay, same buckets", ds: black("national"),
		mod:  func(o *Options) { o.OverlayMax, o.BucketFill = 4, 2 },
		base: base, edit: &edit, replace: entries(7, 9, 10, 11, 11),
		interCard: true, wantOverlay: true, wantAdded: 2, wantRemoved: 6, wantPrevious: 8, wantCount: 4,
	}, {
		name: "imei with an overlay, no sintercard", ds: black("national"), noInterCard: true,
		mod:  func(o *Options) { o.OverlayMax, o.BucketFill = 4, 2 },
		base: base, edit: &edit, replace: entries(7, 9, 10, 11, 11),
		wantOverlay: true, wantAdded: 2, wantRemoved: 6, wantPrevious: 8, wantCount: 4,
	}, {
		name: "imei with an overlay, bucket counts differ", ds: black("national"),
		mod:  func(o *Options) { o.OverlayMax, o.BucketFill = 4, 1 },
		base: base, edit: &edit, replace: entries(7, 9, 10),
		wantOverlay: true, wantAdded: 1, wantRemoved: 6, wantPrevious: 8, wantCount: 3,
	}, {
		// A list that grew past its bucket count: its 4 entries in force
		// are looked up in the 19 written, not the other way round.
		name: "imei grown, bucket counts differ", ds: black("national"),
		mod:  func(o *Options) { o.BucketFill = 2 },
		base: entries(1, 2, 3, 4), replace: entries(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 20),
		readsInForce: true, wantAdded: 16, wantRemoved: 1, wantPrevious: 4, wantCount: 19,
	}, {
		// In force: (1,a) (2,a) (2,b) (3,a) (4,a); (1,b) removed and
		// (2,b), (4,a) added through the overlay.
		name: "pairs with an overlay", ds: exception,
		mod:  func(o *Options) { o.OverlayMax = 4 },
		base: []eir.Entry{pair(1, "001010000000001"), pair(1, "001010000000002"), pair(2, "001010000000001"), pair(3, "001010000000001")},
		edit: &eir.Change{Dataset: exception, Remove: []eir.Entry{pair(1, "001010000000002")},
			Add: []eir.Entry{pair(4, "001010000000001"), pair(2, "001010000000002")}},
		replace: []eir.Entry{pair(1, "001010000000001"), pair(1, "001010000000001"), pair(1, "001010000000002"),
			pair(2, "001010000000002"), pair(4, "001010000000001"), pair(5, "001010000000001")},
		wantOverlay: true, wantAdded: 2, wantRemoved: 2, wantPrevious: 5, wantCount: 5,
	}, {
		name: "ranges", ds: ranges,
		base:      []eir.Entry{{From: 10, To: 20}, {From: 30, To: 40}, {From: 50, To: 60}},
		replace:   []eir.Entry{{From: 10, To: 20}, {From: 50, To: 60}, {From: 70, To: 80}, {From: 70, To: 80}},
		wantAdded: 1, wantRemoved: 1, wantPrevious: 3, wantCount: 3,
	}, {
		// An expiry changed is the same entry.
		name: "expiring", ds: expiring,
		base:      []eir.Entry{{IMEI: 1}, {IMEI: 2, Expires: later}, {IMEI: 3}},
		replace:   []eir.Entry{{IMEI: 1}, {IMEI: 2, Expires: later + 1}, {IMEI: 4}, {IMEI: 4}},
		wantAdded: 1, wantRemoved: 1, wantPrevious: 3, wantCount: 3,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := shared
			if tc.noInterCard {
				srv = redistest.Start(t)
				admin := srv.Client(t)
				if err := admin.Do(ctxT(t), "acl", "setuser", "default", "-sintercard").Err(); err != nil {
					t.Fatal(err)
				}
				if err := admin.SInterCard(ctxT(t), 0, "a", "b").Err(); err == nil {
					t.Fatal("redis still runs SINTERCARD")
				}
			}
			rdb := srv.Client(t)
			hook := &nameHook{}
			rdb.AddHook(observeHook(hook.note))
			s := newStore(t, rdb, freshPrefix(), tc.mod)
			if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: tc.ds, Replace: true, Add: tc.base}}); err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				if _, err := s.Apply(ctxT(t), []eir.Change{*tc.edit}); err != nil {
					t.Fatal(err)
				}
			}
			if e, _ := s.plan.Load().find(tc.ds.String()); (e.Overlay != 0) != tc.wantOverlay {
				t.Fatalf("overlay %d before the replacement; want one: %v", e.Overlay, tc.wantOverlay)
			}
			before, smembers := hook.count("sintercard"), hook.count("smembers")
			var judged []eir.DatasetResult
			res, err := s.ApplyWith(ctxT(t), []eir.Change{{Dataset: tc.ds, Replace: true, Add: tc.replace}}, eir.ApplyOptions{
				Before: func(res []eir.DatasetResult, _ map[string]string) error { judged = res; return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if ran := hook.count("sintercard") > before; ran != tc.interCard && !tc.noInterCard {
				t.Fatalf("SINTERCARD sent: %v; want %v", ran, tc.interCard)
			}
			if read := hook.count("smembers") > smembers; read != tc.readsInForce {
				t.Fatalf("entries in force read: %v; want %v", read, tc.readsInForce)
			}
			r := res.Datasets[0]
			if r.Added != tc.wantAdded || r.Removed != tc.wantRemoved || r.Previous != tc.wantPrevious || r.Count != tc.wantCount {
				t.Fatalf("added %d, removed %d, previous %d, count %d; want %d, %d, %d, %d",
					r.Added, r.Removed, r.Previous, r.Count, tc.wantAdded, tc.wantRemoved, tc.wantPrevious, tc.wantCount)
			}
			if len(judged) != 1 || judged[0] != r {
				t.Fatalf("Before judged %+v, the write reports %+v", judged, r)
			}
		})
	}
}

// TestReplacementSwitchesOverWhatBeforeJudged: a replacement with a guard
// switches in only over the content its counts were computed against;
// when another writer changes the dataset in between, it is rebuilt and
// the guard judges it again, with the caller's state. Duplicate AddKeys
// survive the rebuild.
func TestReplacementSwitchesOverWhatBeforeJudged(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	s, other := newStore(t, srv.Client(t), prefix, nil), newStore(t, srv.Client(t), prefix, nil)
	d := black("national")
	if _, err := s.Apply(ctxT(t), []eir.Change{{Dataset: d, Replace: true, Add: entries(1, 2, 3, 4)}}); err != nil {
		t.Fatal(err)
	}
	var judged [][]eir.DatasetResult
	res, err := s.ApplyWith(ctxT(t), []eir.Change{{Dataset: d, Replace: true, AddKeys: []uint64{6, 5, 5, 4, 3}}}, eir.ApplyOptions{
		State: map[string]string{"national.version": "2"},
		Before: func(res []eir.DatasetResult, state map[string]string) error {
			judged = append(judged, res)
			if state["judged"] != "" || state["national.version"] != "2" {
				t.Errorf("Before called with state %v; want the caller's", state)
			}
			state["judged"] = "yes"
			if len(judged) == 1 {
				// Another writer, between the guard and the switch.
				if _, err := other.Apply(ctxT(t), []eir.Change{{Dataset: d, Remove: entries(3), Add: entries(7)}}); err != nil {
					t.Error(err)
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(judged) != 2 {
		t.Fatalf("Before called %d times; want 2 (the write raced and was rebuilt)", len(judged))
	}
	// In force when switched: 1, 2, 4, 7. Kept: 4.
	r := res.Datasets[0]
	if r.Added != 3 || r.Removed != 3 || r.Previous != 4 || r.Count != 4 || judged[1][0] != r {
		t.Fatalf("result %+v, judged %+v; want 3 added, 3 removed of 4, 4 entries", r, judged[1])
	}
	for imei, want := range map[eir.IMEI]bool{0: false, 1: false, 3: true, 4: true, 5: true, 6: true, 7: false} {
		if listed(t, s, imei) != want {
			t.Errorf("%d listed: %v; want %v", imei, !want, want)
		}
	}
	st, err := s.SyncState(ctxT(t))
	if err != nil || st["judged"] != "yes" || st["national.version"] != "2" {
		t.Fatalf("sync state %v, %v", st, err)
	}
}

// TestUnblocked: what stops keeping equipment out is the removals from
// black and grey lists and the additions to exception and override lists.
func TestUnblocked(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Client(t), freshPrefix(), nil)
	grey := eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListGrey}
	white := eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListWhite}
	override := eir.Dataset{Source: "manual", Target: eir.TargetTAC, List: eir.ListOverride}
	exception := eir.Dataset{Source: "national", Target: eir.TargetPair, List: eir.ListException}
	if _, err := s.Apply(ctxT(t), []eir.Change{
		{Dataset: black("national"), Add: entries(1, 2, 3)},
		{Dataset: grey, Add: entries(1, 2, 3)},
		{Dataset: white, Add: entries(1, 2, 3)},
		{Dataset: override, Add: []eir.Entry{{TAC: 1}}},
		{Dataset: exception, Add: []eir.Entry{pair(1, "001010000000001")}},
	}); err != nil {
		t.Fatal(err)
	}
	var got []eir.DatasetResult
	if _, err := s.ApplyWith(ctxT(t), []eir.Change{
		{Dataset: black("national"), Remove: entries(1, 2), Add: entries(4)},
		{Dataset: grey, Remove: entries(1), Add: entries(5, 6)},
		{Dataset: white, Remove: entries(1, 2, 3)},
		{Dataset: override, Remove: []eir.Entry{{TAC: 1}}, Add: []eir.Entry{{TAC: 2}, {TAC: 3}}},
		{Dataset: exception, Add: []eir.Entry{pair(1, "001010000000002"), pair(2, "001010000000001"), pair(3, "001010000000001")}},
	}, eir.ApplyOptions{Before: func(res []eir.DatasetResult, _ map[string]string) error { got = res; return nil }}); err != nil {
		t.Fatal(err)
	}
	want := map[eir.Dataset]uint64{black("national"): 2, grey: 1, white: 0, override: 2, exception: 3}
	if len(got) != len(want) {
		t.Fatalf("%d results; want %d", len(got), len(want))
	}
	for _, r := range got {
		if n := r.Unblocked(); n != want[r.Dataset] {
			t.Errorf("%s (added %d, removed %d): unblocked %d; want %d", r.Dataset, r.Added, r.Removed, n, want[r.Dataset])
		}
	}
}
