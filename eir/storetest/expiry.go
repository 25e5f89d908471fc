package storetest

import (
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

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
