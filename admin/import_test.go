package admin

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir/guard"
)

// importCounts are an import's answer by dataset: added, removed, count.
func importCounts(t *testing.T, body map[string]any) map[string][3]int {
	t.Helper()
	raw, ok := body["datasets"].([]any)
	if !ok {
		t.Fatalf("no datasets in %v", body)
	}
	out := map[string][3]int{}
	for _, d := range raw {
		m := d.(map[string]any)
		num := func(k string) int { f, _ := m[k].(float64); return int(f) }
		out[m["dataset"].(string)] = [3]int{num("added"), num("removed"), num("count")}
	}
	return out
}

// inForce is what GET /v1/datasets and GET /v1/audit answer: what a dry
// run must leave as it is.
func (a *redisAPI) inForce(t *testing.T) (datasets, audit any) {
	t.Helper()
	_, ds := a.call(t, "GET", "/v1/datasets", "bob", nil)
	_, au := a.call(t, "GET", "/v1/audit?limit=1000", "bob", nil)
	return ds["datasets"], au["records"]
}

// TestImportDryRunExact checks that a dry run answers exactly what the
// import of the same file then does, by dataset, counted against the
// lists in force (additions, removals, moves between lists, a
// replacement), and changes nothing a reader sees: datasets, versions,
// audit trail. A replacement empties the source's datasets that exist and
// creates no empty one.
func TestImportDryRunExact(t *testing.T) {
	a := newRedisAPI(t, nil, nil)
	for _, tc := range []struct {
		name, query, csv string
		want             map[string][3]int
		datasets         int // in force afterwards
	}{
		{"add", "", "imei,status\n35209900176148,black\n49015420323751,black\n86000000000001,grey\n", map[string][3]int{
			"manual/imei/black": {2, 0, 2}, "manual/imei/grey": {1, 0, 1}}, 2},
		{"add present and remove", "", "imei,status,action\n35209900176148,black,add\n49015420323751,black,remove\n86000000000002,black,add\n86000000000003,grey,remove\n", map[string][3]int{
			"manual/imei/black": {1, 1, 2}, "manual/imei/grey": {0, 0, 1}, "manual/imei/white": {0, 0, 0}, "manual/imei/override": {0, 0, 0}}, 2},
		{"move", "", "imei,status\n86000000000001,white\n", map[string][3]int{
			"manual/imei/black": {0, 0, 2}, "manual/imei/grey": {0, 1, 0}, "manual/imei/white": {1, 0, 1}}, 3},
		{"replace", "replace=true&force=true", "imei,status\n35209900176148,black\n86000000000009,black\n", map[string][3]int{
			"manual/imei/black": {1, 1, 2}, "manual/imei/grey": {0, 0, 0}, "manual/imei/white": {0, 1, 0}}, 3},
		{"replace with a tac", "replace=true&force=true", "tac,status\n35209900,grey\n", map[string][3]int{
			"manual/imei/black": {0, 2, 0}, "manual/imei/grey": {0, 0, 0}, "manual/imei/white": {0, 0, 0}, "manual/tac/grey": {1, 0, 1}}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/import?" + tc.query
			ds0, au0 := a.inForce(t)
			status, dry := a.call(t, "POST", path+"&dry_run=true", "alice", tc.csv)
			if status != 200 || dry["dry_run"] != true || dry["held"] != nil {
				t.Fatalf("dry run: %d %v", status, dry)
			}
			if ds, au := a.inForce(t); !reflect.DeepEqual(ds, ds0) || !reflect.DeepEqual(au, au0) {
				t.Fatalf("the dry run changed what a reader sees:\ndatasets %v\nthen %v\naudit %d then %d records", ds0, ds, lenOf(au0), lenOf(au))
			}
			for _, d := range dry["datasets"].([]any) {
				if v, ok := d.(map[string]any)["version"]; ok {
					t.Errorf("dry run: %v has version %v", d, v)
				}
			}
			status, real := a.call(t, "POST", path+"&reason=test", "alice", tc.csv)
			if status != 200 {
				t.Fatalf("import: %d %v", status, real)
			}
			for _, body := range []map[string]any{dry, real} {
				if names := datasetNames(body); !slices.IsSorted(names) {
					t.Errorf("datasets not in name order: %v", names)
				}
			}
			got, want := importCounts(t, dry), importCounts(t, real)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("dry run answered %v, the import did %v", got, want)
			}
			for name, c := range tc.want {
				if want[name] != c {
					t.Errorf("%s: added, removed, count %v; want %v", name, want[name], c)
				}
			}
			if ds, _ := a.inForce(t); lenOf(ds) != tc.datasets {
				t.Errorf("%d datasets in force, want %d: %v", lenOf(ds), tc.datasets, ds)
			}
		})
	}
}

// datasetNames are the names of an import answer's datasets, in its order.
func datasetNames(body map[string]any) []string {
	var out []string
	raw, _ := body["datasets"].([]any)
	for _, d := range raw {
		out = append(out, fmt.Sprint(d.(map[string]any)["dataset"]))
	}
	return out
}

func lenOf(v any) int {
	l, _ := v.([]any)
	return len(l)
}

// TestImportDryRunHeld checks that a dry run says when the guards would
// hold the import, that the import is then refused and changes nothing,
// and that with force the dry run reports no hold.
func TestImportDryRunHeld(t *testing.T) {
	a := newRedisAPI(t, nil, func(o *Options) { o.Guards = guard.Guards{MaxUnblocks: 3, RatioFloor: 1 << 30} })
	var csv strings.Builder
	csv.WriteString("imei,status\n")
	for i := range 5 {
		fmt.Fprintf(&csv, "%014d,black\n", 35209900000000+i)
	}
	if status, body := a.call(t, "POST", "/v1/import?reason=base", "alice", csv.String()); status != 200 {
		t.Fatalf("base: %d %v", status, body)
	}
	shrink := "imei,status\n35209900000000,black\n"
	ds0, au0 := a.inForce(t)
	status, dry := a.call(t, "POST", "/v1/import?replace=true&dry_run=true", "alice", shrink)
	held, _ := dry["held"].(map[string]any)
	if status != 200 || held["code"] != "unblock_guard" || !strings.Contains(fmt.Sprint(held["message"]), "4") {
		t.Fatalf("dry run: %d %v, want held by unblock_guard (4 unblocked)", status, dry)
	}
	if c := importCounts(t, dry)["manual/imei/black"]; c != [3]int{0, 4, 1} {
		t.Errorf("dry run counts %v", c)
	}
	if status, body := a.call(t, "POST", "/v1/import?replace=true&reason=shrink", "alice", shrink); status != 409 {
		t.Fatalf("import: %d %v, want 409 (held)", status, body)
	}
	if ds, au := a.inForce(t); !reflect.DeepEqual(ds, ds0) || !reflect.DeepEqual(au, au0) {
		t.Fatalf("a dry run or a held import changed the lists or the audit trail")
	}
	if status, dry := a.call(t, "POST", "/v1/import?replace=true&dry_run=true&force=true", "alice", shrink); status != 200 || dry["held"] != nil {
		t.Fatalf("forced dry run: %d %v", status, dry)
	}
}
