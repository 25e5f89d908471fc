package test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules enforces the layering (STYLE.md B1): the domain imports
// only the standard library, eirctl talks HTTP only, go-diameter stays in
// diameter/ and go-redis in eir/redisstore.
func TestImportRules(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	imports := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	for _, d := range deps("github.com/eir-sidecar/eir/eir") {
		if strings.Contains(d, ".") && !strings.HasPrefix(d, "github.com/eir-sidecar/eir/eir") {
			t.Errorf("package eir depends on %s: the domain imports only the standard library", d)
		}
	}
	for _, d := range deps("github.com/eir-sidecar/eir/cmd/eirctl") {
		if strings.Contains(d, "go-redis") || strings.Contains(d, "go-diameter") {
			t.Errorf("eirctl depends on %s: it must talk to eird's admin API only", d)
		}
	}
	out, err := exec.Command("go", "list", "github.com/eir-sidecar/eir/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, imp := range imports(pkg) {
			switch {
			case strings.HasPrefix(imp, "github.com/fiorix/go-diameter") &&
				!strings.HasPrefix(pkg, "github.com/eir-sidecar/eir/diameter") && pkg != "github.com/eir-sidecar/eir/cmd/eirbench":
				t.Errorf("%s imports %s: only diameter/ (and the eirbench MME simulator) may", pkg, imp)
			case strings.HasPrefix(imp, "github.com/redis/go-redis") &&
				pkg != "github.com/eir-sidecar/eir/eir/redisstore" && pkg != "github.com/eir-sidecar/eir/internal/testenv/redistest":
				t.Errorf("%s imports %s: only eir/redisstore may", pkg, imp)
			case imp == "github.com/eir-sidecar/eir/config" && !strings.HasPrefix(pkg, "github.com/eir-sidecar/eir/cmd/"):
				t.Errorf("%s imports config: only cmd/ may (packages take their own Options)", pkg)
			}
		}
	}
}
