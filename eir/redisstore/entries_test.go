package redisstore

import (
	"slices"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// overlaid applies base, then edit, and checks that edit went into the
// dataset's overlay.
func overlaid(t *testing.T, s *Store, base, edit eir.Change) {
	t.Helper()
	if _, err := s.Apply(ctxT(t), []eir.Change{base}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctxT(t), []eir.Change{edit}); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.plan.Load().find(edit.Dataset.String()); e.Overlay == 0 {
		t.Fatalf("%s: the edit did not go into an overlay", edit.Dataset)
	}
}

func entryStrings(t eir.Target, list []eir.Entry) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.KeyString(t)
	}
	slices.Sort(out)
	return out
}

// TestEntriesForReadsOverlay: the entries of an IMEI are those in force,
// the overlays of IMEI, TAC and pair datasets applied.
func TestEntriesForReadsOverlay(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Client(t), freshPrefix(), func(o *Options) { o.OverlayMax = 2 })
	const a, b, c, d = eir.IMEI(35209900176148), eir.IMEI(35209900176149), eir.IMEI(86000000500000), eir.IMEI(49015420000001)
	imeis := black("national")
	tacs := eir.Dataset{Source: "gsma", Target: eir.TargetTAC, List: eir.ListGrey}
	exception := eir.Dataset{Source: "national", Target: eir.TargetPair, List: eir.ListException}
	const i1, i2, i3 = "001010000000001", "001010000000002", "001010000000003"
	overlaid(t, s, eir.Change{Dataset: imeis, Add: entries(a, b, c)}, eir.Change{Dataset: imeis, Remove: entries(a), Add: entries(d)})
	overlaid(t, s, eir.Change{Dataset: tacs, Add: []eir.Entry{{TAC: a.TAC()}, {TAC: 1}, {TAC: 2}}},
		eir.Change{Dataset: tacs, Remove: []eir.Entry{{TAC: a.TAC()}}, Add: []eir.Entry{{TAC: d.TAC()}}})
	overlaid(t, s, eir.Change{Dataset: exception, Add: []eir.Entry{pair(a, i1), pair(a, i2), pair(b, i1)}},
		eir.Change{Dataset: exception, Remove: []eir.Entry{pair(a, i2)}, Add: []eir.Entry{pair(a, i3)}})

	for _, tc := range []struct {
		q    eir.Query
		want []eir.DatasetEntry
	}{
		{eir.Query{IMEI: a}, []eir.DatasetEntry{{Dataset: exception, Entry: pair(a, i1)}, {Dataset: exception, Entry: pair(a, i3)}}},
		{eir.Query{IMEI: a, IMSI: i3}, []eir.DatasetEntry{{Dataset: exception, Entry: pair(a, i3)}}},
		{eir.Query{IMEI: a, IMSI: i2}, nil},
		{eir.Query{IMEI: b}, []eir.DatasetEntry{{Dataset: imeis, Entry: eir.Entry{IMEI: b}}, {Dataset: exception, Entry: pair(b, i1)}}},
		{eir.Query{IMEI: d}, []eir.DatasetEntry{{Dataset: tacs, Entry: eir.Entry{TAC: d.TAC()}}, {Dataset: imeis, Entry: eir.Entry{IMEI: d}}}},
	} {
		got, err := s.EntriesFor(ctxT(t), tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("entries for %s/%s: %v; want %v", tc.q.IMEI, tc.q.IMSI, got, tc.want)
		}
	}
}

// TestListEntriesAppliesOverlay: listing a dataset page by page gives the
// content in force, its overlay applied, each entry once.
func TestListEntriesAppliesOverlay(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Client(t), freshPrefix(), func(o *Options) { o.OverlayMax, o.BucketFill = 4, 2 })
	imeis := black("national")
	exception := eir.Dataset{Source: "national", Target: eir.TargetPair, List: eir.ListException}
	var base, pairs []eir.Entry
	for i := range 20 {
		base = append(base, eir.Entry{IMEI: eir.IMEI(35209900000000 + i)})
		pairs = append(pairs, pair(eir.IMEI(35209900000000+i/2), "00101000000000"+string(rune('0'+i%2))))
	}
	overlaid(t, s, eir.Change{Dataset: imeis, Add: base},
		eir.Change{Dataset: imeis, Remove: base[3:6], Add: entries(35209900000100, 35209900000101)})
	overlaid(t, s, eir.Change{Dataset: exception, Add: pairs},
		eir.Change{Dataset: exception, Remove: pairs[4:7], Add: []eir.Entry{pair(35209900000001, "001010000000009"), pair(35209900000100, "001010000000001")}})
	want := map[eir.Dataset][]eir.Entry{
		imeis:     slices.Concat(base[:3], base[6:], entries(35209900000100, 35209900000101)),
		exception: slices.Concat(pairs[:4], pairs[7:], []eir.Entry{pair(35209900000001, "001010000000009"), pair(35209900000100, "001010000000001")}),
	}
	for ds, want := range want {
		for _, limit := range []int{1, 3, 1000} {
			var got []eir.Entry
			cursor, pages := "", 0
			for {
				page, next, err := s.ListEntries(ctxT(t), ds, cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				got, cursor, pages = append(got, page...), next, pages+1
				if cursor == "" || pages > 100 {
					break
				}
			}
			if g, w := entryStrings(ds.Target, got), entryStrings(ds.Target, want); !slices.Equal(g, w) {
				t.Errorf("%s by pages of %d:\n got %s\nwant %s", ds, limit, strings.Join(g, " "), strings.Join(w, " "))
			}
		}
	}
}
