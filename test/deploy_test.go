package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

const (
	dashboardPath = "../deploy/grafana/eird.json"
	rulesPath     = "../deploy/prometheus/eird-rules.yaml"
	rulesTestPath = "../deploy/prometheus/eird-rules.test.yaml"
)

// TestDeployPromtool checks the alerting rules and runs their unit tests
// with promtool (make test installs it: scripts/deps.sh promtool).
func TestDeployPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): install it with scripts/deps.sh promtool (Debian package prometheus); make test does", err)
	}
	for _, args := range [][]string{
		{"check", "rules", rulesPath},
		{"test", "rules", rulesTestPath},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDeployMetricNames checks that every metric the Grafana dashboard and
// the alerting rules use is one eird exposes, against a live scrape of an
// eird that has answered S13 and N5g-eir checks and run a sync pass.
func TestDeployMetricNames(t *testing.T) {
	refs := map[string][]string{} // metric name → where it is used
	dashExprs := dashboardExprs(t)
	ruleExprs := ruleExprs(t)
	if len(dashExprs) < 20 || len(ruleExprs) < 10 {
		t.Fatalf("found %d dashboard and %d rule expressions: the files were not read as expected", len(dashExprs), len(ruleExprs))
	}
	for where, exprs := range map[string][]string{dashboardPath: dashExprs, rulesPath: ruleExprs} {
		for _, e := range exprs {
			names := metricNames(e)
			for _, n := range names {
				refs[n] = append(refs[n], where)
			}
		}
	}
	if len(refs) < 20 {
		t.Fatalf("only %d metric names found in the dashboard and rules: %v", len(refs), refs)
	}

	families := scrapeFamilies(t, liveEIRDForDeploy(t))
	vecs := declaredVecs(t)
	for name, where := range refs {
		fam, ok := familyOf(name, families)
		if ok {
			continue
		}
		// client_golang hides a labelled family until its first child:
		// such a family must at least be declared as a Vec in the code.
		if base := histogramBase(name); vecs[name] || (base != "" && vecs[base]) {
			t.Logf("%s: no sample in the scrape (a labelled family created on first use); declared in the code", name)
			continue
		}
		t.Errorf("%s (used in %s) is not exposed by eird (family %q)", name, strings.Join(slices.Compact(slices.Sorted(slices.Values(where))), ", "), fam)
	}
}

// startEIRDWithSource starts eird on its own Redis with the N5g-eir
// listener and a sync source "national" (stolen format) whose drop
// directory it creates, loads the test lists, and returns eird and the
// drop directory.
func startEIRDWithSource(t *testing.T) (*eird, string) {
	t.Helper()
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig+`
n5g:
  listen: 127.0.0.1:0
sync:
  sources:
    - {name: national, format: stolen, interval: 1h, settle: 1ms, dir: "{{dir}}/national"}
`, rds.Addr()))
	loadLists(t, e)
	drop := filepath.Join(e.dir, "national")
	if err := os.MkdirAll(drop, 0o750); err != nil {
		t.Fatal(err)
	}
	return e, drop
}

// liveEIRDForDeploy starts eird with Redis, the N5g-eir listener and a sync
// source, and drives it so that labelled series exist: lists loaded, one
// S13 and one N5g-eir check answered, a file applied and one rejected.
func liveEIRDForDeploy(t *testing.T) *eird {
	t.Helper()
	e, drop := startEIRDWithSource(t)
	for name, body := range map[string]string{
		"a.csv": "imei\n86000000000001\n86000000000002\n",
		"b.csv": "not a header\n86000000000003\n",
	} {
		if err := os.WriteFile(filepath.Join(drop, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// b.csv is rejected on purpose (the rejection metrics): exit 3.
	if out, errOut, code := e.eirctl(t, "", "sync", "now"); code != 3 || !strings.Contains(out, "a.csv  applied") ||
		!strings.Contains(errOut, "1 file rejected: national/b.csv") {
		t.Fatalf("sync now: exit %d\n%s%s", code, out, errOut)
	}
	e.waitMetric(t, `eir_sync_files_total{result="applied",source="national"}`, 1, 10*time.Second)

	c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme5.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctxT(t), "35209900176148", ""); err != nil {
		t.Fatalf("s13 check: %v", err)
	}
	c.Disconnect(ctxT(t))

	hc := h2c()
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + e.n5g + "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481")
	if err != nil {
		t.Fatalf("n5g check: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("n5g check: %s", resp.Status)
	}
	return e
}

// scrapeFamilies reads eird's /metrics and returns every family with its
// type, from the # TYPE lines and from the samples.
func scrapeFamilies(t *testing.T, e *eird) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + e.admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s %v", resp.Status, err)
	}
	fams := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		} else if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "HELP" {
			if _, ok := fams[f[2]]; !ok {
				fams[f[2]] = "untyped"
			}
		}
	}
	if len(fams) < 20 {
		t.Fatalf("scrape has only %d families:\n%s", len(fams), body)
	}
	return fams
}

// familyOf maps a referenced name to its family in the scrape: itself, or
// for name_bucket/_sum/_count the histogram (or summary) family.
func familyOf(name string, fams map[string]string) (string, bool) {
	if _, ok := fams[name]; ok {
		return name, true
	}
	if base := histogramBase(name); base != "" {
		if typ := fams[base]; typ == "histogram" || typ == "summary" {
			return base, true
		}
		return base, false
	}
	return name, false
}

// histogramBase is name without a _bucket, _sum or _count suffix, or "".
func histogramBase(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, s); ok {
			return b
		}
	}
	return ""
}

var (
	promStrings = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promIdent   = regexp.MustCompile(`[A-Za-z_:$][A-Za-z0-9_:]*`)
)

// metricNames returns the metric names a PromQL expression uses: the
// identifiers, outside string literals, that start with eir_, eird_, go_
// or process_ (Grafana's $variables are skipped).
func metricNames(expr string) []string {
	expr = promStrings.ReplaceAllString(expr, `""`)
	var names []string
	for _, id := range promIdent.FindAllString(expr, -1) {
		for _, p := range []string{"eir_", "eird_", "go_", "process_"} {
			if strings.HasPrefix(id, p) {
				names = append(names, id)
				break
			}
		}
	}
	return names
}

// TestDeployMetricNamesTokenizer checks the tokenizer the test above relies on.
func TestDeployMetricNamesTokenizer(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"histogram", `histogram_quantile(0.99, sum by (le) (rate(eir_n5g_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`,
			[]string{"eir_n5g_request_duration_seconds_bucket"}},
		{"label value is not a name", `eir_check_decisions_total{rule="eir_store_x"} or go_goroutines`, []string{"eir_check_decisions_total", "go_goroutines"}},
		{"offset and unless", `x_total unless eir_sync_rejected_files_total offset 1h`, []string{"eir_sync_rejected_files_total"}},
		{"grafana variable", `label_values(eir_build_info, instance) $eir_var`, []string{"eir_build_info"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("metricNames(%q) = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
}

// dashboardExprs returns the PromQL of the dashboard: every "expr",
// "query" and "definition" string, wherever it is nested. It also checks
// the dashboard's schema version and variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		Templating    struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if dash.SchemaVersion < 36 {
		t.Errorf("%s: schemaVersion %d, want >= 36", dashboardPath, dash.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("%s: variables %v, want datasource (datasource) and instance (query)", dashboardPath, vars)
	}
	var doc any
	json.Unmarshal(b, &doc)
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	return exprs
}

// ruleExprs returns the expr of every rule of the rules file.
func ruleExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string } `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	var exprs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// declaredVecs returns the names of the labelled metric families the code
// declares: prometheus.NewXxxVec(prometheus.XxxOpts{Namespace, Subsystem,
// Name}, …) outside tests.
func declaredVecs(t *testing.T) map[string]bool {
	t.Helper()
	vecs := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(sel.Sel.Name, "New") || !strings.HasSuffix(sel.Sel.Name, "Vec") {
				return true
			}
			lit, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			parts := map[string]string{}
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, ok1 := kv.Key.(*ast.Ident)
				val, ok2 := kv.Value.(*ast.BasicLit)
				if ok1 && ok2 && val.Kind == token.STRING {
					parts[key.Name], _ = strconv.Unquote(val.Value)
				}
			}
			if parts["Name"] != "" {
				var name []string
				for _, p := range []string{parts["Namespace"], parts["Subsystem"], parts["Name"]} {
					if p != "" {
						name = append(name, p)
					}
				}
				vecs[strings.Join(name, "_")] = true
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !vecs["eir_check_decisions_total"] {
		t.Fatalf("declared vectors not found in the code: %v", vecs)
	}
	return vecs
}
