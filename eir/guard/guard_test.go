package guard

import (
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

// Guards.Judge: the absolute and ratio limits, and the floor below which
// the ratios do not apply.
func TestJudge(t *testing.T) {
	black := eir.Dataset{Source: "national", Target: eir.TargetIMEI, List: eir.ListBlack}
	exception := eir.Dataset{Source: "national", Target: eir.TargetPair, List: eir.ListException}
	res := func(ds eir.Dataset, prev, added, removed uint64) eir.DatasetResult {
		return eir.DatasetResult{Dataset: ds, Previous: prev, Added: added, Removed: removed, Count: prev + added - removed}
	}
	for _, tc := range []struct {
		name     string
		g        Guards
		full     bool
		r        eir.DatasetResult
		wantCode string
		wantText string
	}{
		{name: "unblock ratio", r: res(black, 10_000, 0, 150), wantCode: "unblock_guard", wantText: "1.5% of the 10000 in force"},
		{name: "unblock ratio at the limit", r: res(black, 10_000, 0, 100)},
		{name: "unblock ratio below the floor", r: res(black, 1_000, 0, 99)},
		{name: "unblock ratio at the floor", r: res(black, 1_000, 0, 100), wantCode: "unblock_guard", wantText: "limit of 1% of the list"},
		{name: "lower floor", g: Guards{RatioFloor: 10}, r: res(black, 1_000, 0, 11), wantCode: "unblock_guard"},
		{name: "higher ratio", g: Guards{MaxUnblockRatio: 0.2}, r: res(black, 10_000, 0, 1_500)},
		{name: "ratio off", g: Guards{MaxUnblockRatio: -1}, r: res(black, 10_000, 0, 1_500)},
		{name: "exception additions unblock", r: res(exception, 10_000, 150, 0), wantCode: "unblock_guard"},
		{name: "exception removals do not", r: res(exception, 10_000, 0, 150)},
		{name: "absolute", g: Guards{MaxUnblockRatio: -1}, r: res(black, 1_000_000, 0, 10_001), wantCode: "unblock_guard", wantText: "more than the limit of 10000"},
		{name: "shrink", full: true, r: res(black, 1_000, 0, 300), wantCode: "shrink_guard", wantText: "70.0% of the 1000"},
		{name: "shrink below the floor", full: true, g: Guards{MaxUnblockRatio: -1}, r: res(black, 150, 0, 99)},
		{name: "full list emptied", full: true, r: res(black, 5, 0, 5), wantCode: "shrink_guard"},
		{name: "delta emptying a small list", g: Guards{MaxUnblockRatio: -1}, r: res(black, 5, 0, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ge := tc.g.WithDefaults().Judge("the file", tc.full, tc.r)
			switch {
			case tc.wantCode == "" && ge != nil:
				t.Fatalf("held: %v", ge)
			case tc.wantCode != "" && (ge == nil || ge.Code != tc.wantCode):
				t.Fatalf("%v, want %s", ge, tc.wantCode)
			case ge != nil && !strings.Contains(ge.Message, tc.wantText):
				t.Fatalf("%q does not say %q", ge.Message, tc.wantText)
			}
		})
	}
}
