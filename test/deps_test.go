package test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module is the import path of this module.
const module = "github.com/eir-sidecar/eir"

// pkgImports is what one package imports: its own files (Imports) and its
// test files (TestImports and XTestImports together).
type pkgImports struct {
	path  string // relative to the module: "eir/redisstore", "cmd/eird"
	prod  []string
	tests []string
}

// listImports lists every package of the module with what it imports.
func listImports(t *testing.T) []pkgImports {
	t.Helper()
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list %s/...: %v", module, err)
	}
	var pkgs []pkgImports
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 3)
		if len(f) != 3 {
			t.Fatalf("go list: unexpected line %q", line)
		}
		pkgs = append(pkgs, pkgImports{path: rel(f[0]), prod: strings.Fields(f[1]), tests: strings.Fields(f[2])})
	}
	return pkgs
}

// rel returns the path of a package of the module relative to the module
// ("." for the module root); other import paths come back unchanged.
func rel(imp string) string {
	if imp == module {
		return "."
	}
	return strings.TrimPrefix(imp, module+"/")
}

// inModule reports whether imp is a package of this module.
func inModule(imp string) bool { return imp == module || strings.HasPrefix(imp, module+"/") }

// under reports whether the module-relative path p is dir or below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// isStd reports whether imp is a standard library package (no dot in its
// first element).
func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// The layers of the tree, top down. A package imports only from the layers
// below its own (and, within the eir subpackages and within one adapter,
// from its own layer):
//
//	cmd/*        wiring: may import anything
//	adapters     diameter, n5g, admin, regsync and their subpackages; never
//	             one another (each adapter is its own family)
//	eir/*        the domain's subpackages (observe, provision, events,
//	             audit, memstore, redisstore, storetest, ...)
//	eir          the domain: the standard library only
//
// internal/tlsconf and internal/atomicfile import only the standard
// library and may be imported from any layer; config is imported only by
// cmd/; internal/testenv/... only by test files and cmd/eirbench.
const (
	layerDomain = iota
	layerDomainSub
	layerAdapter
	layerCmd
	layerOther // config, internal/*, test: ruled separately
)

// adapterFamilies are the adapters; a package belongs to the family whose
// folder holds it.
var adapterFamilies = []string{"diameter", "n5g", "admin", "regsync"}

func layerOf(p string) (layer int, family string) {
	switch {
	case p == "eir":
		return layerDomain, ""
	case under(p, "eir"):
		return layerDomainSub, ""
	case under(p, "cmd"):
		return layerCmd, ""
	}
	for _, f := range adapterFamilies {
		if under(p, f) {
			return layerAdapter, f
		}
	}
	return layerOther, ""
}

// TestImportRules enforces the layering (STYLE.md B1): a clean top-down
// stack cmd → adapters → eir subpackages → eir, adapters that never import
// one another, config imported only by cmd/, the test harnesses only by
// tests (and eirbench), eirctl a client of the admin API only, go-diameter
// and go-redis each in their own corner.
func TestImportRules(t *testing.T) {
	pkgs := listImports(t)
	for _, pkg := range pkgs {
		checkLayers(t, pkg)
		checkTestenv(t, pkg)
		checkThirdParty(t, pkg)
	}
	checkDomainDeps(t)
	checkEirctlDeps(t)
}

// checkLayers checks the production imports of pkg against the stack.
func checkLayers(t *testing.T, pkg pkgImports) {
	t.Helper()
	layer, family := layerOf(pkg.path)
	for _, imp := range pkg.prod {
		if !inModule(imp) {
			if pkg.path == "eir" && !isStd(imp) {
				t.Errorf("eir imports %s: the domain imports only the standard library", imp)
			}
			if (pkg.path == "internal/tlsconf" || pkg.path == "internal/atomicfile") && !isStd(imp) {
				t.Errorf("%s imports %s: it imports only the standard library", pkg.path, imp)
			}
			continue
		}
		p := rel(imp)
		l, f := layerOf(p)
		switch {
		case p == "config":
			if layer != layerCmd {
				t.Errorf("%s imports config: only cmd/ may (packages take their own Options)", pkg.path)
			}
		case pkg.path == "config":
			t.Errorf("config imports %s: config is a leaf", p)
		case pkg.path == "internal/tlsconf" || pkg.path == "internal/atomicfile":
			t.Errorf("%s imports %s: it imports only the standard library", pkg.path, p)
		case p == "internal/tlsconf" || p == "internal/atomicfile":
			// Leaves of the standard library only: usable from any layer.
		case under(p, "internal/testenv"):
			// Ruled by checkTestenv.
		case layer == layerOther:
			// internal/testenv and test: ruled by checkTestenv and the
			// third-party rules.
		case l == layerOther:
			t.Errorf("%s imports %s, outside the stack cmd → adapters → eir/* → eir", pkg.path, p)
		case l > layer:
			t.Errorf("%s imports %s: a lower layer imports a higher one (cmd → adapters → eir/* → eir)", pkg.path, p)
		case l == layerAdapter && layer == layerAdapter && f != family:
			t.Errorf("%s imports %s: adapters never import one another (%s and %s)", pkg.path, p, family, f)
		}
	}
}

// checkTestenv checks that the test harnesses under internal/testenv are
// imported only by test files, by one another and by cmd/eirbench.
func checkTestenv(t *testing.T, pkg pkgImports) {
	t.Helper()
	if under(pkg.path, "internal/testenv") || pkg.path == "cmd/eirbench" {
		return
	}
	for _, imp := range pkg.prod {
		if inModule(imp) && under(rel(imp), "internal/testenv") {
			t.Errorf("%s imports %s outside its test files: only tests (and cmd/eirbench) may", pkg.path, rel(imp))
		}
	}
}

// goDiameterTests are the packages whose test files may import
// go-diameter: they drive or check the wire with an independent codec.
var goDiameterTests = []string{"diameter", "diameter/wire", "diameter/s13client", "cmd/eirbench", "test"}

// goRedisTests are the packages whose test files may import go-redis,
// besides its production importers: they inspect or damage the Redis a
// store under test writes to.
var goRedisTests = map[string]string{
	"regsync": "the engine tests read and write the store's Redis directly",
	"test":    "the end-to-end tests inspect the Redis eird writes to",
}

// goRedisProd are the packages that may import go-redis: the list store,
// the event stream, the sighting store (observations of IMEI-IMSI pairs)
// and the test harness.
var goRedisProd = map[string]bool{
	"eir/redisstore": true, "eir/events": true, "eir/sighting": true, "internal/testenv/redistest": true,
}

// checkThirdParty keeps go-diameter and go-redis in their corners.
func checkThirdParty(t *testing.T, pkg pkgImports) {
	t.Helper()
	for _, imp := range pkg.prod {
		switch {
		case strings.HasPrefix(imp, "github.com/fiorix/go-diameter") &&
			pkg.path != "diameter/s13client" && pkg.path != "cmd/eirbench":
			t.Errorf("%s imports %s: only diameter/s13client and cmd/eirbench (the reference yardstick) may, and tests", pkg.path, imp)
		case strings.HasPrefix(imp, "github.com/redis/go-redis") && !goRedisProd[pkg.path]:
			t.Errorf("%s imports %s: only eir/redisstore, eir/events, eir/sighting and internal/testenv/redistest may", pkg.path, imp)
		}
	}
	for _, imp := range pkg.tests {
		switch {
		case strings.HasPrefix(imp, "github.com/fiorix/go-diameter") && !slices.Contains(goDiameterTests, pkg.path):
			t.Errorf("tests of %s import %s: only the tests of %v may", pkg.path, imp, goDiameterTests)
		case strings.HasPrefix(imp, "github.com/redis/go-redis") && goRedisTests[pkg.path] == "" &&
			!goRedisProd[pkg.path] && !under(pkg.path, "internal/testenv/redistest"):
			t.Errorf("tests of %s import %s: only the store's, the harness's and %v may", pkg.path, imp, goRedisTests)
		}
	}
}

// checkDomainDeps checks that package eir depends, transitively, on the
// standard library only.
func checkDomainDeps(t *testing.T) {
	t.Helper()
	for _, d := range deps(t, module+"/eir") {
		if !isStd(d) && d != module+"/eir" {
			t.Errorf("package eir depends on %s: the domain imports only the standard library", d)
		}
	}
}

// checkEirctlDeps checks that eirctl is a client of eird's admin API only:
// it depends on admin/api (the wire types) and on none of the domain, the
// adapters' servers, go-redis or go-diameter.
func checkEirctlDeps(t *testing.T) {
	t.Helper()
	ds := deps(t, module+"/cmd/eirctl")
	if !slices.Contains(ds, module+"/admin/api") {
		t.Errorf("eirctl does not depend on %s/admin/api: it speaks the admin API through its wire types", module)
	}
	for _, d := range ds {
		p := rel(d)
		switch {
		case inModule(d) && (under(p, "eir") || under(p, "diameter") || under(p, "n5g")):
			t.Errorf("eirctl depends on %s: it must talk to eird's admin API only", d)
		case strings.Contains(d, "go-redis") || strings.Contains(d, "go-diameter"):
			t.Errorf("eirctl depends on %s: it must talk to eird's admin API only", d)
		}
	}
}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// Size bounds of production (non-test) code.
const (
	maxFileLines = 700
	maxFuncLines = 120
)

// sizeExceptions lists production files or functions allowed over the
// bounds ("path" or "path func"), each with its reason. The goal is none.
var sizeExceptions = map[string]string{}

// TestSizeBounds keeps production files under maxFileLines lines and
// functions under maxFuncLines lines, so that each reads as one concern.
// Test files and testdata/ are not counted.
func TestSizeBounds(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var over []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "vendor" || (strings.HasPrefix(n, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		relPath, _ := filepath.Rel(root, path)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if n := fset.File(f.Pos()).LineCount(); n > maxFileLines && sizeExceptions[relPath] == "" {
			over = append(over, fmt.Sprintf("%s: %d lines (at most %d)", relPath, n, maxFileLines))
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			name := fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) > 0 {
				name = recvName(fd.Recv.List[0].Type) + "." + name
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > maxFuncLines && sizeExceptions[relPath+" "+name] == "" {
				over = append(over, fmt.Sprintf("%s %s: %d lines (at most %d)", relPath, name, n, maxFuncLines))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range over {
		t.Errorf("%s: split it by concern", o)
	}
}

// recvName returns the type name of a method receiver.
func recvName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvName(e.X)
	case *ast.IndexExpr:
		return recvName(e.X)
	case *ast.IndexListExpr:
		return recvName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return "?"
}
