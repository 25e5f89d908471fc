package eir

import (
	"context"
	"errors"
	"testing"
)

type fakeLookup struct {
	hits []Hit
	err  error
}

func (f fakeLookup) Match(ctx context.Context, q Query, hits []Hit) ([]Hit, error) {
	return append(hits, f.hits...), f.err
}

func hit(source string, t Target, l List) Hit {
	return Hit{Dataset: Dataset{Source: source, Target: t, List: l}}
}

// TestPrecedence: exception or override → WHITELISTED; otherwise the
// strongest of black > grey > white over IMEI, range and TAC entries of
// every source; ties go to the more specific rule, then the first source.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		hits   []Hit
		status Status
		rule   Rule
		source string
	}{
		{"imei black", []Hit{hit("national", TargetIMEI, ListBlack)}, Blacklisted, RuleIMEI, "national"},
		{"tac grey", []Hit{hit("gsma", TargetTAC, ListGrey)}, Greylisted, RuleTAC, "gsma"},
		{"range white", []Hit{hit("manual", TargetRange, ListWhite)}, Whitelisted, RuleRange, "manual"},
		{"black beats grey and white", []Hit{hit("a", TargetIMEI, ListWhite), hit("b", TargetTAC, ListBlack), hit("c", TargetIMEI, ListGrey)}, Blacklisted, RuleTAC, "b"},
		{"grey beats white", []Hit{hit("a", TargetIMEI, ListWhite), hit("b", TargetRange, ListGrey)}, Greylisted, RuleRange, "b"},
		{"exception beats black", []Hit{hit("national", TargetIMEI, ListBlack), hit("national", TargetPair, ListException)}, Whitelisted, RuleException, "national"},
		{"override beats black", []Hit{hit("gsma", TargetTAC, ListBlack), hit("manual", TargetIMEI, ListOverride)}, Whitelisted, RuleOverride, "manual"},
		{"exception before override", []Hit{hit("m", TargetIMEI, ListOverride), hit("n", TargetPair, ListException)}, Whitelisted, RuleException, "n"},
		{"imei more specific than tac", []Hit{hit("z", TargetTAC, ListBlack), hit("y", TargetIMEI, ListBlack)}, Blacklisted, RuleIMEI, "y"},
		{"tie broken by source name", []Hit{hit("national", TargetIMEI, ListBlack), hit("gsma", TargetIMEI, ListBlack)}, Blacklisted, RuleIMEI, "gsma"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDecider(fakeLookup{hits: tc.hits}, Policy{}).Check(context.Background(), Query{IMEI: 1})
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tc.status || d.Rule != tc.rule || d.Source != tc.source {
				t.Fatalf("got %v/%v/%q, want %v/%v/%q", d.Status, d.Rule, d.Source, tc.status, tc.rule, tc.source)
			}
			// The answer does not depend on the order of hits.
			rev := make([]Hit, len(tc.hits))
			for i, h := range tc.hits {
				rev[len(tc.hits)-1-i] = h
			}
			d2, _ := NewDecider(fakeLookup{hits: rev}, Policy{}).Check(context.Background(), Query{IMEI: 1})
			if d2 != d {
				t.Fatalf("order-dependent: %+v vs %+v", d, d2)
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	storeErr := errors.New("redis down")
	tests := []struct {
		name    string
		lookup  fakeLookup
		policy  Policy
		want    Decision
		wantErr error
	}{
		{"unknown by default", fakeLookup{}, Policy{}, Decision{}, ErrUnknown},
		{"unknown as grey", fakeLookup{}, Policy{Unknown: Fallback{Set: true, Status: Greylisted}},
			Decision{Status: Greylisted, Rule: RuleUnknownPolicy}, nil},
		{"store error rejected", fakeLookup{err: errorsJoin(ErrUnavailable, storeErr)}, Policy{}, Decision{}, ErrUnavailable},
		{"store error fail-open", fakeLookup{err: errorsJoin(ErrUnavailable, storeErr)}, Policy{OnStoreError: Fallback{Set: true, Status: Whitelisted}},
			Decision{Status: Whitelisted, Rule: RuleStoreFallback}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDecider(tc.lookup, tc.policy).Check(context.Background(), Query{IMEI: 1})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			d.Cause = nil
			if d != tc.want {
				t.Fatalf("decision %+v, want %+v", d, tc.want)
			}
		})
	}
}

func errorsJoin(a, b error) error { return errors.Join(a, b) }

func TestListsAndDatasets(t *testing.T) {
	for _, s := range []string{"national/imei/black", "gsma/range/grey", "manual/tac/override", "x_1-2/pair/exception"} {
		d, err := ParseDataset(s)
		if err != nil || d.String() != s {
			t.Errorf("%q: %v %v", s, d, err)
		}
	}
	for _, s := range []string{"national/imei/exception", "national/pair/black", "National/imei/black", "a/b", "a/imei/purple"} {
		if _, err := ParseDataset(s); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%q accepted: %v", s, err)
		}
	}
	for in, want := range map[string]Status{"BLACK": Blacklisted, "greylisted": Greylisted, "gray": Greylisted, "permitted": Whitelisted, "Prohibited": Blacklisted, "tracking": Greylisted} {
		if got, err := ParseStatus(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	c := NewDecider(fakeLookup{hits: []Hit{hit("national", TargetIMEI, ListBlack), hit("gsma", TargetTAC, ListGrey)}}, Policy{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Check(ctx, Query{IMEI: 35209900176148}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestShadow(t *testing.T) {
	national := hit("national", TargetIMEI, ListGrey)
	trial := hit("trial", TargetIMEI, ListBlack)
	tests := []struct {
		name       string
		hits       []Hit
		shadow     Shadow
		want       Status
		wantRule   Rule
		wantShadow *Status
		wantErr    error
	}{
		{"global shadow hides a black verdict", []Hit{trial}, Shadow{All: true}, Whitelisted, RuleShadow, ptr(Blacklisted), nil},
		{"global shadow answers unknown equipment white", nil, Shadow{All: true}, Whitelisted, RuleShadow, nil, nil},
		{"shadowed source alone", []Hit{trial}, Shadow{Sources: []string{"trial"}}, Whitelisted, RuleShadow, ptr(Blacklisted), nil},
		{"other sources still decide", []Hit{trial, national}, Shadow{Sources: []string{"trial"}}, Greylisted, RuleIMEI, ptr(Blacklisted), nil},
		{"a source not in shadow is enforced", []Hit{trial}, Shadow{Sources: []string{"other"}}, Blacklisted, RuleIMEI, nil, nil},
		{"no shadow verdict when nothing changes", []Hit{national}, Shadow{Sources: []string{"trial"}}, Greylisted, RuleIMEI, nil, nil},
		{"unknown stays unknown under a per-source shadow", nil, Shadow{Sources: []string{"trial"}}, 0, 0, nil, ErrUnknown},
		{"a passive source alone leaves the equipment unknown", []Hit{trial}, Shadow{Passive: []string{"trial"}}, 0, 0, nil, ErrUnknown},
		{"a passive source under an enforced one", []Hit{trial, national}, Shadow{Passive: []string{"trial"}}, Greylisted, RuleIMEI, ptr(Blacklisted), nil},
		{"a shadowed source beside a passive one answers white", []Hit{trial, hit("detected", TargetIMEI, ListGrey)},
			Shadow{Sources: []string{"trial"}, Passive: []string{"detected"}}, Whitelisted, RuleShadow, ptr(Blacklisted), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDecider(fakeLookup{hits: tc.hits}, Policy{Shadow: tc.shadow}).Check(context.Background(), Query{IMEI: 1})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v", err)
			}
			if err != nil {
				return
			}
			if d.Status != tc.want || d.Rule != tc.wantRule {
				t.Fatalf("answer %v/%v, want %v/%v", d.Status, d.Rule, tc.want, tc.wantRule)
			}
			if (d.Shadow == nil) != (tc.wantShadow == nil) || d.Shadow != nil && d.Shadow.Status != *tc.wantShadow {
				t.Fatalf("shadow verdict %+v, want %v", d.Shadow, tc.wantShadow)
			}
		})
	}
}

func ptr(s Status) *Status { return &s }

// TestShadowPassiveUnknownPolicy: a passive source's entry alone is
// answered by the unknown-equipment policy, its verdict kept as shadow.
func TestShadowPassiveUnknownPolicy(t *testing.T) {
	p := Policy{Unknown: Fallback{Set: true, Status: Greylisted}, Shadow: Shadow{Passive: []string{"detected"}}}
	d, err := NewDecider(fakeLookup{hits: []Hit{hit("detected", TargetIMEI, ListBlack)}}, p).Check(context.Background(), Query{IMEI: 1})
	if err != nil || d.Status != Greylisted || d.Rule != RuleUnknownPolicy || d.Shadow == nil || d.Shadow.Status != Blacklisted {
		t.Fatalf("%+v, %v; want GREYLISTED by the unknown policy, shadow BLACKLISTED", d, err)
	}
}

// TestNoIMEI: a MAC or EUI-64 PEI is on no list: the unknown-equipment
// policy answers it, without a lookup (a failing store, a black hit and
// shadow mode change nothing), from Check and TryCheck alike.
func TestNoIMEI(t *testing.T) {
	lookup := fakeLookup{hits: []Hit{hit("national", TargetIMEI, ListBlack)}, err: ErrUnavailable}
	tests := []struct {
		name    string
		kind    PEIKind
		policy  Policy
		want    Decision
		wantErr error
	}{
		{"mac, default policy", PEIMAC, Policy{}, Decision{}, ErrUnknown},
		{"eui, default policy", PEIEUI, Policy{}, Decision{}, ErrUnknown},
		{"mac, unknown policy", PEIMAC, Policy{Unknown: Fallback{Set: true, Status: Greylisted}}, Decision{Status: Greylisted, Rule: RuleUnknownPolicy}, nil},
		{"eui under shadow mode", PEIEUI, Policy{Unknown: Fallback{Set: true, Status: Blacklisted}, Shadow: Shadow{All: true},
			OnStoreError: Fallback{Set: true, Status: Whitelisted}}, Decision{Status: Blacklisted, Rule: RuleUnknownPolicy}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewDecider(localFake{lookup}, tc.policy)
			q := Query{Kind: tc.kind}
			d, err := c.Check(context.Background(), q)
			if !errors.Is(err, tc.wantErr) || d.Status != tc.want.Status || d.Rule != tc.want.Rule || d.Source != "" {
				t.Fatalf("Check: %+v %v, want %+v %v", d, err, tc.want, tc.wantErr)
			}
			d, ok, err := c.TryCheck(q)
			if !ok || !errors.Is(err, tc.wantErr) || d.Status != tc.want.Status || d.Rule != tc.want.Rule {
				t.Fatalf("TryCheck: %+v %v %v, want %+v %v", d, ok, err, tc.want, tc.wantErr)
			}
		})
	}
	for _, k := range []PEIKind{0, PEIIMEI, PEIIMEISV} {
		if !k.HasIMEI() {
			t.Errorf("kind %d: no IMEI", k)
		}
	}
}

// localFake is a LocalLookup that never answers from memory.
type localFake struct{ fakeLookup }

func (localFake) MatchLocal(Query, []Hit) ([]Hit, bool) { return nil, false }
